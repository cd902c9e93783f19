//! Ledger tests. Every test runs twice: on a fresh SQLite file and on a fresh PostgreSQL
//! database `vardval_test_<random>` created on the server named by `VARDVAL_TEST_PG_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`) and dropped afterwards.
//! If PostgreSQL is unreachable the PG variants fail, unless `VARDVAL_SKIP_PG=1`.

use std::collections::BTreeSet;
use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use vardval::store::{
    Grade, Intake, MessageClass, NewMessage, NewOutbox, NewSubmission, OutboxStatus, RetryPolicy,
    Store, StoreError, SubmissionKind,
};

// ---------------------------------------------------------------- harness

mod common;

use common::Backend as Kind;

/// What a test body gets: the store and the URL it was opened with (to reopen it).
struct Ctx {
    store: Store,
    url: String,
}

/// Run `body` on a fresh database of `kind` (see `common::with_db`), with the store open.
async fn run<F, Fut>(kind: Kind, body: F)
where
    F: FnOnce(Ctx) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    common::with_db(kind, move |url| async move {
        let store = Store::connect(&url).await.expect("open ledger");
        body(Ctx {
            store: store.clone(),
            url,
        })
        .await;
        store.close().await;
    })
    .await
}

/// Define a test that runs on both backends: `both!(name);` runs `async fn name(Ctx)`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::run(super::Kind::Sqlite, super::$name).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    super::run(super::Kind::Postgres, super::$name).await
                }
            }
        )*
    };
}

both!(
    versions_increment_per_clinic_and_milestone,
    concurrent_intakes_get_versions_without_gaps,
    second_commit_of_same_source_writes_nothing,
    concurrent_commits_of_same_source_record_once,
    render_sees_assigned_ids_and_can_roll_back,
    claim_due_never_hands_a_row_twice,
    retry_and_backoff_scheduling,
    recover_sending_after_crash,
    backlog_counts_undelivered_rows,
    rate_limit_counts_replies_per_recipient,
    round_trip_all_fields,
    listings_and_state,
    sessions_are_extended_at_most_once_a_minute,
);

/// A page view extends its session only when that moves the expiry by a minute or more, so
/// most views are reads; the session still ends at its idle limit (within that minute).
async fn sessions_are_extended_at_most_once_a_minute(cx: Ctx) {
    let s = &cx.store;
    let role = vardval::domain::access::Role::Reviewer;
    assert!(s.add_user("vera", role, "!x", t0()).await.unwrap());
    let idle = Duration::minutes(30);
    s.create_session("h", "vera", "csrf", None, t0(), t0() + idle)
        .await
        .unwrap();
    // 30 s later: not worth a write.
    let at = t0() + Duration::seconds(30);
    let row = s.touch_session("h", at, at + idle).await.unwrap().unwrap();
    assert_eq!(row.expires_at, t0() + idle);
    // 5 minutes later: extended.
    let at = t0() + Duration::minutes(5);
    let row = s.touch_session("h", at, at + idle).await.unwrap().unwrap();
    assert_eq!(row.expires_at, at + idle);
    // Still extended as stored, seen by the next request.
    let at2 = at + Duration::seconds(10);
    let row = s
        .touch_session("h", at2, at2 + idle)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.expires_at, at + idle);
    // Idle past the limit: gone.
    let late = at + idle + Duration::seconds(1);
    assert!(
        s.touch_session("h", late, late + idle)
            .await
            .unwrap()
            .is_none()
    );
}

// ---------------------------------------------------------------- builders

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn t0() -> DateTime<Utc> {
    t("2026-03-02T08:00:00.000Z")
}

fn message(source_key: &str, class: MessageClass) -> NewMessage {
    NewMessage {
        source_key: source_key.to_string(),
        sha256: format!("{:0>64}", source_key.len()),
        archive_path: format!("archive/{source_key}.eml"),
        received_at: t0(),
        mail_message_id: Some(format!("{source_key}@clinic.example")),
        from_addr: Some("plan@vc-almhult.example".to_string()),
        subject: "Projektplan".to_string(),
        class,
        clinic_id: Some("vc-almhult".to_string()),
        reason: "known clinic, one document".to_string(),
    }
}

