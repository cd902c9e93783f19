//! The IMAP source and the SMTP/file transports against a real Dovecot + Postfix lab
//! (`tests/maillab/maillab.sh`).
//!
//! How the lab is found or started (and skipped): `tests/common/lab.rs` (a private lab of
//! this binary uses ports 12143/12993/12024/12025/12587 unless `VARDVAL_MAILLAB_PORT_BASE`).
//!
//! The IMAP tests run on both lab profiles (`default_profile::*`, `inbox_prefix_profile::*`:
//! personal folders under `INBOX.` with `.` as separator and no MOVE).
//!
//! Each test uses its own clinic mailbox (`<test>-<run>@vc.test`), so tests run in parallel.
//! The disruptive tests (Dovecot restart, Postfix stop) take the lab's exclusive gate.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use tokio_util::sync::CancellationToken;
use vardval::adapters::imap::{ImapAuth, ImapSource};
use vardval::adapters::smtp::{FileTransport, SmtpConfig, SmtpTransport};
use vardval::adapters::tls::TlsMode;
use vardval::ports::{Fetched, MailSource, SendError, SourceError, Transport, Wait};

use common::lab::{
    Lab, Profile, StartSmtpOnDrop, clinic_source, imap_cfg, lab, lab_for, lab_static,
    lab_static_for, plain_smtp, read_folder, unique as clinic,
};

fn message(to: &str, subject: &str) -> Vec<u8> {
    let id = subject.replace(' ', "-");
    format!(
        "From: Testklinik <avsandare@vc.test>\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{id}@vc.test>\r\nDate: Mon, 2 Mar 2026 09:00:00 +0100\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Hej, här kommer planen.\r\n.punkt på egen rad\r\n"
    )
    .into_bytes()
}

async fn deliver(lab: &Lab, to: &str, subject: &str) {
    plain_smtp(lab)
        .send(
            "avsandare@vc.test",
            &[to.to_string()],
            &message(to, subject),
        )
        .await
        .expect("SMTP delivery to the lab");
}

fn subject_of(f: &Fetched) -> String {
    let text = String::from_utf8_lossy(&f.bytes);
    text.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or("")
        .trim()
        .to_string()
}

