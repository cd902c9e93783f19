//! Honest health (issue 10, class 11) with the real binary: `vardval status` says running,
//! degraded or stopped, `status --check` exits 0/1/2 with one Nagios line, a reconnect clears
//! the current error (the last one stays as history), and systemd's watchdog is pinged over a
//! real `$NOTIFY_SOCKET` only while the mailbox answers.
//!
//! The IMAP outage is made with a small TCP relay in front of the lab's IMAP port that the
//! test switches off and on (the shared lab itself is never stopped).

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use common::lab::{CLINIC_PASS, lab, poll_until, run_id};

fn bin() -> tokio::process::Command {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_vardval"))
}

/// A config in `dir`: the given `[mailbox]` lines, replies as files, SQLite, a 1 s heartbeat.
fn config(dir: &Path, mailbox: &str) -> PathBuf {
    let root = common::root();
    let text = format!(
        r#"
[mailbox]
{mailbox}
[smtp]
kind = "file"
dir = "outbox"
from = "Vårdval <vardval@rjl.test>"
[web]
enabled = false
[database]
url = "sqlite://vardval.db"
[cycle]
rulebook = "{}"
[clinics]
path = "{}"
[monitoring]
heartbeat_secs = 1
"#,
        root.join("config/rulebook-2026.toml").display(),
        root.join("fixtures/mail/clinics.csv").display()
    );
    let p = dir.join("vardval.toml");
    std::fs::write(&p, text).unwrap();
    p
}

async fn status(cfg: &Path) -> Value {
    let out = bin()
        .args(["status", "--json", "--config"])
        .arg(cfg)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `status --check`: exit code and the one line.
async fn check(cfg: &Path) -> (i32, String) {
    let out = bin()
        .args(["status", "--check", "--config"])
        .arg(cfg)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one line: {text:?}");
    (out.status.code().unwrap_or(-1), text.trim_end().to_string())
}

async fn until_daemon(cfg: &Path, want: &str) -> Value {
    poll_until(
        &format!("status says {want}"),
        Duration::from_secs(30),
        || async {
            let s = status(cfg).await;
            if s["daemon"] == want {
                Ok(s)
            } else {
                Err(s.to_string())
            }
        },
    )
    .await
}

fn spawn(cfg: &Path, notify: Option<&Path>) -> tokio::process::Child {
    let mut c = bin();
    c.args(["run", "--config"])
        .arg(cfg)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    match notify {
        Some(sock) => {
            c.env("NOTIFY_SOCKET", sock)
                .env("WATCHDOG_USEC", "10000000")
                .env_remove("WATCHDOG_PID");
        }
        None => {
            c.env_remove("NOTIFY_SOCKET");
        }
    }
    c.spawn().expect("start vardval run")
}

fn signal(child: &tokio::process::Child, sig: i32) {
    let pid = child.id().expect("running") as i32;
    assert_eq!(unsafe { libc_kill(pid, sig) }, 0);
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Everything that arrived on the notify socket so far.
fn drain(sock: &UnixDatagram) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    while let Ok(n) = sock.recv(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..n]).to_string());
    }
    out
}

