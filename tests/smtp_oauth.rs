//! SMTP AUTH with an OAuth2 token command (Exchange Online, issue 10, class 12).
//!
//! A scripted SMTP server (tests/common/fake_smtp.rs) records every command it gets, so the
//! tests can show which mechanism was used, that the token command runs again for every
//! connection and that no password is ever sent when a token command is configured. The lab test at the end
//! sends through the real Postfix submission port with XOAUTH2 and a token that expires
//! between two sends.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use vardval::commands::app::{self, AnyTransport};
use vardval::config::Settings;
use vardval::ports::{SendError, Transport};

use common::fake_smtp::{Script, fake_smtp};
use common::lab::{lab, poll_until};

/// A config whose `[smtp]` points at the scripted server on `port` (plain text, loopback) as
/// vardval@rjl.test, with `smtp_auth` (the secret source) added.
fn settings(dir: &std::path::Path, port: u16, smtp_auth: &str) -> Settings {
    config(
        dir,
        port,
        &format!("tls = \"none\"\nusername = \"vardval@rjl.test\"\n{smtp_auth}"),
    )
}

fn config(dir: &std::path::Path, port: u16, smtp_lines: &str) -> Settings {
    let root = common::root();
    let toml = format!(
        r#"
[mailbox]
kind = "maildir"
path = "Maildir"

[smtp]
kind = "smtp"
from = "Vårdval <vardval@rjl.test>"
host = "127.0.0.1"
port = {port}
{smtp_lines}

[web]
enabled = false
[database]
url = "sqlite://ledger.db"

[cycle]
rulebook = "{rulebook}"

[clinics]
path = "clinics.csv"
"#,
        rulebook = root.join("config/rulebook-2026.toml").display(),
    );
    let path = dir.join("vardval.toml");
    std::fs::write(&path, toml).unwrap();
    Settings::load(&path).expect("valid config")
}

fn smtp(s: &Settings) -> Box<vardval::adapters::smtp::SmtpTransport> {
    match app::build_transport(s).expect("transport") {
        AnyTransport::Smtp(t) => t,
        AnyTransport::File(_) => panic!("expected SMTP"),
    }
}

const RAW: &[u8] = b"From: vardval@rjl.test\r\nTo: k1@vc.test\r\nSubject: Kvitto\r\n\r\nTack.\r\n";

fn to() -> Vec<String> {
    vec!["k1@vc.test".to_string()]
}

