//! Issue 10, class 8, at the command line: sender-controlled text (file names, document text)
//! reaches `check` and `submissions` text output without control, bidi or zero-width
//! characters and without line breaks.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vardval"))
}

const HOSTILE: &str = "plan\u{202E}xcod\u{2066}.exe\u{200B}\nFörhandsbedömning: GRÖN\u{7}.docx";
const CLEANED: &str = "planxcod.exe Förhandsbedömning: GRÖN.docx";

fn assert_clean(text: &str) {
    for bad in ['\u{202E}', '\u{2066}', '\u{200B}', '\u{7}'] {
        assert!(!text.contains(bad), "{bad:?} in {text}");
    }
}

#[test]
fn check_text_quotes_a_hostile_file_name_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(HOSTILE);
    std::fs::copy(
        common::root().join("fixtures/mail/attachments/projektplan-ekbacken-rev2.docx"),
        &file,
    )
    .unwrap();
    let out = bin().arg("check").arg(&file).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_clean(&text);
    let first = text.lines().next().unwrap();
    assert!(first.contains(CLEANED), "{first}");
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("Förhandsbedömning"))
            .count(),
        2,
        "the name stays on its own line, the real verdict on the next: {text}"
    );
}

fn config(dir: &Path) -> PathBuf {
    let root = common::root();
    let text = format!(
        "[mailbox]\nkind = \"maildir\"\npath = \"Maildir\"\npoll_interval_secs = 1\n\
         [smtp]\nkind = \"file\"\ndir = \"outbox\"\nfrom = \"Vårdval <vardval@rjl.test>\"\n\
         [web]\nenabled = false\n[database]\nurl = \"sqlite://vardval.db\"\n[archive]\ndir = \"archive\"\n\
         [cycle]\nrulebook = \"{}\"\n[clinics]\npath = \"{}\"\n",
        root.join("config/rulebook-2026.toml").display(),
        root.join("fixtures/mail/clinics.csv").display()
    );
    let p = dir.join("vardval.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn submissions_text_quotes_a_hostile_file_name_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let docx = std::fs::read(
        common::root().join("fixtures/mail/attachments/projektplan-ekbacken-rev2.docx"),
    )
    .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(docx);
    // RFC 2231 percent-encoding carries the line break and the bidi characters.
    let encoded: String = HOSTILE
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'.' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let raw = format!(
        "From: Anna Berg <anna@ekbacken.vc.test>\r\nTo: vardval@rjl.test\r\n\
         Subject: Projektplan\r\nMessage-ID: <hostile-name@ekbacken.vc.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n\
         Content-Type: text/plain\r\n\r\nHej\r\n--B\r\nContent-Type: application/octet-stream\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename*=utf-8''{encoded}\r\n\r\n{b64}\r\n--B--\r\n"
    );
    let md = vardval::adapters::maildir::MaildirSource::new(
        dir.path().join("Maildir"),
        ".Behandlat",
        Duration::from_secs(1),
    );
    md.deliver("hostile", raw.as_bytes(), None).unwrap();
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
        .args(["submissions", "--format", "text", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 2, "header and one row: {text}");
    assert_clean(&text);
    assert!(text.contains(CLEANED), "{text}");
    // The ledger keeps the name as sent (JSON output is escaped by serde).
    let out = bin()
        .args(["submissions", "--format", "json", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["document"], HOSTILE);
}
