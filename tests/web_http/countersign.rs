//! The two-person rule over HTTP (part of `tests/web_http.rs`), both databases: a reviewer's
//! sent decision waits (nothing in the outbox, the board says so), its proposer cannot
//! countersign it, a coach cannot either, a second reviewer's "Bekräfta och skicka" queues the
//! edited mail once (CSRF checked, audited), and "Avvisa" leaves the submission undecided.

use super::*;

crate::both!(
    a_second_reviewer_countersigns_on_the_desk,
    a_second_reviewer_rejects_on_the_desk,
);

async fn two_person_desk(url: &str, dir: &std::path::Path) -> Desk {
    common::desk::seed_with(
        url,
        dir,
        WebSettings::default(),
        common::desk::Options {
            two_person_rule: true,
            ..Default::default()
        },
    )
    .await
}

/// The value of the hidden field `name` in the page's first form that has it.
fn field(page: &Page, name: &str) -> String {
    let t = page.text();
    let key = format!("name=\"{name}\" value=\"");
    let at = t.find(&key).unwrap_or_else(|| panic!("no {name} field"));
    let rest = &t[at + key.len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

/// Sign in as `user`, preview a decision with `fields` and send it; returns the response.
async fn propose(c: &mut Client, sub: i64, fields: &[(&str, &str)]) -> Page {
    let form = c.get(&format!("/inlamning/{sub}/beslut")).await;
    assert_eq!(form.status, StatusCode::OK);
    let csrf = form.csrf();
    let mut f = vec![("csrf", csrf.as_str())];
    f.extend_from_slice(fields);
    let preview = c
        .post(&format!("/inlamning/{sub}/beslut/forhandsgranska"), &f)
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    assert!(preview.text().contains("Skicka till en andra granskare"));
    let after = field(&preview, "after");
    let mut send: Vec<(String, String)> = f
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    send.push(("after".into(), after));
    send.push((
        "body".into(),
        "Hej!\r\n\r\nGranskat av två personer.\r\n".into(),
    ));
    let send: Vec<(&str, &str)> = send.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    c.post(&format!("/inlamning/{sub}/beslut"), &send).await
}

async fn bjorkdalen_plan(d: &Desk) -> i64 {
    d.store
        .submissions()
        .await
        .unwrap()
        .iter()
        .find(|s| s.clinic_id == "bjorkdalen" && s.milestone == 1)
        .unwrap()
        .id
}

async fn a_second_reviewer_countersigns_on_the_desk(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = two_person_desk(&url, dir.path()).await;
    let sub = bjorkdalen_plan(&d).await;
    let base = d.store.outbox_backlog().await.unwrap().0; // the seeded receipts
    let mut first = Client::new(&d);
    first.sign_in("granskare", PASSWORD).await;
    let sent = propose(&mut first, sub, &[("section_D", "weak"), ("grade", "")]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.text());
    assert_eq!(
        d.store.outbox_backlog().await.unwrap().0,
        base,
        "nothing sent"
    );
    assert!(
        d.store
            .decision_for_submission(sub)
            .await
            .unwrap()
            .is_none()
    );
    let pending = d
        .store
        .open_pending_for_submission(sub)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending.proposed_by, "web:granskare");

    let board = first
        .get("/tavla?q=bj%C3%B6rkdalen&milestone=1")
        .await
        .text();
    assert!(board.contains("väntar på en andra granskare"), "{board}");
    let page = first.get(&format!("/inlamning/{sub}")).await;
    let html = page.text();
    assert!(html.contains("Väntar på en andra granskare"));
    assert!(html.contains("Föreslaget av web:granskare"));
    assert!(html.contains("Granskat av två personer."), "the kept mail");
    assert!(
        !html.contains("Bekräfta och skicka"),
        "no countersign button for the proposer"
    );
    // The proposer posting the form anyway: refused by the core.
    let own = first
        .post(
            &format!("/inlamning/{sub}/beslut/bekrafta"),
            &[("csrf", &page.csrf()), ("pending", &pending.id.to_string())],
        )
        .await;
    assert_eq!(own.status, StatusCode::BAD_REQUEST);
    assert!(own.text().contains("Du föreslog själv beslutet"));

    // A coach may not.
    let mut coach = Client::new(&d);
    coach.sign_in("coach", PASSWORD).await;
    let coach_csrf = coach.get("/tavla").await.csrf();
    let refused = coach
        .post(
            &format!("/inlamning/{sub}/beslut/bekrafta"),
            &[("csrf", &coach_csrf), ("pending", &pending.id.to_string())],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let mut second = Client::new(&d);
    second.sign_in("granskare2", PASSWORD).await;
    let page = second.get(&format!("/inlamning/{sub}")).await;
    assert!(page.text().contains("Bekräfta och skicka"));
    let bare = second
        .post(
            &format!("/inlamning/{sub}/beslut/bekrafta"),
            &[("pending", &pending.id.to_string())],
        )
        .await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(d.store.outbox_backlog().await.unwrap().0, base);
    let form = [("csrf", page.csrf()), ("pending", pending.id.to_string())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ok = second
        .post(&format!("/inlamning/{sub}/beslut/bekrafta"), &form)
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.text());
    let again = second
        .post(&format!("/inlamning/{sub}/beslut/bekrafta"), &form)
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.text().contains("redan bekräftats eller avvisats"));
    assert_eq!(
        d.store.outbox_backlog().await.unwrap().0,
        base + 1,
        "one mail"
    );
    let decision = d.store.decision_for_submission(sub).await.unwrap().unwrap();
    assert_eq!(decision.decided_by, "web:granskare");
    assert_eq!(decision.grade, vardval::store::Grade::Yellow);
    let mail = d
        .store
        .outbox_row(decision.mail_outbox_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&mail.raw).contains("Granskat av tv"));
    let html = second.get(&format!("/inlamning/{sub}")).await.text();
    assert!(html.contains("Beslutsmejlet är lagt i utkorgen"));
    assert!(!html.contains("Väntar på en andra granskare"));
    let rows = d
        .store
        .audit_list(100, &vardval::store::AuditFilter::default())
        .await
        .unwrap();
    assert!(
        rows.iter()
            .any(|r| r.action == "decision.countersign" && r.actor == "web:granskare2")
    );
    assert!(
        rows.iter()
            .any(|r| r.action == "decision.propose" && r.actor == "web:granskare")
    );
    assert!(d.store.audit_verify().await.unwrap().ok());
    d.store.close().await;
}