/// Polls until at least `n` messages are there (Postfix delivers in well under a second).
async fn fetch_until(src: &mut ImapSource, n: usize, within: Duration) -> Vec<Fetched> {
    let deadline = Instant::now() + within;
    loop {
        let got = src.fetch(100).await.expect("fetch");
        if got.len() >= n || Instant::now() > deadline {
            assert!(
                got.len() >= n,
                "wanted {n} messages, have {} after {within:?}",
                got.len()
            );
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fetch_reports_internaldate_and_keys_and_mark_processed_moves(p: Profile) {
    let Some(lab) = lab_for(p) else { return };
    let _g = lab.shared().await;
    let user = clinic("fetch");
    for i in 1..=3 {
        deliver(lab, &user, &format!("plan {i}")).await;
    }
    let mut src = clinic_source(lab, &user);
    let got = fetch_until(&mut src, 3, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 3);
    let uidvalidity = src.uidvalidity().expect("uidvalidity after connect");
    let mut last_uid = 0;
    for f in &got {
        let uid: u32 = f.handle.parse().expect("handle is the UID");
        assert!(uid > last_uid, "oldest first");
        last_uid = uid;
        assert_eq!(f.source_key, format!("imap:{uidvalidity}:{uid}"));
        assert!(f.bytes.ends_with(b"\r\n"), "raw bytes with CRLF");
        let now: DateTime<Utc> = std::time::SystemTime::now().into();
        let age = (now - f.received_at).num_seconds().abs();
        assert!(
            age < 600,
            "INTERNALDATE of a fresh delivery is about now: {}",
            f.received_at
        );
    }
    // Postfix may hand the three to Dovecot in any order (UIDs follow delivery, and "oldest
    // first" by UID is asserted above), so compare the set.
    let mut subjects: Vec<String> = got.iter().map(subject_of).collect();
    subjects.sort();
    assert_eq!(subjects, ["plan 1", "plan 2", "plan 3"]);
    // BODY.PEEK: nothing got \Seen.
    let flags = lab.maildir_flags(&user, "");
    assert_eq!(flags.len(), 3);
    assert!(
        flags.iter().all(|f| !f.contains('S')),
        "fetch must not set \\Seen: {flags:?}"
    );

    // A fixed INTERNALDATE (APPEND): received_at is that instant, not the Date header.
    let when = chrono::FixedOffset::east_opt(3600)
        .unwrap()
        .with_ymd_and_hms(2026, 2, 15, 23, 59, 30)
        .unwrap();
    src.append(None, &message(&user, "appended plan"), Some(when))
        .await
        .expect("append");
    let got = fetch_until(&mut src, 4, Duration::from_secs(10)).await;
    let appended = got
        .iter()
        .find(|f| subject_of(f) == "appended plan")
        .expect("appended");
    let want: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 2, 15, 22, 59, 30).unwrap();
    assert_eq!(appended.received_at, want);

    // Batches of `max`.
    let two = src.fetch(2).await.expect("fetch 2");
    assert_eq!(two.len(), 2);
    assert_eq!(two[0].handle, got[0].handle);

    // Move everything; a second move of the same message is fine.
    for f in &got {
        src.mark_processed(f).await.expect("mark_processed");
    }
    src.mark_processed(&got[0])
        .await
        .expect("mark_processed again is Ok");
    assert!(
        src.fetch(100).await.expect("fetch").is_empty(),
        "INBOX is empty"
    );

    let mut processed_cfg = imap_cfg(lab, &user, ImapAuth::Password("clinic-pass".into()));
    processed_cfg.folder = "Behandlat".into();
    processed_cfg.processed_folder = "Behandlat/Klart".into();
    let mut processed = ImapSource::new(processed_cfg).expect("source");
    let moved = processed.fetch(100).await.expect("fetch processed");
    let mut subjects: Vec<_> = moved.iter().map(subject_of).collect();
    subjects.sort();
    assert_eq!(subjects, ["appended plan", "plan 1", "plan 2", "plan 3"]);
    let pflags = lab.maildir_flags(&user, "Behandlat");
    assert_eq!(pflags.len(), 4);
    assert!(
        pflags.iter().all(|f| !f.contains('T')),
        "nothing flagged deleted: {pflags:?}"
    );
    assert!(
        lab.maildir_flags(&user, "").is_empty(),
        "nothing left in INBOX"
    );
    assert!(
        lab.maildir_flags(&user, "Trash").is_empty(),
        "nothing went to Trash"
    );
    let st = src.state();
    assert!(
        st.connected && st.idle_supported && st.last_error.is_none(),
        "{st:?}"
    );
    src.disconnect().await;
    processed.disconnect().await;
}

/// A crash in the middle of a MOVE (the copy made, the original not yet expunged): moving the
/// message again must not file it twice. A different message that only shares the Message-ID
/// is not taken for the copy.
async fn an_interrupted_move_is_not_filed_twice(p: Profile) {
    let Some(lab) = lab_for(p) else { return };
    let _g = lab.shared().await;
    let user = clinic("again");
    deliver(lab, &user, "moved halfway").await;
    deliver(lab, &user, "same id elsewhere").await;
    let mut src = clinic_source(lab, &user);
    let got = fetch_until(&mut src, 2, Duration::from_secs(20)).await;
    // Postfix may deliver the two in either order: pick them by subject.
    let by = |s: &str| got.iter().find(|f| subject_of(f) == s).expect(s);
    let (half, other) = (by("moved halfway"), by("same id elsewhere"));
    let at = |f: &Fetched| {
        f.received_at
            .with_timezone(&chrono::FixedOffset::east_opt(0).unwrap())
    };
    // The copy half of a MOVE that was cut off.
    src.append(Some("Behandlat"), &half.bytes, Some(at(half)))
        .await
        .expect("append the copy");
    // Another message with the other's Message-ID but other bytes already filed.
    let impostor = String::from_utf8_lossy(&other.bytes).replace("Hej,", "Hej igen,");
    src.append(Some("Behandlat"), impostor.as_bytes(), Some(at(other)))
        .await
        .expect("append the impostor");

    src.mark_processed_again(half).await.expect("move again");
    src.mark_processed_again(other).await.expect("move again");
    src.disconnect().await;
    assert!(
        read_folder(lab, &user, "INBOX").await.is_empty(),
        "nothing left behind"
    );
    let filed = read_folder(lab, &user, "Behandlat").await;
    let subjects: Vec<String> = filed.iter().map(subject_of).collect();
    assert_eq!(
        subjects.iter().filter(|s| *s == "moved halfway").count(),
        1,
        "the interrupted move's copy is not duplicated: {subjects:?}"
    );
    assert_eq!(
        subjects
            .iter()
            .filter(|s| *s == "same id elsewhere")
            .count(),
        2,
        "a look-alike is no proof: the real message is filed too: {subjects:?}"
    );
}

async fn idle_wakes_on_delivery_times_out_and_stops_on_shutdown(p: Profile) {
    let Some(lab) = lab_for(p) else { return };
    let _g = lab.shared().await;
    let user = clinic("idle");
    let mut src = clinic_source(lab, &user);
    assert!(src.fetch(10).await.expect("connect").is_empty());
    assert!(src.state().idle_supported);

    // Nothing happens: Timeout after `max`.
    let never = CancellationToken::new();
    let t = Instant::now();
    assert_eq!(
        src.wait(Duration::from_secs(1), &never)
            .await
            .expect("wait"),
        Wait::Timeout
    );
    assert!(t.elapsed() < Duration::from_secs(10));

    // A delivery while idling wakes the wait (Dovecot batches for 500 ms; allow plenty).
    let sender = {
        let to = user.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let lab = lab_static_for(p);
            deliver(lab, &to, "idle wake").await;
        })
    };
    let t = Instant::now();
    let w = src
        .wait(Duration::from_secs(60), &never)
        .await
        .expect("wait");
    assert_eq!(w, Wait::NewMail);
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "woke after {:?}",
        t.elapsed()
    );
    sender.await.expect("sender");
    let got = fetch_until(&mut src, 1, Duration::from_secs(10)).await;
    assert_eq!(subject_of(&got[0]), "idle wake");
    src.mark_processed(&got[0]).await.expect("mark");

    // Shutdown ends the IDLE quickly and leaves a usable session.
    let token = CancellationToken::new();
    let c = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.cancel();
    });
    let t = Instant::now();
    assert_eq!(
        src.wait(Duration::from_secs(120), &token)
            .await
            .expect("wait"),
        Wait::Shutdown
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        t.elapsed()
    );
    assert_eq!(
        src.wait(Duration::from_secs(120), &token)
            .await
            .expect("wait"),
        Wait::Shutdown
    );
    assert!(
        src.fetch(10)
            .await
            .expect("fetch after shutdown wait")
            .is_empty()
    );
    assert!(src.state().connected);
    src.disconnect().await;
}

