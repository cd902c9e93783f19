//! Förhandskontroll (pre-check) through the real pipeline, on SQLite and PostgreSQL: a clinic's
//! draft sent with "Förhandskontroll"/"Utkast" first in the subject, or to the configured
//! pre-check address, is read and answered with the analysis, but nothing is recorded against
//! the milestone; the same document submitted afterwards is a first version, not a duplicate.

mod common;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sqlx::Row;
use vardval::pipeline::ingest::Outcome;
use vardval::ports::{Fetched, ManualClock};
use vardval::store::MessageClass;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Fixture 01 (a Word plan from a registered clinic) with another subject, recipient and
/// Message-ID.
fn plan_mail(subject: &str, to: &str, mid: &str) -> Vec<u8> {
    let raw = std::fs::read(common::root().join("fixtures/mail/01-outlook-docx-projektplan.eml"))
        .expect("fixture 01");
    let text = String::from_utf8(raw).expect("fixture is ASCII");
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("subject:") {
            out.push_str(&format!("Subject: {subject}\r\n"));
        } else if lower.starts_with("to:") {
            out.push_str(&format!("To: {to}\r\n"));
        } else if lower.starts_with("message-id:") {
            out.push_str(&format!("Message-ID: <{mid}>\r\n"));
        } else if lower.starts_with("thread-topic:") {
            continue;
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

fn fetched(key: &str, bytes: Vec<u8>, at: &str) -> Fetched {
    Fetched {
        source_key: format!("maildir:{key}"),
        bytes,
        received_at: t(at),
        handle: key.to_string(),
        only_header_of: None,
        whole_file: None,
    }
}

async fn outbox(store: &vardval::store::Store) -> Vec<(String, String, String)> {
    sqlx::query("SELECT recipient, subject, raw FROM outbox ORDER BY id")
        .fetch_all(store.pool())
        .await
        .expect("outbox rows")
        .iter()
        .map(|r| {
            let raw: Vec<u8> = r.get("raw");
            (
                r.get("recipient"),
                r.get("subject"),
                String::from_utf8_lossy(&raw).into_owned(),
            )
        })
        .collect()
}

fn count(counts: &[(String, i64)], class: &str) -> i64 {
    counts
        .iter()
        .find(|(k, _)| k == class)
        .map_or(0, |(_, n)| *n)
}

fn body(raw: &str) -> String {
    let m = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("reply parses");
    m.body_text(0).expect("text body").into_owned()
}

async fn precheck_is_answered_not_submitted(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t("2026-02-01T09:00:00Z")));
    let p = common::pipeline(&url, clock.clone(), dir.path()).await;

    // 1. Subject word, behind a reply prefix.
    let out = p
        .ingest_one(&fetched(
            "a",
            plan_mail(
                "SV: Förhandskontroll: projektplan",
                "vardval@rjl.test",
                "pc-1@bjorkdalen.vc.test",
            ),
            "2026-02-01T08:59:00Z",
        ))
        .await
        .expect("ingest");
    assert_eq!(
        out,
        Outcome::Recorded {
            class: MessageClass::Precheck,
            reply: true,
            submission_id: None,
            version: None,
        }
    );
    // 2. The configured pre-check address, with an ordinary subject.
    let out = p
        .ingest_one(&fetched(
            "b",
            plan_mail(
                "Projektplan Björkdalen",
                "Vårdval <vardval+forhandskontroll@rjl.test>",
                "pc-2@bjorkdalen.vc.test",
            ),
            "2026-02-01T08:59:30Z",
        ))
        .await
        .expect("ingest");
    assert!(
        matches!(
            out,
            Outcome::Recorded {
                class: MessageClass::Precheck,
                reply: true,
                submission_id: None,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(
        p.store.submissions().await.unwrap().is_empty(),
        "a pre-check records nothing against the milestone"
    );
    assert!(
        p.store.triage_open().await.unwrap().is_empty(),
        "a pre-check is no work for reviewers"
    );
    let replies = outbox(&p.store).await;
    assert_eq!(replies.len(), 2, "each pre-check is answered once");
    for (to, subject, raw) in &replies {
        assert_eq!(to, "kontakt@bjorkdalen.vc.test");
        assert!(subject.starts_with("Förhandskontroll"), "{subject}");
        assert!(subject.contains("inte inlämnad"), "{subject}");
        let text = body(raw);
        assert!(text.contains("inte är en inlämning"), "{text}");
        assert!(
            text.contains("Förhandsbedömning:"),
            "the analysis is there: {text}"
        );
        assert!(
            text.contains("skickar ni det till vardval@rjl.test"),
            "how to submit: {text}"
        );
        assert!(
            !text.contains("Version:"),
            "no version for a pre-check: {text}"
        );
        assert!(raw.contains("Auto-Submitted: auto-replied"));
    }

    // 3. The same document submitted for real: version 1, a submission, a receipt.
    let out = p
        .ingest_one(&fetched(
            "c",
            plan_mail(
                "Projektplan Björkdalen",
                "vardval@rjl.test",
                "real-1@bjorkdalen.vc.test",
            ),
            "2026-02-01T09:00:00Z",
        ))
        .await
        .expect("ingest");
    match out {
        Outcome::Recorded {
            class: MessageClass::Submission,
            reply: true,
            submission_id: Some(_),
            version: Some(1),
        } => {}
        other => panic!("the real submission after pre-checks: {other:?}"),
    }
    let counts = p.store.class_counts().await.unwrap();
    assert_eq!(count(&counts, "precheck"), 2);
    assert_eq!(count(&counts, "submission"), 1);
    let replies = outbox(&p.store).await;
    assert_eq!(replies.len(), 3);
    assert!(
        replies[2].1.starts_with("Mottagningsbekräftelse"),
        "{}",
        replies[2].1
    );
    p.store.close().await;
}

async fn ordinary_mail_is_not_a_precheck(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t("2026-02-01T09:00:00Z")));
    let p = common::pipeline(&url, clock, dir.path()).await;
    // "Utkastet" is not the word "Utkast"; a plus address that is not configured is ordinary.
    let cases: Vec<(String, String)> = vec![
        (
            "Utkastet blev klart: projektplan".into(),
            "vardval@rjl.test".into(),
        ),
        ("Projektplan".into(), "vardval+annat@rjl.test".into()),
    ];
    for (i, (subject, to)) in cases.into_iter().enumerate() {
        let out = p
            .ingest_one(&fetched(
                &format!("o{i}"),
                plan_mail(&subject, &to, &format!("o{i}@bjorkdalen.vc.test")),
                "2026-02-01T08:00:00Z",
            ))
            .await
            .expect("ingest");
        assert!(
            // The second is the same document again: a duplicate of the first, still not a
            // pre-check.
            matches!(
                out,
                Outcome::Recorded {
                    class: MessageClass::Submission | MessageClass::Duplicate,
                    ..
                }
            ),
            "{subject}: {out:?}"
        );
    }
    p.store.close().await;
}

/// A ledger made by the first release (schema version 1, with rows that other tables refer
/// to) is upgraded in place: the rows stay, foreign keys still hold and are still enforced,
/// and the new class can be stored.
async fn an_existing_ledger_is_upgraded(url: String) {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let sqlite = url.starts_with("sqlite:");
    let first = if sqlite {
        include_str!("../migrations/sqlite/0001_init.sql")
    } else {
        include_str!("../migrations/postgres/0001_init.sql")
    };
    let old = Migrator {
        migrations: std::borrow::Cow::Owned(vec![Migration::new(
            1,
            "init".into(),
            MigrationType::Simple,
            first.into(),
            false,
        )]),
        ..Migrator::DEFAULT
    };
    let raw_url = if sqlite {
        format!("{url}?mode=rwc")
    } else {
        url.clone()
    };
    let pool = sqlx::AnyPool::connect(&raw_url).await.expect("connect");
    old.run(&pool).await.expect("schema version 1");
    sqlx::query(
        "INSERT INTO messages (source_key, sha256, archive_path, received_at, subject, class, \
         reason, processed_at) VALUES ('maildir:old', 'ab', 'x', '2026-01-10T08:00:00.000Z', \
         'Fråga', 'no_document', 'old', '2026-01-10T08:00:01.000Z')",
    )
    .execute(&pool)
    .await
    .expect("old message");
    sqlx::query(
        "INSERT INTO triage (message_row_id, reason, created_at) \
         SELECT id, 'read it', '2026-01-10T08:00:01.000Z' FROM messages",
    )
    .execute(&pool)
    .await
    .expect("old triage item");
    pool.close().await;

    let store = vardval::store::Store::connect(&url).await.expect("upgrade");
    let triage = store.triage_open().await.expect("triage");
    assert_eq!(triage.len(), 1, "the old triage item is still there");
    let counts = store.class_counts().await.unwrap();
    assert_eq!(count(&counts, "no_document"), 1);
    // Foreign keys are still enforced after the rebuild.
    let orphan = sqlx::query(
        "INSERT INTO triage (message_row_id, reason, created_at) \
         VALUES (999999, 'orphan', '2026-01-10T08:00:01.000Z')",
    )
    .execute(store.pool())
    .await;
    assert!(orphan.is_err(), "a triage item for no message is refused");
    store.close().await;

    // And the upgraded ledger takes a pre-check.
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t("2026-02-01T09:00:00Z")));
    let p = common::pipeline(&url, clock, dir.path()).await;
    let out = p
        .ingest_one(&fetched(
            "u",
            plan_mail(
                "Utkast: projektplan",
                "vardval@rjl.test",
                "u@bjorkdalen.vc.test",
            ),
            "2026-02-01T08:00:00Z",
        ))
        .await
        .expect("ingest");
    assert!(
        matches!(
            out,
            Outcome::Recorded {
                class: MessageClass::Precheck,
                ..
            }
        ),
        "{out:?}"
    );
    p.store.close().await;
}

both!(
    precheck_is_answered_not_submitted,
    ordinary_mail_is_not_a_precheck,
    an_existing_ledger_is_upgraded,
);