fn submission(clinic: &str, milestone: i64, doc_sha: &str) -> NewSubmission {
    NewSubmission {
        clinic_id: clinic.to_string(),
        milestone,
        kind: SubmissionKind::Submission,
        received_at: t0(),
        on_time: true,
        pre_grade: Some(Grade::Green),
        doc_sha256: doc_sha.to_string(),
        doc_name: "plan.docx".to_string(),
        doc_format: Some("docx".to_string()),
        analysis_json: "{}".to_string(),
        error_kind: None,
        mail_message_id: None,
    }
}

fn outbox(kind: &str, recipient: &str, raw: &[u8]) -> NewOutbox {
    NewOutbox {
        kind: kind.to_string(),
        dedupe_key: None,
        recipient: recipient.to_string(),
        cc: vec![],
        subject: "Kvitto".to_string(),
        raw: raw.to_vec(),
        mail_message_id: format!("receipt-{}@vardval.example", raw.len()),
        not_before: None,
    }
}

/// An intake with a submission and one receipt.
fn submission_intake(source_key: &str, clinic: &str, milestone: i64, now: DateTime<Utc>) -> Intake {
    Intake {
        message: message(source_key, MessageClass::Submission),
        submission: Some(submission(clinic, milestone, &format!("doc-{source_key}"))),
        triage_reason: None,
        outbox: vec![outbox("receipt", "plan@vc-almhult.example", b"receipt")],
        now,
    }
}

/// Queue `n` standalone outbox rows, created at `now`.
async fn enqueue_n(store: &Store, n: usize, recipient: &str, now: DateTime<Utc>) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = store
            .enqueue(
                &outbox("notice", recipient, format!("mail {i}").as_bytes()),
                &format!("notice:{i}:{}", now.timestamp_millis()),
                now,
                None,
                None,
            )
            .await
            .unwrap()
            .expect("new dedupe key");
        ids.push(id);
    }
    ids
}

// ---------------------------------------------------------------- tests

async fn versions_increment_per_clinic_and_milestone(cx: Ctx) {
    let s = &cx.store;
    let mut versions = Vec::new();
    for i in 0..3 {
        let ids = s
            .commit_intake(&submission_intake(&format!("imap:1:{i}"), "vc-a", 1, t0()))
            .await
            .unwrap();
        versions.push(ids.version.unwrap());
    }
    assert_eq!(versions, vec![1, 2, 3]);
    let other_milestone = s
        .commit_intake(&submission_intake("imap:1:10", "vc-a", 2, t0()))
        .await
        .unwrap();
    assert_eq!(other_milestone.version, Some(1));
    let other_clinic = s
        .commit_intake(&submission_intake("imap:1:11", "vc-b", 1, t0()))
        .await
        .unwrap();
    assert_eq!(other_clinic.version, Some(1));

    let latest = s.latest_submission("vc-a", 1).await.unwrap().unwrap();
    assert_eq!(latest.version, 3);
    assert_eq!(latest.doc_sha256, "doc-imap:1:2");
    assert!(s.latest_submission("vc-a", 3).await.unwrap().is_none());

    let by_doc = s
        .find_submission_by_doc("vc-a", "doc-imap:1:1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_doc.version, 2);
    assert!(
        s.find_submission_by_doc("vc-b", "doc-imap:1:1")
            .await
            .unwrap()
            .is_none()
    );
}

async fn concurrent_intakes_get_versions_without_gaps(cx: Ctx) {
    for round in 0..3 {
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = cx.store.clone();
            tasks.push(tokio::spawn(async move {
                s.commit_intake(&submission_intake(
                    &format!("imap:7:{round}-{i}"),
                    "vc-concurrent",
                    4,
                    t0(),
                ))
                .await
                .unwrap()
            }));
        }
        for i in 0..4 {
            // Noise on another milestone at the same time.
            let s = cx.store.clone();
            tasks.push(tokio::spawn(async move {
                s.commit_intake(&submission_intake(
                    &format!("imap:8:{round}-{i}"),
                    "vc-concurrent",
                    5,
                    t0(),
                ))
                .await
                .unwrap()
            }));
        }
        let mut got = Vec::new();
        for task in tasks.drain(..8) {
            got.push(task.await.unwrap().version.unwrap());
        }
        for task in tasks {
            task.await.unwrap();
        }
        got.sort();
        let start = round * 8 + 1;
        assert_eq!(
            got,
            (start..start + 8).collect::<Vec<i64>>(),
            "round {round}"
        );
    }
    let all: Vec<i64> = cx
        .store
        .submissions()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| s.milestone == 5)
        .map(|s| s.version)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(all, (1..=12).collect::<Vec<i64>>());
}

