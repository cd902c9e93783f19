//! Walks `fixtures/mail/*.eml` against `fixtures/mail/expected.json` (written by
//! `fixtures/mail/generate.py`) with the registry `fixtures/mail/clinics.csv`.
//!
//! Checked per file: the class, the clinic id, From, Subject, Message-ID, the Date header,
//! In-Reply-To where given, the documents to analyse (names, in order), every named MIME part
//! (as a multiset of names: documents + appendices + other parts, with winmail.dat replaced by
//! the files it holds), and that attachment bytes equal their source file (and SHA-256) where
//! the generator names one. For bounces, the DSN details.
//!
//! Classes decided later, not by `understand`:
//! - `duplicate` and `supplement` are decided by the ledger (Message-ID / document hash seen
//!   before, In-Reply-To a receipt): `understand` must return `Submission`;
//! - `unreadable_document` (corrupt, encrypted, zip bomb) is decided by the document engine:
//!   `understand` must return `Submission` so that the file reaches it and the clinic gets a
//!   clear answer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};
use vardval::mail::registry::Registry;
use vardval::mail::{Attachment, Inbound, MailClass, parse::understand};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn expected_class(name: &str) -> MailClass {
    match name {
        "submission" | "duplicate" | "supplement" | "unreadable_document" => MailClass::Submission,
        "no_document" => MailClass::NoDocument,
        "auto_reply" => MailClass::AutoReply,
        "bounce" => MailClass::Bounce,
        "mailing_list" => MailClass::MailingList,
        "unknown_sender" => MailClass::UnknownSender,
        "needs_review" => MailClass::NeedsReview,
        "unparseable" => MailClass::Unparseable,
        other => panic!("unknown classification {other:?} in expected.json"),
    }
}