async fn until_message(sock: &UnixDatagram, want: &str) -> Vec<String> {
    let seen = Mutex::new(Vec::new());
    poll_until(
        &format!("{want} on NOTIFY_SOCKET"),
        Duration::from_secs(30),
        || async {
            let mut s = seen.lock().unwrap();
            s.extend(drain(sock));
            if s.iter().any(|m| m == want) {
                Ok(s.clone())
            } else {
                Err(format!("{s:?}"))
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maildir_daemon_running_then_stopped_by_sigterm_and_by_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        dir.path(),
        "kind = \"maildir\"\npath = \"Maildir\"\npoll_interval_secs = 1",
    );
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_nonblocking(true).unwrap();

    // Running: READY=1, then watchdog pings as the loops make progress.
    let mut child = spawn(&cfg, Some(&sock_path));
    until_message(&sock, "READY=1").await;
    until_message(&sock, "WATCHDOG=1").await;
    let s = until_daemon(&cfg, "running").await;
    assert_eq!(s["connection_state"], "connected", "{s}");
    assert_eq!(s["pid"], child.id().unwrap().to_string(), "{s}");
    assert!(s["last_ok_at"].is_string(), "{s}");
    let (code, line) = check(&cfg).await;
    assert_eq!(code, 0, "{line}");
    assert!(line.starts_with("OK - "), "{line}");

    // SIGTERM: STOPPING=1, a clean stop is recorded.
    signal(&child, 15);
    assert_eq!(child.wait().await.unwrap().code(), Some(0));
    until_message(&sock, "STOPPING=1").await;
    let s = status(&cfg).await;
    assert_eq!(s["daemon"], "stopped", "{s}");
    assert_ne!(s["connection_state"], "connected", "{s}");
    let (code, line) = check(&cfg).await;
    assert_eq!(code, 2, "{line}");
    assert!(line.starts_with("CRITICAL - "), "{line}");

    // Again, then SIGKILL: nothing is recorded by the daemon, but status sees it is gone.
    let mut child = spawn(&cfg, None);
    until_daemon(&cfg, "running").await;
    signal(&child, 9);
    child.wait().await.unwrap();
    let s = status(&cfg).await;
    assert_eq!(s["daemon"], "stopped", "{s}");
    assert_eq!(s["connection_state"], "stopped", "{s}");
    assert!(
        s["daemon_reasons"][0]
            .as_str()
            .unwrap_or("")
            .contains("finns inte längre"),
        "{s}"
    );
    let (code, line) = check(&cfg).await;
    assert_eq!(code, 2, "{line}");
    assert!(line.starts_with("CRITICAL - vardval är stoppad"), "{line}");
}

/// A TCP relay to `target` that the test can switch off (connections dropped) and on.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (u, c) = (up.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !u.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let h = tokio::spawn(async move {
                    if let Ok(mut out) = TcpStream::connect(("127.0.0.1", target)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                c.lock().unwrap().push(h);
            }
        });
        Relay { port, up, conns }
    }

    fn down(&self) {
        self.up.store(false, Ordering::SeqCst);
        for h in self.conns.lock().unwrap().drain(..) {
            h.abort();
        }
    }

    fn up(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_outage_degrades_pauses_the_watchdog_and_recovers() {
    let Some(lab) = lab() else { return };
    let _g = lab.shared().await;
    let relay = Relay::start(lab.imap_port()).await;
    let dir = tempfile::tempdir().unwrap();
    let user = format!("health-{}@vc.test", run_id());
    let cfg = config(
        dir.path(),
        &format!(
            "kind = \"imap\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             username = \"{user}\"\npassword_command = \"echo {CLINIC_PASS}\"\n\
             poll_interval_secs = 1\nidle_refresh_secs = 1",
            relay.port
        ),
    );
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_nonblocking(true).unwrap();
    let mut child = spawn(&cfg, Some(&sock_path));

    // Healthy: running, OK, pinging.
    until_message(&sock, "READY=1").await;
    until_message(&sock, "WATCHDOG=1").await;
    let s = until_daemon(&cfg, "running").await;
    assert_eq!(s["connection_state"], "connected", "{s}");
    assert_eq!(s["current_error"], Value::Null, "{s}");
    assert_eq!(check(&cfg).await.0, 0);

    // The IMAP server becomes unreachable: degraded, WARNING, the error is current.
    relay.down();
    let s = until_daemon(&cfg, "degraded").await;
    assert_eq!(s["connection_state"], "disconnected", "{s}");
    assert!(s["current_error"].is_string(), "{s}");
    let (code, line) = check(&cfg).await;
    assert_eq!(code, 1, "{line}");
    assert!(line.starts_with("WARNING - vardval är störd"), "{line}");

    // No watchdog ping while the mailbox stays unreachable: watch two more failed attempts.
    let first = s["last_error_at"].as_str().unwrap().to_string();
    drain(&sock);
    let seen_errors = Mutex::new(vec![first]);
    poll_until(
        "two more failed attempts",
        Duration::from_secs(30),
        || async {
            let s = status(&cfg).await;
            let at = s["last_error_at"].as_str().unwrap_or("").to_string();
            let mut seen = seen_errors.lock().unwrap();
            if !seen.contains(&at) {
                seen.push(at);
            }
            if seen.len() >= 3 {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        },
    )
    .await;
    let pings: Vec<String> = drain(&sock)
        .into_iter()
        .filter(|m| m == "WATCHDOG=1")
        .collect();
    assert!(pings.is_empty(), "pinged while deaf: {pings:?}");

    // Back: running, the current error is gone, the last one stays with its time.
    relay.up();
    let s = until_daemon(&cfg, "running").await;
    assert_eq!(s["connection_state"], "connected", "{s}");
    assert_eq!(s["current_error"], Value::Null, "{s}");
    assert!(s["last_error"].is_string(), "{s}");
    let err_at = chrono::DateTime::parse_from_rfc3339(s["last_error_at"].as_str().unwrap())
        .expect("last_error_at");
    let ok_at = chrono::DateTime::parse_from_rfc3339(s["last_ok_at"].as_str().unwrap())
        .expect("last_ok_at");
    assert!(ok_at > err_at, "{s}");
    let (code, line) = check(&cfg).await;
    assert_eq!(code, 0, "{line}");
    until_message(&sock, "WATCHDOG=1").await;

    // SIGKILL: stopped, CRITICAL.
    signal(&child, 9);
    child.wait().await.unwrap();
    let s = status(&cfg).await;
    assert_eq!(s["daemon"], "stopped", "{s}");
    assert_eq!(check(&cfg).await.0, 2);
}

#[test]
fn systemd_unit_is_notify_with_a_watchdog_and_verifies() {
    let unit = common::root().join("deploy/vardval.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    for line in [
        "Type=notify",
        "NotifyAccess=main",
        "WatchdogSec=",
        "Restart=on-failure",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "{line} in {}",
            unit.display()
        );
    }
    // `systemd-analyze verify` where systemd is installed (the unit with this build's binary).
    let Ok(which) = std::process::Command::new("sh")
        .args(["-c", "command -v systemd-analyze"])
        .output()
    else {
        return;
    };
    if !which.status.success() {
        eprintln!("SKIPPED systemd-analyze verify: systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("vardval.service");
    std::fs::write(
        &copy,
        text.replace("/usr/bin/vardval", env!("CARGO_BIN_EXE_vardval")),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
