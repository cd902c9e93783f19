//! The intake end to end on a Maildir (no servers): every fixture mail is archived, classified
//! as `fixtures/mail/expected.json` says, recorded once with its milestone and punctuality, and
//! answered exactly when it should be; a second pass writes nothing; storms and auto-replies
//! produce no storm back. Every test runs on SQLite and on PostgreSQL.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use vardval::adapters::archive::Archive;
use vardval::adapters::maildir::MaildirSource;
use vardval::pipeline::daemon::{self, RunOptions};
use vardval::pipeline::outbox::SendOptions;
use vardval::ports::{Clock, MailSource, ManualClock};
use vardval::store::{MessageClass, RetryPolicy};

use common::app::{Overrides, TestApp, spawn_app};
use common::{MailFixture, Recorder};

fn opts() -> RunOptions {
    RunOptions {
        once: true,
        batch: 50,
        max_wait: Duration::from_secs(1),
        send: SendOptions {
            from: "vardval@rjl.test".into(),
            copy_to: None,
            sending_grace: Duration::from_secs(120),
            retry: RetryPolicy::default(),
        },
    }
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn header(raw: &[u8], name: &str) -> Option<String> {
    let m = mail_parser::MessageParser::default().parse(raw)?;
    m.header_raw(name).map(|v| v.trim().to_string())
}

const REPLIED: [&str; 4] = [
    "submission",
    "supplement",
    "no_document",
    "unreadable_document",
];

/// The application booted over `url` at `now`, the scheduler off (only intake here).
async fn intake_app(url: &str, now: &str) -> TestApp {
    spawn_app(
        url,
        Overrides {
            now: t(now),
            extra_toml: "[schedule]\nenabled = false\n".into(),
            ..Default::default()
        },
    )
    .await
}

async fn fixtures_flow_through_the_intake(url: String) {
    let app = intake_app(&url, "2026-12-05T08:00:00Z").await;
    let md = app.maildir_source();
    let fixtures = common::mail_fixtures();
    for f in &fixtures {
        app.deliver(&f.name, &f.bytes, f.received);
    }
    let rec = app.transport.clone();
    let summary = app.run_once().await;
    assert_eq!(summary.processed, fixtures.len());
    assert_eq!(summary.failed, 0);
    let archive = Archive::new(app.path("archive"));
    let p = &app;

    let subs = p.store.submissions().await.unwrap();
    let mut replies_by_thread: HashMap<String, usize> = HashMap::new();
    for (_, to, raw) in rec.sent.lock().unwrap().iter() {
        assert_eq!(
            header(raw, "Auto-Submitted").as_deref(),
            Some("auto-replied")
        );
        let irt = header(raw, "In-Reply-To").unwrap_or_default();
        *replies_by_thread.entry(irt).or_default() += 1;
        assert_eq!(to.len(), 1);
    }
    let mut expected_replies = 0;
    for f in &fixtures {
        let e = &f.expected;
        let row = p
            .store
            .seen_source(&format!("maildir:{}", f.name))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} recorded", f.name));
        let want = e["classification"].as_str().unwrap();
        assert_eq!(
            row.class.as_str(),
            want,
            "{}: class ({})",
            f.name,
            row.reason
        );
        assert_eq!(
            row.received_at,
            f.received.unwrap(),
            "{}: time of record is the delivery time",
            f.name
        );
        assert_eq!(
            row.clinic_id.as_deref(),
            e["clinic"].as_str(),
            "{}: clinic",
            f.name
        );
        // The raw bytes are in the archive, unchanged.
        assert_eq!(
            archive.get(&row.sha256).unwrap(),
            f.bytes,
            "{}: archived",
            f.name
        );
        let sub = subs.iter().find(|s| s.message_row_id == row.id);
        if want == "submission" || want == "supplement" {
            let s = sub.unwrap_or_else(|| panic!("{}: submission recorded", f.name));
            assert_eq!(
                Some(s.milestone),
                e["milestone"].as_i64(),
                "{}: milestone",
                f.name
            );
            if let Some(on_time) = e["on_time"].as_bool() {
                assert_eq!(s.on_time, on_time, "{}: on time", f.name);
            }
            assert!(s.pre_grade.is_some());
            assert!(s.receipt_sent_at.is_some(), "{}: receipt sent", f.name);
        } else {
            assert!(sub.is_none(), "{}: no submission for {want}", f.name);
        }
        let mid = e["message_id"].as_str().unwrap_or("");
        let got = replies_by_thread.get(mid).copied().unwrap_or(0);
        let should = REPLIED.contains(&want);
        if should {
            expected_replies += 1;
        }
        if want != "duplicate" {
            assert_eq!(
                got,
                usize::from(should),
                "{}: replies to {mid} for {want}",
                f.name
            );
        }
    }
    // Exactly one reply per message that deserves one; none to the others.
    assert_eq!(rec.count(), expected_replies);
    // Replies go only to known clinic addresses.
    let reg = common::registry();
    for r in rec.recipients() {
        assert!(reg.lookup(&r).is_some(), "reply to unknown address {r}");
    }
    // Everything was moved out of the watched folder only after it was recorded.
    let left = std::fs::read_dir(app.maildir.join("new")).unwrap().count()
        + std::fs::read_dir(app.maildir.join("cur")).unwrap().count();
    assert_eq!(left, 0);
    // What could not be parsed is set apart in the quarantine folder, the rest is filed.
    let unparseable = fixtures
        .iter()
        .filter(|f| f.expected["classification"] == "unparseable")
        .count();
    assert!(unparseable > 0, "the fixtures hold unparseable mail");
    assert_eq!(
        std::fs::read_dir(md.processed_dir()).unwrap().count(),
        fixtures.len() - unparseable
    );
    assert_eq!(
        std::fs::read_dir(md.quarantine_dir()).unwrap().count(),
        unparseable
    );

    // The same messages again (a crash after commit, before the move): nothing new.
    for f in &fixtures {
        app.deliver(&f.name, &f.bytes, f.received);
    }
    let again = app.run_once().await;
    assert_eq!(again.processed, 0);
    assert_eq!(again.already_recorded, fixtures.len() - unparseable);
    assert_eq!(again.quarantined, unparseable);
    assert_eq!(rec.count(), expected_replies, "no reply twice");
    assert_eq!(p.store.submissions().await.unwrap().len(), subs.len());
}

