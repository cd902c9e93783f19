//! The two-person rule (`[reviewers] two_person_rule`) in the review core, on both databases:
//! a proposed decision sends nothing and counts nowhere, its proposer cannot countersign it
//! (on any channel), countersigning queues its kept mail exactly once (also when two
//! reviewers countersign at the same moment), rejecting leaves the submission undecided, and
//! with the rule off decisions are recorded as before. Over HTTP: `web_http/countersign.rs`.

use chrono::Duration;
use vardval::domain::countersign::{CountersignError, PendingState};
use vardval::domain::grading::Grade;
use vardval::domain::review::Overrides;
use vardval::review::{DecisionRequest, Desk, DeskError, Submitted};
use vardval::store::{Store, StoreError};

mod common;
mod review_support;

use review_support::{submit, t0};

both!(
    pending_sends_nothing_and_counts_nowhere,
    the_proposer_cannot_countersign,
    countersign_queues_the_kept_mail_once,
    concurrent_countersigns_queue_one_mail,
    rejected_proposal_leaves_the_submission_undecided,
    one_proposal_waits_at_a_time,
    rule_off_records_as_before,
);

fn ruled(store: &Store) -> Desk {
    Desk {
        two_person_rule: true,
        ..review_support::desk(store)
    }
}

fn request(sub: i64, by: &str, grade: Option<Grade>) -> DecisionRequest {
    DecisionRequest {
        submission_id: sub,
        overrides: Overrides {
            grade,
            ..Overrides::confirm()
        },
        comment: Some("Bra jobbat.".into()),
        actor: by.to_string(),
        send: true,
        edited_body: Some("Hej!\n\nEr plan är granskad av två granskare.\n".into()),
        instalment: None,
        follows: Some(0),
    }
}

async fn propose(d: &Desk, sub: i64, by: &str) -> i64 {
    match d.submit(&request(sub, by, None), t0()).await.unwrap() {
        Submitted::Proposed(p) => {
            assert!(p.proposed.created);
            p.proposed.pending_id
        }
        Submitted::Decided(_) => panic!("the rule is on: nothing is decided directly"),
    }
}

async fn pending_sends_nothing_and_counts_nowhere(url: String) {
    let s = Store::connect(&url).await.unwrap();
    let d = ruled(&s);
    let sub = submit(&s, "k1", "vc-a", Grade::Green, &[]).await;
    let id = propose(&d, sub, "web:anna").await;
    assert_eq!(
        s.outbox_backlog().await.unwrap().0,
        0,
        "nothing in the outbox"
    );
    assert!(s.decisions(2026).await.unwrap().is_empty());
    assert!(
        s.current_decisions(2026).await.unwrap().is_empty(),
        "the board and the payouts read current_decisions: nothing counts yet"
    );
    assert!(s.decision_for_submission(sub).await.unwrap().is_none());
    let p = s.open_pending_for_submission(sub).await.unwrap().unwrap();
    assert_eq!(p.id, id);
    assert_eq!(p.state, PendingState::Pending);
    assert_eq!(p.proposed_by, "web:anna");
    let mail = p.mail.as_ref().expect("the composed mail is kept");
    assert_eq!(mail.to, "plan@vc-a.vc.test");
    assert!(mail.body.contains("granskad av två granskare"), "the edit");
    // `review list` shows it waiting.
    let rows = d.list(2026).await.unwrap();
    assert_eq!(rows[0].pending_id, Some(id));
    assert_eq!(rows[0].pending_by.as_deref(), Some("web:anna"));
    assert_eq!(rows[0].grade, None);
    // The core refuses the direct path while the rule is on.
    assert!(matches!(
        d.decide(&request(sub, "web:anna", None), t0()).await,
        Err(DeskError::TwoPersonRule)
    ));
    let audit = s.audit_list(10, &Default::default()).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].action, "decision.propose");
    assert!(s.audit_verify().await.unwrap().ok());
    s.close().await;
}

