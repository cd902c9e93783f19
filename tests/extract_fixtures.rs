//! The document corpus in `fixtures/documents` (see its README and `labels.json`) through
//! `vardval::extract`: hostile files give exactly the labelled error kind, analysable files
//! extract in their real format with at least 50 words, and spot checks pin the structure the
//! analysis relies on (headings, tables, bold paragraphs, furniture, titles).

use serde::Deserialize;
use std::path::PathBuf;
use vardval::domain::document::{Block, Document, Format};
use vardval::extract::{ExtractError, Limits, extract, sniff};

#[derive(Debug, Deserialize)]
struct Label {
    file: String,
    #[serde(default)]
    format: Option<String>,
    error: Option<String>,
    #[serde(default)]
    covers: Vec<String>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/documents")
}

fn labels() -> Vec<Label> {
    let path = dir().join("labels.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("labels.json parses")
}

fn load(file: &str) -> Result<Document, ExtractError> {
    let bytes = std::fs::read(dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    extract(&bytes, &Limits::default())
}

fn doc(file: &str) -> Document {
    load(file).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn headings(d: &Document) -> Vec<&str> {
    d.blocks
        .iter()
        .filter_map(|b| match b {
            Block::Heading { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn tables(d: &Document) -> Vec<&Vec<Vec<String>>> {
    d.blocks
        .iter()
        .filter_map(|b| match b {
            Block::Table { rows } => Some(rows),
            _ => None,
        })
        .collect()
}

fn body_text(d: &Document) -> String {
    d.blocks
        .iter()
        .map(Block::text)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_labelled_file_gives_its_label() {
    let labels = labels();
    assert!(labels.len() >= 40, "corpus too small: {}", labels.len());
    let mut failures = Vec::new();
    let (mut hostile, mut ok) = (0, 0);
    for l in &labels {
        let got = load(&l.file);
        match (&l.error, got) {
            (Some(want), Err(e)) if e.kind() == want => hostile += 1,
            (None, Ok(d)) => {
                let want = l.format.as_deref().unwrap_or("?");
                let got_fmt = d.format.map(Format::as_str).unwrap_or("none");
                if got_fmt != want {
                    failures.push(format!("{}: format {got_fmt}, want {want}", l.file));
                } else if d.words() < 50 && !l.covers.iter().any(|c| c == "one-sentence-sections") {
                    failures.push(format!("{}: only {} words", l.file, d.words()));
                } else {
                    ok += 1;
                }
            }
            (want, got) => failures.push(format!(
                "{}: want {:?}, got {:?}",
                l.file,
                want,
                got.map(|d| d.words()).map_err(|e| e.to_string())
            )),
        }
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
    assert!(
        hostile >= 10 && ok >= 30,
        "hostile {hostile}, analysable {ok}"
    );
}

#[test]
fn sniff_agrees_with_label_format() {
    for l in labels().iter().filter(|l| l.error.is_none()) {
        let bytes = std::fs::read(dir().join(&l.file)).unwrap();
        let f = sniff(&bytes).unwrap_or_else(|e| panic!("{}: {e}", l.file));
        assert_eq!(Some(f.as_str()), l.format.as_deref(), "{}", l.file);
    }
}

#[test]
fn heading_styles_docx_yields_headings() {
    let d = doc("m1-green-heading-styles.docx");
    let h = headings(&d);
    assert!(h.contains(&"A. Val av förbättringsområde"), "{h:?}");
    assert!(
        h.contains(&"F. Prioritering av förändringar som ska testas"),
        "{h:?}"
    );
    assert_eq!(
        d.title.as_deref(),
        Some("Projektplan – systematiskt förbättringsarbete 2026")
    );
}

#[test]
fn custom_rubrik1_style_is_a_heading() {
    let d = doc("m1-green-rubrik1-style.docx");
    assert!(
        d.blocks.contains(&Block::Heading {
            level: 1,
            text: "A) Val av förbättringsområde".into()
        }),
        "{:?}",
        headings(&d)
    );
}

#[test]
fn headings_in_every_styled_format() {
    // Files whose generator wrote real heading markup (styles, ODT text:h, RTF stylesheet).
    for l in labels().iter().filter(|l| {
        l.error.is_none()
            && matches!(l.format.as_deref(), Some("docx" | "odt" | "rtf"))
            && l.covers.iter().any(|c| {
                matches!(
                    c.as_str(),
                    "heading-styles" | "odt-native-headings" | "custom-style-rubrik-1"
                )
            })
    }) {
        let d = doc(&l.file);
        assert!(headings(&d).len() >= 6, "{}: {:?}", l.file, headings(&d));
    }
}

#[test]
fn bold_paragraph_headings_are_flagged_bold() {
    let d = doc("m1-green-bold-headings.docx");
    assert!(d.blocks.contains(&Block::Paragraph {
        text: "A: Val av förbättringsområde".into(),
        bold: true
    }));
    let plain = d
        .blocks
        .iter()
        .filter(|b| matches!(b, Block::Paragraph { bold: false, .. }))
        .count();
    assert!(plain >= 6, "body paragraphs must not be bold");
}

#[test]
fn footer_only_data_source_lands_in_furniture() {
    for (file, footer, source) in [
        (
            "m1-green-footer-source-header.docx",
            "Datakälla: Länsbarometern",
            "Länsbarometern",
        ),
        (
            "m1-green-footer-source-header.pdf",
            "Datakälla: Länsbarometern",
            "Länsbarometern",
        ),
        (
            "m1-green-odt-footer-source.odt",
            "Underlag hämtat från Vårdcentralens dashboard",
            "dashboard",
        ),
    ] {
        let d = doc(file);
        assert!(
            d.furniture.iter().any(|f| f == footer),
            "{file}: {:?}",
            d.furniture
        );
        assert!(
            !body_text(&d).contains(source),
            "{file}: footer text leaked into the body"
        );
    }
}

#[test]
fn page_header_repeated_on_pdf_pages_is_furniture_once() {
    let d = doc("bench-20-pages.pdf");
    assert_eq!(d.pages, Some(20));
    assert_eq!(
        d.furniture,
        vec!["Slutrapport – Vårdcentralen Hällebo".to_string()]
    );
    assert!(!body_text(&d).contains("Slutrapport – Vårdcentralen Hällebo"));
}

#[test]
fn two_column_table_template_yields_a_table() {
    let d = doc("m1-green-table-template.docx");
    let t = tables(&d);
    assert_eq!(t.len(), 1);
    assert!(t[0].iter().all(|r| r.len() == 2));
    assert_eq!(t[0][0], vec!["Del".to_string(), "Beskrivning".into()]);
    assert_eq!(t[0][1][0], "A. Val av förbättringsområde");
    assert!(t[0][1][1].split_whitespace().count() > 12);
}

#[test]
fn measurement_tables_in_docx_rtf_odt() {
    let d = doc("m2-green-h-table.docx");
    let t = tables(&d);
    assert_eq!(
        t[0][0],
        vec!["Mättillfälle".to_string(), "Andel (%)".into()]
    );
    assert_eq!(t[0].len(), 5);

    let d = doc("m2-yellow-h-table-one-row.rtf");
    let t = tables(&d);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].len(), 2, "{:?}", t[0]);

    let d = doc("m2-green-odt-h-table.odt");
    assert!(!tables(&d).is_empty());
}

#[test]
fn toc_results_are_kept_as_paragraphs() {
    let d = doc("m1-yellow-toc-partial.docx");
    assert!(d.blocks.iter().any(|b| matches!(
        b,
        Block::Paragraph { text, .. } if text.starts_with("F. Prioritering") && text.ends_with('7')
    )));
}

#[test]
fn legacy_doc_keeps_table_text_as_paragraphs() {
    let d = doc("m1-green-table-template.doc");
    assert!(d.blocks.contains(&Block::Paragraph {
        text: "A. Val av förbättringsområde".into(),
        bold: false
    }));
}

#[test]
fn hostile_errors_are_specific() {
    assert_eq!(
        load("hostile-zip-bomb.docx").unwrap_err().kind(),
        "too_large"
    );
    assert_eq!(
        load("hostile-encrypted.docx").unwrap_err(),
        ExtractError::Encrypted
    );
    assert_eq!(
        load("hostile-encrypted.pdf").unwrap_err(),
        ExtractError::Encrypted
    );
    // Without OCR (off, or Tesseract missing) a scan has no text; with it, see extract_scanned.
    let bytes = std::fs::read(dir().join("hostile-scanned-image-only.pdf")).unwrap();
    let mut no_ocr = Limits::default();
    no_ocr.ocr.enabled = false;
    assert_eq!(extract(&bytes, &no_ocr).unwrap_err(), ExtractError::NoText);
}