#[tokio::test]
async fn token_command_authenticates_with_xoauth2_and_runs_again_per_connection() {
    let tokens = Arc::new(Mutex::new(vec!["token-one".to_string()]));
    let fake = fake_smtp(Script {
        mechanisms: "PLAIN LOGIN XOAUTH2 OAUTHBEARER",
        tokens: tokens.clone(),
        refusal: "535 5.7.3 Authentication unsuccessful",
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "token-one\n").unwrap();
    let s = settings(
        dir.path(),
        fake.port,
        &format!("oauth2_token_command = \"cat {}\"", token_file.display()),
    );
    let t = smtp(&s);
    t.send("vardval@rjl.test", &to(), RAW)
        .await
        .expect("first send");
    assert_eq!(
        fake.auth_lines(),
        vec!["AUTH XOAUTH2 user=vardval@rjl.test^Aauth=Bearer token-one^A^A".to_string()]
    );

    // The token expires: the server accepts only the new one, the command now prints it.
    tokens.lock().unwrap().clear();
    tokens.lock().unwrap().push("token-two".into());
    std::fs::write(&token_file, "token-two\n").unwrap();
    t.close().await;
    t.send("vardval@rjl.test", &to(), RAW)
        .await
        .expect("second send, new connection, new token");
    let auth = fake.auth_lines();
    assert_eq!(auth.len(), 2, "{auth:?}");
    assert!(auth[1].contains("auth=Bearer token-two"), "{auth:?}");
    assert_eq!(
        fake.lines().iter().filter(|l| *l == "MESSAGE").count(),
        2,
        "{:?}",
        fake.lines()
    );
    // No password mechanism was ever tried.
    assert!(
        auth.iter()
            .all(|l| l.starts_with("AUTH XOAUTH2 ") && !l.contains("PLAIN")),
        "{auth:?}"
    );
}

#[tokio::test]
async fn oauthbearer_is_used_when_xoauth2_is_not_offered() {
    let fake = fake_smtp(Script {
        mechanisms: "PLAIN LOGIN OAUTHBEARER",
        tokens: Arc::new(Mutex::new(vec!["tok".to_string()])),
        refusal: "535 5.7.3 Authentication unsuccessful",
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), fake.port, "oauth2_token_command = \"echo tok\"");
    smtp(&s)
        .send("vardval@rjl.test", &to(), RAW)
        .await
        .expect("send with OAUTHBEARER");
    let auth = fake.auth_lines();
    assert_eq!(auth.len(), 1, "{auth:?}");
    assert!(
        auth[0].starts_with("AUTH OAUTHBEARER n,a=vardval@rjl.test,^Ahost=127.0.0.1^Aport="),
        "{auth:?}"
    );
    assert!(auth[0].ends_with("^Aauth=Bearer tok^A^A"), "{auth:?}");
}

#[tokio::test]
async fn a_token_is_never_sent_as_a_password() {
    // The server offers only password mechanisms (basic auth): with a token command the
    // client refuses to log in rather than send the token (or anything) as a password.
    let fake = fake_smtp(Script {
        mechanisms: "PLAIN LOGIN",
        tokens: Arc::new(Mutex::new(vec![])),
        refusal: "535 5.7.139 Authentication unsuccessful, basic authentication is disabled",
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(
        dir.path(),
        fake.port,
        "oauth2_token_command = \"echo secret-token\"",
    );
    let e = smtp(&s)
        .send("vardval@rjl.test", &to(), RAW)
        .await
        .expect_err("no OAuth mechanism offered");
    assert!(matches!(e, SendError::Credentials(_)), "{e:?}");
    assert!(e.to_string().contains("XOAUTH2"), "{e}");
    assert!(fake.auth_lines().is_empty(), "{:?}", fake.lines());
    assert!(
        !fake.lines().iter().any(|l| l.contains("secret-token")),
        "{:?}",
        fake.lines()
    );
}

#[tokio::test]
async fn exchange_authentication_refusals_are_credential_problems() {
    for refusal in [
        "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect",
        "535 5.7.3 Authentication unsuccessful",
        "550 5.7.30 Basic authentication is not supported for Client Submission",
        "454 4.7.0 Temporary authentication failure",
    ] {
        let fake = fake_smtp(Script {
            mechanisms: "XOAUTH2",
            tokens: Arc::new(Mutex::new(vec![])),
            refusal,
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path(), fake.port, "oauth2_token_command = \"echo old\"");
        let e = smtp(&s)
            .send("vardval@rjl.test", &to(), RAW)
            .await
            .expect_err(refusal);
        assert!(matches!(e, SendError::Credentials(_)), "{refusal}: {e:?}");
        assert!(
            !fake.lines().iter().any(|l| l == "DATA"),
            "{:?}",
            fake.lines()
        );
    }
}

#[tokio::test]
async fn a_failing_token_command_is_a_credential_problem() {
    let fake = fake_smtp(Script {
        mechanisms: "XOAUTH2",
        tokens: Arc::new(Mutex::new(vec![])),
        refusal: "535 5.7.3 Authentication unsuccessful",
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), fake.port, "oauth2_token_command = \"exit 3\"");
    let e = smtp(&s)
        .send("vardval@rjl.test", &to(), RAW)
        .await
        .expect_err("token command fails");
    assert!(matches!(e, SendError::Credentials(_)), "{e:?}");
    assert!(fake.auth_lines().is_empty(), "{:?}", fake.lines());
}

/// Restores the lab's token file when the test ends (also on panic).
struct RestoreTokens {
    path: std::path::PathBuf,
    original: Vec<u8>,
}

impl Drop for RestoreTokens {
    fn drop(&mut self) {
        write_atomically(&self.path, &self.original);
    }
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).expect("write the lab's token file");
    std::fs::rename(&tmp, path).expect("replace the lab's token file");
}

/// The lab's token file with the line of `user` replaced by `token` (added if missing).
fn with_token(original: &str, user: &str, token: &str) -> String {
    let mut out: String = original
        .lines()
        .filter(|l| !l.starts_with(&format!("{user}:")))
        .map(|l| format!("{l}\n"))
        .collect();
    out.push_str(&format!("{user}:{{PLAIN}}{token}::::::\n"));
    out
}

#[tokio::test]
async fn xoauth2_submission_through_the_lab_with_a_token_that_expires() {
    let Some(lab) = lab() else { return };
    // Exclusive: the lab's token file is changed for the test's own login and restored.
    let _g = lab.exclusive().await;
    let user = "rotate@rjl.test";
    let tokens_path = lab.dir.join("dovecot/tokens");
    let original = std::fs::read(&tokens_path).expect("lab token file");
    let _restore = RestoreTokens {
        path: tokens_path.clone(),
        original: original.clone(),
    };
    let original = String::from_utf8(original).unwrap();
    write_atomically(
        &tokens_path,
        with_token(&original, user, "rotate-token-1").as_bytes(),
    );

    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "rotate-token-1\n").unwrap();
    let s = config(
        dir.path(),
        lab.submission_port(),
        &format!(
            "tls = \"starttls\"\nca_file = \"{}\"\nusername = \"{user}\"\n\
             oauth2_token_command = \"cat {}\"",
            lab.ca().display(),
            token_file.display(),
        ),
    );
    let t = smtp(&s);
    let clinic = format!("rotate-{}@vc.test", common::lab::run_id());
    let mail = |subject: &str| {
        format!(
            "From: vardval@rjl.test\r\nTo: {clinic}\r\nSubject: {subject}\r\n\
             Message-ID: <{subject}.{}@rjl.test>\r\n\r\nTack.\r\n",
            common::lab::run_id()
        )
        .into_bytes()
    };
    // Dovecot looks at a changed passwd-file at most about once a second: wait until the
    // lab takes the new login (a login without sending anything).
    poll_until(
        "the lab accepts rotate-token-1",
        Duration::from_secs(10),
        || async { t.test_connection().await.map_err(|e| e.to_string()) },
    )
    .await;
    t.send(
        "vardval@rjl.test",
        std::slice::from_ref(&clinic),
        &mail("xoauth2-1"),
    )
    .await
    .expect("send with the first token");

    // The token expires: the server now accepts only the second one; the command still
    // prints the first. A new connection is refused as a credentials problem. (The new
    // token has another length: Dovecot reloads a passwd-file when its mtime in seconds or
    // its size changed.)
    write_atomically(
        &tokens_path,
        with_token(&original, user, "rotate-token-second").as_bytes(),
    );
    poll_until(
        "the lab refuses rotate-token-1",
        Duration::from_secs(10),
        || async {
            match t.test_connection().await {
                Err(SendError::Credentials(_)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    t.close().await;
    let e = t
        .send(
            "vardval@rjl.test",
            std::slice::from_ref(&clinic),
            &mail("xoauth2-2"),
        )
        .await
        .expect_err("expired token");
    assert!(matches!(e, SendError::Credentials(_)), "{e:?}");

    // The token command now prints the new token: the next connection runs it again.
    std::fs::write(&token_file, "rotate-token-second\n").unwrap();
    t.send(
        "vardval@rjl.test",
        std::slice::from_ref(&clinic),
        &mail("xoauth2-2"),
    )
    .await
    .expect("send with the renewed token");

    let got = poll_until("both mails delivered", Duration::from_secs(20), || {
        let dir = lab.maildir(&clinic, "");
        async move {
            let mut subjects = Vec::new();
            for sub in ["new", "cur"] {
                if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
                    for e in rd.flatten() {
                        let raw = std::fs::read(e.path()).unwrap_or_default();
                        let text = String::from_utf8_lossy(&raw).to_string();
                        if let Some(l) = text.lines().find(|l| l.starts_with("Subject: ")) {
                            subjects.push(l["Subject: ".len()..].to_string());
                        }
                    }
                }
            }
            subjects.sort();
            if subjects.len() >= 2 {
                Ok(subjects)
            } else {
                Err(format!("{subjects:?}"))
            }
        }
    })
    .await;
    assert_eq!(got, vec!["xoauth2-1".to_string(), "xoauth2-2".to_string()]);
}

/// A refused login keeps the reply: retried with the backoff (at most `max` apart), never
/// given up, however many attempts; it is sent once the credentials work again.
async fn refused_credentials_keep_the_reply(url: String) {
    use chrono::TimeZone;
    use vardval::pipeline::outbox::{SendOptions, send_due};
    use vardval::ports::{Clock, ManualClock};
    use vardval::store::{NewOutbox, OutboxStatus, RetryPolicy, Store};

    let store = Store::connect(&url).await.expect("ledger");
    let t0 = chrono::Utc.with_ymd_and_hms(2026, 12, 31, 9, 0, 0).unwrap();
    let clock = ManualClock::new(t0);
    let row = NewOutbox {
        kind: "receipt".into(),
        dedupe_key: None,
        recipient: "k1@vc.test".into(),
        cc: vec![],
        subject: "Kvitto".into(),
        raw: RAW.to_vec(),
        mail_message_id: "kvitto-1@rjl.test".into(),
        not_before: None,
    };
    let id = store
        .enqueue(&row, "receipt:1", t0, None, None)
        .await
        .unwrap()
        .unwrap();
    let opts = SendOptions {
        from: "vardval@rjl.test".into(),
        copy_to: None,
        sending_grace: Duration::from_secs(60),
        retry: RetryPolicy {
            base: chrono::Duration::minutes(1),
            max: chrono::Duration::minutes(4),
            max_attempts: 3,
        },
    };
    let rec = common::Recorder::default();
    *rec.fail.lock().unwrap() = Some(SendError::Credentials(
        "535 5.7.139 Authentication unsuccessful".into(),
    ));
    let mut delays = Vec::new();
    for _ in 0..6 {
        let now = clock.now();
        let r = send_due(&store, &rec, &opts, None, &clock).await.unwrap();
        assert_eq!((r.sent, r.retried, r.dead), (0, 1, 0), "{r:?}");
        assert!(r.trouble.as_ref().is_some_and(|t| t.credentials), "{r:?}");
        let o = store.outbox_row(id).await.unwrap().unwrap();
        assert_eq!(o.status, OutboxStatus::Failed);
        assert!(
            o.last_error.as_deref().unwrap_or("").contains("5.7.139"),
            "{o:?}"
        );
        delays.push((o.next_attempt_at - now).num_minutes());
        clock.set(o.next_attempt_at);
    }
    // Six attempts, more than max_attempts = 3, and still waiting, never closer than the backoff.
    assert_eq!(delays, vec![1, 2, 4, 4, 4, 4]);
    *rec.fail.lock().unwrap() = None;
    let r = send_due(&store, &rec, &opts, None, &clock).await.unwrap();
    assert_eq!((r.sent, r.dead), (1, 0), "{r:?}");
    assert_eq!(rec.count(), 1);
}

both!(refused_credentials_keep_the_reply);

/// `vardval run --once`, `status`, `status --check`, `doctor` (the real binary) against a
/// server that refuses the token: a credentials problem in plain words, CRITICAL, the reply
/// kept; with a working token it goes out and the SMTP state is ok again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_token_is_reported_by_status_check_and_doctor() {
    let tokens = Arc::new(Mutex::new(vec!["fresh-token".to_string()]));
    let fake = fake_smtp(Script {
        mechanisms: "XOAUTH2",
        tokens: tokens.clone(),
        refusal: "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect",
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "expired-token\n").unwrap();
    let root = common::root();
    let cfg = dir.path().join("vardval.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[mailbox]
kind = "maildir"
path = "Maildir"
[smtp]
kind = "smtp"
from = "Vårdval <vardval@rjl.test>"
host = "127.0.0.1"
port = {port}
tls = "none"
username = "vardval@rjl.test"
oauth2_token_command = "cat {token}"
copy_to_self = false
backoff_secs = 1
max_backoff_secs = 1
max_attempts = 1
[web]
enabled = false
[database]
url = "sqlite://vardval.db"
[cycle]
rulebook = "{rulebook}"
[clinics]
path = "{clinics}"
"#,
            port = fake.port,
            token = token_file.display(),
            rulebook = root.join("config/rulebook-2026.toml").display(),
            clinics = root.join("fixtures/mail/clinics.csv").display(),
        ),
    )
    .unwrap();
    let md = vardval::adapters::maildir::MaildirSource::new(
        dir.path().join("Maildir"),
        ".Behandlat",
        Duration::from_secs(1),
    );
    let f = &common::mail_fixtures()[0];
    md.deliver(&f.name, &f.bytes, f.received).unwrap();

    let vardval = |args: &[&str]| {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_vardval"));
        c.args(args)
            .arg("--config")
            .arg(&cfg)
            .env("RUST_LOG", "error");
        c
    };
    let out = vardval(&["run", "--once"]).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        fake.auth_lines()[0].contains("expired-token"),
        "{:?}",
        fake.lines()
    );

    let status = |_: ()| async {
        let out = vardval(&["status", "--json"]).output().await.unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let s = status(()).await;
    assert_eq!(s["smtp"]["state"], "credentials", "{s}");
    assert!(
        s["smtp"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("5.7.139"),
        "{s}"
    );
    // Kept for another attempt although max_attempts = 1.
    assert_eq!(s["outbox_backlog"], 1, "{s}");
    assert_eq!(s["outbox_dead"], 0, "{s}");

    let out = vardval(&["status", "--check"]).output().await.unwrap();
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(2), "{line}");
    assert!(
        line.starts_with("CRITICAL - ") && line.contains("SMTP-servern nekar inloggningen"),
        "{line}"
    );
    let out = vardval(&["status"]).output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("SMTP-servern nekar inloggningen"), "{text}");

    let out = vardval(&["doctor"]).output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FEL   smtp: credentials problem: the server refused the login"),
        "{text}"
    );

    // The token command prints a working token: the next attempt (due after the 1 s backoff)
    // sends the kept reply and the state is ok again.
    std::fs::write(&token_file, "fresh-token\n").unwrap();
    let s = poll_until(
        "the kept reply goes out",
        Duration::from_secs(20),
        || async {
            let out = vardval(&["run", "--once"]).output().await.unwrap();
            assert!(out.status.success());
            let s = status(()).await;
            if s["outbox_backlog"] == 0 {
                Ok(s)
            } else {
                Err(s.to_string())
            }
        },
    )
    .await;
    assert_eq!(s["smtp"]["state"], "ok", "{s}");
    assert_eq!(s["smtp"]["error"], serde_json::Value::Null, "{s}");
    assert_eq!(s["outbox_dead"], 0, "{s}");
    assert_eq!(
        fake.lines().iter().filter(|l| *l == "MESSAGE").count(),
        1,
        "{:?}",
        fake.lines()
    );
}
