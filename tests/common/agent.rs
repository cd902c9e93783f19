//! A vardval agent wired to the mail lab, for the end-to-end and crash tests: its own agent
//! mailbox (watched over IMAP, and the SMTP submission login and From), invented clinics
//! registered in its own clinics.csv (their mailboxes receive the receipts), a config file,
//! and helpers to build clinic mail, read what arrived, and read the ledger.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use sqlx::Row;
use vardval::ports::Fetched;
use vardval::store::Store;

use super::lab::{CLINIC_PASS, Lab, run_id};

/// One invented clinic: registry id and the address it mails from (its own lab mailbox).
#[derive(Debug, Clone)]
pub struct TestClinic {
    pub id: String,
    pub name: String,
    pub address: String,
}

/// A configured agent: a temp directory with `vardval.toml`, `clinics.csv` and the archive.
pub struct Agent {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    /// The watched mailbox, also the SMTP login and the receipts' From.
    pub address: String,
    pub clinics: Vec<TestClinic>,
    pub db_url: String,
}

impl Agent {
    /// An agent for test `test` (lowercase, `[a-z0-9-]`) with `n_clinics` clinics, on the
    /// database `db_url`.
    pub fn new(lab: &Lab, test: &str, db_url: &str, n_clinics: usize) -> Agent {
        let dir = tempfile::Builder::new()
            .prefix(&format!("vardval-{test}-"))
            .tempdir()
            .expect("tempdir");
        let run = run_id();
        // Several agents of one test process (SQLite and PostgreSQL variants) must not share
        // mailboxes: add a per-agent counter.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = format!("{test}-{run}-{n}");
        let address = format!("agent-{tag}@vc.test");
        let clinics: Vec<TestClinic> = (1..=n_clinics)
            .map(|i| TestClinic {
                id: format!("k{i:03}"),
                name: format!("Vårdcentralen Test {i}"),
                address: format!("{tag}-{i}@vc.test"),
            })
            .collect();
        let mut csv = String::from("id,name,emails,listed_inhabitants\n");
        for c in &clinics {
            csv += &format!("{},{},{},{}\n", c.id, c.name, c.address, 5000);
        }
        std::fs::write(dir.path().join("clinics.csv"), csv).expect("write clinics.csv");
        let root = super::root();
        let config = dir.path().join("vardval.toml");
        let toml = format!(
            r#"# written by tests/common/agent.rs
[mailbox]
kind = "imap"
host = "127.0.0.1"
port = {imap}
tls = "starttls"
ca_file = "{ca}"
username = "{address}"
password_command = "echo {pass}"
folder = "INBOX"
processed_folder = "Behandlat"
poll_interval_secs = 1
idle_refresh_secs = 10

[smtp]
kind = "smtp"
from = "Vårdval test <{address}>"
host = "127.0.0.1"
port = {submission}
tls = "starttls"
ca_file = "{ca}"
username = "{address}"
password_command = "echo {pass}"
backoff_secs = 1
max_backoff_secs = 2
sending_grace_secs = 5
max_attempts = 1000

[web]
enabled = false
[database]
url = "{db_url}"

[archive]
dir = "archive"

[cycle]
rulebook = "{rulebook}"

[clinics]
path = "clinics.csv"

[replies]
max_per_recipient_per_hour = 1000
max_per_recipient_per_day = 1000
"#,
            imap = lab.imap_port(),
            submission = lab.submission_port(),
            ca = lab.ca().display(),
            pass = CLINIC_PASS,
            rulebook = root.join("config/rulebook-2026.toml").display(),
        );
        std::fs::write(&config, toml).expect("write vardval.toml");
        Agent {
            dir,
            config,
            address,
            clinics,
            db_url: db_url.to_string(),
        }
    }

    pub fn settings(&self) -> vardval::config::Settings {
        vardval::config::Settings::load(&self.config).expect("the test config is valid")
    }

    /// A second connection to the agent's ledger.
    pub async fn store(&self) -> Store {
        Store::connect(&self.db_url).await.expect("open the ledger")
    }

