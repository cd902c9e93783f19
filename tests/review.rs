//! The review core: reviewer decisions, presentations and the hash-chained audit log, on both
//! databases (see `tests/common/mod.rs`). The store and the desk ([`vardval::review::Desk`])
//! here, with the decision mail sent through the outbox sender; the command line is in
//! `review_cli.rs`.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use vardval::domain::review::{Overrides, SectionVerdict, derive_decision};
use vardval::domain::rulebook::Rulebook;
use vardval::pipeline::outbox::{SendOptions, send_due};
use vardval::ports::ManualClock;
use vardval::reply::{Composer, Templates};
use vardval::review::{DecisionRequest, Desk};
use vardval::store::{
    AuditFilter, Grade, Intake, MessageClass, NewAudit, NewDecision, NewMessage, NewOutbox,
    NewSubmission, RetryPolicy, Store, StoreError, SubmissionKind,
};

mod common;

both!(
    decisions_keep_history_and_current_is_latest,
    superseded_version_is_refused,
    same_decision_twice_queues_one_mail,
    presentations_are_idempotent_and_audited,
    audit_chain_verifies_and_names_an_edited_row,
    concurrent_decisions_do_not_fork_the_chain,
    registry_import_is_audited,
    desk_preview_records_nothing_and_red_mail_reaches_clinic_and_coaches,
    yellow_mail_asks_the_rulebooks_questions,
    decision_mail_reaches_clinic_and_coach_mailboxes_in_the_lab,
);

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-02T08:00:00.000Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// The analysis JSON of a milestone-1 plan with these section statuses (others ok).
fn analysis(weak: &[char]) -> String {
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
    serde_json::json!({"sections": sections}).to_string()
}

/// Record one submission (a new version for the clinic and milestone); returns its id.
async fn submit(store: &Store, key: &str, clinic: &str, pre: Grade, weak: &[char]) -> i64 {
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
async fn submit_from(
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

const M1: &[char] = &['A', 'B', 'C', 'D', 'E', 'F', 'G'];

fn decision(store_sub: i64, pre: Grade, weak: &[char], ov: &Overrides, by: &str) -> NewDecision {
    let d = derive_decision(&analysis(weak), Some(pre), M1, ov).unwrap();
    NewDecision {
        submission_id: store_sub,
        year: 2026,
        grade: d.grade,
        sections: d.sections,
        pre_grade: Some(pre),
        agreed_with_pregrade: d.agreed_with_pregrade,
        comment: None,
        decided_by: by.to_string(),
    }
}

fn mail(to: &str) -> NewOutbox {
    NewOutbox {
        kind: "decision".into(),
        dedupe_key: None,
        recipient: to.to_string(),
        subject: "Beslut".into(),
        raw: b"Subject: Beslut\r\n\r\nHej\r\n".to_vec(),
        mail_message_id: "decision-test@rjl.test".into(),
        not_before: None,
    }
}

async fn decisions_keep_history_and_current_is_latest(url: String) {
    let s = Store::connect(&url).await.unwrap();
    let sub = submit(&s, "k1", "vc-a", Grade::Green, &[]).await;
    let first = decision(sub, Grade::Green, &[], &Overrides::confirm(), "cli:anna");
    let id1 = s.record_decision(&first, None, t0()).await.unwrap();
    let ov = Overrides {
        sections: BTreeMap::from([('D', SectionVerdict::Weak)]),
        grade: None,
    };
    let second = decision(sub, Grade::Green, &[], &ov, "cli:bo");
    let id2 = s
        .record_decision(&second, None, t0() + Duration::minutes(5))
        .await
        .unwrap();
    assert!(id2 > id1);
    let all = s.decisions(2026).await.unwrap();
    assert_eq!(all.len(), 2, "history is kept");
    assert_eq!(all[0].grade, Grade::Green);
    assert!(all[0].agreed_with_pregrade);
    assert_eq!(all[1].grade, Grade::Yellow, "D weak → G weak → yellow");
    assert_eq!(all[1].sections[&'G'], SectionVerdict::Weak);
    assert!(!all[1].agreed_with_pregrade);
    assert_eq!(all[1].clinic_id, "vc-a");
    assert_eq!(all[1].milestone, 1);
    let current = s.current_decisions(2026).await.unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].id, id2);
    assert_eq!(
        s.decision_for_submission(sub).await.unwrap().unwrap().id,
        id2
    );
    assert!(s.decisions(2027).await.unwrap().is_empty());
    s.close().await;
}

