//! The desk over HTTP without a browser (the router called in-process): sign-in and sessions,
//! CSRF refusals, roles, security headers, sign-in rate limits, session expiry on the manual
//! clock, the board and its CSV, the submission page and the original file, triage, and the
//! finance pages (batches sealed by the real payout run, files as sealed, the due-next
//! preview against `vardval payouts preview --format json`, reclaim decisions, the payment
//! status on a submission page). Every test runs on SQLite and on PostgreSQL.

mod common;
mod payouts_support;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use tower::ServiceExt;
use vardval::config::WebSettings;
use vardval::ports::Clock;

use common::desk::{Desk, PASSWORD, seed};

/// A browser in miniature: its cookies and its client address.
struct Client {
    app: Router,
    cookies: Vec<(String, String)>,
    ip: SocketAddr,
}

struct Page {
    status: StatusCode,
    location: Option<String>,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Page {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The first form's CSRF token on the page.
    fn csrf(&self) -> String {
        let t = self.text();
        let at = t
            .find("name=\"csrf\" value=\"")
            .expect("a form with a csrf field");
        let rest = &t[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    }
}

impl Client {
    fn new(d: &Desk) -> Client {
        Client {
            app: vardval::web::router(d.state.clone()),
            cookies: Vec::new(),
            ip: "192.0.2.10:50000".parse().unwrap(),
        }
    }

    async fn send(&mut self, mut req: Request<Body>) -> Page {
        req.extensions_mut().insert(ConnectInfo(self.ip));
        if !self.cookies.is_empty() {
            let c: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req.headers_mut()
                .insert(header::COOKIE, c.join("; ").parse().unwrap());
        }
        let res: Response = self.app.clone().oneshot(req).await.unwrap();
        for v in res.headers().get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (kv, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !v.contains("Max-Age=0") {
                self.cookies.push((k.to_string(), val.to_string()));
            }
        }
        let status = res.status();
        let headers = res.headers().clone();
        let location = headers
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(res.into_body(), 64 * 1024 * 1024)
            .await
            .unwrap()
            .to_vec();
        Page {
            status,
            location,
            headers,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send(
            Request::post(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    async fn sign_in(&mut self, user: &str, password: &str) -> Page {
        let form = self.get("/logga-in?next=/tavla").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.csrf();
        self.post(
            "/logga-in",
            &[
                ("username", user),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/tavla"),
            ],
        )
        .await
    }

    fn session(&self) -> Option<String> {
        self.cookies
            .iter()
            .find(|(k, _)| k == "vardval_session")
            .map(|(_, v)| v.clone())
    }
}

async fn desk(url: &str, dir: &std::path::Path) -> Desk {
    seed(url, dir, WebSettings::default()).await
}

async fn sign_in_board_submission_and_headers(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&url, dir.path()).await;
    let mut c = Client::new(&d);
    let first = c.get("/tavla").await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(first.location.as_deref(), Some("/logga-in?next=%2Ftavla"));

    let login_page = c.get("/logga-in").await;
    let h = &login_page.headers;
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[header::REFERRER_POLICY], "same-origin");
    assert!(login_page.text().contains("<html lang=\"sv\">"));

    let before = c.session();
    let signed = c.sign_in("granskare", PASSWORD).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.text());
    assert_eq!(signed.location.as_deref(), Some("/tavla"));
    let cookie = signed
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("vardval_session="))
        .expect("a session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"));
    assert!(!cookie.contains("Secure"), "http public address: no Secure");
    assert_ne!(c.session(), before);

    let board = c.get("/tavla").await;
    assert_eq!(board.status, StatusCode::OK);
    let html = board.text();
    for clinic in ["Vårdcentralen Björkdalen", "Vårdcentralen Sjöudden"] {
        assert!(html.contains(clinic), "{clinic} on the board");
    }
    assert!(html.contains("väntar på bekräftelse"));
    assert!(html.contains("Avsnitt över alla vårdcentraler"));
    assert!(
        html.contains("saknas"),
        "a clinic without a plan after the deadline"
    );

    // Filter: only Sjöudden.
    let only = c.get("/tavla?q=sj%C3%B6udden&milestone=1").await.text();
    assert!(only.contains("Vårdcentralen Sjöudden") && !only.contains("Vårdcentralen Björkdalen"));

    let csv = c.get("/tavla.csv?milestone=1&sort=pregrade").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text();
    assert!(text.contains("clinic_id,clinic_name,milestone"));
    assert!(text.contains("bjorkdalen,Vårdcentralen Björkdalen,1,1,"));
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert!(lines.len() >= 3);
    assert!(
        lines.iter().all(|l| l.split(',').nth(2) == Some("1")),
        "only milestone 1 rows: {text}"
    );
    assert!(
        text.contains("ekbacken,Vårdcentralen Ekbacken,1,2,20 februari 2026 kl. 10:05,on_time,"),
        "a plan sent on time and supplemented later stays on time: {text}"
    );

    // The submission page of Ekbacken's supplement shows both versions and what changed.
    let subs = d.store.submissions().await.unwrap();
    let ek = subs
        .iter()
        .find(|s| s.clinic_id == "ekbacken" && s.version == 2)
        .expect("Ekbacken version 2");
    let page = c.get(&format!("/inlamning/{}", ek.id)).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("Vårdcentralen Ekbacken") && html.contains("version 2"));
    assert!(html.contains("Val av förbättringsområde"));
    assert!(
        html.matches("<blockquote>").count() >= 6,
        "an excerpt per section read"
    );
    assert!(html.contains("Versioner") && html.contains("(visas)"));
    let original = c.get(&format!("/inlamning/{}/original", ek.id)).await;
    assert_eq!(original.status, StatusCode::OK);
    assert!(original.body.starts_with(b"PK"), "the DOCX as sent");
    assert_eq!(
        vardval::adapters::archive::sha256_hex(&original.body),
        ek.doc_sha256
    );
    assert_eq!(
        c.get("/inlamning/999999").await.status,
        StatusCode::NOT_FOUND
    );