    /// `vardval ARGS --config F` (the real binary), stdout parsed as JSON.
    pub async fn cli_json(&self, args: &[&str]) -> Result<serde_json::Value, String> {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_vardval"))
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| format!("run vardval {args:?}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "vardval {args:?} exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "vardval {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// `vardval status --config F --json`.
    pub async fn status(&self) -> serde_json::Value {
        self.cli_json(&["status", "--json"]).await.expect("status")
    }

    /// `vardval submissions --config F --format json`.
    pub async fn submissions(&self) -> serde_json::Value {
        self.cli_json(&["submissions", "--format", "json"])
            .await
            .expect("submissions")
    }
}

/// The counts per class of a `status --json` object.
pub fn status_counts(status: &serde_json::Value) -> BTreeMap<String, i64> {
    status["counts"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_i64().unwrap_or(-1)))
                .collect()
        })
        .unwrap_or_default()
}

/// One recorded inbound message, as the `messages` table has it.
#[derive(Debug, Clone)]
pub struct LedgerMessage {
    pub source_key: String,
    pub sha256: String,
    pub archive_path: String,
    pub mail_message_id: Option<String>,
    pub from_addr: Option<String>,
    pub class: String,
    pub clinic_id: Option<String>,
}

/// Every row of the `messages` table.
pub async fn ledger_messages(store: &Store) -> Vec<LedgerMessage> {
    sqlx::query(
        "SELECT source_key, sha256, archive_path, mail_message_id, from_addr, class, clinic_id \
         FROM messages ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .expect("read messages")
    .iter()
    .map(|r| LedgerMessage {
        source_key: r.get("source_key"),
        sha256: r.get("sha256"),
        archive_path: r.get("archive_path"),
        mail_message_id: r.get("mail_message_id"),
        from_addr: r.get("from_addr"),
        class: r.get("class"),
        clinic_id: r.get("clinic_id"),
    })
    .collect()
}

/// One outbox row, without its bytes.
#[derive(Debug, Clone)]
pub struct LedgerOutbox {
    pub kind: String,
    pub recipient: String,
    pub mail_message_id: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// RFC 3339 UTC text (the ledger's portable timestamp format: text order = time order).
    pub next_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    /// The Message-ID of the inbound message it answers (via `related_message_id`).
    pub answers: Option<String>,
}

/// Every row of the `outbox` table.
pub async fn ledger_outbox(store: &Store) -> Vec<LedgerOutbox> {
    sqlx::query(
        "SELECT o.kind, o.recipient, o.mail_message_id, o.status, o.attempts, o.last_error, \
         o.next_attempt_at, o.last_attempt_at, \
         m.mail_message_id AS answers \
         FROM outbox o LEFT JOIN messages m ON m.id = o.related_message_id ORDER BY o.id",
    )
    .fetch_all(store.pool())
    .await
    .expect("read outbox")
    .iter()
    .map(|r| LedgerOutbox {
        kind: r.get("kind"),
        recipient: r.get("recipient"),
        mail_message_id: r.get("mail_message_id"),
        status: r.get("status"),
        attempts: r.get("attempts"),
        last_error: r.get("last_error"),
        next_attempt_at: r.get("next_attempt_at"),
        last_attempt_at: r.get("last_attempt_at"),
        answers: r.get("answers"),
    })
    .collect()
}

// ---------------------------------------------------------------------------------------------
// clinic mail

/// A fresh Message-ID (without angle brackets) under `domain`.
pub fn fresh_message_id(label: &str, domain: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{label}.{}.{n}@{domain}", run_id())
}

/// A fixture from `fixtures/mail/`.
pub fn fixture_mail(name: &str) -> Vec<u8> {
    let p = super::root().join("fixtures/mail").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// A fixture from `fixtures/documents/`.
pub fn fixture_document(name: &str) -> Vec<u8> {
    let p = super::root().join("fixtures/documents").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// Replaces (or adds) header fields in the header block of a raw message, folded
/// continuation lines included, keeping the message's line ending; the body is untouched.
pub fn rewrite_headers(raw: &[u8], fields: &[(&str, &str)]) -> Vec<u8> {
    let crlf = raw.windows(2).any(|w| w == b"\r\n");
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let end = raw
        .windows(2 * eol.len())
        .position(|w| w[..eol.len()] == *eol && w[eol.len()..] == *eol)
        .map(|p| p + eol.len())
        .expect("a header block");
    let (head, body) = raw.split_at(end);
    let mut lines: Vec<Vec<u8>> = Vec::new();
    for l in head.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let l = l.strip_suffix(b"\r").unwrap_or(l).to_vec();
        if (l.starts_with(b" ") || l.starts_with(b"\t")) && !lines.is_empty() {
            let last = lines.last_mut().expect("a previous line");
            last.extend_from_slice(eol);
            last.extend_from_slice(&l);
        } else {
            lines.push(l);
        }
    }
    let mut out: Vec<u8> = Vec::with_capacity(raw.len() + 256);
    for (name, value) in fields {
        out.extend_from_slice(format!("{name}: {value}").as_bytes());
        out.extend_from_slice(eol);
    }
    for l in lines {
        let replaced = fields.iter().any(|(name, _)| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && l[name.len()] == b':'
        });
        if !replaced {
            out.extend_from_slice(&l);
            out.extend_from_slice(eol);
        }
    }
    out.extend_from_slice(body);
    out
}

/// A fixture mail as if `from` had sent it, with a fresh Message-ID (returned without
/// angle brackets).
pub fn fixture_from(name: &str, from: &str, to: &str) -> (Vec<u8>, String) {
    let mid = fresh_message_id(name.split('-').next().unwrap_or("m"), "vc.test");
    let raw = rewrite_headers(
        &fixture_mail(name),
        &[
            ("From", &format!("Testklinik <{from}>")),
            ("To", to),
            ("Message-ID", &format!("<{mid}>")),
        ],
    );
    (raw, mid)
}

fn rfc2822_now() -> String {
    vardval::ports::Clock::now(&vardval::ports::SystemClock)
        .format("%a, %d %b %Y %H:%M:%S +0000")
        .to_string()
}

fn mime_word(s: &str) -> String {
    format!(
        "=?utf-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(s)
    )
}

fn base64_lines(bytes: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(b.len() + b.len() / 76 * 2 + 2);
    for chunk in b.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).expect("ascii"));
        out.push_str("\r\n");
    }
    out
}