async fn without_move_and_idle_copies_expunges_and_polls(p: Profile) {
    let Some(lab) = lab_for(p) else { return };
    let _g = lab.shared().await;
    let user = clinic("nomove");
    deliver(lab, &user, "kopia 1").await;
    deliver(lab, &user, "kopia 2").await;
    let mut cfg = imap_cfg(lab, &user, ImapAuth::Password("clinic-pass".into()));
    cfg.use_move = false;
    cfg.use_idle = false;
    let mut src = ImapSource::new(cfg).expect("source");
    let got = fetch_until(&mut src, 2, Duration::from_secs(20)).await;
    assert!(!src.state().idle_supported);
    for f in &got {
        src.mark_processed(f)
            .await
            .expect("copy + store + uid expunge");
    }
    src.mark_processed(&got[1]).await.expect("again: Ok");
    assert!(src.fetch(10).await.expect("fetch").is_empty());
    assert!(
        lab.maildir_flags(&user, "").is_empty(),
        "UID EXPUNGE removed the originals"
    );
    assert_eq!(
        lab.maildir_flags(&user, "Behandlat").len(),
        2,
        "exactly one copy each"
    );

    // Polling: the wait is min(max, poll_interval) (500 ms here).
    let never = CancellationToken::new();
    let t = Instant::now();
    assert_eq!(
        src.wait(Duration::from_secs(30), &never)
            .await
            .expect("wait"),
        Wait::Timeout
    );
    assert!(t.elapsed() >= Duration::from_millis(400) && t.elapsed() < Duration::from_secs(10));
    let token = CancellationToken::new();
    token.cancel();
    assert_eq!(
        src.wait(Duration::from_secs(30), &token)
            .await
            .expect("wait"),
        Wait::Shutdown
    );
    src.disconnect().await;
}

