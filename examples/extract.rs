//! Extract one or more files and print the document as JSON (or the error kind), with timing.
//!
//! Usage: `cargo run --release --example extract -- [--summary] [--repeat N] FILE...`
//! Stand-in for `vardval check FILE --format json` until the CLI lands on main.

use std::time::Instant;
use vardval::extract::{Limits, extract};

fn main() {
    let mut summary = false;
    let mut repeat = 1usize;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--summary" => summary = true,
            "--repeat" => repeat = args.next().and_then(|n| n.parse().ok()).unwrap_or(1),
            _ => files.push(a),
        }
    }
    let limits = Limits::default();
    for f in files {
        let bytes = match std::fs::read(&f) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{f}: {e}");
                continue;
            }
        };
        let start = Instant::now();
        let mut result = extract(&bytes, &limits);
        for _ in 1..repeat {
            result = extract(&bytes, &limits);
        }
        let per_run = start.elapsed().as_secs_f64() * 1000.0 / repeat as f64;
        match result {
            Ok(doc) if summary => println!(
                "{f}\tok\t{}\t{} blocks\t{} words\t{} furniture\t{per_run:.2} ms",
                doc.format.map(|x| x.as_str()).unwrap_or("?"),
                doc.blocks.len(),
                doc.words(),
                doc.furniture.len()
            ),
            Ok(doc) => println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default()),
            Err(e) => println!("{f}\t{}\t{e}\t{per_run:.2} ms", e.kind()),
        }
    }
}