fn strip_brackets(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

fn all_parts(m: &Inbound) -> impl Iterator<Item = &Attachment> {
    m.documents
        .iter()
        .chain(m.appendices.iter())
        .chain(m.other_parts.iter())
}

/// Compares one file; returns the list of mismatches.
fn check(raw: &[u8], exp: &Value, registry: &Registry) -> Vec<String> {
    let mut errs = Vec::new();
    let own = vec!["vardval@rjl.test".to_string()];
    let m = understand(raw, registry, &own);
    let s = |k: &str| exp.get(k).and_then(Value::as_str);

    let class = s("classification").expect("classification");
    if m.class != expected_class(class) {
        errs.push(format!(
            "class {:?}, expected {class} ({})",
            m.class, m.reason
        ));
    }
    if m.clinic_id.as_deref() != s("clinic") {
        errs.push(format!(
            "clinic {:?}, expected {:?}",
            m.clinic_id,
            s("clinic")
        ));
    }
    if m.from.as_deref() != s("from").map(str::to_lowercase).as_deref() {
        errs.push(format!("from {:?}, expected {:?}", m.from, s("from")));
    }
    if let Some(subject) = s("subject")
        && m.subject != subject
    {
        errs.push(format!("subject {:?}, expected {subject:?}", m.subject));
    }
    if m.message_id != s("message_id").map(strip_brackets) {
        errs.push(format!(
            "message_id {:?}, expected {:?}",
            m.message_id,
            s("message_id")
        ));
    }
    if let Some(date) = s("date_header") {
        // Drop a trailing comment such as " (CET)".
        let want = chrono::DateTime::parse_from_rfc2822(date.split(" (").next().unwrap_or(date))
            .expect("date_header in expected.json parses")
            .with_timezone(&chrono::Utc);
        if m.date_header != Some(want) {
            errs.push(format!("date_header {:?}, expected {want}", m.date_header));
        }
    }
    if let Some(irt) = s("in_reply_to")
        && !m.in_reply_to.contains(&strip_brackets(irt))
    {
        errs.push(format!("in_reply_to {:?}, expected {irt}", m.in_reply_to));
    }

    // Documents to analyse, in order.
    let want_docs: Vec<&str> = exp["documents"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let got_docs: Vec<&str> = m.documents.iter().map(|d| d.name.as_str()).collect();
    if got_docs != want_docs {
        errs.push(format!("documents {got_docs:?}, expected {want_docs:?}"));
    }
    if let Some(app) = exp.get("appendices").and_then(Value::as_array) {
        let want: Vec<&str> = app.iter().filter_map(Value::as_str).collect();
        let got: Vec<&str> = m.appendices.iter().map(|d| d.name.as_str()).collect();
        if got != want {
            errs.push(format!("appendices {got:?}, expected {want:?}"));
        }
    }
    if let Some(inline) = exp.get("inline").and_then(Value::as_array) {
        for n in inline.iter().filter_map(Value::as_str) {
            if !m.other_parts.iter().any(|p| p.name == n && p.inline) {
                errs.push(format!("{n} should be an inline (other) part"));
            }
        }
    }

    // Every named part, TNEF containers replaced by their contents.
    let mut want_parts: Vec<&Value> = Vec::new();
    for a in exp["attachments"].as_array().into_iter().flatten() {
        if a["content_type"].as_str() == Some("application/ms-tnef") {
            want_parts.extend(exp["tnef"].as_array().into_iter().flatten());
        } else {
            want_parts.push(a);
        }
    }
    let mut want_names: Vec<&str> = want_parts
        .iter()
        .filter_map(|a| a["filename"].as_str())
        .collect();
    let mut got_names: Vec<&str> = all_parts(&m)
        .map(|p| p.name.as_str())
        .filter(|n| !n.starts_with("unnamed-part-"))
        .collect();
    want_names.sort_unstable();
    got_names.sort_unstable();
    if want_names != got_names {
        errs.push(format!(
            "named parts {got_names:?}, expected {want_names:?}"
        ));
    }
    for a in &want_parts {
        let Some(name) = a["filename"].as_str() else {
            continue;
        };
        let Some(got) = all_parts(&m).find(|p| p.name == name) else {
            continue;
        };
        if let Some(sha) = a["sha256"].as_str()
            && got.sha256 != sha
        {
            errs.push(format!("{name}: sha256 {} expected {sha}", got.sha256));
        }
        if got.sha256 != hex::encode(Sha256::digest(&got.bytes)) {
            errs.push(format!("{name}: sha256 field does not match its bytes"));
        }
        if let Some(size) = a["size"].as_u64()
            && got.bytes.len() as u64 != size
        {
            errs.push(format!(
                "{name}: {} bytes, expected {size}",
                got.bytes.len()
            ));
        }
        if let Some(src) = a["source"].as_str() {
            match std::fs::read(root().join(src)) {
                Ok(bytes) if bytes == got.bytes => {}
                Ok(_) => errs.push(format!("{name}: bytes differ from {src}")),
                Err(e) => errs.push(format!("{name}: cannot read source {src}: {e}")),
            }
        }
    }

    // Bounce details.
    if let Some(b) = &m.bounce {
        if let Some(id) = s("bounced_message_id")
            && b.original_message_id.as_deref() != Some(strip_brackets(id).as_str())
        {
            errs.push(format!(
                "bounced message id {:?}, expected {id}",
                b.original_message_id
            ));
        }
        if let Some(r) = s("bounced_recipient")
            && b.recipient.as_deref() != Some(r)
        {
            errs.push(format!("bounced recipient {:?}, expected {r}", b.recipient));
        }
        if let Some(st) = s("dsn_status")
            && b.status.as_deref() != Some(st)
        {
            errs.push(format!("dsn status {:?}, expected {st}", b.status));
        }
    } else if m.class == MailClass::Bounce {
        errs.push("bounce without BounceInfo".into());
    }
    errs
}

#[test]
fn mail_fixtures_match_expected_json() {
    let dir = root().join("fixtures/mail");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("fixtures/mail/expected.json"),
    )
    .expect("expected.json is JSON");
    let registry = Registry::from_csv(
        &std::fs::read_to_string(dir.join("clinics.csv")).expect("fixtures/mail/clinics.csv"),
    )
    .expect("fixtures/mail/clinics.csv is a valid registry");
    let files = expected["files"].as_object().expect("files object");

    let mut emls: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures/mail")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    emls.sort();

    let mut failures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut checked = 0;
    for path in &emls {
        let name = file_name(path);
        let Some(exp) = files.get(&name) else {
            failures
                .entry(name)
                .or_default()
                .push("no entry in expected.json".into());
            continue;
        };
        let raw = std::fs::read(path).unwrap();
        let mut errs = check(&raw, exp, &registry);
        // A Maildir stores LF line ends (IMAP gives CRLF); the result must not change.
        let lf: Vec<u8> = raw
            .iter()
            .enumerate()
            .filter(|&(i, &b)| !(b == b'\r' && raw.get(i + 1) == Some(&b'\n')))
            .map(|(_, &b)| b)
            .collect();
        if lf != raw {
            errs.extend(
                check(&lf, exp, &registry)
                    .into_iter()
                    .map(|e| format!("with LF line ends: {e}")),
            );
        }
        // Dovecot returns NUL bytes as 0x80 over IMAP.
        let nul_free: Vec<u8> = raw.iter().map(|&b| if b == 0 { 0x80 } else { b }).collect();
        if nul_free != raw {
            errs.extend(
                check(&nul_free, exp, &registry)
                    .into_iter()
                    .map(|e| format!("with NUL as 0x80: {e}")),
            );
        }
        if std::env::var_os("VARDVAL_MAIL_DEBUG").is_some() {
            let m = understand(&raw, &registry, &["vardval@rjl.test".to_string()]);
            eprintln!(
                "{name}: {:?} clinic={:?} docs={:?} app={:?} other={:?} bounce={:?}\n    {}",
                m.class,
                m.clinic_id,
                m.documents.iter().map(|d| &d.name).collect::<Vec<_>>(),
                m.appendices.iter().map(|d| &d.name).collect::<Vec<_>>(),
                m.other_parts.iter().map(|d| &d.name).collect::<Vec<_>>(),
                m.bounce,
                m.reason
            );
        }
        checked += 1;
        if !errs.is_empty() {
            failures.insert(name, errs);
        }
    }
    for name in files.keys() {
        if !emls.iter().any(|p| file_name(p) == *name) {
            failures
                .entry(name.clone())
                .or_default()
                .push("listed in expected.json but the file is missing".into());
        }
    }
    assert!(checked > 0, "no fixture was checked");
    let report: Vec<String> = failures
        .iter()
        .map(|(f, e)| format!("{f}:\n  - {}", e.join("\n  - ")))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ:\n{}",
        failures.len(),
        emls.len(),
        report.join("\n")
    );
    eprintln!("{checked} mail fixtures checked");
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// The on-demand 35 MB message (`python3 fixtures/mail/generate.py --big DIR`): set
/// `VARDVAL_BIG_MAIL=DIR/28-huge-attachment.eml`. `understand` only unpacks it; the size limit
/// (too_large) is the document engine's.
#[test]
fn huge_attachment_on_demand() {
    let Some(path) = std::env::var_os("VARDVAL_BIG_MAIL") else {
        return;
    };
    let dir = root().join("fixtures/mail");
    let registry =
        Registry::from_csv(&std::fs::read_to_string(dir.join("clinics.csv")).unwrap()).unwrap();
    let raw = std::fs::read(path).unwrap();
    let start = std::time::Instant::now();
    let m = understand(&raw, &registry, &["vardval@rjl.test".to_string()]);
    eprintln!("huge message understood in {:?}", start.elapsed());
    assert_eq!(m.class, MailClass::Submission, "{}", m.reason);
    assert_eq!(m.clinic_id.as_deref(), Some("aspvik"));
    assert_eq!(m.documents[0].name, "Projektplan Aspvik med bilder.pdf");
    // expected.json's on_demand entry says 27 267 297 bytes (26 MiB + 4321), but generate.py's
    // big() reserves 20 bytes for a 17-byte PDF trailer, so the attachment it writes is 3
    // bytes shorter (Python's email package decodes the same 27 267 294 bytes).
    assert!(m.documents[0].bytes.len() > 25 * 1024 * 1024);
    assert!(m.documents[0].bytes.starts_with(b"%PDF-1.7"));
}