async fn tls_needs_the_lab_ca(p: Profile) {
    let Some(lab) = lab_for(p) else { return };
    let _g = lab.shared().await;
    let user = clinic("tls");
    for (tls, port) in [
        (TlsMode::Starttls, lab.imap_port()),
        (TlsMode::Tls, lab.imaps_port()),
    ] {
        let mut cfg = imap_cfg(lab, &user, ImapAuth::Password("clinic-pass".into()));
        cfg.tls = tls;
        cfg.port = port;
        cfg.ca_file = Some(lab.ca());
        let mut ok = ImapSource::new(cfg.clone()).expect("source");
        ok.fetch(10)
            .await
            .unwrap_or_else(|e| panic!("{tls:?} with the lab CA: {e}"));
        assert!(ok.state().connected);
        ok.disconnect().await;

        cfg.ca_file = None;
        let mut bad = ImapSource::new(cfg).expect("source");
        match bad.fetch(10).await {
            Err(SourceError::Connection(m)) => {
                assert!(m.to_lowercase().contains("certificate"), "{tls:?}: {m}")
            }
            other => panic!("{tls:?} without the CA must fail verification, got {other:?}"),
        }
        let st = bad.state();
        assert!(!st.connected && st.last_error.is_some(), "{st:?}");
    }
    // Plain text to a non-loopback host is refused up front.
    let mut cfg = imap_cfg(lab, &user, ImapAuth::Password("clinic-pass".into()));
    cfg.host = "imap.example.org".into();
    assert!(ImapSource::new(cfg).is_err());
}