async fn superseded_version_is_refused(url: String) {
    let s = Store::connect(&url).await.unwrap();
    let v1 = submit(&s, "k1", "vc-a", Grade::Yellow, &['D']).await;
    let v2 = submit(&s, "k2", "vc-a", Grade::Green, &[]).await;
    let d = decision(v1, Grade::Yellow, &['D'], &Overrides::confirm(), "cli:anna");
    match s
        .record_decision(&d, Some(mail("plan@vc-a.vc.test")), t0())
        .await
    {
        Err(StoreError::Superseded {
            newer_id,
            newer_version,
            ..
        }) => {
            assert_eq!(newer_id, v2);
            assert_eq!(newer_version, 2);
        }
        other => panic!("expected Superseded, got {other:?}"),
    }
    assert!(s.decisions(2026).await.unwrap().is_empty());
    assert_eq!(s.outbox_backlog().await.unwrap().0, 0, "no mail either");
    assert_eq!(s.audit_verify().await.unwrap().rows, 0, "nor an audit row");
    // The newest version can be decided.
    let d = decision(v2, Grade::Green, &[], &Overrides::confirm(), "cli:anna");
    s.record_decision(&d, None, t0()).await.unwrap();
    assert!(matches!(
        s.record_decision(
            &NewDecision {
                submission_id: 9999,
                ..d
            },
            None,
            t0()
        )
        .await,
        Err(StoreError::SubmissionNotFound { id: 9999 })
    ));
    s.close().await;
}

async fn same_decision_twice_queues_one_mail(url: String) {
    let s = Store::connect(&url).await.unwrap();
    let sub = submit(&s, "k1", "vc-a", Grade::Green, &[]).await;
    let d = decision(sub, Grade::Green, &[], &Overrides::confirm(), "cli:anna");
    // First without mail, then with, then with again: one decision, one mail.
    let a = s.record_decision_detail(&d, None, t0()).await.unwrap();
    assert!(a.created && a.mail_outbox_id.is_none());
    let b = s
        .record_decision_detail(&d, Some(mail("plan@vc-a.vc.test")), t0())
        .await
        .unwrap();
    assert_eq!(b.id, a.id);
    assert!(!b.created && b.mail_queued);
    let c = s
        .record_decision_detail(&d, Some(mail("plan@vc-a.vc.test")), t0())
        .await
        .unwrap();
    assert_eq!((c.id, c.created, c.mail_queued), (a.id, false, false));
    assert_eq!(c.mail_outbox_id, b.mail_outbox_id);
    let row = s
        .outbox_row(b.mail_outbox_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.dedupe_key, format!("decision:{}", a.id));
    assert_eq!(s.outbox_backlog().await.unwrap().0, 1);
    assert_eq!(s.decisions(2026).await.unwrap().len(), 1);
    let audit = s.audit_list(10, &AuditFilter::default()).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(actions, vec!["decision.mail", "decision.record"]);
    s.close().await;
}

