//! Shared by `tests/review.rs` and `tests/review_mail.rs`: submissions with a hand-written
//! analysis, the desk over the embedded rulebook and templates, a header reader.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use vardval::domain::rulebook::Rulebook;
use vardval::reply::{Composer, Templates};
use vardval::review::Desk;
use vardval::store::{
    Grade, Intake, MessageClass, NewMessage, NewSubmission, Store, SubmissionKind,
};

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T08:00:00.000Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The analysis JSON of a milestone-1 plan with these section statuses (others ok).
pub fn analysis(weak: &[char]) -> String {
    let mut sections = serde_json::Map::new();
    for id in ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I'] {
        let status = if weak.contains(&id) {
            "weak"
        } else if id == 'H' || id == 'I' {
            "missing"
        } else {
            "ok"
        };
        sections.insert(
            id.to_string(),
            serde_json::json!({"status": status, "required": id < 'H'}),
        );
    }
    serde_json::json!({
        "schema": 1,
        "document": {"file": "plan.docx", "format": "docx"},
        "milestone": 1,
        "sections": sections,
        "grade": if weak.is_empty() { "green" } else { "yellow" },
    })
    .to_string()
}

/// Record one submission (a new version for the clinic and milestone); returns its id.
pub async fn submit(store: &Store, key: &str, clinic: &str, pre: Grade, weak: &[char]) -> i64 {
    submit_from(
        store,
        key,
        clinic,
        pre,
        weak,
        &format!("plan@{clinic}.vc.test"),
    )
    .await
}

/// [`submit`] from a given sender address.
pub async fn submit_from(
    store: &Store,
    key: &str,
    clinic: &str,
    pre: Grade,
    weak: &[char],
    from: &str,
) -> i64 {
    let intake = Intake {
        message: NewMessage {
            source_key: key.to_string(),
            sha256: format!("{:0>64}", key.len()),
            archive_path: format!("archive/{key}.eml"),
            received_at: t0(),
            mail_message_id: Some(format!("{key}@vc.test")),
            from_addr: Some(from.to_string()),
            subject: "Projektplan".into(),
            class: MessageClass::Submission,
            clinic_id: Some(clinic.to_string()),
            reason: "test".into(),
        },
        submission: Some(NewSubmission {
            clinic_id: clinic.to_string(),
            milestone: 1,
            kind: SubmissionKind::Submission,
            received_at: t0(),
            on_time: true,
            pre_grade: Some(pre),
            doc_sha256: format!("doc-{key}"),
            doc_name: "plan.docx".into(),
            doc_format: Some("docx".into()),
            analysis_json: analysis(weak),
            error_kind: None,
            mail_message_id: Some(format!("{key}@vc.test")),
        }),
        triage_reason: None,
        outbox: vec![],
        now: t0(),
    };
    store
        .commit_intake(&intake)
        .await
        .unwrap()
        .submission_id
        .unwrap()
}

/// The desk over `store`, with two coaches.
pub fn desk(store: &Store) -> Desk {
    Desk {
        store: store.clone(),
        composer: Composer {
            templates: Templates::load(None).unwrap(),
            rulebook: Rulebook::embedded(),
            from: "Vårdval <vardval@rjl.test>".parse().unwrap(),
        },
        coach_emails: vec!["coach.ett@rjl.test".into(), "coach.tva@rjl.test".into()],
        two_person_rule: false,
    }
}

/// The value of the first header `name` (case-insensitive) of a raw message.
pub fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}: ", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 2..].trim())
}