async fn the_proposer_cannot_countersign(url: String) {
    let s = Store::connect(&url).await.unwrap();
    let d = ruled(&s);
    let sub = submit(&s, "k1", "vc-a", Grade::Green, &[]).await;
    let id = propose(&d, sub, "web:anna").await;
    for same in ["web:anna", "cli:anna", "cli:Anna"] {
        match d.countersign(id, same, t0()).await {
            Err(DeskError::Store(StoreError::Countersign(CountersignError::SamePerson {
                ..
            }))) => {}
            other => panic!("{same}: expected SamePerson, got {other:?}"),
        }
    }
    assert_eq!(s.outbox_backlog().await.unwrap().0, 0);
    assert!(s.decisions(2026).await.unwrap().is_empty());
    assert_eq!(
        s.pending_decision(id).await.unwrap().unwrap().state,
        PendingState::Pending,
        "still waiting for someone else"
    );
    s.close().await;
}

async fn countersign_queues_the_kept_mail_once(url: String) {
    let s = Store::connect(&url).await.unwrap();
    let d = ruled(&s);
    let sub = submit(&s, "k1", "vc-a", Grade::Green, &[]).await;
    let id = propose(&d, sub, "web:anna").await;
    let kept = s.pending_decision(id).await.unwrap().unwrap().mail.unwrap();
    let later = t0() + Duration::hours(3);
    let done = d.countersign(id, "cli:bo", later).await.unwrap();
    assert!(done.recorded.created && done.recorded.mail_queued);
    assert_eq!(done.pending.state, PendingState::Countersigned);
    assert_eq!(done.pending.resolved_by.as_deref(), Some("cli:bo"));
    assert_eq!(done.pending.decision_id, Some(done.recorded.id));
    let dec = s.decision_for_submission(sub).await.unwrap().unwrap();
    assert_eq!(dec.decided_by, "web:anna", "the proposer's decision");
    assert_eq!(dec.decided_at, later, "it counts from the countersignature");
    assert_eq!(dec.comment.as_deref(), Some("Bra jobbat."));
    assert_eq!(s.current_decisions(2026).await.unwrap().len(), 1);
    let out = s
        .outbox_row(done.recorded.mail_outbox_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        out.raw, kept.raw,
        "the mail exactly as proposed (and edited)"
    );
    assert_eq!(out.recipient, "plan@vc-a.vc.test");
    // Again: refused, nothing new.
    match d.countersign(id, "web:cecilia", later).await {
        Err(DeskError::Store(StoreError::Countersign(CountersignError::Resolved {
            state,
            ..
        }))) => assert_eq!(state, "countersigned"),
        other => panic!("expected Resolved, got {other:?}"),
    }
    assert_eq!(s.outbox_backlog().await.unwrap().0, 1, "one mail");
    assert_eq!(s.decisions(2026).await.unwrap().len(), 1);
    let audit = s.audit_list(10, &Default::default()).await.unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|a| (a.action.as_str(), a.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("decision.countersign", "cli:bo"),
            ("decision.propose", "web:anna")
        ]
    );
    assert!(s.audit_verify().await.unwrap().ok());
    s.close().await;
}

/// Eight reviewers press "Bekräfta och skicka" at the same moment: one decision, one mail.
async fn concurrent_countersigns_queue_one_mail(url: String) {
    let s = Store::connect(&url).await.unwrap();
    let sub = submit(&s, "k1", "vc-a", Grade::Yellow, &['D']).await;
    let id = propose(&ruled(&s), sub, "web:anna").await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            ruled(&s)
                .countersign(id, &format!("web:granskare{i}"), t0())
                .await
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(c) => {
                assert!(c.recorded.mail_queued);
                ok += 1;
            }
            Err(DeskError::Store(StoreError::Countersign(CountersignError::Resolved {
                ..
            }))) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ok, refused), (1, 7));
    assert_eq!(s.decisions(2026).await.unwrap().len(), 1);
    assert_eq!(s.outbox_backlog().await.unwrap().0, 1, "one decision mail");
    assert!(s.audit_verify().await.unwrap().ok());
    s.close().await;
}

