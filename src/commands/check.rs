//! `vardval check FILE [--milestone 1|2] [--format text|json]`: analyse one document.
//! Exit 0 with a report, 3 when the file cannot be analysed (typed JSON error), 2 on usage.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use crate::domain::analysis::analyse;
use crate::domain::rulebook::Rulebook;
use crate::extract::{self, ExtractError, Limits};
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
    let result =
        read_limited(file, limits.max_file_bytes).and_then(|b| extract::extract(&b, limits));
    match result {
        Ok(doc) => {
            let fmt = doc.format.expect("extract sets the format");
            let a = analyse(&doc, rb, milestone);
            match format {
                OutputFormat::Json => {
                    println!("{}", report::json_report(&name, fmt, &a));
                }
                OutputFormat::Text => {
                    let color = std::io::stdout().is_terminal();
                    print!("{}", report::text_report(&name, fmt, &a, rb, color));
                }
            }
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

/// Read a file, refusing to read more than `max` bytes into memory.
fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, ExtractError> {
    use std::io::Read;
    let f = std::fs::File::open(path)
        .map_err(|e| ExtractError::Corrupt(format!("cannot open: {e}")))?;
    let mut buf = Vec::new();
    f.take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| ExtractError::Corrupt(format!("cannot read: {e}")))?;
    if buf.len() as u64 > max {
        return Err(ExtractError::TooLarge(format!("larger than {max} bytes")));
    }
    Ok(buf)
}