async fn presentations_are_idempotent_and_audited(url: String) {
    let s = Store::connect(&url).await.unwrap();
    assert!(
        s.record_presentation("vc-a", 2026, "cli:anna", Some("bra"), t0())
            .await
            .unwrap()
    );
    assert!(
        !s.record_presentation("vc-a", 2026, "cli:bo", None, t0())
            .await
            .unwrap()
    );
    assert!(
        s.record_presentation("vc-a", 2027, "cli:bo", None, t0())
            .await
            .unwrap()
    );
    let p = s.presentations(2026).await.unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].registered_by, "cli:anna");
    assert_eq!(p[0].note.as_deref(), Some("bra"));
    assert_eq!(p[0].registered_at, t0());
    let audit = s
        .audit_list(
            10,
            &AuditFilter {
                subject: Some("clinic:".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(audit.len(), 2, "one audit row per new registration");
    assert!(audit.iter().all(|r| r.action == "presentation.register"));
    s.close().await;
}

async fn audit_chain_verifies_and_names_an_edited_row(url: String) {
    let s = Store::connect(&url).await.unwrap();
    for i in 0..5 {
        s.audit_append(
            &NewAudit::new(
                "cli:anna",
                "test.step",
                format!("thing:{i}"),
                serde_json::json!({"i": i}),
            ),
            t0() + Duration::seconds(i),
        )
        .await
        .unwrap();
    }
    let ok = s.audit_verify().await.unwrap();
    assert_eq!((ok.rows, ok.first_bad), (5, None));
    // Someone edits row 3 behind the application's back.
    sqlx::query("UPDATE audit_log SET actor = 'cli:mallory' WHERE id = 3")
        .execute(s.pool())
        .await
        .unwrap();
    let bad = s.audit_verify().await.unwrap();
    assert_eq!(bad.first_bad, Some(3));
    assert_eq!(bad.rows, 2);
    assert!(bad.reason.unwrap().contains("changed"));
    // Put it back and delete row 4 instead: row 5 is named.
    sqlx::query("UPDATE audit_log SET actor = 'cli:anna' WHERE id = 3")
        .execute(s.pool())
        .await
        .unwrap();
    assert!(s.audit_verify().await.unwrap().ok());
    sqlx::query("DELETE FROM audit_log WHERE id = 4")
        .execute(s.pool())
        .await
        .unwrap();
    assert_eq!(s.audit_verify().await.unwrap().first_bad, Some(5));
    s.close().await;
}

async fn concurrent_decisions_do_not_fork_the_chain(url: String) {
    let s = Store::connect(&url).await.unwrap();
    let mut subs = Vec::new();
    for i in 0..8 {
        subs.push(submit(&s, &format!("k{i}"), &format!("vc-{i}"), Grade::Green, &[]).await);
    }
    let mut tasks = Vec::new();
    for (i, sub) in subs.into_iter().enumerate() {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let d = decision(sub, Grade::Green, &[], &Overrides::confirm(), "cli:anna");
            s.record_decision(&d, None, t0()).await.unwrap();
            s.audit_append(
                &NewAudit::new(
                    "cli:bo",
                    "test.other",
                    format!("x:{i}"),
                    serde_json::json!({}),
                ),
                t0(),
            )
            .await
            .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let check = s.audit_verify().await.unwrap();
    assert_eq!((check.rows, check.first_bad), (16, None));
    assert_eq!(s.decisions(2026).await.unwrap().len(), 8);
    s.close().await;
}

async fn registry_import_is_audited(url: String) {
    use vardval::domain::clinics::{Outcome, parse_file, plan};
    let s = Store::connect(&url).await.unwrap();
    let text = "id,name,emails,listed_inhabitants,year\n\
                vc-a,Vårdcentralen Ekdalen,plan@vc-a.vc.test,9000,2026\n";
    let plan = plan(&[], &parse_file(text, 2026).unwrap()).unwrap();
    assert!(plan.iter().any(|p| p.outcome == Outcome::Added));
    s.apply_clinic_plan(&plan, "import:anna", t0())
        .await
        .unwrap();
    let rows = s
        .audit_list(
            10,
            &AuditFilter {
                subject: Some("clinic:vc-a".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].action, "clinic.add");
    assert_eq!(rows[0].actor, "import:anna");
    assert!(s.audit_verify().await.unwrap().ok());
    s.close().await;
}

fn desk(store: &Store) -> Desk {
    Desk {
        store: store.clone(),
        composer: Composer {
            templates: Templates::load(None).unwrap(),
            rulebook: Rulebook::embedded(),
            from: "Vårdval <vardval@rjl.test>".parse().unwrap(),
        },
        coach_emails: vec!["coach.ett@rjl.test".into(), "coach.tva@rjl.test".into()],
    }
}

/// Send everything due with a recording transport (no copy to ourselves).
async fn send_all(store: &Store) -> Vec<common::Sent> {
    let rec = common::Recorder::default();
    let opts = SendOptions {
        from: "vardval@rjl.test".into(),
        copy_to: None,
        sending_grace: std::time::Duration::from_secs(60),
        retry: RetryPolicy::default(),
    };
    let clock = ManualClock::new(t0() + Duration::hours(1));
    send_due(store, &rec, &opts, None, &clock).await.unwrap();
    rec.sent.lock().unwrap().clone()
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}: ", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 2..].trim())
}

async fn desk_preview_records_nothing_and_red_mail_reaches_clinic_and_coaches(url: String) {
    let s = Store::connect(&url).await.unwrap();
    let sub = submit(&s, "k1", "vc-a", Grade::Green, &[]).await;
    let d = desk(&s);
    let req = DecisionRequest {
        submission_id: sub,
        overrides: Overrides {
            sections: BTreeMap::from([
                ('A', SectionVerdict::Missing),
                ('B', SectionVerdict::Missing),
                ('C', SectionVerdict::Weak),
                ('D', SectionVerdict::Weak),
            ]),
            grade: None,
        },
        comment: Some("Hör av er så bokar vi en tid.".into()),
        actor: "web:anna".into(),
        send: true,
        edited_body: None,
        instalment: None,
    };
    let draft = d.draft(&req, t0()).await.unwrap();
    assert_eq!(draft.decision.grade, Grade::Red);
    let mail = draft.mail.clone().expect("the sender is known");
    assert_eq!(mail.to, "plan@vc-a.vc.test");
    assert_eq!(mail.cc, vec!["coach.ett@rjl.test", "coach.tva@rjl.test"]);
    assert!(mail.subject.contains("röd"), "{}", mail.subject);
    assert!(mail.body.contains("coachning"), "{}", mail.body);
    assert!(mail.body.contains("Hör av er så bokar vi en tid."));
    // The preview wrote nothing.
    assert!(s.decisions(2026).await.unwrap().is_empty());
    assert_eq!(s.outbox_backlog().await.unwrap().0, 0);
    assert_eq!(s.audit_verify().await.unwrap().rows, 0);

    // The reviewer edits the text and sends.
    let edited = format!(
        "{}\nTillägg från granskaren: välkommen på träff.\n",
        mail.body
    );
    let req = DecisionRequest {
        edited_body: Some(edited),
        ..req
    };
    let done = d.decide(&req, t0()).await.unwrap();
    assert!(done.recorded.created && done.recorded.mail_queued);
    // Run again: the same decision, no second mail.
    let again = d.decide(&req, t0() + Duration::minutes(1)).await.unwrap();
    assert_eq!(again.recorded.id, done.recorded.id);
    assert!(!again.recorded.created && !again.recorded.mail_queued);

    let sent = send_all(&s).await;
    assert_eq!(sent.len(), 1, "exactly one decision mail");
    let (_, envelope, raw) = &sent[0];
    assert_eq!(
        envelope,
        &vec![
            "plan@vc-a.vc.test".to_string(),
            "coach.ett@rjl.test".to_string(),
            "coach.tva@rjl.test".to_string()
        ]
    );
    let raw = String::from_utf8_lossy(raw);
    assert_eq!(header(&raw, "To"), Some("plan@vc-a.vc.test"));
    assert!(header(&raw, "Cc").unwrap().contains("coach.tva@rjl.test"));
    assert_eq!(header(&raw, "In-Reply-To"), Some("<k1@vc.test>"));
    assert_eq!(header(&raw, "References"), Some("<k1@vc.test>"));
    assert_eq!(header(&raw, "Auto-Submitted"), None, "a person's decision");
    let parsed = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .unwrap();
    let body = parsed.body_text(0).unwrap();
    assert!(body.contains("välkommen på träff"), "{body}");
    assert!(send_all(&s).await.is_empty(), "nothing left to send");
    let dec = s.decision_for_submission(sub).await.unwrap().unwrap();
    assert_eq!(dec.mail_outbox_id, done.recorded.mail_outbox_id);
    assert_eq!(dec.decided_by, "web:anna");
    s.close().await;
}

async fn yellow_mail_asks_the_rulebooks_questions(url: String) {
    let s = Store::connect(&url).await.unwrap();
    let sub = submit(&s, "k1", "vc-a", Grade::Yellow, &['D']).await;
    let d = desk(&s);
    let req = DecisionRequest {
        submission_id: sub,
        actor: "cli:bo".into(),
        send: true,
        ..Default::default()
    };
    let draft = d.draft(&req, t0()).await.unwrap();
    assert_eq!(draft.decision.grade, Grade::Yellow);
    let mail = draft.mail.unwrap();
    assert!(mail.cc.is_empty(), "coaches only in copy for red");
    let rb = Rulebook::embedded();
    for q in &rb.section('D').questions {
        assert!(mail.body.contains(q.as_str()), "{q} in {}", mail.body);
    }
    // Sections that are fine are not asked about.
    assert!(!mail.body.contains(rb.section('B').questions[0].as_str()));
    // A green confirmation says what happens next, without inventing amounts.
    let ok = submit(&s, "k2", "vc-b", Grade::Green, &[]).await;
    let g = d
        .draft(
            &DecisionRequest {
                submission_id: ok,
                actor: "cli:bo".into(),
                ..Default::default()
            },
            t0(),
        )
        .await
        .unwrap()
        .mail
        .unwrap();
    assert!(g.subject.contains("godkänd"), "{}", g.subject);
    assert!(g.body.contains("delutbetalning 1"), "{}", g.body);
    assert!(!g.body.contains("kr"), "no amounts invented: {}", g.body);
    s.close().await;
}

/// End to end through Postfix and Dovecot: a red decision mail reaches the clinic's mailbox and
/// the coach's (Cc, a second envelope recipient), once, threaded to the submission.
async fn decision_mail_reaches_clinic_and_coach_mailboxes_in_the_lab(url: String) {
    use common::lab::{lab, plain_smtp, poll_until, read_folder, unique};
    let Some(lab) = lab() else {
        return;
    };
    let _gate = lab.shared().await;
    let clinic = unique("review-clinic");
    let coach = unique("review-coach");
    let s = Store::connect(&url).await.unwrap();
    let sub = submit_from(
        &s,
        "lab1",
        "vc-lab",
        Grade::Red,
        &['A', 'B', 'C', 'D'],
        &clinic,
    )
    .await;
    let mut d = desk(&s);
    d.coach_emails = vec![coach.clone()];
    let req = DecisionRequest {
        submission_id: sub,
        actor: "cli:anna".into(),
        send: true,
        ..Default::default()
    };
    let done = d.decide(&req, t0()).await.unwrap();
    assert_eq!(done.draft.decision.grade, Grade::Red);
    d.decide(&req, t0()).await.unwrap();
    let opts = SendOptions {
        from: "vardval@rjl.test".into(),
        copy_to: None,
        sending_grace: std::time::Duration::from_secs(60),
        retry: RetryPolicy::default(),
    };
    let clock = ManualClock::new(t0() + Duration::hours(1));
    let smtp = plain_smtp(lab);
    let sent = send_due(&s, &smtp, &opts, None, &clock).await.unwrap();
    assert_eq!(sent.sent, 1);
    assert_eq!(
        send_due(&s, &smtp, &opts, None, &clock).await.unwrap().sent,
        0
    );
    for user in [&clinic, &coach] {
        let got = poll_until(
            "the decision mail in the lab mailbox",
            std::time::Duration::from_secs(30),
            || async {
                let inbox = read_folder(lab, user, "INBOX").await;
                if inbox.is_empty() {
                    Err(format!("{user}: empty"))
                } else {
                    Ok(inbox)
                }
            },
        )
        .await;
        assert_eq!(got.len(), 1, "{user}: exactly one mail");
        let raw = String::from_utf8_lossy(&got[0].bytes).to_string();
        assert_eq!(header(&raw, "In-Reply-To"), Some("<lab1@vc.test>"), "{raw}");
        assert!(header(&raw, "To").unwrap().contains(&clinic), "{raw}");
        assert!(header(&raw, "Cc").unwrap().contains(&coach), "{raw}");
        let parsed = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .unwrap();
        assert!(parsed.subject().unwrap().contains("röd"));
        assert!(parsed.body_text(0).unwrap().contains("coachning"));
    }
    s.close().await;
}
