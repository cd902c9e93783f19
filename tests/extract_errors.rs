//! Errors fit their cause (issue 11): a DTD in an office document is `corrupt` (OOXML and ODF
//! forbid DTDs), a plan with a large embedded photo is read (limits bound the XML that is
//! parsed, not media), and through the real binary a missing path or a folder is a usage error
//! on stderr (exit 2), not a Swedish message meant for a clinic.

use std::io::{Cursor, Write};
use std::process::Command;

use vardval::extract::{Limits, extract};
use zip::write::SimpleFileOptions;

const BODY: &str = r#"<w:body><w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>A. Val av förbättringsområde</w:t></w:r></w:p><w:p><w:r><w:t>Vi vill förbättra uppföljningen av patienter med diabetes och hypertoni under året.</w:t></w:r></w:p></w:body>"#;

fn docx(document_xml: &str, media: Option<&[u8]>) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflate = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    w.start_file("[Content_Types].xml", deflate).unwrap();
    w.write_all(br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>"#).unwrap();
    w.start_file("word/document.xml", deflate).unwrap();
    w.write_all(document_xml.as_bytes()).unwrap();
    if let Some(m) = media {
        // Photos are stored (JPEG does not compress), like Word does.
        let stored = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(m.len() > u32::MAX as usize);
        w.start_file("word/media/image1.jpeg", stored).unwrap();
        w.write_all(m).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn wrap(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">{body}</w:document>"#
    )
}

#[test]
fn docx_with_a_dtd_entity_bomb_is_corrupt_not_no_text() {
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE w:document [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
]>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>&d;&d;&d;&d;</w:t></w:r></w:p></w:body></w:document>"#;
    let err = extract(&docx(bomb, None), &Limits::default()).unwrap_err();
    assert_eq!(err.kind(), "corrupt", "{err}");
    // A DTD without entities is refused just the same: OOXML forbids DTDs altogether.
    let plain = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE w:document>{}",
        &wrap(BODY)[wrap(BODY).find("<w:document").unwrap()..]
    );
    assert_eq!(
        extract(&docx(&plain, None), &Limits::default())
            .unwrap_err()
            .kind(),
        "corrupt"
    );
    // The same document without the DTD is read.
    assert!(extract(&docx(&wrap(BODY), None), &Limits::default()).is_ok());
}

#[test]
fn odt_with_a_dtd_is_corrupt() {
    let content = r#"<?xml version="1.0"?><!DOCTYPE office:document-content [<!ENTITY a "aaaa">]><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text><text:p>&a; Vi vill förbättra uppföljningen av patienter med diabetes.</text:p></office:text></office:body></office:document-content>"#;
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let o = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("mimetype", o).unwrap();
    w.write_all(b"application/vnd.oasis.opendocument.text")
        .unwrap();
    w.start_file("content.xml", o).unwrap();
    w.write_all(content.as_bytes()).unwrap();
    let odt = w.finish().unwrap().into_inner();
    assert_eq!(
        extract(&odt, &Limits::default()).unwrap_err().kind(),
        "corrupt"
    );
}

/// Deterministic incompressible bytes (xorshift), standing in for a JPEG photo.
fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

#[test]
fn a_50_mb_docx_with_a_photo_is_read_under_default_limits() {
    let bytes = docx(&wrap(BODY), Some(&noise(50 * 1000 * 1000)));
    assert!(bytes.len() > 50_000_000);
    let doc = extract(&bytes, &Limits::default()).expect("a plan with a large photo is read");
    assert!(doc.words() > 10);
    // The default document limit fits inside the default mail limit once base64 is counted.
    let settings = vardval::config::LimitSettings::default();
    assert!(
        settings.max_message_bytes() >= (bytes.len() as u64).div_ceil(3) * 4 + 64 * 1024,
        "a mail carrying this plan must fit the default max_message_bytes"
    );
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vardval"))
}

#[test]
fn check_on_a_missing_path_or_a_folder_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("finns-inte.docx");
    for (path, needle) in [
        (missing.as_path(), "No such file"),
        (dir.path(), "is a directory"),
    ] {
        for fmt in ["json", "text"] {
            let out = bin()
                .arg("check")
                .arg(path)
                .args(["--format", fmt])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{}", path.display());
            assert!(out.stdout.is_empty(), "nothing on stdout");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(needle), "stderr: {err}");
            assert!(err.contains(&path.display().to_string()), "stderr: {err}");
            assert!(!err.contains("skadad"), "no clinic message: {err}");
        }
    }
}

#[test]
fn check_on_a_docx_with_a_dtd_says_corrupt_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("dtd.docx");
    let xml = wrap(BODY).replacen("?>", "?><!DOCTYPE w:document [<!ENTITY x \"x\">]>", 1);
    std::fs::write(&p, docx(&xml, None)).unwrap();
    let out = bin()
        .arg("check")
        .arg(&p)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "corrupt");
}