async fn second_commit_of_same_source_writes_nothing(cx: Ctx) {
    let s = &cx.store;
    let first = s
        .commit_intake(&submission_intake("maildir:123.abc", "vc-a", 1, t0()))
        .await
        .unwrap();
    let snapshot = (
        s.class_counts().await.unwrap(),
        s.submissions().await.unwrap(),
        s.outbox_backlog().await.unwrap(),
        s.triage_open().await.unwrap(),
    );

    // The same source again, this time with more to write: none of it may land.
    let mut again = submission_intake("maildir:123.abc", "vc-a", 1, t0() + Duration::hours(1));
    again.triage_reason = Some("should not appear".to_string());
    again.message.class = MessageClass::NeedsReview;
    again
        .outbox
        .push(outbox("triage_notice", "vardval@rjl.example", b"x"));
    match s.commit_intake(&again).await {
        Err(StoreError::AlreadyRecorded {
            source_key,
            message_row_id,
        }) => {
            assert_eq!(source_key, "maildir:123.abc");
            assert_eq!(message_row_id, first.message_row_id);
        }
        other => panic!("expected AlreadyRecorded, got {other:?}"),
    }
    let err = s.commit_intake(&again).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot record message maildir:123.abc")
    );
    let after = (
        s.class_counts().await.unwrap(),
        s.submissions().await.unwrap(),
        s.outbox_backlog().await.unwrap(),
        s.triage_open().await.unwrap(),
    );
    assert_eq!(snapshot, after);
    let seen = s.seen_source("maildir:123.abc").await.unwrap().unwrap();
    assert_eq!(seen.id, first.message_row_id);
    assert_eq!(seen.class, MessageClass::Submission);
    assert!(s.seen_source("maildir:other").await.unwrap().is_none());
}

async fn concurrent_commits_of_same_source_record_once(cx: Ctx) {
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = cx.store.clone();
        tasks.push(tokio::spawn(async move {
            s.commit_intake(&submission_intake("imap:9:1", "vc-race", 1, t0()))
                .await
        }));
    }
    let mut ok = 0;
    let mut already = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(ids) => {
                assert_eq!(ids.version, Some(1));
                ok += 1;
            }
            Err(StoreError::AlreadyRecorded { .. }) => already += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((ok, already), (1, 7));
    assert_eq!(cx.store.submissions().await.unwrap().len(), 1);
    assert_eq!(cx.store.outbox_backlog().await.unwrap().0, 1);
}

