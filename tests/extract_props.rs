//! Property tests: `extract` never panics and returns within its limits on arbitrary bytes and on
//! mutated or truncated real fixtures of every format (plus mutated XML re-zipped into a valid
//! DOCX/ODT container, which reaches the XML readers rather than the zip CRC check).
//!
//! A reader panic is caught by the extraction guard and reported as `Corrupt("reader panicked")`;
//! these tests treat that message as a failure, so a panic anywhere still fails them.

use proptest::prelude::*;
use std::io::{Cursor, Read, Write};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use vardval::extract::{ExtractError, Limits, extract, sniff};

/// One real file per format.
const SEEDS: &[&str] = &[
    "m1-green-heading-styles.docx",
    "m1-green-odt-footer-source.odt",
    "m1-green-footer-source-header.pdf",
    "m1-green-table-template.doc",
    "m2-yellow-h-table-one-row.rtf",
];

fn seeds() -> &'static Vec<Vec<u8>> {
    static S: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    S.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/documents");
        SEEDS
            .iter()
            .map(|f| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}")))
            .collect()
    })
}

fn limits() -> Limits {
    Limits {
        max_millis: 2_000,
        ..Limits::default()
    }
}

/// Run extraction and check the never-panic and bounded-time properties.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let l = limits();
    let start = Instant::now();
    let r = extract(bytes, &l);
    let took = start.elapsed();
    if let Err(ExtractError::Corrupt(m)) = &r {
        prop_assert_ne!(m.as_str(), "reader panicked");
    }
    if let Ok(d) = &r {
        prop_assert!(d.words() >= l.min_words);
        prop_assert!(
            d.words() <= bytes.len() * 4 + 100,
            "more words than input could hold"
        );
    }
    prop_assert!(
        took < Duration::from_millis(l.max_millis + 3_000),
        "took {took:?}"
    );
    let s = sniff(bytes);
    if let Err(ExtractError::Corrupt(m)) = &s {
        prop_assert_ne!(m.as_str(), "reader panicked");
    }
    Ok(())
}

/// Replace one entry of a zip with new content (stored, so the mutated XML is what is read).
fn rezip(original: &[u8], entry: &str, content: &[u8]) -> Vec<u8> {
    let mut src = zip::ZipArchive::new(Cursor::new(original)).unwrap();
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..src.len() {
        let mut f = src.by_index(i).unwrap();
        let name = f.name().to_string();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(if name == entry { content } else { &data })
            .unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn entry(original: &[u8], name: &str) -> Vec<u8> {
    let mut z = zip::ZipArchive::new(Cursor::new(original)).unwrap();
    let mut f = z.by_name(name).unwrap();
    let mut v = Vec::new();
    f.read_to_end(&mut v).unwrap();
    v
}

fn mutate(mut bytes: Vec<u8>, flips: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    if !bytes.is_empty() {
        for &(pos, val) in flips {
            let i = pos % bytes.len();
            bytes[i] = val;
        }
    }
    if let Some(c) = cut
        && !bytes.is_empty()
    {
        bytes.truncate(c % bytes.len());
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_behind_magic_never_panic(
        magic in prop::sample::select(vec![
            &b"%PDF-1.7\n"[..], b"PK\x03\x04", b"{\\rtf1 ",
            &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1][..],
        ]),
        tail in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut b = magic.to_vec();
        b.extend_from_slice(&tail);
        check(&b)?;
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0..SEEDS.len(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..16),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let b = mutate(seeds()[which].clone(), &flips, cut);
        check(&b)?;
    }

    #[test]
    fn mutated_xml_inside_valid_zip_never_panics(
        odt in any::<bool>(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..24),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let (seed, name) = if odt { (&seeds()[1], "content.xml") } else { (&seeds()[0], "word/document.xml") };
        let xml = mutate(entry(seed, name), &flips, cut);
        check(&rezip(seed, name, &xml))?;
    }

    #[test]
    fn rtf_token_soup_never_panics(parts in proptest::collection::vec(prop::sample::select(vec![
        "{", "}", "\\par ", "\\cell ", "\\row ", "\\trowd ", "\\intbl ", "\\b ", "\\b0 ", "\\u-3913 ",
        "\\uc5 ", "\\'e5", "\\'", "\\*", "\\stylesheet ", "\\s1 ", "\\header ", "\\info ", "\\title ",
        "\\bin3 ", "\\nestcell ", "\\outlinelevel9 ", "\\ls1 ", "\\ilvl300 ", "text ", "\\",
        "\\ansicpg932 ", "\\listtext ", "\\fldrslt ",
    ]), 0..300)) {
        let mut s = String::from("{\\rtf1 ");
        for p in parts { s.push_str(p); }
        check(s.as_bytes())?;
    }
}

#[test]
fn truncation_at_every_1k_offset_never_panics() {
    for seed in seeds() {
        for cut in (0..seed.len()).step_by(1024) {
            check(&seed[..cut]).unwrap();
        }
    }
}
