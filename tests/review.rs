//! The review core: reviewer decisions, presentations and the hash-chained audit log, on both
//! databases (see `tests/common/mod.rs`): the store's transactions here; the decision mail
//! from the desk in `review_mail.rs`; the command line in `review_cli.rs`.

use std::collections::BTreeMap;

use chrono::Duration;
use vardval::domain::review::{Overrides, SectionVerdict, derive_decision};
use vardval::store::{AuditFilter, Grade, NewAudit, NewDecision, NewOutbox, Store, StoreError};

mod common;
mod review_support;

use review_support::{analysis, submit, t0};

both!(
    decisions_keep_history_and_current_is_latest,
    superseded_version_is_refused,
    same_decision_twice_queues_one_mail,
    presentations_are_idempotent_and_audited,
    audit_chain_verifies_and_names_an_edited_row,
    concurrent_decisions_do_not_fork_the_chain,
    registry_import_is_audited,
    two_reviewers_sending_at_once_send_one_decision,
);

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
        cc: vec![],
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
    let history = s.decisions_for_submission(sub).await.unwrap();
    assert_eq!(
        history.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![id1, id2]
    );
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

/// Two reviewers previewed the same submission (no decision yet) and press "send" at the same
/// moment with different decisions: the check that no decision came in since the preview runs
/// inside the decision's transaction, so exactly one is recorded and one mail queued.
async fn two_reviewers_sending_at_once_send_one_decision(url: String) {
    let s = Store::connect(&url).await.unwrap();
    let sub = submit(&s, "k1", "vc-a", Grade::Yellow, &['D']).await;
    let mut tasks = Vec::new();
    for (who, ov) in [
        ("web:anna", Overrides::confirm()),
        (
            "web:bo",
            Overrides {
                grade: Some(Grade::Red),
                ..Overrides::confirm()
            },
        ),
    ] {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let d = decision(sub, Grade::Yellow, &['D'], &ov, who);
            s.record_decision_following(&d, Some(mail("plan@vc-a.vc.test")), t0(), Some(0))
                .await
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => {
                assert!(r.created && r.mail_queued);
                ok += 1;
            }
            Err(StoreError::DecidedMeanwhile {
                expected, latest, ..
            }) => {
                assert_eq!(expected, 0);
                assert!(latest > 0);
                refused += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ok, refused), (1, 1));
    assert_eq!(s.decisions(2026).await.unwrap().len(), 1);
    assert_eq!(s.outbox_backlog().await.unwrap().0, 1, "one decision mail");
    // Following the decision that is there now works.
    let latest = s.decision_for_submission(sub).await.unwrap().unwrap().id;
    let d = decision(sub, Grade::Yellow, &[], &Overrides::confirm(), "web:anna");
    let r = s
        .record_decision_following(&d, None, t0(), Some(latest))
        .await
        .unwrap();
    assert!(r.created && r.id > latest);
    s.close().await;
}