async fn render_sees_assigned_ids_and_can_roll_back(cx: Ctx) {
    let s = &cx.store;
    s.commit_intake(&submission_intake("imap:2:1", "vc-a", 3, t0()))
        .await
        .unwrap();
    let intake = submission_intake("imap:2:2", "vc-a", 3, t0());
    let ids = s
        .commit_intake_with(&intake, |a| {
            let mut o = outbox(
                "receipt_v",
                "plan@vc-almhult.example",
                format!("version {}", a.version.unwrap()).as_bytes(),
            );
            o.dedupe_key = Some(format!("custom:{}", a.message_row_id));
            Ok(vec![o])
        })
        .await
        .unwrap();
    assert_eq!(ids.version, Some(2));
    assert_eq!(ids.outbox_ids.len(), 2);
    let rows = s.claim_due(t0(), 10).await.unwrap();
    let keys: BTreeSet<String> = rows.iter().map(|r| r.dedupe_key.clone()).collect();
    let sid = ids.submission_id.unwrap();
    assert!(keys.contains(&format!("receipt:{sid}")));
    assert!(keys.contains(&format!("custom:{}", ids.message_row_id)));
    let custom = rows.iter().find(|r| r.kind == "receipt_v").unwrap();
    assert_eq!(custom.raw, b"version 2");
    assert_eq!(custom.related_submission_id, Some(sid));
    assert_eq!(custom.related_message_id, Some(ids.message_row_id));

    // A message without submission gets `<kind>:msg:<id>`.
    let no_doc = Intake {
        message: message("imap:2:3", MessageClass::NoDocument),
        submission: None,
        triage_reason: None,
        outbox: vec![outbox("receipt", "plan@vc-almhult.example", b"no doc")],
        now: t0(),
    };
    let nd = s.commit_intake(&no_doc).await.unwrap();
    let row = s.outbox_row(nd.outbox_ids[0]).await.unwrap().unwrap();
    assert_eq!(row.dedupe_key, format!("receipt:msg:{}", nd.message_row_id));
    assert_eq!(row.related_submission_id, None);

    // A failing renderer rolls the whole intake back.
    let before = s.class_counts().await.unwrap();
    let err = s
        .commit_intake_with(&submission_intake("imap:2:4", "vc-a", 3, t0()), |_| {
            Err("template broken".to_string())
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Render { .. }), "{err}");
    assert!(s.seen_source("imap:2:4").await.unwrap().is_none());
    assert_eq!(s.class_counts().await.unwrap(), before);
    assert_eq!(
        s.latest_submission("vc-a", 3)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );

    // A dedupe-key collision inside an intake is an error and rolls back too.
    let mut dup = submission_intake("imap:2:5", "vc-a", 3, t0());
    dup.outbox[0].dedupe_key = Some(format!("receipt:{sid}"));
    let err = s.commit_intake(&dup).await.unwrap_err();
    assert!(matches!(err, StoreError::Query { .. }), "{err}");
    assert!(s.seen_source("imap:2:5").await.unwrap().is_none());
}

