//! Issue 10: one mail from anyone must never stop the intake. Each class of poison mail is
//! sent through the real pipeline on a Maildir (no servers), on SQLite and on PostgreSQL:
//! unstorable text (class 2), sender addresses no reply can go to (3), duplicates by
//! Message-ID from someone else (6), reply limits that swallowed a receipt and repeated mail
//! answered twice (7), and the poison mechanism itself: panics, hangs and process deaths are
//! counted per message and the message is quarantined without being parsed again.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use vardval::adapters::maildir::MaildirSource;
use vardval::pipeline::daemon::{self, RunOptions, RunSummary};
use vardval::pipeline::ingest::Pipeline;
use vardval::pipeline::outbox::SendOptions;
use vardval::pipeline::poison;
use vardval::ports::{Clock, ManualClock};
use vardval::store::{
    AttemptStart, AttemptState, Intake, MessageClass, MessageRow, NewMessage, RetryPolicy,
    TriageRow,
};

use common::Recorder;
use common::agent::{fixture_document, fixture_mail, mail_with_document, text_mail};

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

struct Setup {
    _dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    p: Arc<Pipeline>,
    md: MaildirSource,
    rec: Arc<Recorder>,
}

async fn setup(url: &str, tune: impl FnOnce(&mut Pipeline)) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t("2026-02-09T08:00:00Z")));
    let mut p = common::pipeline(url, clock.clone(), &dir.path().join("archive")).await;
    tune(&mut p);
    let md = MaildirSource::new(
        dir.path().join("Maildir"),
        ".Behandlat",
        Duration::from_secs(1),
    )
    .with_quarantine("Karantan");
    Setup {
        _dir: dir,
        clock,
        p: Arc::new(p),
        md,
        rec: Arc::new(Recorder::default()),
    }
}

impl Setup {
    fn deliver(&self, name: &str, raw: &[u8]) {
        self.md.deliver(name, raw, Some(self.clock.now())).unwrap();
    }
    async fn run(&self) -> RunSummary {
        daemon::run(
            self.p.clone(),
            self.md.clone(),
            self.rec.clone(),
            opts(),
            CancellationToken::new(),
        )
        .await
        .expect("run once")
    }
    async fn row(&self, name: &str) -> MessageRow {
        self.p
            .store
            .seen_source(&format!("maildir:{name}"))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name} recorded"))
    }
    async fn class(&self, name: &str) -> MessageClass {
        self.row(name).await.class
    }
    async fn triage_of(&self, name: &str) -> Vec<TriageRow> {
        let row = self.row(name).await;
        self.p
            .store
            .triage_open()
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.message_row_id == row.id)
            .collect()
    }
    fn pending(&self) -> usize {
        let root = self.md.processed_dir();
        let root = root.parent().unwrap().parent().unwrap();
        ["new", "cur"]
            .iter()
            .map(|d| {
                std::fs::read_dir(root.join(d))
                    .map(|r| r.count())
                    .unwrap_or(0)
            })
            .sum()
    }
}

/// A plan document whose bytes are unique to `n` (an RTF with a trailing line).
fn plan_doc(n: usize) -> Vec<u8> {
    let mut d = fixture_document("m1-green-bold-headings.docx");
    if n > 0 {
        d = fixture_document("m2-green-h-prose-list.rtf");
        d.extend_from_slice(format!("\r\n{n:08}\r\n").as_bytes());
    }
    d
}

fn plan(from: &str, mid: &str, n: usize) -> Vec<u8> {
    let name = if n == 0 { "plan.docx" } else { "plan.rtf" };
    mail_with_document(
        from,
        "vardval@rjl.test",
        "Projektplan 2026",
        mid,
        name,
        &plan_doc(n),
    )
}

fn no_doc(from: &str, mid: &str) -> Vec<u8> {
    text_mail(
        from,
        "vardval@rjl.test",
        "Fråga om planen",
        mid,
        "",
        "Hej! När ska planen in?",
    )
}

// ---------------------------------------------------------------------------------------------
// class 2: text PostgreSQL cannot store

