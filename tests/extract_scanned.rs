//! Scanned documents (see `fixtures/documents/scanned/generate.py`): image-only PDFs made by
//! rendering corpus PDFs with skew and noise, and photos of pages, read with Tesseract. The
//! section statuses must be right for at least 90 % (issue 11), the text is marked as OCR, and
//! without Tesseract the answer stays `no_text`. Needs `tesseract-ocr tesseract-ocr-swe
//! poppler-utils` (tests/run.sh installs them); the test fails, rather than skips, without them.

mod labelled;

use std::path::PathBuf;
use std::process::Command;

use vardval::domain::document::TextSource;
use vardval::extract::{Limits, extract};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/documents/scanned")
}

#[test]
fn scanned_set_sections_at_least_90_percent() {
    let mut n = 0;
    let tally = labelled::run(&dir(), &Limits::default(), |file, doc| {
        n += 1;
        assert_eq!(doc.source, TextSource::Ocr, "{file}");
    });
    let table = tally.table();
    println!("{table}");
    if std::env::var_os("VARDVAL_WRITE_ACCURACY").is_some() {
        let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/accuracy-scanned.md");
        let misses: String = tally.misses.iter().map(|m| format!("- {m}\n")).collect();
        std::fs::write(out, format!("{table}\nMisses:\n\n{misses}")).unwrap();
    }
    assert_eq!(n, 9, "every scan and photo is read: {:?}", tally.misses);
    let sections = tally.accuracy("section ");
    assert!(
        sections >= 0.90,
        "sections {:.1} % < 90 %:\n{}",
        100.0 * sections,
        tally.misses.join("\n")
    );
}

#[test]
fn without_ocr_a_scan_stays_no_text() {
    let bytes = std::fs::read(dir().join("scan-m1-green-caps-headings.pdf")).unwrap();
    let photo = std::fs::read(dir().join("photo-m1-green-plain-titles.jpg")).unwrap();
    // Switched off in the config.
    let mut off = Limits::default();
    off.ocr.enabled = false;
    assert_eq!(extract(&bytes, &off).unwrap_err().kind(), "no_text");
    assert_eq!(extract(&photo, &off).unwrap_err().kind(), "no_text");
    // Not installed (a program that does not exist).
    let mut missing = Limits::default();
    missing.ocr.tesseract = "/nonexistent/tesseract".into();
    assert_eq!(extract(&bytes, &missing).unwrap_err().kind(), "no_text");
    assert_eq!(extract(&photo, &missing).unwrap_err().kind(), "no_text");
}

fn check(file: &std::path::Path, path_env: Option<&str>) -> (Option<i32>, serde_json::Value) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vardval"));
    c.arg("check").arg(file).args(["--format", "json"]);
    if let Some(p) = path_env {
        c.env("PATH", p);
    }
    let out = c.output().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
    });
    (out.status.code(), v)
}

#[test]
fn check_says_the_text_came_from_a_scan_and_without_tesseract_says_no_text() {
    let f = dir().join("scan-m1-red-toc-two-sections.pdf");
    let (code, v) = check(&f, None);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["document"]["source"], "ocr");
    assert!(
        v["document"]["note"].as_str().unwrap().contains("OCR"),
        "{v}"
    );
    // The same file with an empty PATH: no tesseract, today's answer.
    let (code, v) = check(&f, Some(""));
    assert_eq!(code, Some(3));
    assert_eq!(v["error"]["kind"], "no_text");
    // A document with a text layer says so too.
    let text = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/documents/m1-red-toc-two-sections.pdf");
    let (_, v) = check(&text, None);
    assert_eq!(v["document"]["source"], "text");
    assert!(v["document"].get("note").is_none());
}

#[test]
fn the_receipt_says_the_check_of_a_scan_is_less_certain() {
    use vardval::domain::analysis::analyse;
    use vardval::domain::rulebook::Rulebook;
    use vardval::reply::{Composer, Original, ReceiptFacts, Templates};
    let bytes = std::fs::read(dir().join("scan-m1-red-toc-two-sections.pdf")).unwrap();
    let doc = extract(&bytes, &Limits::default()).unwrap();
    let rb = Rulebook::embedded();
    let a = analyse(&doc, &rb, Some(1));
    let composer = Composer {
        templates: Templates::load(None).unwrap(),
        rulebook: rb.clone(),
        from: "Vårdval <vardval@rjl.test>".parse().unwrap(),
    };
    // A fixed time of record (the server's receive time in production).
    let at = chrono::DateTime::parse_from_rfc3339("2026-02-10T09:00:00Z")
        .unwrap()
        .to_utc();
    let body = |from_scan: bool| {
        let facts = ReceiptFacts {
            clinic_name: "Vårdcentralen Exempel",
            document_name: "plan.pdf",
            received_at: at,
            milestone: rb.milestone(1).unwrap(),
            on_time: true,
            version: 1,
            supplement: false,
            analysis: &a,
            subject_note: None,
            from_scan,
        };
        let orig = Original {
            to: "kontakt@vc.test",
            message_id: None,
            references: &[],
            subject: "Projektplan",
        };
        let r = composer.receipt(&orig, &facts, "REF1", at).unwrap();
        let m = mail_parser::MessageParser::default().parse(&r.raw).unwrap();
        m.body_text(0).unwrap().into_owned()
    };
    let scan = body(doc.source == TextSource::Ocr);
    assert!(scan.contains("maskinellt (OCR)"), "{scan}");
    assert!(scan.contains("mindre säker"), "{scan}");
    assert!(!body(false).contains("OCR"));
}