    // Sign-out ends the session: the old cookie no longer works.
    let board = c.get("/tavla").await;
    let out = c.post("/logga-ut", &[("csrf", &board.csrf())]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(c.get("/tavla").await.status, StatusCode::SEE_OTHER);
    d.store.close().await;
}

async fn forms_without_csrf_token_are_refused(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&url, dir.path()).await;
    let mut c = Client::new(&d);
    // The sign-in form without its token (no cookie, no field): refused before any check.
    let bare = c
        .post(
            "/logga-in",
            &[("username", "granskare"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN);
    assert!(bare.text().contains("säkerhetskod"));
    assert!(c.session().is_none());

    assert_eq!(
        c.sign_in("granskare", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let open = d.store.triage_open().await.unwrap();
    assert_eq!(open.len(), 1, "the unknown sender waits in triage");
    let id = open[0].id;
    for form in [vec![], vec![("csrf", "not-the-token")]] {
        let r = c.post(&format!("/att-hantera/{id}/avvisa"), &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = c
            .post(
                &format!("/att-hantera/{id}/tilldela"),
                &[form.clone(), vec![("clinic", "sjoudden")]].concat(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(
            c.post("/logga-ut", &form).await.status,
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        d.store.triage_open().await.unwrap().len(),
        1,
        "nothing happened"
    );
    assert_eq!(
        c.get("/tavla").await.status,
        StatusCode::OK,
        "still signed in"
    );
    d.store.close().await;
}

async fn roles_are_enforced_per_page(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&url, dir.path()).await;
    let mut finance = Client::new(&d);
    finance.sign_in("ekonomi", PASSWORD).await;
    let start = finance.get("/").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    assert_eq!(start.location.as_deref(), Some("/utbetalningar"));
    let payouts = finance.get("/utbetalningar").await;
    assert_eq!(payouts.status, StatusCode::OK);
    assert!(payouts.text().contains("ekonomi"));
    for path in ["/tavla", "/tavla.csv", "/att-hantera", "/inlamning/1"] {
        let r = finance.get(path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(r.text().contains("behörighet"), "a Swedish page for {path}");
    }
    let mut coach = Client::new(&d);
    coach.sign_in("coach", PASSWORD).await;
    assert_eq!(coach.get("/tavla").await.status, StatusCode::OK);
    assert_eq!(
        coach.get("/att-hantera").await.status,
        StatusCode::FORBIDDEN
    );
    let open = d.store.triage_open().await.unwrap();
    let csrf = coach.get("/tavla").await.csrf();
    let r = coach
        .post(
            &format!("/att-hantera/{}/avvisa", open[0].id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a coach decides nothing");
    let mut reviewer = Client::new(&d);
    reviewer.sign_in("granskare", PASSWORD).await;
    assert_eq!(reviewer.get("/att-hantera").await.status, StatusCode::OK);
    d.store.close().await;
}

async fn sign_in_attempts_are_limited(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let web = WebSettings {
        login_max_failures_per_user: 3,
        login_max_failures_per_ip: 5,
        login_window_minutes: 15,
        ..WebSettings::default()
    };
    let d = seed(&url, dir.path(), web).await;
    let mut c = Client::new(&d);
    for _ in 0..3 {
        let r = c.sign_in("granskare", "fel-lösenord-här").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.text().contains("Fel användarnamn eller lösenord"));
    }
    // The right password is refused now, for this username, from any address.
    let r = c.sign_in("granskare", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().contains("För många misslyckade inloggningar"));
    let mut elsewhere = Client::new(&d);
    elsewhere.ip = "198.51.100.7:40000".parse().unwrap();
    assert_eq!(
        elsewhere.sign_in("granskare", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another username from the first address: two more failures fill the address's quota.
    for _ in 0..2 {
        assert_eq!(
            c.sign_in("nobody", "whatever-it-is").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        c.sign_in("coach", PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "five failures from this address"
    );
    assert_eq!(
        elsewhere.sign_in("coach", PASSWORD).await.status,
        StatusCode::SEE_OTHER,
        "another address is not limited"
    );
    // Once the window has passed, the right password works again.
    d.clock.advance(Duration::from_secs(16 * 60));
    assert_eq!(
        c.sign_in("granskare", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    d.store.close().await;
}

async fn sessions_expire_and_rotate(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let web = WebSettings {
        session_minutes: 30,
        public_url: Some("https://granskning.rjl.test".into()),
        ..WebSettings::default()
    };
    let d = seed(&url, dir.path(), web).await;
    let mut c = Client::new(&d);
    let signed = c.sign_in("granskare", PASSWORD).await;
    let cookie = signed.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.contains("; Secure"),
        "https public address: {cookie}"
    );
    let first = c.session().unwrap();
    // Activity keeps the session alive …
    d.clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(c.get("/tavla").await.status, StatusCode::OK);
    d.clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(c.get("/tavla").await.status, StatusCode::OK);
    // … and 31 idle minutes end it.
    d.clock.advance(Duration::from_secs(31 * 60));
    let r = c.get("/tavla?state=waiting").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.location.as_deref(),
        Some("/logga-in?next=%2Ftavla%3Fstate%3Dwaiting")
    );
    // A new sign-in gives a new id; the old id stays dead.
    c.sign_in("granskare", PASSWORD).await;
    let second = c.session().unwrap();
    assert_ne!(first, second);
    let mut old = Client::new(&d);
    old.cookies.push(("vardval_session".into(), first));
    assert_eq!(old.get("/tavla").await.status, StatusCode::SEE_OTHER);
    // Disabling the account ends its sessions at once.
    assert!(
        d.store
            .disable_user("granskare", d.clock.now())
            .await
            .unwrap()
    );
    assert_eq!(c.get("/tavla").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        c.sign_in("granskare", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    d.store.close().await;
}

async fn triage_shows_raw_mail_as_text_and_assigns(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&url, dir.path()).await;
    let mut c = Client::new(&d);
    c.sign_in("granskare", PASSWORD).await;
    let list = c.get("/att-hantera").await;
    assert!(list.text().contains("Projektplan Rönnåsen"));
    let id = d.store.triage_open().await.unwrap()[0].id;
    let item = c.get(&format!("/att-hantera/{id}")).await;
    let html = item.text();
    assert!(html.contains("sofia.engdahl77@webbpost.test"));
    assert!(
        html.contains("Message-ID: &lt;CAJk7Vb2"),
        "headers shown as escaped text"
    );
    assert!(!html.contains("<CAJk7Vb2"));
    let r = c
        .post(
            &format!("/att-hantera/{id}/tilldela"),
            &[("csrf", &item.csrf()), ("clinic", "sjoudden")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(d.store.triage_open().await.unwrap().is_empty());
    // The plan in the mail is recorded for Sjöudden with the server's original receive time
    // (17 February, after the deadline), as the next version, with a receipt queued.
    let recorded = d.store.submission_versions("sjoudden", 1).await.unwrap();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert_eq!(recorded[0].version, 2);
    assert_eq!(
        recorded[0].received_at,
        common::desk::t("2026-02-17T20:15:27+01:00")
    );
    assert!(!recorded[0].on_time);
    let clinics = d.store.clinics().await.unwrap();
    let sj = clinics.iter().find(|c| c.id == "sjoudden").unwrap();
    assert!(
        sj.addresses
            .contains(&"sofia.engdahl77@webbpost.test".to_string())
    );
    let history = d.store.clinic_history(Some("sjoudden")).await.unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.field == "emails" && h.changed_by == "web:granskare")
    );
    let audit = d
        .store
        .audit_list(100, &vardval::store::AuditFilter::default())
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|r| r.action == "triage.assign" && r.subject == format!("triage:{id}"))
    );
    // A second assignment of the same item is refused (it is resolved).
    let again = c
        .post(
            &format!("/att-hantera/{id}/tilldela"),
            &[("csrf", &item.csrf()), ("clinic", "sjoudden")],
        )
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    d.store.close().await;
}

async fn decide_override_preview_edit_and_send(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&url, dir.path()).await;
    let subs = d.store.submissions().await.unwrap();
    let bj = subs
        .iter()
        .find(|s| s.clinic_id == "bjorkdalen" && s.milestone == 1)
        .unwrap();
    assert_eq!(bj.pre_grade, Some(vardval::store::Grade::Green));
    let mut coach = Client::new(&d);
    coach.sign_in("coach", PASSWORD).await;
    assert_eq!(
        coach
            .get(&format!("/inlamning/{}/beslut", bj.id))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let mut c = Client::new(&d);
    c.sign_in("granskare", PASSWORD).await;
    let form = c.get(&format!("/inlamning/{}/beslut", bj.id)).await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.csrf();
    let fields = [
        ("csrf", csrf.as_str()),
        ("section_D", "weak"),
        ("grade", ""),
        ("comment", "Beskriv nuläget med siffror."),
    ];
    let preview = c
        .post(
            &format!("/inlamning/{}/beslut/forhandsgranska", bj.id),
            &fields,
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    let html = preview.text();
    assert!(html.contains("Bedömning att skicka: <span class=\"grade yellow\">gul</span>"));
    assert!(html.contains("D: godkänt → svagt"));
    assert!(html.contains("kontakt@bjorkdalen.vc.test"));
    assert!(
        d.store
            .decision_for_submission(bj.id)
            .await
            .unwrap()
            .is_none(),
        "a preview records nothing"
    );
    let after = {
        let t = preview.text();
        let at = t
            .find("name=\"after\" value=\"")
            .expect("the preview carries its decision");
        let rest = &t[at + "name=\"after\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_string()
    };
    assert_eq!(after, "0");
    let mut send = fields.to_vec();
    send.push(("body", "Hej!\r\n\r\nExtra mening från granskaren.\r\n"));
    let without_preview = c.post(&format!("/inlamning/{}/beslut", bj.id), &send).await;
    assert_eq!(without_preview.status, StatusCode::BAD_REQUEST);
    send.push(("after", &after));
    let r = c.post(&format!("/inlamning/{}/beslut", bj.id), &send).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    // The same form again (a second click): refused, no second decision, no second mail.
    let again = c.post(&format!("/inlamning/{}/beslut", bj.id), &send).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.text().contains("redan registrerats"));
    let decided = d.store.decisions(2026).await.unwrap();
    assert_eq!(
        decided.iter().filter(|x| x.submission_id == bj.id).count(),
        1
    );
    let decision = d
        .store
        .decision_for_submission(bj.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(decision.grade, vardval::store::Grade::Yellow);
    assert_eq!(decision.decided_by, "web:granskare");
    assert!(!decision.agreed_with_pregrade);
    let mail = d
        .store
        .outbox_row(decision.mail_outbox_id.expect("mail queued"))
        .await
        .unwrap()
        .unwrap();
    let raw = String::from_utf8_lossy(&mail.raw);
    assert!(raw.contains("Extra mening fr"), "the edited text is sent");
    assert!(mail.recipient.contains("kontakt@bjorkdalen.vc.test"));
    // The board shows the confirmed grade beside the pre-grade; the page shows the decision.
    let board = c.get("/tavla?q=bj%C3%B6rkdalen&milestone=1").await.text();
    assert!(board.contains("<span class=\"grade yellow\">gul</span>"));
    let page = c.get(&format!("/inlamning/{}", bj.id)).await.text();
    assert!(page.contains("Beslutsmejlet är lagt i utkorgen"));
    // CSRF on the decision forms too.
    let bare = c
        .post(
            &format!("/inlamning/{}/beslut", bj.id),
            &[("section_D", "ok")],
        )
        .await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN);
    // Sign-ins and the decision are in the audit log, and the chain verifies.
    let rows = d
        .store
        .audit_list(100, &vardval::store::AuditFilter::default())
        .await
        .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    assert!(actions.contains(&"web.sign_in"), "{actions:?}");
    assert!(
        rows.iter()
            .any(|r| r.actor == "web:granskare" && r.action.starts_with("decision"))
    );
    assert!(d.store.audit_verify().await.unwrap().ok());
    d.store.close().await;
}

both!(
    decide_override_preview_edit_and_send,
    sign_in_board_submission_and_headers,
    forms_without_csrf_token_are_refused,
    roles_are_enforced_per_page,
    sign_in_attempts_are_limited,
    sessions_expire_and_rotate,
    triage_shows_raw_mail_as_text_and_assigns,
    finance_sees_batches_lines_and_sealed_files,
    due_next_matches_the_cli_preview_and_reviewers_decide_reclaims,
);

// ---------------------------------------------------------------------------------------------
// Finance

/// A reviewer's green decision on every clinic's milestone-1 plan (the seeded mails).
async fn approve_plans(d: &Desk) -> Vec<(String, i64)> {
    let mut out = vec![];
    let mut subs = d.store.submissions().await.unwrap();
    subs.sort_by_key(|s| std::cmp::Reverse(s.version)); // the latest version is decided
    for s in subs {
        if s.milestone != 1 || out.iter().any(|(c, _)| *c == s.clinic_id) {
            continue;
        }
        let decision = vardval::store::NewDecision {
            submission_id: s.id,
            year: 2026,
            grade: vardval::store::Grade::Green,
            sections: Default::default(),
            pre_grade: s.pre_grade,
            agreed_with_pregrade: s.pre_grade == Some(vardval::store::Grade::Green),
            comment: None,
            decided_by: "web:granskare".into(),
        };
        d.store
            .record_decision(&decision, None, d.clock.now())
            .await
            .unwrap();
        out.push((s.clinic_id.clone(), s.id));
    }
    out
}

/// The desk with payouts: Bjorkdalen has a payee, every plan is approved, and batch 1 is
/// sealed by the real payout run on 1 March 2026 (files delivered into `drop`).
async fn desk_with_batch(url: &str, dir: &std::path::Path) -> (Desk, Vec<(String, i64)>) {
    let mut d = desk(url, dir).await;
    common::desk::give_bjorkdalen_a_payee(&d, 8423).await;
    let approved = approve_plans(&d).await;
    assert!(approved.iter().any(|(c, _)| c == "bjorkdalen"));
    assert!(approved.len() >= 2, "another clinic without a payee: {approved:?}");
    let drop = dir.join("ekonomi");
    std::fs::create_dir_all(&drop).unwrap();
    let p = payouts_support::payouts_for(&drop);
    let run = vardval::jobs::payouts::run(
        &d.store,
        &p,
        &payouts_support::mail(),
        payouts_support::at7(2026, 3, 1),
    )
    .await
    .unwrap();
    assert!(run.new && run.number == 1 && run.lines == 1, "{run:?}");
    d.clock.set(common::desk::t("2026-03-02T10:00:00Z"));
    d.state = d.state.with_payouts(p);
    (d, approved)
}

async fn finance_sees_batches_lines_and_sealed_files(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let (d, approved) = desk_with_batch(&url, dir.path()).await;
    let first = payouts_support::expected_parts(8423).0;
    let money = |o: i64| vardval::domain::money::Ore(o).to_string();

    let mut coach = Client::new(&d);
    coach.sign_in("coach", PASSWORD).await;
    for path in [
        "/utbetalningar",
        "/utbetalningar/1",
        "/utbetalningar/1/filer/vardval-utbetalning-0001.csv",
    ] {
        let r = coach.get(path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "a coach sees no payouts: {path}");
        assert!(r.text().contains("behörighet"));
    }

    let mut f = Client::new(&d);
    f.sign_in("ekonomi", PASSWORD).await;
    let list = f.get("/utbetalningar").await;
    assert_eq!(list.status, StatusCode::OK);
    let html = list.text();
    assert!(html.contains("<a href=\"/utbetalningar/1\">Utbetalning 1</a>"), "{html}");
    assert!(html.contains("1 mars 2026") || html.contains("2026-03-01"), "due date");
    assert!(html.contains(&money(first)), "the total in SEK");
    assert!(html.contains("aria-current=\"page\">Utbetalningar"));

    let page = f.get("/utbetalningar/1").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("Vårdcentralen Björkdalen"));
    assert!(html.contains(&money(first)));
    assert!(html.contains("<td>utbetalning</td>"), "the line's kind");
    assert!(html.contains("<td>bg:5012-345"), "the payee: {html}");
    // the other approved clinics have no payee: blocked, with the Swedish reason
    let other = approved.iter().find(|(c, _)| c != "bjorkdalen").unwrap();
    assert!(html.contains(&format!("({})", other.0)), "{} blocked", other.0);
    assert!(html.contains("betalningsmottagare (bankgiro, plusgiro eller IBAN) saknas"));

    // every sealed file, byte for byte, with its type and a download name
    let id = d.store.payout_batch_id(1).await.unwrap().unwrap();
    let (_, _, files) = d.store.payout_batch(id).await.unwrap().unwrap();
    assert_eq!(files.len(), 3, "CSV, pain.001 and the summary");
    for (name, sealed) in &files {
        let link = format!("/utbetalningar/1/filer/{name}");
        assert!(html.contains(&format!("href=\"{link}\"")), "a link to {name}");
        let got = f.get(&link).await;
        assert_eq!(got.status, StatusCode::OK, "{name}");
        assert!(got.body == *sealed, "{name} differs from the sealed file");
        let delivered = std::fs::read(dir.path().join("ekonomi").join(name)).unwrap();
        assert!(got.body == delivered, "{name} differs from the delivered file");
        let ct = got.headers[header::CONTENT_TYPE].to_str().unwrap();
        let want = if name.ends_with(".csv") {
            "text/csv; charset=utf-8"
        } else if name.ends_with(".xml") {
            "application/xml"
        } else {
            "text/html; charset=utf-8"
        };
        assert_eq!(ct, want, "{name}");
        let cd = got.headers[header::CONTENT_DISPOSITION].to_str().unwrap();
        assert!(cd.starts_with(&format!("attachment; filename=\"{name}\"")), "{cd}");
    }
    assert!(files[0].1.starts_with(&[0xEF, 0xBB, 0xBF]), "the CSV keeps its BOM");
    assert_eq!(
        f.get("/utbetalningar/1/filer/annan.csv").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(f.get("/utbetalningar/2").await.status, StatusCode::NOT_FOUND);
    // finance reads no reviewer page
    assert_eq!(f.get("/tavla").await.status, StatusCode::FORBIDDEN);
    d.store.close().await;
}

async fn due_next_matches_the_cli_preview_and_reviewers_decide_reclaims(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let (d, approved) = desk_with_batch(&url, dir.path()).await;
    let money = |o: i64| vardval::domain::money::Ore(o).to_string();
    // after the batch: Bjorkdalen had 300 more listed inhabitants (a correction is due)
    common::desk::give_bjorkdalen_a_payee(&d, 8723).await;
    let batches_before = d.store.payout_batches().await.unwrap();

    // `vardval payouts preview --format json` on the same ledger
    let cfg = payouts_support::cli::config_with(dir.path(), &url);
    let (code, out, err) = payouts_support::cli::run(&[
        "payouts",
        "preview",
        "--config",
        cfg.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let total = json["total_ore"].as_i64().unwrap();
    let lines = json["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{out}");
    assert_eq!(lines[0]["kind"], "correction");
    let (old, new) = (
        payouts_support::expected_parts(8423).0,
        payouts_support::expected_parts(8723).0,
    );
    assert_eq!(total, new - old, "computed here: 300 x 10 kr / 2");
    let blocked = json["blocked"].as_array().unwrap().len();
    assert!(blocked >= 1);

    let mut f = Client::new(&d);
    f.sign_in("ekonomi", PASSWORD).await;
    let html = f.get("/utbetalningar").await.text();
    assert!(
        html.contains(&format!(
            "({} {}, summa {})",
            lines.len(),
            if lines.len() == 1 { "rad" } else { "rader" },
            money(total)
        )),
        "the page's preview total is the CLI's"
    );
    assert!(html.contains("<td>korrigering</td>"));
    assert_eq!(
        html.matches("saknas i registret").count(),
        blocked,
        "the same blocked clinics"
    );
    // the next scheduled run: 07:00 Stockholm on 1 June
    let next = vardval::domain::cycle::swedish_local(
        payouts_support::at7(2026, 6, 1),
        chrono_tz::Europe::Stockholm,
    );
    assert!(
        html.contains(&format!("Nästa schemalagda körning: <strong>{next}</strong>")),
        "{next}"
    );
    assert_eq!(
        d.store.payout_batches().await.unwrap(),
        batches_before,
        "a preview writes nothing"
    );

    // The reviewer sees Bjorkdalen's payment status on its plan's page.
    let (_, bj) = approved.iter().find(|(c, _)| c == "bjorkdalen").unwrap();
    let mut r = Client::new(&d);
    r.sign_in("granskare", PASSWORD).await;
    let page = r.get(&format!("/inlamning/{bj}")).await.text();
    assert!(page.contains("Ersättning 2026"));
    assert!(page.contains(&format!(
        "utbetalning {} i <a href=\"/utbetalningar/1\">utbetalning 1</a>",
        money(old)
    )));
    assert!(
        page.contains(&format!("{} (korrigering)", money(new - old))),
        "what is due next"
    );
    assert!(page.contains("Återkrav: inget."));
    // another approved clinic: stopped, with the reason
    let (_, other) = approved.iter().find(|(c, _)| c != "bjorkdalen").unwrap();
    let page = r.get(&format!("/inlamning/{other}")).await.text();
    assert!(page.contains("Stoppad i nästa utbetalning:"));
    assert!(page.contains("betalningsmottagare (bankgiro, plusgiro eller IBAN) saknas"));
    // a coach reads the plan but not the money
    let mut coach = Client::new(&d);
    coach.sign_in("coach", PASSWORD).await;
    let page = coach.get(&format!("/inlamning/{bj}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text().contains("Ersättning 2026"));

    // A reclaim proposal waits; finance sees it without a form, a reviewer decides it.
    assert!(
        d.store
            .propose_reclaim("bjorkdalen", 2026, old, d.clock.now())
            .await
            .unwrap()
    );
    let fin = f.get("/utbetalningar").await.text();
    assert!(fin.contains("Återkrav som väntar på beslut"));
    assert!(!fin.contains("action=\"/utbetalningar/aterkrav\""));
    let list = r.get("/utbetalningar").await;
    assert!(list.text().contains("action=\"/utbetalningar/aterkrav\""));
    let csrf = list.csrf();
    let form = [
        ("clinic", "bjorkdalen"),
        ("year", "2026"),
        ("decision", "accept"),
        ("reason", "Slutrapporten kom aldrig."),
    ];
    let bare = r.post("/utbetalningar/aterkrav", &form).await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN, "no CSRF token");
    let fin_csrf = f.get("/utbetalningar").await.csrf();
    let mut with = form.to_vec();
    with.push(("csrf", &fin_csrf));
    assert_eq!(
        f.post("/utbetalningar/aterkrav", &with).await.status,
        StatusCode::FORBIDDEN,
        "finance does not decide reclaims"
    );
    let mut with = form.to_vec();
    with.push(("csrf", &csrf));
    let done = r.post("/utbetalningar/aterkrav", &with).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text());
    let again = r.post("/utbetalningar/aterkrav", &with).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "decided once");
    let rc = d.store.reclaim_for("bjorkdalen", 2026).await.unwrap().unwrap();
    assert_eq!(rc.state, vardval::domain::payout::Reclaim::Accepted);
    assert_eq!(rc.decided_by.as_deref(), Some("web:granskare"));
    let audit = d
        .store
        .audit_list(100, &vardval::store::AuditFilter::default())
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.actor == "web:granskare" && a.action == "reclaim.accept")
    );
    assert!(d.store.audit_verify().await.unwrap().ok());
    let page = r.get(&format!("/inlamning/{bj}")).await.text();
    assert!(page.contains("Återkrav: godkänt: dras tillbaka"));
    d.store.close().await;
}