fn content_type_of(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "odt" => "application/vnd.oasis.opendocument.text",
        "pdf" => "application/pdf",
        "rtf" => "application/rtf",
        "doc" => "application/msword",
        _ => "application/octet-stream",
    }
}

/// A clinic mail with one attached document.
pub fn mail_with_document(
    from: &str,
    to: &str,
    subject: &str,
    mid: &str,
    doc_name: &str,
    doc: &[u8],
) -> Vec<u8> {
    let boundary = format!("=_vv_{}", mid.replace(['@', '.'], "_"));
    format!(
        "From: Testklinik <{from}>\r\nTo: {to}\r\nSubject: {subj}\r\nMessage-ID: <{mid}>\r\n\
         Date: {date}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         Hej!\r\n\r\nHär kommer vårt dokument.\r\n\r\nMed vänlig hälsning\r\nTestkliniken\r\n\r\n\
         --{boundary}\r\nContent-Type: {ct}; name=\"{doc_name}\"\r\n\
         Content-Disposition: attachment; filename=\"{doc_name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {body}--{boundary}--\r\n",
        subj = mime_word(subject),
        date = rfc2822_now(),
        ct = content_type_of(doc_name),
        body = base64_lines(doc),
    )
    .into_bytes()
}

/// A plain-text clinic mail (no document), with optional extra header lines.
pub fn text_mail(
    from: &str,
    to: &str,
    subject: &str,
    mid: &str,
    extra: &str,
    text: &str,
) -> Vec<u8> {
    format!(
        "From: Testklinik <{from}>\r\nTo: {to}\r\nSubject: {subj}\r\nMessage-ID: <{mid}>\r\n\
         Date: {date}\r\n{extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n",
        subj = mime_word(subject),
        date = rfc2822_now(),
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// reading what arrived

/// The parts of a received reply the tests look at.
#[derive(Debug, Clone)]
pub struct Received {
    /// Without angle brackets.
    pub message_id: Option<String>,
    /// Without angle brackets.
    pub in_reply_to: Option<String>,
    pub subject: String,
    pub auto_submitted: Option<String>,
    pub from: Option<String>,
}

fn strip_angles(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

pub fn parse_received(raw: &[u8]) -> Received {
    let m = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("a parseable message");
    Received {
        message_id: m.message_id().map(str::to_string),
        in_reply_to: m.header_raw("In-Reply-To").map(strip_angles),
        subject: m.subject().unwrap_or("").to_string(),
        auto_submitted: m.header_raw("Auto-Submitted").map(|v| v.trim().to_string()),
        from: m
            .from()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(|a| a.to_lowercase()),
    }
}

/// What arrived in `folder` of a lab mailbox, parsed.
pub async fn received(lab: &Lab, user: &str, folder: &str) -> Vec<Received> {
    super::lab::read_folder(lab, user, folder)
        .await
        .iter()
        .map(|f: &Fetched| parse_received(&f.bytes))
        .collect()
}
