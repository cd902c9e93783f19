//! The `vardval` binary as users and other tools call it: `check` exit codes and JSON contract,
//! `run --once`, `status --json`, `submissions --format json`, `doctor`, and SIGTERM handling
//! of the daemon. The daemon's health states and `status --check` are in tests/health.rs. Maildir + SQLite + file outbox, so no servers are needed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vardval"))
}

fn doc(name: &str) -> PathBuf {
    common::root().join("fixtures/documents").join(name)
}

fn check_json(file: &Path, extra: &[&str]) -> (i32, Value) {
    let out = bin()
        .arg("check")
        .arg(file)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: stdout is not JSON ({e}): {}",
            file.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn check_reports_in_the_documented_shape() {
    let (code, v) = check_json(&doc("m1-green-heading-styles.docx"), &[]);
    assert_eq!(code, 0);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "baseline",
            "data_sources",
            "document",
            "goal",
            "grade",
            "milestone",
            "sections"
        ]
    );
    assert_eq!(v["document"]["format"], "docx");
    assert_eq!(v["milestone"], 1);
    assert_eq!(v["grade"], "green");
    let secs = v["sections"].as_object().unwrap();
    assert_eq!(secs.len(), 9);
    for (id, s) in secs {
        let required = "ABCDEF".contains(id.as_str());
        assert_eq!(s["required"], required, "{id}");
        assert!(s["words"].is_u64());
    }
    // The same document against milestone 2: H and I are required and missing.
    let (_, v2) = check_json(&doc("m1-green-heading-styles.docx"), &["--milestone", "2"]);
    assert_eq!(v2["milestone"], 2);
    assert_eq!(v2["sections"]["H"]["required"], true);
    assert_eq!(v2["sections"]["H"]["status"], "missing");
    assert_ne!(v2["grade"], "green");
}

#[test]
fn unreadable_files_exit_3_with_a_swedish_message() {
    for (file, kind) in [
        ("hostile-encrypted.pdf", "encrypted"),
        ("hostile-zip-bomb.docx", "too_large"),
        ("hostile-truncated.docx", "corrupt"),
        ("hostile-image.png", "no_text"),
        ("hostile-elf-renamed.docx", "unsupported"),
    ] {
        let (code, v) = check_json(&doc(file), &[]);
        assert_eq!(code, 3, "{file}");
        assert_eq!(v["error"]["kind"], kind, "{file}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(
            msg.chars().any(|c| "åäö".contains(c)),
            "Swedish message: {msg}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let out = bin().args(["check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin()
        .args(["check", "x.docx", "--milestone", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn text_report_names_the_rulebook_questions_for_weak_sections() {
    let out = bin()
        .arg("check")
        .arg(doc("m1-red-instruction-text.docx"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Förhandsbedömning: ● RÖD"), "{text}");
    assert!(
        !text.contains("\x1b["),
        "no colour when stdout is not a terminal"
    );
    assert!(
        text.contains("Varför är detta förbättringsområde valt"),
        "{text}"
    );
}

/// A Maildir + SQLite + file-outbox configuration in a temp dir, with the fixture registry.
fn config(dir: &Path) -> PathBuf {
    common::cli_config(dir, "sqlite://vardval.db", "[web]\nenabled = false")
}

fn deliver(dir: &Path, n: usize) {
    let md = vardval::adapters::maildir::MaildirSource::new(
        dir.join("Maildir"),
        ".Behandlat",
        Duration::from_secs(1),
    );
    for f in common::mail_fixtures().into_iter().take(n) {
        md.deliver(&f.name, &f.bytes, f.received).unwrap();
    }
}

#[test]
fn run_once_then_status_and_submissions() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    deliver(dir.path(), 27);
    let out = bin()
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = bin()
        .args(["status", "--json", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success());
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["outbox_backlog"], 0);
    assert_eq!(st["outbox_dead"], 0);
    assert_eq!(st["oldest_unsent"], Value::Null);
    // The one-off run has ended: no daemon runs, so no connection is claimed (class 11), but
    // what the run saw is kept.
    assert_eq!(st["daemon"], "stopped", "{st}");
    assert_eq!(st["connection_state"], "stopped", "{st}");
    assert!(st["last_ok_at"].is_string(), "{st}");
    assert_eq!(st["current_error"], Value::Null, "{st}");
    let total: i64 = st["counts"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(total, 27);
    assert_eq!(st["counts"]["auto_reply"], 1);

    let out = bin()
        .args(["submissions", "--format", "json", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let subs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(subs.len(), 13);
    for s in &subs {
        for k in [
            "clinic_id",
            "milestone",
            "version",
            "received_at",
            "on_time",
            "pre_grade",
            "document_sha256",
            "message_id",
            "receipt_sent_at",
        ] {
            assert!(s.get(k).is_some(), "{k} in {s}");
        }
        let t = s["received_at"].as_str().unwrap();
        assert!(
            t.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(t).is_ok(),
            "{t}"
        );
        assert!(s["receipt_sent_at"].is_string());
    }
    // The replies are files in the outbox.
    let n = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .count();
    assert_eq!(n, 18);
}

#[test]
fn doctor_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let out = bin()
        .args(["doctor", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Allt ser bra ut"), "{text}");
    // Break the registry path: doctor names the problem and fails.
    let broken = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("clinics.csv", "saknas.csv");
    std::fs::write(&cfg, broken).unwrap();
    let out = bin()
        .args(["doctor", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("FEL   clinic registry"), "{text}");
}

#[cfg(unix)]
#[test]
fn sigterm_finishes_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    deliver(dir.path(), 5);
    let mut child = bin()
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the five are processed (moved), then ask it to stop.
    let processed = dir.path().join("Maildir/.Behandlat/cur");
    let start = Instant::now();
    while std::fs::read_dir(&processed)
        .map(|d| d.count())
        .unwrap_or(0)
        < 5
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "daemon did not process mail"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let t0 = Instant::now();
    let rc = unsafe { libc_kill(child.id() as i32, 15) };
    assert_eq!(rc, 0);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

#[cfg(unix)]
unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
