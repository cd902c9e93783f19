//! Issue 10 through the whole intake (SQLite and PostgreSQL): a deeply nested mail is
//! quarantined, not a crash; an ambiguous From goes to a reviewer; list/bulk headers on a
//! clinic's plan record the submission without a reply but with a triage item; and the
//! receipt quotes a hostile file name cleaned and a huge References header trimmed; a mail of
//! thousands of files gets a reply of bounded size.

mod common;

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use vardval::pipeline::ingest::{MAX_DOCUMENTS_TRIED, Outcome, Pipeline};
use vardval::ports::{Clock, Fetched, ManualClock};
use vardval::reply::MAX_LISTED_DOCUMENTS;
use vardval::store::MessageClass;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn docx_b64() -> String {
    let bytes = std::fs::read(
        common::root().join("fixtures/mail/attachments/projektplan-ekbacken-rev2.docx"),
    )
    .unwrap();
    let s = base64::engine::general_purpose::STANDARD.encode(bytes);
    s.as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A plan from the Ekbacken clinic; `headers` go first, `filename` is written raw (UTF-8).
fn plan_mail(headers: &str, mid: &str, filename: &str) -> Vec<u8> {
    format!(
        "{headers}From: Anna Berg <anna@ekbacken.vc.test>\r\nTo: vardval@rjl.test\r\n\
         Subject: Projektplan\r\nDate: Mon, 9 Feb 2026 10:00:00 +0100\r\n\
         Message-ID: <{mid}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nHär är vår plan.\r\n--B\r\n\
         Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{filename}\"\r\n\r\n{}\r\n--B--\r\n",
        docx_b64()
    )
    .into_bytes()
}

async fn setup(url: &str) -> (tempfile::TempDir, Arc<ManualClock>, Pipeline) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t("2026-02-09T09:30:00Z")));
    let p = common::pipeline(url, clock.clone(), &dir.path().join("archive")).await;
    (dir, clock, p)
}

async fn ingest(p: &Pipeline, clock: &ManualClock, key: &str, bytes: Vec<u8>) -> Outcome {
    let f = Fetched {
        source_key: format!("test:{key}"),
        bytes,
        received_at: clock.now(),
        handle: key.into(),
        only_header_of: None,
        whole_file: None,
    };
    p.ingest_one(&f).await.expect("ingest")
}

fn class_of(o: &Outcome) -> MessageClass {
    match o {
        Outcome::Recorded { class, .. } => *class,
        Outcome::AlreadyRecorded => panic!("already recorded"),
        Outcome::Quarantined { reason } => panic!("quarantined: {reason}"),
    }
}

async fn deeply_nested_mail_is_quarantined(url: String) {
    let (_d, clock, p) = setup(&url).await;
    let mut raw = String::from(
        "From: anna@ekbacken.vc.test\r\nSubject: s\r\nMessage-ID: <deep@ekbacken.vc.test>\r\n",
    );
    for i in 0..50_000 {
        raw.push_str(&format!(
            "Content-Type: message/rfc822\r\n\r\nFrom: x{i}@vc.test\r\n"
        ));
    }
    raw.push_str("\r\nslut\r\n");
    // The intake parses on a blocking thread with the ordinary 2 MiB stack.
    let o = ingest(&p, &clock, "deep", raw.into_bytes()).await;
    assert_eq!(class_of(&o), MessageClass::Unparseable);
    let triage = p.store.triage_open().await.unwrap();
    assert_eq!(triage.len(), 1);
    assert_eq!(p.store.claim_due(clock.now(), 10).await.unwrap().len(), 0);
}

async fn ambiguous_from_goes_to_a_reviewer(url: String) {
    let (_d, clock, p) = setup(&url).await;
    let raw = plan_mail(
        "From: Mallory <mallory@evil.test>\r\n",
        "two-from@evil.test",
        "plan.docx",
    );
    let o = ingest(&p, &clock, "twofrom", raw).await;
    assert_eq!(class_of(&o), MessageClass::NeedsReview);
    assert!(matches!(
        o,
        Outcome::Recorded {
            reply: false,
            submission_id: None,
            ..
        }
    ));
    let triage = p.store.triage_open().await.unwrap();
    assert_eq!(triage.len(), 1);
    assert!(
        triage[0].reason.contains("2 From fields"),
        "{}",
        triage[0].reason
    );
    assert!(p.store.submissions().await.unwrap().is_empty());
}

async fn list_headers_on_a_plan_record_it_without_reply(url: String) {
    let (_d, clock, p) = setup(&url).await;
    let raw = plan_mail(
        "List-Unsubscribe: <mailto:unsub@gw.ekbacken.vc.test>\r\nPrecedence: bulk\r\n",
        "listed@ekbacken.vc.test",
        "plan.docx",
    );
    let o = ingest(&p, &clock, "listed", raw).await;
    assert!(
        matches!(
            o,
            Outcome::Recorded {
                class: MessageClass::Submission,
                reply: false,
                submission_id: Some(_),
                ..
            }
        ),
        "{o:?}"
    );
    assert_eq!(p.store.submissions().await.unwrap().len(), 1);
    let triage = p.store.triage_open().await.unwrap();
    assert_eq!(triage.len(), 1);
    assert!(
        triage[0].reason.contains("not answered automatically"),
        "{}",
        triage[0].reason
    );
    assert_eq!(p.store.claim_due(clock.now(), 10).await.unwrap().len(), 0);
}