async fn claim_due_never_hands_a_row_twice(cx: Ctx) {
    let ids = enqueue_n(&cx.store, 60, "x@example.org", t0()).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let s = cx.store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = s.claim_due(t0() + Duration::seconds(1), 3).await.unwrap();
                if got.is_empty() {
                    break;
                }
                for r in got {
                    assert_eq!(r.status, OutboxStatus::Sending);
                    assert_eq!(r.attempts, 1);
                    mine.push(r.id);
                }
                tokio::task::yield_now().await;
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let unique: BTreeSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), unique.len(), "a row was claimed twice");
    assert_eq!(unique, ids.into_iter().collect());
    assert!(
        cx.store
            .claim_due(t0() + Duration::days(1), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn retry_and_backoff_scheduling(cx: Ctx) {
    let s = &cx.store;
    let policy = RetryPolicy {
        base: Duration::minutes(1),
        max: Duration::minutes(5),
        max_attempts: 4,
    };
    let id = enqueue_n(s, 1, "r@example.org", t0()).await[0];

    // A row queued for later is not due before its time.
    let mut later = outbox("notice", "r@example.org", b"later");
    later.not_before = Some(t0() + Duration::hours(1));
    let later_id = s
        .enqueue(&later, "later", t0(), None, None)
        .await
        .unwrap()
        .unwrap();

    let mut now = t0();
    let mut delays = Vec::new();
    loop {
        let claimed = s.claim_due(now, 10).await.unwrap();
        assert_eq!(claimed.len(), 1, "at {now}");
        let row = &claimed[0];
        assert_eq!(row.id, id);
        assert_eq!(row.claimed_at, Some(now));
        match policy.next_attempt(row.attempts, now) {
            Some(next) => {
                delays.push((next - now).num_minutes());
                s.mark_retry(id, now, "421 try later", next).await.unwrap();
                // Not due a millisecond early.
                assert!(
                    s.claim_due(next - Duration::milliseconds(1), 10)
                        .await
                        .unwrap()
                        .is_empty()
                );
                let r = s.outbox_row(id).await.unwrap().unwrap();
                assert_eq!(r.status, OutboxStatus::Failed);
                assert_eq!(r.last_error.as_deref(), Some("421 try later"));
                assert_eq!(r.next_attempt_at, next);
                assert_eq!(r.last_attempt_at, Some(now));
                now = next;
            }
            None => {
                s.mark_dead(id, now, "gave up after 4 attempts")
                    .await
                    .unwrap();
                break;
            }
        }
    }
    assert_eq!(delays, vec![1, 2, 4]);
    let dead = s.outbox_row(id).await.unwrap().unwrap();
    assert_eq!(dead.status, OutboxStatus::Dead);
    assert_eq!(dead.attempts, 4);
    assert_eq!(dead.sent_at, None);

    // Dead rows are never claimed again; the later row comes due at its time.
    let due = s.claim_due(t0() + Duration::hours(2), 10).await.unwrap();
    assert_eq!(due.iter().map(|r| r.id).collect::<Vec<_>>(), vec![later_id]);
    s.mark_sent(later_id, t0() + Duration::hours(2))
        .await
        .unwrap();

    // Marking a row that is not `sending` is refused.
    match s.mark_sent(later_id, t0()).await {
        Err(StoreError::NotClaimed { id, status }) => {
            assert_eq!((id, status.as_str()), (later_id, "sent"))
        }
        other => panic!("expected NotClaimed, got {other:?}"),
    }
    assert!(matches!(
        s.mark_retry(999_999, t0(), "x", t0()).await,
        Err(StoreError::OutboxNotFound { id: 999_999 })
    ));
}

async fn recover_sending_after_crash(cx: Ctx) {
    let ids = enqueue_n(&cx.store, 3, "c@example.org", t0()).await;
    let claimed = cx.store.claim_due(t0(), 2).await.unwrap();
    assert_eq!(
        claimed.iter().map(|r| r.id).collect::<Vec<_>>(),
        ids[..2].to_vec()
    );
    // "Crash": the claimer disappears; a new process opens the ledger (migrations re-run).
    cx.store.close().await;
    let store = Store::connect(&cx.url).await.unwrap();
    let stuck = store.recover_sending().await.unwrap();
    assert_eq!(
        stuck.iter().map(|r| r.id).collect::<Vec<_>>(),
        ids[..2].to_vec()
    );
    assert!(
        stuck
            .iter()
            .all(|r| r.status == OutboxStatus::Sending && r.attempts == 1)
    );

    store.reset_sending_to_pending(ids[0]).await.unwrap();
    store
        .mark_dead(ids[1], t0(), "unknown outcome")
        .await
        .unwrap();
    assert!(store.recover_sending().await.unwrap().is_empty());
    assert!(matches!(
        store.reset_sending_to_pending(ids[0]).await,
        Err(StoreError::NotClaimed { .. })
    ));

    let again = store.claim_due(t0(), 10).await.unwrap();
    assert_eq!(
        again.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![ids[0], ids[2]]
    );
    assert_eq!(again[0].attempts, 2);
    assert_eq!(again[1].attempts, 1);
    store.close().await;
}

async fn backlog_counts_undelivered_rows(cx: Ctx) {
    let s = &cx.store;
    assert_eq!(s.outbox_backlog().await.unwrap(), (0, None));
    let a = enqueue_n(s, 1, "b@example.org", t0()).await[0];
    enqueue_n(s, 1, "b@example.org", t0() + Duration::minutes(1)).await;
    enqueue_n(s, 1, "b@example.org", t0() + Duration::minutes(2)).await;
    assert_eq!(s.outbox_backlog().await.unwrap(), (3, Some(t0())));

    let claimed = s.claim_due(t0(), 1).await.unwrap();
    assert_eq!(claimed[0].id, a);
    // Sending still counts as backlog.
    assert_eq!(s.outbox_backlog().await.unwrap(), (3, Some(t0())));
    s.mark_sent(a, t0() + Duration::minutes(5)).await.unwrap();
    assert_eq!(
        s.outbox_backlog().await.unwrap(),
        (2, Some(t0() + Duration::minutes(1)))
    );
    // A failed row waiting for retry counts; a dead one does not.
    let b = s.claim_due(t0() + Duration::minutes(10), 1).await.unwrap()[0].id;
    s.mark_retry(b, t0(), "timeout", t0() + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(s.outbox_backlog().await.unwrap().0, 2);
    let c = s.claim_due(t0() + Duration::minutes(10), 1).await.unwrap()[0].id;
    s.mark_dead(c, t0(), "550 no such user").await.unwrap();
    assert_eq!(
        s.outbox_backlog().await.unwrap(),
        (1, Some(t0() + Duration::minutes(1)))
    );
}

async fn rate_limit_counts_replies_per_recipient(cx: Ctx) {
    let s = &cx.store;
    for minutes in [0, 10, 20, 30, 90] {
        enqueue_n(s, 1, "Plan@VC-A.example", t0() + Duration::minutes(minutes)).await;
    }
    enqueue_n(s, 2, "someone@else.example", t0() + Duration::minutes(5)).await;
    // Status does not matter: a sent reply still counts.
    let first = s.claim_due(t0(), 1).await.unwrap()[0].id;
    s.mark_sent(first, t0()).await.unwrap();

    assert_eq!(
        s.replies_to_since("plan@vc-a.example", t0()).await.unwrap(),
        5
    );
    assert_eq!(
        s.replies_to_since("plan@vc-a.example", t0() + Duration::minutes(10))
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        s.replies_to_since("PLAN@vc-a.example", t0() + Duration::minutes(31))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.replies_to_since("nobody@example.org", t0())
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.replies_to_since("someone@else.example", t0())
            .await
            .unwrap(),
        2
    );
}

async fn round_trip_all_fields(cx: Ctx) {
    let s = &cx.store;
    let received = t("2026-03-01T23:59:59.123+01:00");
    let now = t("2026-03-02T07:00:00.456Z");
    let raw: Vec<u8> = (0..=255u8).chain([0, 0, 255, b'\r', b'\n']).collect();
    let intake = Intake {
        message: NewMessage {
            source_key: "imap:42:7".to_string(),
            sha256: "ab".repeat(32),
            archive_path: "arkiv/2026/03/åäö-ÅÄÖ.eml".to_string(),
            received_at: received,
            mail_message_id: Some("CAF+åäö=x@mail.example".to_string()),
            from_addr: Some("vårdcentralen@älmhult.example".to_string()),
            subject: "SV: Projektplan Vårdcentralen Älmhult – för beslut".to_string(),
            class: MessageClass::Supplement,
            clinic_id: Some("vc-älmhult".to_string()),
            reason: "Komplettering från känd mottagning; “citat” ✓".to_string(),
        },
        submission: Some(NewSubmission {
            clinic_id: "vc-älmhult".to_string(),
            milestone: 2,
            kind: SubmissionKind::Supplement,
            received_at: received,
            on_time: false,
            pre_grade: Some(Grade::Yellow),
            doc_sha256: "cd".repeat(32),
            doc_name: "Förbättringsplan åäö.docx".to_string(),
            doc_format: Some("docx".to_string()),
            analysis_json: r#"{"rubrik":"Mål och åtgärder","ok":false,"n":3}"#.to_string(),
            error_kind: Some("missing_section".to_string()),
            mail_message_id: Some("CAF+åäö=x@mail.example".to_string()),
        }),
        triage_reason: Some("Sen inlämning – granska manuellt".to_string()),
        outbox: vec![NewOutbox {
            kind: "receipt".to_string(),
            dedupe_key: None,
            recipient: "vårdcentralen@älmhult.example".to_string(),
            cc: vec![],
            subject: "Kvitto: Förbättringsplan åäö".to_string(),
            raw: raw.clone(),
            mail_message_id: "kvitto-1@vardval.rjl.example".to_string(),
            not_before: None,
        }],
        now,
    };
    let ids = s.commit_intake(&intake).await.unwrap();

    let m = s.seen_source("imap:42:7").await.unwrap().unwrap();
    assert_eq!(m.id, ids.message_row_id);
    let nm = &intake.message;
    assert_eq!(
        (
            &m.source_key,
            &m.sha256,
            &m.archive_path,
            m.received_at,
            &m.mail_message_id,
            &m.from_addr,
            &m.subject,
            m.class,
            &m.clinic_id,
            &m.reason,
            m.processed_at
        ),
        (
            &nm.source_key,
            &nm.sha256,
            &nm.archive_path,
            received,
            &nm.mail_message_id,
            &nm.from_addr,
            &nm.subject,
            nm.class,
            &nm.clinic_id,
            &nm.reason,
            now
        )
    );
    assert_eq!(
        s.find_by_message_id("CAF+åäö=x@mail.example")
            .await
            .unwrap()
            .unwrap(),
        m
    );
    assert!(s.find_by_message_id("nope@x").await.unwrap().is_none());
    assert_eq!(
        s.find_by_sha256(&"ab".repeat(32)).await.unwrap().unwrap(),
        m
    );
    assert!(s.find_by_sha256(&"ef".repeat(32)).await.unwrap().is_none());

    let sub = s.latest_submission("vc-älmhult", 2).await.unwrap().unwrap();
    let ns = intake.submission.as_ref().unwrap();
    assert_eq!(sub.id, ids.submission_id.unwrap());
    assert_eq!(sub.message_row_id, m.id);
    assert_eq!(sub.clinic_id, ns.clinic_id);
    assert_eq!(sub.milestone, 2);
    assert_eq!(sub.version, 1);
    assert_eq!(sub.kind, SubmissionKind::Supplement);
    assert_eq!(sub.received_at, received);
    assert!(!sub.on_time);
    assert_eq!(sub.pre_grade, Some(Grade::Yellow));
    assert_eq!(sub.doc_sha256, ns.doc_sha256);
    assert_eq!(sub.doc_name, ns.doc_name);
    assert_eq!(sub.doc_format, ns.doc_format);
    assert_eq!(sub.analysis_json, ns.analysis_json);
    assert_eq!(sub.error_kind, ns.error_kind);
    assert_eq!(sub.mail_message_id, ns.mail_message_id);
    assert_eq!(sub.created_at, now);
    assert_eq!(sub.receipt_sent_at, None);

    let triage = s.triage_open().await.unwrap();
    assert_eq!(triage.len(), 1);
    assert_eq!(triage[0].id, ids.triage_id.unwrap());
    assert_eq!(triage[0].message_row_id, m.id);
    assert_eq!(triage[0].reason, "Sen inlämning – granska manuellt");
    assert_eq!(triage[0].created_at, now);
    assert_eq!(triage[0].resolved_at, None);

    let out = s.claim_due(now, 10).await.unwrap();
    assert_eq!(out.len(), 1);
    let o = &out[0];
    assert_eq!(o.id, ids.outbox_ids[0]);
    assert_eq!(o.kind, "receipt");
    assert_eq!(o.dedupe_key, format!("receipt:{}", sub.id));
    assert_eq!(o.recipient, "vårdcentralen@älmhult.example");
    assert_eq!(o.subject, "Kvitto: Förbättringsplan åäö");
    assert_eq!(o.raw, raw);
    assert_eq!(o.mail_message_id, "kvitto-1@vardval.rjl.example");
    assert_eq!(o.status, OutboxStatus::Sending);
    assert_eq!(o.attempts, 1);
    assert_eq!(o.next_attempt_at, now);
    assert_eq!(o.created_at, now);
    assert_eq!(o.related_submission_id, Some(sub.id));
    assert_eq!(o.related_message_id, Some(m.id));
    let sent_at = now + Duration::seconds(3);
    s.mark_sent(o.id, sent_at).await.unwrap();

    let listed = s.submissions().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].receipt_sent_at, Some(sent_at));
    assert_eq!(listed[0], {
        let mut x = sub.clone();
        x.receipt_sent_at = Some(sent_at);
        x
    });

    // An unreadable document: no grade.
    let mut unreadable = submission_intake("imap:42:8", "vc-älmhult", 2, now);
    unreadable.message.class = MessageClass::UnreadableDocument;
    let sub2 = unreadable.submission.as_mut().unwrap();
    sub2.pre_grade = None;
    sub2.doc_format = None;
    sub2.error_kind = Some("encrypted_pdf".to_string());
    s.commit_intake(&unreadable).await.unwrap();
    let latest = s.latest_submission("vc-älmhult", 2).await.unwrap().unwrap();
    assert_eq!((latest.version, latest.pre_grade), (2, None));
    assert_eq!(latest.doc_format, None);
}

async fn listings_and_state(cx: Ctx) {
    let s = &cx.store;
    // Received out of id order: the listing is by received_at.
    let mut late = submission_intake("imap:5:1", "vc-a", 1, t0());
    late.message.received_at = t0() + Duration::hours(2);
    late.submission.as_mut().unwrap().received_at = t0() + Duration::hours(2);
    s.commit_intake(&late).await.unwrap();
    let early = submission_intake("imap:5:2", "vc-b", 1, t0());
    s.commit_intake(&early).await.unwrap();
    for (i, class) in [
        MessageClass::AutoReply,
        MessageClass::AutoReply,
        MessageClass::Bounce,
        MessageClass::UnknownSender,
    ]
    .into_iter()
    .enumerate()
    {
        let intake = Intake {
            message: message(&format!("imap:5:{}", 10 + i), class),
            submission: None,
            triage_reason: (class == MessageClass::UnknownSender)
                .then(|| "okänd avsändare".to_string()),
            outbox: vec![],
            now: t0() + Duration::minutes(i as i64),
        };
        s.commit_intake(&intake).await.unwrap();
    }
    let listed: Vec<String> = s
        .submissions()
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.clinic_id)
        .collect();
    assert_eq!(listed, vec!["vc-b", "vc-a"]);
    assert_eq!(
        s.class_counts().await.unwrap(),
        vec![
            ("auto_reply".to_string(), 2),
            ("bounce".to_string(), 1),
            ("submission".to_string(), 2),
            ("unknown_sender".to_string(), 1),
        ]
    );
    let open = s.triage_open().await.unwrap();
    assert_eq!(open.len(), 1);
    s.resolve_triage(open[0].id, t0() + Duration::days(1))
        .await
        .unwrap();
    assert!(s.triage_open().await.unwrap().is_empty());
    assert!(matches!(
        s.resolve_triage(open[0].id, t0()).await,
        Err(StoreError::TriageNotFound { .. })
    ));

    let key = "imap:imap.rjl.example:vardval:INBOX";
    assert_eq!(s.get_mailbox_state(key).await.unwrap(), None);
    s.set_mailbox_state(key, 1_700_000_000, 41, t0())
        .await
        .unwrap();
    s.set_mailbox_state(key, 4_294_967_295, 42, t0() + Duration::seconds(1))
        .await
        .unwrap();
    let st = s.get_mailbox_state(key).await.unwrap().unwrap();
    assert_eq!(
        (st.key.as_str(), st.uidvalidity, st.last_uid, st.updated_at),
        (key, 4_294_967_295, 42, t0() + Duration::seconds(1))
    );

    assert!(s.daemon_state().await.unwrap().is_empty());
    s.set_daemon_state("connection_state", "connected")
        .await
        .unwrap();
    s.set_daemon_state("last_poll_at", "2026-03-02T08:00:00.000Z")
        .await
        .unwrap();
    s.set_daemon_state("connection_state", "fel: anslutning vägrad")
        .await
        .unwrap();
    let ds = s.daemon_state().await.unwrap();
    assert_eq!(ds.len(), 2);
    assert_eq!(ds["connection_state"], "fel: anslutning vägrad");
    assert_eq!(ds["last_poll_at"], "2026-03-02T08:00:00.000Z");
}