/// A variant of a fixture with a fresh Message-ID, so it is not a duplicate.
fn variant(f: &MailFixture, n: usize) -> Vec<u8> {
    let mid = f.expected["message_id"].as_str().expect("message id");
    let inner = mid.trim_matches(|c| c == '<' || c == '>');
    let text = String::from_utf8_lossy(&f.bytes).replace(inner, &format!("storm-{n}-{inner}"));
    text.into_bytes()
}

async fn storms_and_auto_replies_get_no_storm_back(url: String) {
    let app = intake_app(&url, "2026-02-09T08:00:00Z").await;
    let (clock, md, rec, p) = (
        app.clock.clone(),
        app.maildir_source(),
        app.transport.clone(),
        &app,
    );
    let fx = common::mail_fixtures();
    let by = |prefix: &str| {
        fx.iter()
            .find(|f| f.name.starts_with(prefix))
            .unwrap()
            .clone()
    };
    let (no_doc, auto, bounce, list) = (by("09-"), by("14-"), by("15-"), by("16-"));

    // A storm: 40 mails from one clinic within minutes.
    for n in 0..40 {
        md.deliver(
            &format!("storm-{n:03}"),
            &variant(&no_doc, n),
            Some(clock.now()),
        )
        .unwrap();
    }
    // An auto-replying clinic answers each of our receipts; bounces and list mail too.
    for n in 0..10 {
        md.deliver(
            &format!("auto-{n:03}"),
            &variant(&auto, n),
            Some(clock.now()),
        )
        .unwrap();
        md.deliver(
            &format!("bounce-{n:03}"),
            &variant(&bounce, n),
            Some(clock.now()),
        )
        .unwrap();
        md.deliver(
            &format!("list-{n:03}"),
            &variant(&list, n),
            Some(clock.now()),
        )
        .unwrap();
    }
    let s = app.run_once().await;
    assert_eq!(s.processed, 70);
    assert_eq!(rec.count(), 5, "at most 5 replies per recipient and hour");
    assert!(rec.recipients().iter().all(|r| r == "lindkullen@vc.test"));
    let counts: HashMap<String, i64> = p.store.class_counts().await.unwrap().into_iter().collect();
    assert_eq!(counts.get("auto_reply"), Some(&10));
    assert_eq!(counts.get("bounce"), Some(&10));
    assert_eq!(counts.get("mailing_list"), Some(&10));
    assert_eq!(counts.get("no_document"), Some(&40));
    // The suppressed ones are in the reviewers' queue, not lost.
    let triage = p.store.triage_open().await.unwrap();
    assert!(
        triage
            .iter()
            .filter(|t| t.reason.contains("rate limit"))
            .count()
            >= 35
    );

    // An hour later the clinic can be answered again.
    clock.advance(Duration::from_secs(3700));
    md.deliver("later", &variant(&no_doc, 999), Some(clock.now()))
        .unwrap();
    app.run_once().await;
    assert_eq!(rec.count(), 6);
    assert_eq!(MessageClass::NoDocument.as_str(), "no_document");
}