async fn rejected_proposal_leaves_the_submission_undecided(url: String) {
    let s = Store::connect(&url).await.unwrap();
    let d = ruled(&s);
    let sub = submit(&s, "k1", "vc-a", Grade::Green, &[]).await;
    let id = propose(&d, sub, "web:anna").await;
    let p = d
        .reject_pending(id, "web:bo", Some("  Avsnitt D är för tunt.  "), t0())
        .await
        .unwrap();
    assert_eq!(p.state, PendingState::Rejected);
    assert_eq!(p.resolve_comment.as_deref(), Some("Avsnitt D är för tunt."));
    assert!(s.open_pending_for_submission(sub).await.unwrap().is_none());
    assert!(s.decision_for_submission(sub).await.unwrap().is_none());
    assert_eq!(s.outbox_backlog().await.unwrap().0, 0);
    // A rejected proposal cannot be countersigned or rejected again.
    assert!(matches!(
        d.countersign(id, "web:cecilia", t0()).await,
        Err(DeskError::Store(StoreError::Countersign(
            CountersignError::Resolved { .. }
        )))
    ));
    assert!(
        d.reject_pending(id, "web:cecilia", None, t0())
            .await
            .is_err()
    );
    // Someone proposes again: that one can be countersigned.
    let again = propose(&d, sub, "web:bo").await;
    assert_ne!(again, id);
    d.countersign(again, "web:anna", t0()).await.unwrap();
    assert_eq!(s.outbox_backlog().await.unwrap().0, 1);
    let actions: Vec<String> = s
        .audit_list(10, &Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        actions,
        [
            "decision.countersign",
            "decision.propose",
            "decision.reject",
            "decision.propose"
        ]
    );
    s.close().await;
}

async fn one_proposal_waits_at_a_time(url: String) {
    let s = Store::connect(&url).await.unwrap();
    let d = ruled(&s);
    let sub = submit(&s, "k1", "vc-a", Grade::Green, &[]).await;
    let id = propose(&d, sub, "web:anna").await;
    // The same proposal again (a repeated command): nothing new.
    match d
        .submit(&request(sub, "cli:anna", None), t0())
        .await
        .unwrap()
    {
        Submitted::Proposed(p) => {
            assert_eq!(p.proposed.pending_id, id);
            assert!(!p.proposed.created);
        }
        Submitted::Decided(_) => panic!("nothing is decided directly"),
    }
    // Another reviewer's different proposal: refused until this one is resolved.
    match d
        .submit(&request(sub, "web:bo", Some(Grade::Red)), t0())
        .await
    {
        Err(DeskError::Store(StoreError::PendingExists {
            pending_id,
            proposed_by,
            ..
        })) => {
            assert_eq!(pending_id, id);
            assert_eq!(proposed_by, "web:anna");
        }
        other => panic!("expected PendingExists, got {other:?}"),
    }
    assert_eq!(s.open_pending().await.unwrap().len(), 1);
    s.close().await;
}

async fn rule_off_records_as_before(url: String) {
    let s = Store::connect(&url).await.unwrap();
    let d = review_support::desk(&s);
    assert!(!d.two_person_rule, "off by default");
    let sub = submit(&s, "k1", "vc-a", Grade::Green, &[]).await;
    match d
        .submit(&request(sub, "web:anna", None), t0())
        .await
        .unwrap()
    {
        Submitted::Decided(done) => assert!(done.recorded.created && done.recorded.mail_queued),
        Submitted::Proposed(_) => panic!("the rule is off"),
    }
    assert_eq!(s.outbox_backlog().await.unwrap().0, 1);
    assert!(s.open_pending().await.unwrap().is_empty());
    assert_eq!(s.current_decisions(2026).await.unwrap().len(), 1);
    s.close().await;
}
