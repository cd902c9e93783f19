//! The desk over HTTP without a browser (the router called in-process): sign-in and sessions,
//! CSRF refusals, roles, security headers, sign-in rate limits, session expiry on the manual
//! clock, the board and its CSV, the submission page and the original file, triage, and the
//! finance pages (batches sealed by the real payout run, files as sealed, the due-next
//! preview against `vardval payouts preview --format json`, reclaim decisions, the payment
//! status on a submission page). Every test runs on SQLite and on PostgreSQL.

#[path = "web_http/coach.rs"]
mod coach;
mod common;
#[path = "web_http/countersign.rs"]
mod countersign;
#[path = "web_http/finance.rs"]
mod finance;
mod payouts_support;
#[path = "web_http/years.rs"]
mod years;

use std::time::Duration;

use axum::http::{StatusCode, header};
use vardval::config::WebSettings;
use vardval::ports::Clock;

use common::desk::{Desk, PASSWORD, seed};
use common::webclient::{Client, Page};

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
);
