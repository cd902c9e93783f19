//! `vardval check FILE [--milestone 1|2] [--format text|json]`: analyse one document.
//! Exit 0 with a report, 3 when the file cannot be analysed (typed JSON error), 2 on usage:
//! a path that does not exist, is a folder or cannot be read is the operator's mistake, told on
//! stderr in English, never dressed up as a Swedish "corrupt file" message meant for a clinic.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use crate::domain::analysis::analyse;
use crate::domain::document::TextSource;
use crate::domain::rulebook::Rulebook;
use crate::extract::{self, Limits};
use crate::report;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

pub fn run(
    file: &Path,
    milestone: Option<u8>,
    format: OutputFormat,
    rb: &Rulebook,
    limits: &Limits,
) -> ExitCode {
    let name = file.display().to_string();
    let bytes = match read_limited(file, limits.max_file_bytes) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("vardval check: cannot read {name}: {e}");
            return ExitCode::from(2);
        }
    };
    // At most one byte over the limit was read; `extract` answers that with `too_large`.
    let result = extract::extract(&bytes, limits);
    match result {
        Ok(doc) => {
            let fmt = doc.format.expect("extract sets the format");
            let a = analyse(&doc, rb, milestone);
            match format {
                OutputFormat::Json => {
                    let mut v = report::json_report(&name, fmt, &a);
                    report::add_source(&mut v, doc.source);
                    println!("{v}");
                }
                OutputFormat::Text => {
                    let color = std::io::stdout().is_terminal();
                    print!("{}", report::text_report(&name, fmt, &a, rb, color));
                    if doc.source == TextSource::Ocr {
                        println!("\nObs: {}", report::OCR_NOTE);
                    }
                }
            }
            // The process ends right after this: freeing thousands of small blocks one by one
            // only costs time (docs/performance.md, "Start-up"). The OS takes the memory back.
            std::mem::forget(a);
            std::mem::forget(doc);
            ExitCode::SUCCESS
        }
        Err(e) => {
            match format {
                OutputFormat::Json => println!("{}", report::json_error(&e)),
                OutputFormat::Text => {
                    println!("{name}: kan inte analyseras ({})", e.kind());
                    println!("{}", report::swedish_error(&e));
                }
            }
            ExitCode::from(3)
        }
    }
}

/// Read a file, never more than `max + 1` bytes into memory (one more than allowed, so that
/// the caller can tell "too large"). A folder is refused before it is opened for reading.
fn read_limited(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    if std::fs::metadata(path)?.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a directory, not a file",
        ));
    }
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(max.saturating_add(1))
        .read_to_end(&mut buf)?;
    Ok(buf)
}