/// At the store boundary: NUL in subject, sender, Message-ID and document name is cleaned
/// before the insert, and a triage item says what was changed.
async fn store_cleans_unstorable_text(url: String) {
    let s = setup(&url, |_| {}).await;
    let now = s.clock.now();
    let intake = Intake {
        message: NewMessage {
            source_key: "maildir:nul".into(),
            sha256: "00".repeat(32),
            archive_path: "/a/b".into(),
            received_at: now,
            mail_message_id: Some("a\0b@vc.test".into()),
            from_addr: Some("x\0@vc.test".into()),
            subject: format!("Plan\0{}", "x".repeat(5000)),
            class: MessageClass::NeedsReview,
            clinic_id: None,
            reason: "test".into(),
        },
        submission: None,
        triage_reason: Some("sender authentication failed".into()),
        outbox: Vec::new(),
        now,
    };
    let ids = s.p.store.commit_intake(&intake).await.expect("recorded");
    let row = s.p.store.seen_source("maildir:nul").await.unwrap().unwrap();
    assert_eq!(row.mail_message_id.as_deref(), Some("a\u{FFFD}b@vc.test"));
    assert!(!row.subject.contains('\0'));
    assert_eq!(row.subject.chars().count(), 2000);
    let triage = s.triage_of("nul").await;
    assert_eq!(triage.len(), 1);
    assert_eq!(Some(triage[0].id), ids.triage_id);
    let r = &triage[0].reason;
    assert!(r.starts_with("sender authentication failed; "), "{r}");
    assert!(r.contains("subject: 1 NUL character(s) replaced"), "{r}");
    assert!(r.contains("cut from 5005 to 2000 characters"), "{r}");
    assert!(r.contains("Message-ID: 1 NUL"), "{r}");
    assert!(r.contains("sender: 1 NUL"), "{r}");
}

/// Through the intake: a clinic's plan with NUL in subject, file name and Message-ID is
/// recorded (with its submission and receipt) and the next mail is read too.
async fn nul_bytes_in_a_plan_do_not_block_the_intake(url: String) {
    let s = setup(&url, |_| {}).await;
    let raw = mail_with_document(
        "sjoudden@vc.test",
        "vardval@rjl.test",
        "Projektplan\u{0}2026",
        "nul\u{0}id@vc.test",
        "plan\u{0}.docx",
        &plan_doc(0),
    );
    assert!(raw.contains(&0u8));
    s.deliver("a-nul", &raw);
    s.deliver("b-next", &plan("lonnhagen@vc.test", "next@vc.test", 0));
    let sum = s.run().await;
    assert_eq!(sum.failed, 0, "{sum:?}");
    assert_eq!(sum.processed, 2);
    assert_eq!(s.pending(), 0);
    assert_eq!(s.class("a-nul").await, MessageClass::Submission);
    assert_eq!(s.class("b-next").await, MessageClass::Submission);
    let triage = s.triage_of("a-nul").await;
    assert_eq!(triage.len(), 1, "{triage:?}");
    assert!(
        triage[0].reason.contains("unstorable text was changed"),
        "{}",
        triage[0].reason
    );
    assert!(triage[0].reason.contains("NUL"), "{}", triage[0].reason);
    assert_eq!(s.p.store.submissions().await.unwrap().len(), 2);
    assert_eq!(s.rec.count(), 2, "both receipts sent");
}

// ---------------------------------------------------------------------------------------------
// class 3: sender addresses no reply can go to

async fn unusable_reply_addresses_are_recorded_without_reply(url: String) {
    let s = setup(&url, |_| {}).await;
    // Ekbacken is registered by its whole domain: any local part is the clinic's.
    let senders = [
        "\"a b\"@ekbacken.vc.test",
        "a.@ekbacken.vc.test",
        "a..b@ekbacken.vc.test",
    ];
    for (i, from) in senders.iter().enumerate() {
        s.deliver(
            &format!("bad-{i}"),
            &plan(from, &format!("bad{i}@vc.test"), i + 1),
        );
        s.deliver(
            &format!("nodoc-{i}"),
            &no_doc(from, &format!("nd{i}@vc.test")),
        );
    }
    s.deliver("z-good", &plan("lonnhagen@vc.test", "good@vc.test", 0));
    let sum = s.run().await;
    assert_eq!(sum.failed, 0, "{sum:?}");
    assert_eq!(s.pending(), 0, "nothing left to retry for ever");
    for (i, sender) in senders.iter().enumerate() {
        for (name, class) in [
            (format!("bad-{i}"), MessageClass::Submission),
            (format!("nodoc-{i}"), MessageClass::NoDocument),
        ] {
            let got = s.class(&name).await;
            // The second and third plan of the clinic are supplements.
            let got = if got == MessageClass::Supplement {
                MessageClass::Submission
            } else {
                got
            };
            assert_eq!(got, class, "{sender}");
            let triage = s.triage_of(&name).await;
            assert_eq!(triage.len(), 1, "{sender}: {triage:?}");
            let r = &triage[0].reason;
            assert!(
                r.contains("cannot receive a reply") || r.contains("reply could not be built"),
                "{r}"
            );
        }
    }
    // The plans are recorded as the clinic's submissions; only the good plan is answered.
    let subs = s.p.store.submissions().await.unwrap();
    assert_eq!(subs.iter().filter(|x| x.clinic_id == "ekbacken").count(), 3);
    assert_eq!(s.rec.count(), 1);
    assert!(
        s.rec
            .recipients()
            .contains(&"lonnhagen@vc.test".to_string())
    );
}

