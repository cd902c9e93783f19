//! Slide decks (PPTX from python-pptx, ODP from LibreOffice Impress; see
//! `fixtures/documents/slides/generate.py`): every labelled field of every deck is right, slide
//! titles are headings in slide order, tables are tables, footers are furniture and speaker notes
//! stay out of the body.

mod labelled;

use std::path::PathBuf;

use vardval::domain::document::{Block, Format};
use vardval::extract::{Limits, extract};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/documents/slides")
}

#[test]
fn slide_decks_are_checked_like_any_document() {
    let mut seen = 0;
    let tally = labelled::run(&dir(), &Limits::default(), |file, doc| {
        seen += 1;
        // Speaker notes are read, but never reach the body (their data source would count).
        assert!(!doc.notes.is_empty(), "{file}: notes read");
        let body: String = doc.blocks.iter().map(|b| b.text() + "\n").collect();
        assert!(
            !body.contains("Talarstöd"),
            "{file}: notes leaked into the body"
        );
        assert!(
            !body.to_lowercase().contains("kommer senare: siffror"),
            "{file}"
        );
    });
    println!("{}", tally.table());
    assert_eq!(seen, 10, "five plans, each as PPTX and ODP");
    assert!(tally.misses.is_empty(), "{}", tally.misses.join("\n"));
}

#[test]
fn deck_structure_titles_tables_footer() {
    for ext in ["pptx", "odp"] {
        let bytes = std::fs::read(dir().join(format!("deck-m2-green-h-table.{ext}"))).unwrap();
        let d = extract(&bytes, &Limits::default()).unwrap();
        assert_eq!(
            d.format,
            Some(if ext == "pptx" {
                Format::Pptx
            } else {
                Format::Odp
            })
        );
        let heads: Vec<&str> = d
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Heading { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            heads.len(),
            10,
            "{ext}: title slide + 9 sections: {heads:?}"
        );
        assert!(heads[1].starts_with("A. "), "{ext}: {heads:?}");
        assert!(
            heads[9].starts_with("I. "),
            "{ext}: slides in order: {heads:?}"
        );
        assert_eq!(d.pages, Some(10));
        assert!(
            d.blocks
                .iter()
                .any(|b| matches!(b, Block::Table { rows } if rows.len() > 2)),
            "{ext}: the H table is a table"
        );
        assert!(
            d.furniture.iter().any(|f| f.starts_with("Vårdcentralen")),
            "{ext}: footer is furniture: {:?}",
            d.furniture
        );
        assert_eq!(d.notes.len(), 9, "{ext}: one note per section slide");
    }
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, o).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const PRES: &[u8] = br#"<p:presentation xmlns:p="p" xmlns:r="r"><p:sldIdLst><p:sldId id="256" r:id="rId2"/></p:sldIdLst></p:presentation>"#;
const RELS: &[u8] = br#"<Relationships><Relationship Id="rId2" Type="x/slide" Target="slides/slide1.xml"/></Relationships>"#;

#[test]
fn hostile_decks_get_the_same_typed_errors() {
    let kind = |b: &[u8]| extract(b, &Limits::default()).unwrap_err().kind();
    // Truncated: half of a real deck.
    let real = std::fs::read(dir().join("deck-m1-green-heading-styles.pptx")).unwrap();
    assert_eq!(kind(&real[..real.len() / 2]), "corrupt");
    let odp = std::fs::read(dir().join("deck-m1-green-heading-styles.odp")).unwrap();
    assert_eq!(kind(&odp[..odp.len() / 2]), "corrupt");
    // A zip bomb in a slide part: the bounded zip reader refuses it from its header.
    let zeros = vec![b' '; 8 * 1024 * 1024];
    let bomb = zip_of(&[
        ("ppt/presentation.xml", PRES),
        ("ppt/_rels/presentation.xml.rels", RELS),
        ("ppt/slides/slide1.xml", &zeros),
    ]);
    assert_eq!(kind(&bomb), "too_large");
    // An entity bomb (DTD) in a slide.
    let dtd = zip_of(&[
        ("ppt/presentation.xml", PRES),
        ("ppt/_rels/presentation.xml.rels", RELS),
        (
            "ppt/slides/slide1.xml",
            br#"<!DOCTYPE p:sld [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><p:sld xmlns:p="p" xmlns:a="a"><a:p><a:r><a:t>&b;</a:t></a:r></a:p></p:sld>"#,
        ),
    ]);
    assert_eq!(kind(&dtd), "corrupt");
    // A deck whose slides hold no text: no_text, like an empty document.
    let empty = zip_of(&[
        ("ppt/presentation.xml", PRES),
        ("ppt/_rels/presentation.xml.rels", RELS),
        ("ppt/slides/slide1.xml", br#"<p:sld xmlns:p="p"/>"#),
    ]);
    assert_eq!(kind(&empty), "no_text");
}

#[test]
fn check_reads_a_deck_through_the_binary() {
    for f in [
        "deck-m1-green-heading-styles.pptx",
        "a3-m1-green-rubrik1-style.odp",
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vardval"))
            .arg("check")
            .arg(dir().join(f))
            .args(["--format", "json"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{f}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["grade"], "green", "{f}");
        assert_eq!(v["document"]["format"], f.rsplit('.').next().unwrap());
    }
}
