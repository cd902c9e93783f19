//! Triage: a reviewer answers an unknown sender by hand from the desk. The answer is queued in
//! the outbox once, threaded to the original (In-Reply-To/References), without
//! `Auto-Submitted` (a person wrote it); the item is resolved and the audit log has the row.
//! CSRF, roles, empty text, and a second answer are refused. Both databases.

mod common;

use axum::http::StatusCode;
use vardval::config::WebSettings;
use vardval::store::AuditFilter;

use common::desk::{PASSWORD, seed};
use common::webclient::Client;

async fn answer(c: &mut Client, path: &str, csrf: &str, body: &str) -> common::webclient::Page {
    c.post(
        path,
        &[
            ("csrf", csrf),
            ("subject", "Sv: Projektplan Rönnåsen"),
            ("body", body),
        ],
    )
    .await
}

async fn answers(d: &common::desk::Desk) -> Vec<vardval::store::AuditRow> {
    d.store
        .audit_list(
            10,
            &AuditFilter {
                action: Some("triage.answer".into()),
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap()
}

async fn a_reviewer_answers_an_unknown_sender(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = seed(&url, dir.path(), WebSettings::default()).await;
    let item = d.store.triage_open().await.unwrap()[0].id;
    let path = format!("/att-hantera/{item}/svara");

    let mut c = Client::new(&d);
    c.sign_in("granskare", PASSWORD).await;
    let page = c.get(&format!("/att-hantera/{item}")).await;
    let html = page.text();
    assert!(html.contains("Svara avsändaren"), "{html}");
    assert!(html.contains("sofia.engdahl77@webbpost.test"));
    assert!(
        html.contains("Sv: Projektplan Rönnåsen"),
        "the draft's subject: {html}"
    );
    assert!(
        html.contains("Vänliga hälsningar\ngranskare"),
        "signed: {html}"
    );
    let csrf = page.csrf();

    // Refusals first: no token, empty text, a finance user.
    let r = answer(&mut c, &path, "", "Hej").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no CSRF token");
    let r = answer(&mut c, &path, &csrf, "   ").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "empty text");
    let mut f = Client::new(&d);
    f.sign_in("ekonomi", PASSWORD).await;
    let fcsrf = f.get("/utbetalningar").await.csrf();
    let r = answer(&mut f, &path, &fcsrf, "Hej").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "finance may not answer");
    assert!(answers(&d).await.is_empty(), "nothing queued yet");

    let body = "Hej Sofia!\n\nVi hittar inte din adress i vårt register. Vilken vårdcentral \
                skickar du för?\n\nVänliga hälsningar\nGranskaren";
    let r = answer(&mut c, &path, &csrf, body).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert!(d.store.triage_open().await.unwrap().is_empty(), "resolved");

    // One row, to the sender, threaded, written by a person.
    let rows = answers(&d).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor, "web:granskare");
    let detail: serde_json::Value = serde_json::from_str(&rows[0].detail).unwrap();
    let out = d
        .store
        .outbox_row(detail["outbox_id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.recipient, "sofia.engdahl77@webbpost.test");
    assert_eq!(out.kind, "triage_answer");
    let raw = String::from_utf8_lossy(&out.raw).replace("\r\n", "\n");
    assert!(
        raw.contains(
            "In-Reply-To: <CAJk7Vb2_xN4qRp0sT9uW3yZ1aB5cD7eF9gH1iJ3kL5mN7oP9q@mail.webbpost.test>"
        ),
        "{raw}"
    );
    assert!(raw.contains("References: <CAJk7Vb2_"), "{raw}");
    assert!(!raw.contains("Auto-Submitted"), "a person wrote it: {raw}");
    assert!(raw.contains("Vi hittar inte din adress"), "{raw}");
    assert!(d.store.audit_verify().await.unwrap().ok());

    // A second answer (another tab): refused, still one row.
    let r = answer(&mut c, &path, &csrf, body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(answers(&d).await.len(), 1);
    d.store.close().await;
}

both!(a_reviewer_answers_an_unknown_sender);