// ---------------------------------------------------------------------------------------------
// class 6: duplicates by Message-ID

async fn another_senders_message_id_never_shadows_a_genuine_plan(url: String) {
    let s = setup(&url, |_| {}).await;
    let mid = "shared-id@vc.test";
    // An unknown sender and another clinic use the genuine plan's Message-ID first, and a
    // DMARC-failed copy of the plan itself comes in before the genuine one.
    s.deliver("1-unknown", &plan("mallory@elsewhere.test", mid, 1));
    s.deliver("2-other-clinic", &no_doc("lonnhagen@vc.test", mid));
    let failed = common::agent::rewrite_headers(
        &plan("sjoudden@vc.test", mid, 2),
        &[(
            "Authentication-Results",
            "mx.rjl.test; spf=fail smtp.mailfrom=vc.test; dmarc=fail header.from=vc.test",
        )],
    );
    s.deliver("3-dmarc-failed", &failed);
    s.run().await;
    assert_eq!(s.class("1-unknown").await, MessageClass::UnknownSender);
    assert_eq!(s.class("3-dmarc-failed").await, MessageClass::NeedsReview);
    s.clock.advance(Duration::from_secs(60));
    s.deliver("4-genuine", &plan("sjoudden@vc.test", mid, 2));
    let sum = s.run().await;
    assert_eq!(sum.failed, 0);
    assert_eq!(s.class("4-genuine").await, MessageClass::Submission);
    let subs = s.p.store.submissions().await.unwrap();
    assert_eq!(subs.iter().filter(|x| x.clinic_id == "sjoudden").count(), 1);
    assert!(s.rec.recipients().contains(&"sjoudden@vc.test".to_string()));
    // The genuine plan delivered again (same sender, Message-ID, document): a duplicate,
    // never answered twice.
    let before = s.rec.count();
    s.deliver("5-again", &plan("sjoudden@vc.test", mid, 2));
    s.run().await;
    assert_eq!(s.class("5-again").await, MessageClass::Duplicate);
    assert_eq!(s.rec.count(), before);
    assert_eq!(s.p.store.submissions().await.unwrap().len(), subs.len());
}

// ---------------------------------------------------------------------------------------------
// class 7: reply limits and repeated mail

async fn a_genuine_plan_always_gets_its_receipt(url: String) {
    let s = setup(&url, |_| {}).await;
    for n in 0..5 {
        s.deliver(
            &format!("q-{n}"),
            &no_doc("sjoudden@vc.test", &format!("q{n}@vc.test")),
        );
    }
    s.run().await;
    assert_eq!(s.rec.count(), 5, "the hourly limit is used up");
    s.deliver("z-plan", &plan("sjoudden@vc.test", "plan@vc.test", 0));
    s.deliver("z-question", &no_doc("sjoudden@vc.test", "q-late@vc.test"));
    s.run().await;
    assert_eq!(s.class("z-plan").await, MessageClass::Submission);
    assert_eq!(
        s.rec.count(),
        6,
        "the receipt went out; the question did not"
    );
    let subs = s.p.store.submissions().await.unwrap();
    assert!(subs[0].receipt_sent_at.is_some());
    let t = s.triage_of("z-question").await;
    assert!(t.iter().any(|t| t.reason.contains("rate limit")), "{t:?}");
}