// ---------------------------------------------------------------- backend-free

#[tokio::test]
async fn unsupported_url_is_refused() {
    let err = Store::connect("mysql://root:hunter2@localhost/x")
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("cannot use database URL"), "{msg}");
    assert!(!msg.contains("hunter2"), "password leaked: {msg}");
}

#[test]
fn pg_url_database_is_replaced() {
    assert_eq!(
        common::with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        common::with_database("postgres://u@h/db?sslmode=disable", "x"),
        "postgres://u@h/x?sslmode=disable"
    );
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode_with_foreign_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    assert!(!path.exists());
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    assert!(path.exists());
    let mut conn = store.pool().acquire().await.unwrap();
    let mode: String = sqlx::Row::get(
        &sqlx::query("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .unwrap(),
        0,
    );
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::Row::get(
        &sqlx::query("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await
            .unwrap(),
        0,
    );
    assert_eq!(fk, 1);
    let timeout: i64 = sqlx::Row::get(
        &sqlx::query("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await
            .unwrap(),
        0,
    );
    assert_eq!(timeout, 5000);
    // Foreign keys are enforced: a triage item for a message that does not exist.
    let err = sqlx::query(
        "INSERT INTO triage (message_row_id, reason, created_at) VALUES (999, 'x', 'y')",
    )
    .execute(&mut *conn)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("FOREIGN KEY"), "{err}");
    drop(conn);
    store.close().await;
}
