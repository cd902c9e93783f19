//! The board per cycle year (part of `tests/web_http.rs`), both databases: the configured year
//! by default, a plain GET selector listing the years the ledger holds, `?ar=2025` showing that
//! year's submissions and decisions (and its CSV), unknown years not found, and a coach still
//! limited to their clinics in another year.

use super::*;
use vardval::store::{Grade, Intake, MessageClass, NewDecision, NewMessage, NewSubmission};

crate::both!(the_board_shows_any_cycle_year_in_the_ledger);

/// A plan of `clinic` received at `at` (a past cycle year); returns the submission id.
async fn old_plan(d: &Desk, clinic: &str, milestone: i64, at: &str) -> i64 {
    let at = common::desk::t(at);
    let key = format!("old:{clinic}:{milestone}:{at}");
    d.store
        .commit_intake(&Intake {
            message: NewMessage {
                source_key: key.clone(),
                sha256: format!("{:0>64}", key.len()),
                archive_path: "archive/none".into(),
                received_at: at,
                mail_message_id: Some(format!("{key}@vc.test")),
                from_addr: Some(format!("plan@{clinic}.vc.test")),
                subject: "Projektplan".into(),
                class: MessageClass::Submission,
                clinic_id: Some(clinic.into()),
                reason: "test".into(),
            },
            submission: Some(NewSubmission {
                clinic_id: clinic.into(),
                milestone,
                kind: vardval::store::SubmissionKind::Submission,
                received_at: at,
                on_time: true,
                pre_grade: Some(Grade::Yellow),
                doc_sha256: format!("doc-{key}"),
                doc_name: "plan-2025.docx".into(),
                doc_format: Some("docx".into()),
                analysis_json: "{}".into(),
                error_kind: None,
                mail_message_id: Some(format!("{key}@vc.test")),
            }),
            triage_reason: None,
            outbox: vec![],
            now: at,
        })
        .await
        .unwrap()
        .submission_id
        .unwrap()
}

async fn the_board_shows_any_cycle_year_in_the_ledger(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&url, dir.path()).await;
    let bj_2025 = old_plan(&d, "bjorkdalen", 1, "2025-02-10T09:00:00Z").await;
    let sj_2025 = old_plan(&d, "sjoudden", 2, "2025-11-20T09:00:00Z").await;
    d.store
        .record_decision(
            &NewDecision {
                submission_id: bj_2025,
                year: 2025,
                grade: Grade::Red,
                sections: Default::default(),
                pre_grade: Some(Grade::Yellow),
                agreed_with_pregrade: false,
                comment: None,
                decided_by: "cli:anna".into(),
            },
            None,
            common::desk::t("2025-03-01T09:00:00Z"),
        )
        .await
        .unwrap();
    let bj_2026 = d
        .store
        .submissions()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.clinic_id == "bjorkdalen" && s.milestone == 1 && s.id != bj_2025)
        .unwrap()
        .id;
    let mut c = Client::new(&d);
    c.sign_in("granskare", PASSWORD).await;
    let now = c.get("/tavla").await.text();
    assert!(now.contains("Tavla 2026"));
    assert!(
        now.contains("<option value=\"2025\">2025</option>"),
        "the selector"
    );
    assert!(now.contains("<option value=\"2026\" selected>2026 (innevarande)</option>"));
    assert!(now.contains(&format!("/inlamning/{bj_2026}\"")));
    assert!(
        !now.contains(&format!("/inlamning/{bj_2025}\"")),
        "not this year's"
    );

    let old = c.get("/tavla?ar=2025").await;
    assert_eq!(old.status, StatusCode::OK);
    let html = old.text();
    assert!(html.contains("Tavla 2025") && html.contains("Du tittar på 2025"));
    assert!(html.contains("<option value=\"2025\" selected>2025</option>"));
    assert!(html.contains(&format!("/inlamning/{bj_2025}\"")));
    assert!(html.contains(&format!("/inlamning/{sj_2025}\"")));
    assert!(!html.contains(&format!("/inlamning/{bj_2026}\"")));
    assert!(
        html.contains("<span class=\"grade red\">röd</span>"),
        "2025's decision"
    );
    assert!(
        html.contains("name=\"ar\" value=\"2025\""),
        "the filters keep the year"
    );

    let csv = c.get("/tavla.csv?ar=2025&milestone=1").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("tavla-2025.csv")
    );
    let text = csv.text();
    let bj = text
        .lines()
        .find(|l| l.starts_with("bjorkdalen,"))
        .expect("Björkdalen in 2025");
    assert!(bj.ends_with(&format!(",{bj_2025}")), "{bj}");
    assert!(
        bj.contains(",yellow,red,"),
        "pre-grade and 2025's decision: {bj}"
    );
    assert!(c.get("/tavla?ar=2026").await.text().contains("Tavla 2026"));
    for bad in [
        "/tavla?ar=2019",
        "/tavla?ar=abc",
        "/tavla?ar=99999",
        "/tavla.csv?ar=2019",
    ] {
        assert_eq!(c.get(bad).await.status, StatusCode::NOT_FOUND, "{bad}");
    }
    // The coach (Björkdalen, Ekbacken) sees their clinics in 2025 too, not Sjöudden.
    let mut coach = Client::new(&d);
    coach.sign_in("coach", PASSWORD).await;
    let html = coach.get("/tavla?ar=2025").await.text();
    assert!(html.contains(&format!("/inlamning/{bj_2025}\"")));
    assert!(!html.contains("Vårdcentralen Sjöudden"));
    d.store.close().await;
}
