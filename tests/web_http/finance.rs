//! The finance pages over HTTP (part of `tests/web_http.rs`): batches sealed by the real
//! payout run, their lines and files byte for byte, coaches refused, the due-next preview
//! against `vardval payouts preview --format json` of the real binary, reclaim decisions from
//! the desk, and the payment status on a submission page. Both databases.

use super::*;

crate::both!(
    finance_sees_batches_lines_and_sealed_files,
    due_next_matches_the_cli_preview_and_reviewers_decide_reclaims,
    reviewers_register_the_presentation_on_the_desk,
);

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
    assert!(
        approved.len() >= 2,
        "another clinic without a payee: {approved:?}"
    );
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
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "a coach sees no payouts: {path}"
        );
        assert!(r.text().contains("behörighet"));
    }

    let mut f = Client::new(&d);
    f.sign_in("ekonomi", PASSWORD).await;
    let list = f.get("/utbetalningar").await;
    assert_eq!(list.status, StatusCode::OK);
    let html = list.text();
    assert!(
        html.contains("<a href=\"/utbetalningar/1\">Utbetalning 1</a>"),
        "{html}"
    );
    assert!(
        html.contains("1 mars 2026") || html.contains("2026-03-01"),
        "due date"
    );
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
    assert!(
        html.contains(&format!("({})", other.0)),
        "{} blocked",
        other.0
    );
    assert!(html.contains("betalningsmottagare (bankgiro, plusgiro eller IBAN) saknas"));

    // every sealed file, byte for byte, with its type and a download name
    let id = d.store.payout_batch_id(1).await.unwrap().unwrap();
    let (_, _, files) = d.store.payout_batch(id).await.unwrap().unwrap();
    assert_eq!(files.len(), 3, "CSV, pain.001 and the summary");
    for (name, sealed) in &files {
        let link = format!("/utbetalningar/1/filer/{name}");
        assert!(
            html.contains(&format!("href=\"{link}\"")),
            "a link to {name}"
        );
        let got = f.get(&link).await;
        assert_eq!(got.status, StatusCode::OK, "{name}");
        assert!(got.body == *sealed, "{name} differs from the sealed file");
        let delivered = std::fs::read(dir.path().join("ekonomi").join(name)).unwrap();
        assert!(
            got.body == delivered,
            "{name} differs from the delivered file"
        );
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
        assert!(
            cd.starts_with(&format!("attachment; filename=\"{name}\"")),
            "{cd}"
        );
    }
    assert!(
        files[0].1.starts_with(&[0xEF, 0xBB, 0xBF]),
        "the CSV keeps its BOM"
    );
    assert_eq!(
        f.get("/utbetalningar/1/filer/annan.csv").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        f.get("/utbetalningar/2").await.status,
        StatusCode::NOT_FOUND
    );
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
        html.contains(&format!(
            "Nästa schemalagda körning: <strong>{next}</strong>"
        )),
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
    let rc = d
        .store
        .reclaim_for("bjorkdalen", 2026)
        .await
        .unwrap()
        .unwrap();
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

async fn reviewers_register_the_presentation_on_the_desk(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let (d, approved) = desk_with_batch(&url, dir.path()).await;
    let (_, bj) = approved.iter().find(|(c, _)| c == "bjorkdalen").unwrap();
    let path = format!("/inlamning/{bj}/presentation");
    let mut r = Client::new(&d);
    r.sign_in("granskare", PASSWORD).await;
    let page = r.get(&format!("/inlamning/{bj}")).await;
    assert!(page.text().contains(&format!("action=\"{path}\"")));
    let csrf = page.csrf();
    // Without the token, and as finance: refused, nothing recorded.
    let bare = r.post(&path, &[("note", "x")]).await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN, "no CSRF token");
    let mut f = Client::new(&d);
    f.sign_in("ekonomi", PASSWORD).await;
    let fin_csrf = f.get("/utbetalningar").await.csrf();
    let refused = f.post(&path, &[("csrf", &fin_csrf)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "finance may not");
    assert!(d.store.presentations(2026).await.unwrap().is_empty());
    // The reviewer registers it; twice is once.
    let form = [
        ("csrf", csrf.as_str()),
        ("note", "Presenterade i Jönköping"),
    ];
    let done = r.post(&path, &form).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text());
    let again = r.post(&path, &form).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "idempotent");
    let p = d.store.presentations(2026).await.unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].clinic_id, "bjorkdalen");
    assert_eq!(p[0].registered_by, "web:granskare");
    let page = r.get(&format!("/inlamning/{bj}")).await.text();
    assert!(page.contains("av web:granskare: Presenterade i Jönköping"));
    // Instalment 2 is now due in the next run, as the CLI's preview says.
    let preview = vardval::jobs::payouts::preview(
        &d.store,
        &payouts_support::payouts_for(&dir.path().join("ekonomi")),
    )
    .await
    .unwrap();
    assert!(
        preview
            .lines
            .iter()
            .any(|l| l.clinic_id == "bjorkdalen" && l.instalment == 2),
        "{preview:?}"
    );
    let audit = d
        .store
        .audit_list(100, &vardval::store::AuditFilter::default())
        .await
        .unwrap();
    assert_eq!(
        audit
            .iter()
            .filter(|a| a.actor == "web:granskare" && a.action == "presentation.register")
            .count(),
        1
    );
    assert!(d.store.audit_verify().await.unwrap().ok());
}
