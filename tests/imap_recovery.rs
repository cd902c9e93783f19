//! Issue 10 class 10 ("the IMAP source goes deaf") and class 9 (batches bounded by bytes, an
//! oversize mail fetched by its header only)
//! against the real Dovecot of the mail lab, on both lab profiles (`default_profile::*`, and
//! `inbox_prefix_profile::*`: personal folders under `INBOX.` with `.` as separator, no MOVE).
//!
//! Someone tidying the shared mailbox in Outlook renames or deletes the processed folder while
//! the daemon runs; a failed command must never read as "no new mail"; folder names follow
//! the server's NAMESPACE and modified UTF-7; errors are plain words.

mod common;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use vardval::adapters::imap::{ImapAuth, ImapSource};
use vardval::adapters::smtp::FileTransport;
use vardval::pipeline::daemon::{self, RunOptions};
use vardval::pipeline::outbox::SendOptions;
use vardval::ports::{Fetched, MailSource, SourceError, SystemClock, Transport};

use common::lab::{
    CLINIC_PASS, Lab, Profile, clinic_source, imap_cfg, lab_for, poll_until, read_folder,
    unique as clinic,
};

fn message(to: &str, subject: &str, body_len: usize) -> Vec<u8> {
    let id = format!("{}-{}", subject.replace(' ', "-"), common::lab::run_id());
    let mut m = format!(
        "From: Testklinik <avsandare@vc.test>\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{id}@vc.test>\r\nDate: Mon, 2 Mar 2026 09:00:00 +0100\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Hej, här kommer planen.\r\n"
    );
    while m.len() < body_len {
        m.push_str("Rad med text för att fylla ut meddelandet till rätt storlek.\r\n");
    }
    m.into_bytes()
}

fn subject_of(f: &Fetched) -> String {
    let text = String::from_utf8_lossy(&f.bytes);
    text.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or("")
        .trim()
        .to_string()
}

fn subjects(v: &[Fetched]) -> Vec<String> {
    let mut s: Vec<String> = v.iter().map(subject_of).collect();
    s.sort();
    s
}

/// A second, plain async-imap session on the same mailbox: the colleague in Outlook.
async fn colleague(lab: &Lab, user: &str) -> async_imap::Session<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", lab.imap_port()))
        .await
        .expect("connect");
    let mut c = async_imap::Client::new(tcp);
    c.read_response().await.expect("greeting");
    c.login(user, CLINIC_PASS)
        .await
        .map_err(|(e, _)| e)
        .expect("login")
}