async fn receipt_cleans_names_and_trims_references(url: String) {
    let (_d, clock, p) = setup(&url).await;
    let refs: Vec<String> = (0..20_000)
        .map(|i| format!("<thread-{i:06}@ekbacken.vc.test>"))
        .collect();
    let references = format!("References: {}\r\n", refs.join("\r\n "));
    assert!(references.len() > 600_000);
    let name = "Plan\u{202E}xcod.exe\u{2066}\u{200B} 2026.docx";
    let raw = plan_mail(&references, "hostile@ekbacken.vc.test", name);
    let o = ingest(&p, &clock, "hostile", raw).await;
    assert!(matches!(o, Outcome::Recorded { reply: true, .. }), "{o:?}");
    let rows = p.store.claim_due(clock.now(), 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    let raw = &rows[0].raw;
    assert!(raw.len() < 20_000, "receipt of {} bytes", raw.len());
    for line in raw.split(|&b| b == b'\n') {
        assert!(line.len() <= 998, "line of {} octets", line.len());
    }
    let m = mail_parser::MessageParser::default().parse(raw).unwrap();
    let body = m.body_text(0).unwrap().into_owned();
    assert!(body.contains("Planxcod.exe 2026.docx"), "{body}");
    for bad in ['\u{202E}', '\u{2066}', '\u{200B}'] {
        assert!(!body.contains(bad));
    }
    let got: Vec<String> = match m.references() {
        mail_parser::HeaderValue::TextList(l) => l.iter().map(|s| s.to_string()).collect(),
        mail_parser::HeaderValue::Text(s) => vec![s.to_string()],
        _ => Vec::new(),
    };
    assert_eq!(got.len(), 10, "{got:?}");
    assert_eq!(got[0], "thread-000000@ekbacken.vc.test");
    assert_eq!(got[8], "thread-019999@ekbacken.vc.test");
    assert_eq!(got[9], "hostile@ekbacken.vc.test");
}

/// A mail of many unreadable files: at most [`MAX_DOCUMENTS_TRIED`] are opened, the reply
/// names ten and counts the rest in one line, and the reviewers' reason counts error kinds
/// instead of repeating them.
async fn many_unreadable_files_get_a_bounded_reply(url: String) {
    let (_d, clock, p) = setup(&url).await;
    let mut raw = String::from(
        "From: Anna Berg <anna@ekbacken.vc.test>\r\nTo: vardval@rjl.test\r\n\
         Subject: Projektplan\r\nMessage-ID: <files@ekbacken.vc.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n",
    );
    let files = 3_000;
    for i in 0..files {
        raw.push_str(&format!(
            "--B\r\nContent-Type: application/octet-stream\r\n\
             Content-Disposition: attachment; filename=\"plan-{i}.docx\"\r\n\r\nPK not a zip {i}\r\n"
        ));
    }
    raw.push_str("--B--\r\n");
    let o = ingest(&p, &clock, "files", raw.into_bytes()).await;
    assert_eq!(class_of(&o), MessageClass::UnreadableDocument);
    let row = p.store.seen_source("test:files").await.unwrap().unwrap();
    let untried = files - MAX_DOCUMENTS_TRIED;
    assert_eq!(
        row.reason,
        format!("no readable document: corrupt ({MAX_DOCUMENTS_TRIED}); {untried} more not tried")
    );
    let rows = p.store.claim_due(clock.now(), 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    let m = mail_parser::MessageParser::default()
        .parse(&rows[0].raw)
        .unwrap();
    let body = m.body_text(0).unwrap().into_owned();
    let named = body.lines().filter(|l| l.starts_with("  plan-")).count();
    assert_eq!(named, MAX_LISTED_DOCUMENTS, "{body}");
    assert!(body.contains("  plan-9.docx: "), "{body}");
    assert!(!body.contains("plan-10.docx"), "{body}");
    assert!(
        body.contains(&format!(
            "Och ytterligare {} bifogade filer",
            files - MAX_LISTED_DOCUMENTS
        )),
        "{body}"
    );
    assert!(
        rows[0].raw.len() < 8_000,
        "reply of {} bytes",
        rows[0].raw.len()
    );
}

both!(
    deeply_nested_mail_is_quarantined,
    ambiguous_from_goes_to_a_reviewer,
    list_headers_on_a_plan_record_it_without_reply,
    receipt_cleans_names_and_trims_references,
    many_unreadable_files_get_a_bounded_reply,
);