async fn an_autoresponder_rotating_addresses_is_limited_per_clinic(url: String) {
    let s = setup(&url, |_| {}).await;
    for n in 0..25 {
        s.deliver(
            &format!("r-{n:02}"),
            &no_doc(
                &format!("robot{n}@ekbacken.vc.test"),
                &format!("r{n}@ekbacken.vc.test"),
            ),
        );
    }
    s.run().await;
    assert_eq!(
        s.rec.count(),
        10,
        "at most 10 replies per clinic and hour by default"
    );
    let open = s.p.store.triage_open().await.unwrap();
    assert!(
        open.iter()
            .filter(|t| t.reason.contains("replies to clinic ekbacken"))
            .count()
            >= 15
    );
}

async fn the_same_mail_twice_is_answered_once(url: String) {
    let s = setup(&url, |_| {}).await;
    let raw = no_doc("sjoudden@vc.test", "twice@vc.test");
    // The same bytes under two keys, and the same sender + Message-ID with other bytes.
    s.deliver("a", &raw);
    s.deliver("b", &raw);
    let mut other = raw.clone();
    other.extend_from_slice(b"\r\n-- \r\nskickat igen\r\n");
    s.deliver("c", &other);
    // Another sender reusing the Message-ID is answered on its own.
    s.deliver("d", &no_doc("lonnhagen@vc.test", "twice@vc.test"));
    s.run().await;
    assert_eq!(s.class("a").await, MessageClass::NoDocument);
    assert_eq!(s.class("b").await, MessageClass::Duplicate);
    assert_eq!(s.class("c").await, MessageClass::Duplicate);
    assert_eq!(s.class("d").await, MessageClass::NoDocument);
    assert_eq!(s.rec.count(), 2);
    assert_eq!(s.triage_of("b").await.len(), 0);
}

// ---------------------------------------------------------------------------------------------
// the poison mechanism

fn fault(kind: &str, mid: &str) -> Vec<u8> {
    common::agent::rewrite_headers(
        &plan("sjoudden@vc.test", mid, 7),
        &[("X-Vardval-Test-Fault", kind)],
    )
}

async fn a_panicking_mail_is_quarantined_after_max_attempts(url: String) {
    let s = setup(&url, |p| p.guards.test_faults = true).await;
    s.deliver("a-poison", &fault("panic", "p@vc.test"));
    s.deliver("b-good", &plan("lonnhagen@vc.test", "g@vc.test", 0));
    let first = s.run().await;
    assert_eq!(first.failed, 1);
    assert_eq!(first.processed, 1, "the good mail after it is read");
    let a =
        s.p.store
            .attempt("maildir:a-poison")
            .await
            .unwrap()
            .unwrap();
    assert_eq!((a.attempts, a.state), (1, AttemptState::Failed));
    assert!(a.last_error.unwrap().contains("test fault: panic"));
    let second = s.run().await;
    assert_eq!((second.failed, second.quarantined), (1, 0));
    let third = s.run().await;
    assert_eq!((third.failed, third.quarantined), (0, 1));
    assert_eq!(s.pending(), 0);
    assert!(s.md.quarantine_dir().join("a-poison:2,S").exists());
    assert_eq!(s.class("a-poison").await, MessageClass::Unparseable);
    let t = s.triage_of("a-poison").await;
    assert_eq!(t.len(), 1);
    assert!(t[0].reason.contains("quarantined"), "{}", t[0].reason);
    assert!(
        t[0].reason.contains("after 3 attempt(s)"),
        "{}",
        t[0].reason
    );
    assert!(
        t[0].reason.contains("panic while parsing"),
        "{}",
        t[0].reason
    );
    let a =
        s.p.store
            .attempt("maildir:a-poison")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(a.state, AttemptState::Quarantined);
    // Nothing more happens to it.
    let again = s.run().await;
    assert_eq!(again.processed + again.failed + again.quarantined, 0);
    assert_eq!(s.rec.count(), 1);
}