/// Fetches until at least `n` messages are there; every fetch must succeed.
async fn fetch_until(src: &mut ImapSource, n: usize, within: Duration) -> Vec<Fetched> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let got = src
            .fetch(50)
            .await
            .expect("a failed command never reads as empty, and this one must not fail");
        if got.len() >= n {
            return got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "wanted {n} messages, have {} after {within:?}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The processed folder's name on this profile's server.
fn processed_on(p: Profile, configured: &str) -> String {
    let encoded = vardval::adapters::imap::utf7::encode(configured);
    match p {
        Profile::Default => encoded,
        Profile::InboxPrefix => format!("INBOX.{encoded}"),
    }
}

/// Folder names follow NAMESPACE; the inbox-prefix profile has no MOVE (so COPY is used).
async fn folders_follow_the_namespace(p: Profile) {
    let Some(lab) = lab_for(p) else { return };
    let _g = lab.shared().await;
    let user = clinic("ns");
    lab.deliver_raw(&message(&user, "plan ns", 0), &user);
    let mut src = clinic_source(lab, &user);
    let got = src.fetch(10).await.expect("fetch");
    assert_eq!(subjects(&got), ["plan ns"]);
    assert_eq!(
        src.server_folders(),
        Some(("INBOX".to_string(), processed_on(p, "Behandlat")))
    );
    src.mark_processed(&got[0]).await.expect("file it");
    src.disconnect().await;
    let mut s = colleague(lab, &user).await;
    let caps = s.capabilities().await.expect("capabilities");
    assert_eq!(
        caps.has_str("MOVE"),
        p == Profile::Default,
        "the profile's MOVE"
    );
    let mb = s
        .select(processed_on(p, "Behandlat"))
        .await
        .expect("select");
    assert_eq!(mb.exists, 1, "filed under the server's name");
    s.logout().await.ok();
    assert_eq!(lab.maildir_flags(&user, "Behandlat").len(), 1);
}

/// `Färdigt` goes over the wire as `F&AOQ-rdigt`, is created once and found again on the
/// next connect (no second folder), and the Maildir on disk has that name.
async fn utf7_folder_names_round_trip(p: Profile) {
    let Some(lab) = lab_for(p) else { return };
    let _g = lab.shared().await;
    let user = clinic("utf7");
    for i in 1..=2 {
        lab.deliver_raw(&message(&user, &format!("plan {i}"), 0), &user);
    }
    for _ in 0..2 {
        let mut cfg = imap_cfg(lab, &user, ImapAuth::Password(CLINIC_PASS.into()));
        cfg.processed_folder = "Färdigt".into();
        let mut src = ImapSource::new(cfg).expect("source");
        let got = src.fetch(1).await.expect("fetch");
        assert_eq!(got.len(), 1);
        assert_eq!(
            src.server_folders().map(|f| f.1),
            Some(processed_on(p, "Färdigt"))
        );
        src.mark_processed(&got[0]).await.expect("file it");
        src.disconnect().await;
    }
    assert_eq!(lab.maildir_flags(&user, "F&AOQ-rdigt").len(), 2);
    let mut s = colleague(lab, &user).await;
    let names: Vec<String> = {
        use futures::TryStreamExt;
        s.list(Some(""), Some("*"))
            .await
            .expect("list")
            .try_collect::<Vec<_>>()
            .await
            .expect("list")
            .iter()
            .map(|n| n.name().to_string())
            .filter(|n| n.to_lowercase().contains("rdigt"))
            .collect()
    };
    assert_eq!(names, [processed_on(p, "Färdigt")], "exactly one folder");
    s.logout().await.ok();
    let read = {
        let mut cfg = imap_cfg(lab, &user, ImapAuth::Password(CLINIC_PASS.into()));
        cfg.folder = "Färdigt".into();
        let mut src = ImapSource::new(cfg).expect("source");
        let all = src.fetch(100).await.expect("read Färdigt");
        src.disconnect().await;
        all
    };
    assert_eq!(subjects(&read), ["plan 1", "plan 2"]);
}

/// The bug: a failed EXAMINE of the processed folder left no folder selected, every later
/// UID SEARCH got BAD, read as "no new mail". Now the next fetch still sees new mail.
async fn a_failed_examine_does_not_make_the_source_deaf(p: Profile) {
    let Some(lab) = lab_for(p) else { return };
    let _g = lab.shared().await;
    let user = clinic("deaf");
    lab.deliver_raw(&message(&user, "first", 0), &user);
    let mut src = clinic_source(lab, &user);
    let got = src.fetch(10).await.expect("fetch");
    assert_eq!(subjects(&got), ["first"]);
    // Tidied away in Outlook before the (crash-recovery) move.
    let mut s = colleague(lab, &user).await;
    s.delete(processed_on(p, "Behandlat"))
        .await
        .expect("delete the folder");
    s.logout().await.ok();
    let moved = src.mark_processed_again(&got[0]).await;
    lab.deliver_raw(&message(&user, "second", 0), &user);
    // Dovecot may need a moment to see a delivery made by another process; every look
    // in between must be Ok (the old source returned an empty batch here forever).
    let got = fetch_until(&mut src, 1, Duration::from_secs(10)).await;
    assert_eq!(
        subjects(&got),
        ["second"],
        "the source still hears new mail"
    );
    moved.expect("EXAMINE failed, but the move still works and recreates the folder");
    src.mark_processed(&got[0]).await.expect("file it");
    src.disconnect().await;
    let filed = read_folder(lab, &user, "Behandlat").await;
    assert_eq!(subjects(&filed), ["first", "second"]);
}

/// A command that fails in the watched folder is an error (never an empty batch), the
/// message is plain words, and the source recovers once the folder is back.
async fn a_failed_search_is_an_error_and_recovers(p: Profile) {
    let Some(lab) = lab_for(p) else { return };
    let _g = lab.shared().await;
    let user = clinic("gone");
    let mut s = colleague(lab, &user).await;
    let watched = processed_on(p, "Inkommande");
    s.create(&watched).await.expect("create");
    let mut cfg = imap_cfg(lab, &user, ImapAuth::Password(CLINIC_PASS.into()));
    cfg.folder = "Inkommande".into();
    let mut src = ImapSource::new(cfg.clone()).expect("source");
    assert!(src.fetch(10).await.expect("fetch").is_empty());
    s.delete(&watched).await.expect("delete the watched folder");
    let r = src.fetch(10).await;
    let e = r.expect_err("a fetch from a deleted folder is an error, not an empty batch");
    let shown = e.to_string();
    assert!(
        !shown.contains("Some(") && !shown.contains("code:") && !shown.contains("None"),
        "plain words: {shown}"
    );
    let e = src.fetch(10).await.expect_err("still gone");
    assert!(
        matches!(e, SourceError::Other(_) | SourceError::Connection(_)),
        "{e:?}"
    );
    assert!(
        e.to_string().contains(&watched),
        "the error names the folder: {e}"
    );
    s.create(&watched).await.expect("create again");
    s.append(&watched, None, None, &message(&user, "back", 0))
        .await
        .expect("append");
    s.logout().await.ok();
    let got = fetch_until(&mut src, 1, Duration::from_secs(10)).await;
    assert_eq!(subjects(&got), ["back"], "recovered");
    src.disconnect().await;
}

/// The acceptance: the processed folder renamed, then deleted, while the daemon runs; each
/// time the next mail is processed and filed in a recreated folder within one wake-up (IDLE:
/// the daemon's longest wait is 60 s here, so a retry-later would miss the deadline).
async fn processed_folder_renamed_or_deleted_while_the_daemon_runs(p: Profile) {
    let Some(lab) = lab_for(p) else { return };
    let _g = lab.shared().await;
    let user = clinic("tidy");
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    sqlx::any::install_default_drivers();
    let pipeline =
        Arc::new(common::pipeline(&url, Arc::new(SystemClock), &dir.path().join("archive")).await);
    let transport = Arc::new(FileTransport::new(dir.path().join("out")));
    let opts = RunOptions {
        once: false,
        batch: 50,
        max_wait: Duration::from_secs(60),
        send: SendOptions {
            from: "vardval@rjl.test".into(),
            copy_to: None,
            sending_grace: Duration::from_secs(600),
            retry: Default::default(),
        },
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(daemon::run(
        pipeline,
        clinic_source(lab, &user),
        transport.clone(),
        opts,
        shutdown.clone(),
    ));
    let filed = |folder: &'static str, want: Vec<&'static str>| {
        let user = user.clone();
        async move {
            let inbox = read_folder(lab, &user, "INBOX").await;
            let got = subjects(&read_folder(lab, &user, folder).await);
            if inbox.is_empty() && got == want {
                Ok(())
            } else {
                Err(format!("INBOX {:?}, {folder} {got:?}", subjects(&inbox)))
            }
        }
    };
    let within = Duration::from_secs(30);
    lab.deliver_raw(&message(&user, "plan 1", 0), &user);
    poll_until("plan 1 filed", within, || {
        filed("Behandlat", vec!["plan 1"])
    })
    .await;

    let mut s = colleague(lab, &user).await;
    s.rename(processed_on(p, "Behandlat"), processed_on(p, "Gammalt"))
        .await
        .expect("rename");
    lab.deliver_raw(&message(&user, "plan 2", 0), &user);
    poll_until("plan 2 filed in a recreated folder", within, || {
        filed("Behandlat", vec!["plan 2"])
    })
    .await;
    assert_eq!(
        subjects(&read_folder(lab, &user, "Gammalt").await),
        ["plan 1"]
    );

    s.delete(processed_on(p, "Behandlat"))
        .await
        .expect("delete");
    s.logout().await.ok();
    lab.deliver_raw(&message(&user, "plan 3", 0), &user);
    poll_until("plan 3 filed after a delete", within, || {
        filed("Behandlat", vec!["plan 3"])
    })
    .await;
    shutdown.cancel();
    let summary = task.await.expect("daemon task").expect("daemon run");
    assert_eq!(summary.processed, 3, "{summary:?}");
    assert_eq!(summary.failed, 0, "{summary:?}");
    let _ = transport.describe();
}

/// Class 9: a fetch holds at most `batch_bytes` of messages; a larger one comes alone; what
/// is left is reported so the daemon fetches again at once.
async fn fetch_is_bounded_by_bytes(p: Profile) {
    let Some(lab) = lab_for(p) else { return };
    let _g = lab.shared().await;
    let user = clinic("bytes");
    const KB: usize = 1024;
    for (i, size) in [100 * KB, 100 * KB, 100 * KB, 400 * KB, 10 * KB]
        .iter()
        .enumerate()
    {
        lab.deliver_raw(&message(&user, &format!("m{i}"), *size), &user);
    }
    let mut cfg = imap_cfg(lab, &user, ImapAuth::Password(CLINIC_PASS.into()));
    cfg.batch_bytes = 250 * 1024;
    let mut src = ImapSource::new(cfg).expect("source");
    let mut rounds = Vec::new();
    loop {
        let got = src.fetch(50).await.expect("fetch");
        if got.is_empty() {
            break;
        }
        let total: usize = got.iter().map(|f| f.bytes.len()).sum();
        assert!(
            got.len() == 1 || total <= 250 * 1024,
            "{} messages, {total} bytes",
            got.len()
        );
        rounds.push((subjects(&got), src.more_pending()));
        for f in &got {
            src.mark_processed(f).await.expect("file it");
        }
    }
    assert_eq!(
        rounds,
        [
            (vec!["m0".to_string(), "m1".to_string()], true),
            (vec!["m2".to_string()], true),
            (vec!["m3".to_string()], true),
            (vec!["m4".to_string()], false),
        ],
        "oldest first, two 100 KB per 250 KB, 400 KB alone"
    );
    src.disconnect().await;
}

/// Class 9 for one message: a mail larger than `max_message_bytes` is never held whole: the
/// start of its header for the pipeline, with the server's size, and the whole message
/// copied piece by piece (8 MiB at a time) into a spool file for the archive; it can go to
/// the quarantine folder whole.
async fn oversize_mail_is_fetched_by_its_header_only(p: Profile) {
    let Some(lab) = lab_for(p) else { return };
    let _g = lab.shared().await;
    let user = clinic("huge");
    const KB: usize = 1024;
    // 20 MiB: three spool pieces, the last one short.
    lab.deliver_raw(&message(&user, "huge", 20 * 1024 * KB), &user);
    lab.deliver_raw(&message(&user, "small", 10 * KB), &user);
    let spool = tempfile::tempdir().unwrap();
    let mut cfg = imap_cfg(lab, &user, ImapAuth::Password(CLINIC_PASS.into()));
    cfg.max_message_bytes = 200 * KB as u64;
    cfg.spool_dir = Some(spool.path().join("spool"));
    let mut src = ImapSource::new(cfg).expect("source");
    let got = fetch_until(&mut src, 2, Duration::from_secs(10)).await;
    assert_eq!(
        subjects(&got),
        ["huge", "small"],
        "one fetch, header and whole"
    );
    let huge = got.iter().find(|f| subject_of(f) == "huge").unwrap();
    let small = got.iter().find(|f| subject_of(f) == "small").unwrap();
    let size = huge
        .only_header_of
        .expect("only the header of the large one");
    assert!(size >= 20 * 1024 * KB as u64, "the server's size: {size}");
    assert!(
        huge.bytes.len() < 2 * KB,
        "{} bytes fetched",
        huge.bytes.len()
    );
    let text = String::from_utf8_lossy(&huge.bytes);
    assert!(text.contains("Message-ID: <huge-"), "{text}");
    assert!(!text.contains("Hej, här kommer planen"), "no body: {text}");
    let whole = huge.whole_file.clone().expect("spooled whole");
    assert!(whole.temporary);
    let spooled = std::fs::read(&whole.path).unwrap();
    assert_eq!(spooled.len() as u64, size);
    assert_eq!(small.only_header_of, None);
    assert_eq!(small.whole_file, None);
    assert!(small.bytes.len() >= 10 * KB);
    src.move_to_quarantine(huge).await.expect("quarantine");
    src.mark_processed(small).await.expect("file");
    src.disconnect().await;
    let kept = read_folder(lab, &user, "Karantan").await;
    assert_eq!(subjects(&kept), ["huge"]);
    assert_eq!(
        kept[0].bytes, spooled,
        "whole in the quarantine folder, as spooled"
    );
    assert_eq!(
        subjects(&read_folder(lab, &user, "Behandlat").await),
        ["small"]
    );
}

/// The IMAP side of quarantine: a poison message goes to `quarantine_folder` (created on
/// first use through `[TRYCREATE]`, under the namespace prefix), idempotently.
async fn quarantine_moves_to_its_own_folder(p: Profile) {
    let Some(lab) = lab_for(p) else { return };
    let _g = lab.shared().await;
    let user = clinic("quar");
    lab.deliver_raw(&message(&user, "poison", 0), &user);
    let mut src = clinic_source(lab, &user);
    let got = fetch_until(&mut src, 1, Duration::from_secs(10)).await;
    src.move_to_quarantine(&got[0]).await.expect("quarantine");
    src.move_to_quarantine(&got[0])
        .await
        .expect("again: the UID is gone, still Ok");
    assert!(src.fetch(10).await.expect("fetch").is_empty());
    src.disconnect().await;
    assert_eq!(
        subjects(&read_folder(lab, &user, "Karantan").await),
        ["poison"]
    );
    assert!(read_folder(lab, &user, "Behandlat").await.is_empty());
    let mut s = colleague(lab, &user).await;
    s.examine(processed_on(p, "Karantan"))
        .await
        .expect("under the namespace prefix");
    s.logout().await.ok();
}

/// Runs each named `async fn(Profile)` as one test per lab profile.
macro_rules! on_both_profiles {
    ($($name:ident),* $(,)?) => {
        mod default_profile {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Profile::Default).await
            })*
        }
        mod inbox_prefix_profile {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Profile::InboxPrefix).await
            })*
        }
    };
}

on_both_profiles!(
    folders_follow_the_namespace,
    utf7_folder_names_round_trip,
    a_failed_examine_does_not_make_the_source_deaf,
    a_failed_search_is_an_error_and_recovers,
    processed_folder_renamed_or_deleted_while_the_daemon_runs,
    fetch_is_bounded_by_bytes,
    oversize_mail_is_fetched_by_its_header_only,
    quarantine_moves_to_its_own_folder,
);