async fn a_second_reviewer_rejects_on_the_desk(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = two_person_desk(&url, dir.path()).await;
    let sub = bjorkdalen_plan(&d).await;
    let base = d.store.outbox_backlog().await.unwrap().0; // the seeded receipts
    let mut first = Client::new(&d);
    first.sign_in("granskare2", PASSWORD).await;
    let sent = propose(&mut first, sub, &[("grade", "red")]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.text());
    // A second decision while one waits: refused with a pointer to the waiting one.
    let mut second = Client::new(&d);
    second.sign_in("granskare", PASSWORD).await;
    let twice = propose(&mut second, sub, &[("grade", "green")]).await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
    assert!(twice.text().contains("väntar redan på en andra granskare"));
    let pending = d
        .store
        .open_pending_for_submission(sub)
        .await
        .unwrap()
        .unwrap();
    let page = second.get(&format!("/inlamning/{sub}")).await;
    let r = second
        .post(
            &format!("/inlamning/{sub}/beslut/avvisa"),
            &[
                ("csrf", &page.csrf()),
                ("pending", &pending.id.to_string()),
                ("comment", "Gul räcker här."),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(
        d.store
            .open_pending_for_submission(sub)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        d.store
            .decision_for_submission(sub)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(d.store.outbox_backlog().await.unwrap().0, base);
    let html = second.get(&format!("/inlamning/{sub}")).await.text();
    assert!(
        html.contains("Bekräfta eller ändra bedömning"),
        "undecided again"
    );
    let rejected = d.store.pending_decision(pending.id).await.unwrap().unwrap();
    assert_eq!(rejected.resolved_by.as_deref(), Some("web:granskare"));
    assert_eq!(rejected.resolve_comment.as_deref(), Some("Gul räcker här."));
    d.store.close().await;
}