async fn a_hanging_mail_is_cut_off_and_quarantined(url: String) {
    let s = setup(&url, |p| {
        p.guards.test_faults = true;
        p.guards.max_attempts = 1;
        p.guards.message_budget = Duration::from_secs(2);
    })
    .await;
    s.deliver("a-hang", &fault("hang", "h@vc.test"));
    s.deliver("b-good", &plan("lonnhagen@vc.test", "g2@vc.test", 0));
    let sum = s.run().await;
    poison::release_test_hangs();
    assert_eq!((sum.processed, sum.quarantined, sum.failed), (1, 1, 0));
    let t = s.triage_of("a-hang").await;
    assert!(t[0].reason.contains("hung"), "{}", t[0].reason);
    assert!(s.md.quarantine_dir().join("a-hang:2,S").exists());
}

/// Three starts that never finished (the process died holding the message) leave the
/// attempt `running`: the next start quarantines it without parsing it (the fault header
/// would panic if it were parsed).
async fn a_mail_that_killed_the_process_is_quarantined_unparsed(url: String) {
    let s = setup(&url, |p| p.guards.test_faults = true).await;
    let raw = fault("panic", "k@vc.test");
    s.deliver("killer", &raw);
    let sha = vardval::adapters::archive::sha256_hex(&raw);
    for n in 1..=3 {
        let got =
            s.p.store
                .begin_attempt("maildir:killer", &sha, 3, true, s.clock.now())
                .await
                .unwrap();
        assert_eq!(
            got,
            AttemptStart::Go {
                attempt: n,
                deaths: n - 1
            }
        );
    }
    let sum = s.run().await;
    assert_eq!((sum.quarantined, sum.failed), (1, 0), "{sum:?}");
    let t = s.triage_of("killer").await;
    assert!(t[0].reason.contains("process stopped"), "{}", t[0].reason);
    let row =
        s.p.store
            .seen_source("maildir:killer")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(row.mail_message_id.as_deref(), Some("k@vc.test"));
    assert_eq!(
        row.from_addr.as_deref(),
        Some("Testklinik <sjoudden@vc.test>")
    );
    assert!(s.md.quarantine_dir().join("killer:2,S").exists());
}

fn with_probe(p: &mut Pipeline) {
    p.guards.test_faults = true;
    p.guards.probe = Some(env!("CARGO_BIN_EXE_vardval").into());
}

/// Simulate `n` processes that died holding `name` (attempt rows left `running`).
async fn died_holding(s: &Setup, name: &str, raw: &[u8], n: usize, count: bool) {
    let sha = vardval::adapters::archive::sha256_hex(raw);
    for _ in 0..n {
        s.p.store
            .begin_attempt(&format!("maildir:{name}"), &sha, 3, count, s.clock.now())
            .await
            .unwrap();
    }
}

/// With a probe process: a mail that kills its parser (here: aborts) is parsed in the
/// probe after the first death; each probe death counts, the daemon lives on, and the mail
/// is quarantined after `max_attempts`.
async fn a_killer_mail_is_counted_in_the_probe(url: String) {
    let s = setup(&url, with_probe).await;
    let raw = fault("abort", "abort@vc.test");
    s.deliver("killer", &raw);
    // The first death happened in the daemon itself (an abort there ends the test process).
    died_holding(&s, "killer", &raw, 1, false).await;
    for round in 1..=3 {
        let sum = s.run().await;
        let a = s.p.store.attempt("maildir:killer").await.unwrap().unwrap();
        if round < 3 {
            assert_eq!((sum.failed, sum.quarantined), (1, 0), "round {round}");
            assert_eq!(a.attempts, round);
            assert!(
                a.last_error.unwrap().contains("probe process"),
                "round {round}"
            );
        } else {
            assert_eq!((sum.failed, sum.quarantined), (0, 1));
            assert_eq!(a.state, AttemptState::Quarantined);
        }
    }
    let t = s.triage_of("killer").await;
    assert!(
        t[0].reason
            .contains("probe process parsing this message died"),
        "{}",
        t[0].reason
    );
    assert!(s.md.quarantine_dir().join("killer:2,S").exists());
}

/// With a probe process: a good mail the process was killed holding many times (an
/// operator's SIGKILL, the OOM killer) is never held against it: the probe survives, the
/// mail is recorded and answered.
async fn outside_kills_never_quarantine_good_mail(url: String) {
    let s = setup(&url, with_probe).await;
    let raw = plan("lonnhagen@vc.test", "often-killed@vc.test", 0);
    s.deliver("good", &raw);
    died_holding(&s, "good", &raw, 5, false).await;
    let sum = s.run().await;
    assert_eq!((sum.processed, sum.failed, sum.quarantined), (1, 0, 0));
    assert_eq!(s.class("good").await, MessageClass::Submission);
    let a = s.p.store.attempt("maildir:good").await.unwrap().unwrap();
    assert_eq!((a.attempts, a.deaths, a.state), (1, 5, AttemptState::Done));
    assert_eq!(s.rec.count(), 1);
}