async fn xoauth2_login_and_auth_errors(p: Profile) {
    let Some(lab) = lab_for(p) else { return };
    let _g = lab.shared().await;
    let user = "vardval@rjl.test";
    let mut cfg = imap_cfg(lab, user, ImapAuth::OAuth2Token("vardval-token".into()));
    cfg.tls = TlsMode::Starttls;
    cfg.ca_file = Some(lab.ca());
    let mut ok = ImapSource::new(cfg.clone()).expect("source");
    ok.fetch(1).await.expect("XOAUTH2 login"); // read-only: nothing is moved here
    ok.disconnect().await;

    cfg.auth = ImapAuth::OAuth2Token("wrong-token".into());
    let mut bad = ImapSource::new(cfg.clone()).expect("source");
    let e = bad.fetch(1).await.expect_err("wrong token");
    assert!(matches!(e, SourceError::Auth(_)), "{e:?}");
    assert!(
        !e.to_string().contains("wrong-token"),
        "no token in errors: {e}"
    );

    // A token command runs at every connect: the first connect gets the good token, the
    // reconnect gets whatever the command prints then (a rotated, here a revoked, token).
    let state = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(state.path(), "vardval-token\n").unwrap();
    cfg.auth = ImapAuth::Command {
        command: format!("cat {}", state.path().display()),
        oauth2: true,
    };
    let mut cmd = ImapSource::new(cfg.clone()).expect("source");
    cmd.fetch(1)
        .await
        .expect("XOAUTH2 login with a token from a command");
    cmd.disconnect().await;
    std::fs::write(state.path(), "revoked-token\n").unwrap();
    let e = cmd
        .fetch(1)
        .await
        .expect_err("the command is run again on reconnect");
    assert!(matches!(e, SourceError::Auth(_)), "{e:?}");
    cfg.auth = ImapAuth::Command {
        command: "false".into(),
        oauth2: false,
    };
    let e = ImapSource::new(cfg.clone())
        .expect("source")
        .fetch(1)
        .await
        .expect_err("failing command");
    assert!(matches!(e, SourceError::Auth(_)), "{e:?}");

    cfg.auth = ImapAuth::Password("wrong-pass".into());
    let mut bad = ImapSource::new(cfg).expect("source");
    let e = bad.fetch(1).await.expect_err("wrong password");
    assert!(matches!(e, SourceError::Auth(_)), "{e:?}");
    assert!(
        !e.to_string().contains("wrong-pass"),
        "no password in errors: {e}"
    );
}

#[tokio::test]
async fn dovecot_restart_gives_connection_error_then_reconnects() {
    let Some(lab) = lab() else { return };
    let _g = lab.exclusive().await;
    let user = clinic("restart");
    deliver(lab, &user, "before restart").await;
    let mut src = clinic_source(lab, &user);
    let got = fetch_until(&mut src, 1, Duration::from_secs(20)).await;
    let uidvalidity = src.uidvalidity();

    lab.run("restart-imap");
    let e = src.fetch(10).await.expect_err("the old session is gone");
    assert!(matches!(e, SourceError::Connection(_)), "{e:?}");
    let st = src.state();
    assert!(!st.connected && st.last_error.is_some(), "{st:?}");

    let again = fetch_until(&mut src, 1, Duration::from_secs(20)).await;
    assert_eq!(
        again[0].source_key, got[0].source_key,
        "same UIDVALIDITY and UID"
    );
    assert_eq!(src.uidvalidity(), uidvalidity);
    assert!(src.state().connected);

    // A restart while idling ends the wait with a connection error, not a hang.
    let never = CancellationToken::new();
    src.mark_processed(&again[0]).await.expect("mark");
    let restarter = tokio::spawn(async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tokio::task::spawn_blocking(|| lab_static().run("restart-imap"))
            .await
            .expect("restart");
    });
    let t = Instant::now();
    let w = src.wait(Duration::from_secs(60), &never).await;
    restarter.await.expect("restarter");
    assert!(
        t.elapsed() < Duration::from_secs(30),
        "wait took {:?}",
        t.elapsed()
    );
    assert!(matches!(w, Err(SourceError::Connection(_))), "{w:?}");
    assert!(src.fetch(10).await.expect("reconnect").is_empty());
    src.disconnect().await;
}