/// A crash after the SMTP server took a receipt but before the ledger recorded it leaves the
/// row in `sending`. The envelope copy to our own address comes back and confirms it: no
/// second receipt. Without proof, the row is re-sent once after the grace period.
async fn half_sent_receipts_are_confirmed_or_resent_once(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t("2026-02-09T15:00:00Z")));
    let p = Arc::new(common::pipeline(&url, clock.clone(), &dir.path().join("archive")).await);
    let mut md = MaildirSource::new(
        dir.path().join("Maildir"),
        ".Behandlat",
        Duration::from_secs(1),
    );
    let fx = common::mail_fixtures();
    let plan = fx.iter().find(|f| f.name.starts_with("01-")).unwrap();
    let other = fx.iter().find(|f| f.name.starts_with("02-")).unwrap();
    md.deliver("a", &plan.bytes, plan.received).unwrap();
    md.deliver("b", &other.bytes, other.received).unwrap();
    // Record both without sending.
    for f in md.fetch_all().await {
        p.ingest_one(&f).await.unwrap();
        md.mark_processed(&f).await.unwrap();
    }
    // The "crash": both rows claimed and handed to the server, never marked sent.
    let claimed = p.store.claim_due(clock.now(), 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    // Only the first one's copy comes back (the server had taken it).
    md.deliver("copy", &claimed[0].raw, Some(clock.now()))
        .unwrap();
    let mut o = opts();
    o.send.copy_to = Some("vardval@rjl.test".into());
    o.send.sending_grace = Duration::from_secs(60);
    let rec = Arc::new(Recorder::default());
    let run = |o: RunOptions| {
        daemon::run(
            p.clone(),
            md.clone(),
            rec.clone(),
            o,
            CancellationToken::new(),
        )
    };
    run(o.clone()).await.unwrap();
    let first = p.store.outbox_row(claimed[0].id).await.unwrap().unwrap();
    assert_eq!(first.status.as_str(), "sent", "confirmed by the copy");
    assert_eq!(rec.count(), 0, "within the grace period nothing is re-sent");
    // After the grace period the unconfirmed one goes out again, once, with the same bytes.
    clock.advance(Duration::from_secs(61));
    run(o.clone()).await.unwrap();
    assert_eq!(rec.count(), 1);
    let sent = rec.sent.lock().unwrap()[0].clone();
    assert_eq!(sent.2, claimed[1].raw);
    assert_eq!(
        sent.1,
        vec![claimed[1].recipient.clone(), "vardval@rjl.test".to_string()]
    );
    run(o).await.unwrap();
    assert_eq!(rec.count(), 1);
    let (backlog, _) = p.store.outbox_backlog().await.unwrap();
    assert_eq!(backlog, 0);
}

both!(
    fixtures_flow_through_the_intake,
    storms_and_auto_replies_get_no_storm_back,
    half_sent_receipts_are_confirmed_or_resent_once
);
