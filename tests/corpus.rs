//! The labelled document corpus: every file in `fixtures/documents/labels.json` is extracted
//! and analysed, and every labelled field is compared. Per-field accuracy is printed (and
//! written to `docs/accuracy-table.md` with `VARDVAL_WRITE_ACCURACY=1`); the test fails on any
//! miss, since the target on our own corpus is 100 %.

mod corpus_support;

use std::path::PathBuf;

#[test]
fn corpus_labels_hold() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/documents");
    let tally = corpus_support::measure(&dir);
    assert!(
        tally["document (all fields)"].total >= 40,
        "the corpus holds at least 40 labelled files"
    );
    let (table, misses) = corpus_support::table(&tally);
    println!("{table}");
    if std::env::var_os("VARDVAL_WRITE_ACCURACY").is_some() {
        let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/accuracy-table.md");
        let list: String = misses.iter().map(|m| format!("- {m}\n")).collect();
        std::fs::write(out, format!("{table}\nMisses:\n\n{list}\n")).expect("write table");
    }
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );
}