/// A TLS terminator in front of the lab's submission port (the lab has no SMTPS port): it
/// accepts TLS with the lab's server certificate and pipes the plain bytes to `upstream`.
async fn smtps_front(lab: &Lab) -> u16 {
    use tokio::io::copy_bidirectional;
    use tokio_rustls::rustls;
    let certs: Vec<_> = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(lab.dir.join("certs/server-chain.crt")).unwrap(),
    ))
    .collect::<Result<_, _>>()
    .unwrap();
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(lab.dir.join("certs/server.key")).unwrap(),
    ))
    .unwrap()
    .expect("a private key");
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = lab.submission_port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut tls = match acceptor.accept(tcp).await {
                    Ok(t) => t,
                    Err(e) => {
                        eprintln!("smtps front: handshake: {e}");
                        return;
                    }
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                let _ = copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

/// Implicit TLS (SMTPS, port 465 style): the transport wraps the connection in TLS before the
/// greeting, verifies the server against the configured CA, logs in and delivers; and keeps
/// the connection for the next mail.
#[tokio::test]
async fn implicit_tls_submission_delivers_and_verifies() {
    let Some(lab) = lab() else { return };
    let _g = lab.shared().await;
    let user = clinic("smtps");
    let port = smtps_front(lab).await;
    let mut cfg = SmtpConfig::new("127.0.0.1", port, TlsMode::Tls);
    cfg.ca_file = Some(lab.ca());
    cfg.username = Some("vardval@rjl.test".into());
    cfg.password = Some("vardval-pass".into());
    cfg.timeout = Duration::from_secs(10);
    let t = SmtpTransport::new(cfg.clone()).expect("smtp");
    for i in 1..=2 {
        t.send(
            "vardval@rjl.test",
            std::slice::from_ref(&user),
            &message(&user, &format!("smtps {i}")),
        )
        .await
        .expect("implicit TLS submission");
    }
    let mut src = clinic_source(lab, &user);
    let got = fetch_until(&mut src, 2, Duration::from_secs(20)).await;
    let mut subjects: Vec<String> = got.iter().map(subject_of).collect();
    subjects.sort();
    assert_eq!(subjects, ["smtps 1", "smtps 2"]);
    src.disconnect().await;
    // Without the lab CA the handshake fails: transient, nothing sent.
    let mut no_ca = cfg;
    no_ca.ca_file = None;
    let e = SmtpTransport::new(no_ca)
        .expect("smtp")
        .send(
            "vardval@rjl.test",
            std::slice::from_ref(&user),
            &message(&user, "x"),
        )
        .await
        .expect_err("unknown CA");
    assert!(
        matches!(e, SendError::Transient(ref m) if m.contains("TLS")),
        "{e:?}"
    );
}

#[tokio::test]
async fn submission_with_auth_and_starttls_delivers_to_a_clinic() {
    let Some(lab) = lab() else { return };
    let _g = lab.shared().await;
    let user = clinic("submission");
    let mut cfg = SmtpConfig::new("127.0.0.1", lab.submission_port(), TlsMode::Starttls);
    cfg.ca_file = Some(lab.ca());
    cfg.username = Some("vardval@rjl.test".into());
    cfg.password = Some("vardval-pass".into());
    cfg.timeout = Duration::from_secs(10);
    let t = SmtpTransport::new(cfg.clone()).expect("smtp");
    let raw = message(&user, "kvitto 1");
    t.send("vardval@rjl.test", std::slice::from_ref(&user), &raw)
        .await
        .expect("submission");
    let mut src = clinic_source(lab, &user);
    let got = fetch_until(&mut src, 1, Duration::from_secs(20)).await;
    assert_eq!(subject_of(&got[0]), "kvitto 1");
    src.disconnect().await;

    // Wrong password: a configuration problem, kept retryable.
    let mut wrong = cfg.clone();
    wrong.password = Some("nope".into());
    let e = SmtpTransport::new(wrong)
        .expect("smtp")
        .send("vardval@rjl.test", std::slice::from_ref(&user), &raw)
        .await
        .expect_err("wrong password");
    assert!(matches!(e, SendError::Credentials(_)), "{e:?}");

    // STARTTLS without the lab CA fails verification.
    let mut no_ca = cfg.clone();
    no_ca.ca_file = None;
    let e = SmtpTransport::new(no_ca)
        .expect("smtp")
        .send("vardval@rjl.test", std::slice::from_ref(&user), &raw)
        .await
        .expect_err("unknown CA");
    assert!(matches!(e, SendError::Transient(_)), "{e:?}");

    // An unknown rjl.test recipient is refused with 550: permanent.
    let e = plain_smtp(lab)
        .send("avsandare@vc.test", &["finns-inte@rjl.test".into()], &raw)
        .await
        .expect_err("unknown user");
    assert!(matches!(e, SendError::Permanent(_)), "{e:?}");
}

#[tokio::test]
async fn smtp_outage_is_transient_and_recovers() {
    let Some(lab) = lab() else { return };
    let _g = lab.exclusive().await;
    let user = clinic("outage");
    let t = plain_smtp(lab);
    let raw = message(&user, "efter avbrott");
    {
        let _restart = StartSmtpOnDrop(lab);
        lab.run("stop-smtp");
        let e = t
            .send("avsandare@vc.test", std::slice::from_ref(&user), &raw)
            .await
            .expect_err("Postfix is down");
        assert!(matches!(e, SendError::Transient(_)), "{e:?}");
        lab.run("start-smtp");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match t
            .send("avsandare@vc.test", std::slice::from_ref(&user), &raw)
            .await
        {
            Ok(()) => break,
            Err(SendError::Transient(m)) if Instant::now() < deadline => {
                eprintln!("not yet: {m}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("send after start-smtp: {e:?}"),
        }
    }
    let mut src = clinic_source(lab, &user);
    let got = fetch_until(&mut src, 1, Duration::from_secs(20)).await;
    assert_eq!(subject_of(&got[0]), "efter avbrott");
    src.disconnect().await;
}

#[tokio::test]
async fn file_transport_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("outbox");
    let t = FileTransport::new(&out);
    let raw = message("klinik@vc.test", "fil 1");
    t.send("vardval@rjl.test", &["klinik@vc.test".into()], &raw)
        .await
        .expect("write");
    t.send("vardval@rjl.test", &["klinik@vc.test".into()], &raw)
        .await
        .expect("same bytes again");
    let names = list(&out);
    assert_eq!(names, ["fil-1@vc.test.eml"]);
    assert_eq!(std::fs::read(out.join(&names[0])).unwrap(), raw);

    // Same Message-ID, other bytes: both kept.
    let mut other = raw.clone();
    other.extend_from_slice(b"tillagd rad\r\n");
    t.send("vardval@rjl.test", &["klinik@vc.test".into()], &other)
        .await
        .expect("write variant");
    t.send("vardval@rjl.test", &["klinik@vc.test".into()], &other)
        .await
        .expect("variant again");
    let names = list(&out);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names
            .iter()
            .any(|n| std::fs::read(out.join(n)).unwrap() == other)
    );

    // Without a Message-ID: the SHA-256 of the bytes.
    let bare = b"Subject: utan id\r\n\r\nx\r\n".to_vec();
    t.send("vardval@rjl.test", &["klinik@vc.test".into()], &bare)
        .await
        .expect("write bare");
    assert_eq!(list(&out).len(), 3);
    assert!(
        list(&out).iter().all(|n| n.ends_with(".eml")),
        "no temp files left"
    );
    let e = t
        .send("vardval@rjl.test", &[], &bare)
        .await
        .expect_err("no recipient");
    assert!(matches!(e, SendError::Permanent(_)));
}

fn list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read outbox")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

/// Runs each named `async fn(Profile)` as one test per lab profile.
macro_rules! on_both_profiles {
    ($($name:ident),* $(,)?) => {
        mod default_profile {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Profile::Default).await
            })*
        }
        mod inbox_prefix_profile {
            $(#[tokio::test]
            async fn $name() {
                super::$name(super::Profile::InboxPrefix).await
            })*
        }
    };
}

on_both_profiles!(
    fetch_reports_internaldate_and_keys_and_mark_processed_moves,
    an_interrupted_move_is_not_filed_twice,
    idle_wakes_on_delivery_times_out_and_stops_on_shutdown,
    without_move_and_idle_copies_expunges_and_polls,
    tls_needs_the_lab_ca,
    xoauth2_login_and_auth_errors,
);
