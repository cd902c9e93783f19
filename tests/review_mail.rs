//! The decision mail from the desk ([`vardval::review::Desk`]) to the clinic, on both
//! databases: the preview records nothing, the edited text is what is sent, once, to the
//! clinic and the coaches (envelope, To, Cc, threading), yellow mails ask the rulebook's
//! questions, green mails invent no amounts; and through Postfix and Dovecot of the mail lab.

use std::collections::BTreeMap;

use chrono::Duration;
use vardval::domain::review::{Overrides, SectionVerdict};
use vardval::domain::rulebook::Rulebook;
use vardval::pipeline::outbox::{SendOptions, send_due};
use vardval::ports::ManualClock;
use vardval::review::DecisionRequest;
use vardval::store::{Grade, RetryPolicy, Store};

mod common;
mod review_support;

use review_support::{desk, header, submit, submit_from, t0};

both!(
    desk_preview_records_nothing_and_red_mail_reaches_clinic_and_coaches,
    yellow_mail_asks_the_rulebooks_questions,
    decision_mail_reaches_clinic_and_coach_mailboxes_in_the_lab,
);

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
        follows: None,
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