/// The fixture corpus still flows with the guards on (a sanity check that the mechanism
/// does not quarantine ordinary mail).
async fn ordinary_mail_is_never_quarantined(url: String) {
    let s = setup(&url, |p| p.guards.test_faults = true).await;
    s.deliver("plan", &fixture_mail("01-outlook-docx-projektplan.eml"));
    let sum = s.run().await;
    assert_eq!((sum.processed, sum.quarantined, sum.failed), (1, 0, 0));
    let a = s.p.store.attempt("maildir:plan").await.unwrap().unwrap();
    assert_eq!((a.attempts, a.state), (1, AttemptState::Done));
}

// ---------------------------------------------------------------------------------------------
// class 9, one message: larger than max_message_bytes

/// A mail larger than `max_message_bytes` is read by its header only (the source never holds
/// it whole; the archive copies the file in pieces), recorded with a "too large" reply and a
/// triage item, and set apart whole in the quarantine folder, also when it is met again after
/// a crash before the move.
async fn an_oversize_mail_is_read_by_its_header_and_set_apart(url: String) {
    let mut s = setup(&url, |p| p.max_message_bytes = 100_000).await;
    s.md = s.md.clone().with_max_message_bytes(100_000);
    // A plan with 300 KB of epilogue after its last part.
    let mut raw = plan("sjoudden@vc.test", "huge@vc.test", 0);
    while raw.len() < 300_000 {
        raw.extend_from_slice(format!("{}\r\n", "a".repeat(900)).as_bytes());
    }
    s.deliver("huge", &raw);
    s.deliver("next", &plan("lonnhagen@vc.test", "next@vc.test", 1));
    let sum = s.run().await;
    assert_eq!(
        (sum.processed, sum.failed, sum.quarantined),
        (2, 0, 1),
        "{sum:?}"
    );
    assert_eq!(s.class("huge").await, MessageClass::UnreadableDocument);
    assert_eq!(s.class("next").await, MessageClass::Submission);
    let row = s.row("huge").await;
    assert!(
        row.reason
            .contains(&format!("message of {} bytes", raw.len()))
            && row.reason.contains("only its header was read"),
        "{}",
        row.reason
    );
    assert_eq!(s.triage_of("huge").await.len(), 1);
    assert!(s.rec.recipients().contains(&"sjoudden@vc.test".to_string()));
    // Archived whole (copied from the file in pieces), and kept whole in the quarantine folder.
    assert_eq!(std::fs::read(&row.archive_path).unwrap(), raw);
    let kept: Vec<_> = std::fs::read_dir(s.md.quarantine_dir()).unwrap().collect();
    assert_eq!(kept.len(), 1);
    let kept = std::fs::read(kept[0].as_ref().unwrap().path()).unwrap();
    assert_eq!(kept, raw);
    // Met again (a crash after the commit, before the move): quarantined, not answered again.
    let before = s.rec.count();
    s.deliver("huge", &raw);
    let again = s.run().await;
    assert_eq!((again.processed, again.quarantined), (0, 1), "{again:?}");
    assert_eq!(s.rec.count(), before);
}

both!(
    store_cleans_unstorable_text,
    nul_bytes_in_a_plan_do_not_block_the_intake,
    unusable_reply_addresses_are_recorded_without_reply,
    another_senders_message_id_never_shadows_a_genuine_plan,
    a_genuine_plan_always_gets_its_receipt,
    an_autoresponder_rotating_addresses_is_limited_per_clinic,
    the_same_mail_twice_is_answered_once,
    a_panicking_mail_is_quarantined_after_max_attempts,
    a_hanging_mail_is_cut_off_and_quarantined,
    a_mail_that_killed_the_process_is_quarantined_unparsed,
    a_killer_mail_is_counted_in_the_probe,
    outside_kills_never_quarantine_good_mail,
    ordinary_mail_is_never_quarantined,
    an_oversize_mail_is_read_by_its_header_and_set_apart,
);
