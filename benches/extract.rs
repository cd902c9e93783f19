//! Document extraction benchmarks on the fixture corpus (`fixtures/documents`):
//! - our DOCX reader (zip + quick-xml) on the 20-page DOCX, beside docx-rs `read_docx` on the
//!   same bytes (the measured reason for not using docx-rs, see docs/extraction.md);
//! - the 20-page PDF (lopdf text plus line/furniture post-processing);
//! - the ODT/RTF/DOC readers on one corpus file each;
//! - rejection of the zip-bomb fixture;
//! - `check` as a whole (extract + analyse) on the 20-page DOCX and PDF.
//!
//! Run: `cargo bench --bench extract`.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::PathBuf;
use vardval::domain::analysis::analyse;
use vardval::domain::rulebook::Rulebook;
use vardval::extract::{Limits, extract};

fn fixture(name: &str) -> Option<Vec<u8>> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/documents")
        .join(name);
    match std::fs::read(&p) {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("skipping {}: {e}", p.display());
            None
        }
    }
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    let mut g = c.benchmark_group("extract");
    if let Some(docx) = fixture("bench-20-pages.docx") {
        g.bench_function("docx_20_pages_vardval", |b| {
            b.iter(|| extract(black_box(&docx), &limits).unwrap())
        });
        g.bench_function("docx_20_pages_docx_rs_read_docx", |b| {
            b.iter(|| docx_rs::read_docx(black_box(&docx)).unwrap())
        });
    }
    if let Some(pdf) = fixture("bench-20-pages.pdf") {
        g.bench_function("pdf_20_pages_vardval", |b| {
            b.iter(|| extract(black_box(&pdf), &limits).unwrap())
        });
    }
    for name in [
        "m2-green-odt-h-table.odt",
        "m2-yellow-h-table-one-row.rtf",
        "m2-green-legacy.doc",
    ] {
        if let Some(bytes) = fixture(name) {
            g.bench_function(name, |b| {
                b.iter(|| extract(black_box(&bytes), &limits).unwrap())
            });
        }
    }
    if let Some(bomb) = fixture("hostile-zip-bomb.docx") {
        g.bench_function("zip_bomb_rejected", |b| {
            b.iter(|| assert!(extract(black_box(&bomb), &limits).is_err()))
        });
    }
    g.finish();

    // What `vardval check` does per file: extract and analyse (sections, baseline, goal,
    // sources, grade). These are the numbers the targets are about.
    let rb = Rulebook::embedded();
    let mut g = c.benchmark_group("check");
    for name in ["bench-20-pages.docx", "bench-20-pages.pdf"] {
        if let Some(bytes) = fixture(name) {
            g.bench_function(name, |b| {
                b.iter(|| {
                    let doc = extract(black_box(&bytes), &limits).unwrap();
                    analyse(&doc, &rb, None)
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
