//! Document extraction: bytes in, [`Document`] out, or a typed [`ExtractError`].
//!
//! Owns format dispatch, the shared [`Limits`], the wall-clock [`Deadline`] and the panic guard.
//! The per-format readers live in submodules:
//! - [`ocr`]: image-only PDFs and photos of pages through Tesseract (subprocesses, bounded).
//! - [`sniff`]: format detection from the bytes (never the file name).
//! - [`zipsafe`]: the bounded zip reader that DOCX and ODT go through (zip-bomb defence).
//! - [`docx`], [`odt`], [`pdf`], [`doc`], [`rtf`], [`pptx`], [`odp`]: one reader per format
//!   (the two slide formats share `slides`: slide titles as headings, notes kept apart).
//!
//! No network, no file system: callers hand in bytes. Every reader works under [`Limits`] so that
//! hostile input (zip bombs, huge PDFs, corrupt or encrypted files) ends in an error, in
//! bounded time and memory, never in a panic.

pub mod doc;
pub mod docx;
pub mod ocr;
pub mod odp;
pub mod odt;
pub mod pdf;
mod pdf_text;
pub mod pptx;
pub mod rtf;
mod slides;
pub mod sniff;
mod tables;
pub mod zipsafe;

use crate::domain::document::{Document, Format};
use serde::{Deserialize, Serialize};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// Why a file could not be analysed. The `kind` strings are part of the `check` JSON contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("corrupt file: {0}")]
    Corrupt(String),
    #[error("encrypted file")]
    Encrypted,
    #[error("unsupported file type: {0}")]
    Unsupported(String),
    #[error("file too large: {0}")]
    TooLarge(String),
    #[error("no text layer")]
    NoText,
}

impl ExtractError {
    pub fn kind(&self) -> &'static str {
        match self {
            ExtractError::Corrupt(_) => "corrupt",
            ExtractError::Encrypted => "encrypted",
            ExtractError::Unsupported(_) => "unsupported",
            ExtractError::TooLarge(_) => "too_large",
            ExtractError::NoText => "no_text",
        }
    }
}

/// Resource limits for extraction. Defaults are sane for a 50-page plan; all live in config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest input file accepted, in bytes. Embedded media (photos) count here only: the
    /// zip budget below bounds the XML that is actually parsed.
    pub max_file_bytes: u64,
    /// Largest total of decompressed bytes read from a zip container (DOCX/ODT), and the bound
    /// on one decompressed PDF stream or page content.
    pub max_decompressed_bytes: u64,
    /// Largest number of entries in a zip container.
    pub max_zip_entries: usize,
    /// Largest declared compression ratio of one zip entry (checked for entries over 1 MiB).
    pub max_zip_ratio: u64,
    /// Largest number of PDF pages read.
    pub max_pdf_pages: u32,
    /// Largest number of PDF objects.
    pub max_pdf_objects: usize,
    /// Wall-clock budget for one extraction, in milliseconds (checked between pages/parts).
    pub max_millis: u64,
    /// Fewer body words than this means "no text" (e.g. a scanned PDF without text layer,
    /// when OCR is off or unavailable).
    pub min_words: usize,
    /// OCR of scans (`[limits.ocr]`).
    pub ocr: ocr::OcrLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 64 * 1024 * 1024,
            max_decompressed_bytes: 64 * 1024 * 1024,
            max_zip_entries: 2_000,
            max_zip_ratio: 200,
            max_pdf_pages: 300,
            max_pdf_objects: 200_000,
            max_millis: 10_000,
            min_words: 5,
            ocr: ocr::OcrLimits::default(),
        }
    }
}

/// Detect the format from the leading bytes (and, for zip containers, the entry names).
pub fn sniff(bytes: &[u8]) -> Result<Format, ExtractError> {
    guard(|| sniff::sniff(bytes))
}

/// Extract a document from bytes under the given limits.
///
/// Order: size check, sniff, the format's reader (behind a panic guard); a PDF without a text
/// layer and a photo (PNG/JPEG) then go through [`ocr`] when it is on and installed; last the
/// [`Limits::min_words`] check that turns an empty body into [`ExtractError::NoText`].
pub fn extract(bytes: &[u8], limits: &Limits) -> Result<Document, ExtractError> {
    if bytes.len() as u64 > limits.max_file_bytes {
        return Err(ExtractError::TooLarge(format!(
            "{} bytes, limit {}",
            bytes.len(),
            limits.max_file_bytes
        )));
    }
    let format = guard(|| sniff::sniff_with(bytes, limits))?;
    let mut doc = guard(|| match format {
        Format::Docx => docx::extract(bytes, limits),
        Format::Odt => odt::extract(bytes, limits),
        Format::Pdf => pdf::extract(bytes, limits),
        Format::Doc => doc::extract(bytes, limits),
        Format::Rtf => rtf::extract(bytes, limits),
        Format::Pptx => pptx::extract(bytes, limits),
        Format::Odp => odp::extract(bytes, limits),
        Format::Png | Format::Jpeg => Ok(Document {
            format: Some(format),
            ..Document::default()
        }),
    })?;
    if doc.words() < limits.min_words
        && matches!(format, Format::Pdf | Format::Png | Format::Jpeg)
        && let Some(scanned) = ocr::read(format, bytes, doc.pages, &limits.ocr)?
    {
        doc = Document {
            title: doc.title.take(),
            ..scanned
        };
    }
    if doc.words() < limits.min_words {
        return Err(ExtractError::NoText);
    }
    Ok(doc)
}

/// Run a reader and turn a panic into [`ExtractError::Corrupt`]: the daemon must never crash on
/// a hostile file. This is the last resort; readers are written not to panic, and the per-format
/// entry points are deliberately *not* guarded so that fuzzing them reports any panic.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, ExtractError>) -> Result<T, ExtractError> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(ExtractError::Corrupt("reader panicked".into())))
}

/// The wall-clock budget of one extraction ([`Limits::max_millis`]), checked between parts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    start: Instant,
    budget: Duration,
}

impl Deadline {
    pub(crate) fn new(limits: &Limits) -> Self {
        Deadline {
            start: Instant::now(),
            budget: Duration::from_millis(limits.max_millis),
        }
    }

    pub(crate) fn check(&self) -> Result<(), ExtractError> {
        if self.start.elapsed() > self.budget {
            Err(ExtractError::TooLarge(format!(
                "time budget of {} ms exceeded",
                self.budget.as_millis()
            )))
        } else {
            Ok(())
        }
    }
}

/// Trim and collapse runs of spaces (and tabs, non-breaking spaces) into one space; newlines
/// are kept but trimmed around.
pub(crate) fn collapse_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending_space = false;
    for c in s.trim().chars() {
        if c == ' ' || c == '\u{a0}' || c == '\t' {
            pending_space = true;
        } else if c == '\n' {
            pending_space = false;
            while out.ends_with(' ') {
                out.pop();
            }
            out.push('\n');
        } else {
            if pending_space && !out.is_empty() && !out.ends_with('\n') {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        }
    }
    out
}

/// The value of the attribute with this local name (namespace prefix ignored), unescaped.
pub(crate) fn xml_attr(e: &quick_xml::events::BytesStart<'_>, local: &[u8]) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.local_name().as_ref() == local)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

/// Resolve an entity or character reference event (`&amp;`, `&#228;`) to text. quick-xml 0.38+
/// delivers these as separate `Event::GeneralRef`s; unknown entities resolve to nothing.
pub(crate) fn xml_ref(r: &quick_xml::events::BytesRef<'_>) -> Option<String> {
    if r.is_char_ref() {
        return r.resolve_char_ref().ok().flatten().map(String::from);
    }
    let name = r.decode().ok()?;
    quick_xml::escape::resolve_predefined_entity(&name).map(String::from)
}

/// Read one XML part event by event: `f` sees every event up to the end. A document type
/// declaration is refused ([`doctype_error`]), an XML error makes the part `corrupt` (named by
/// `format`), and the deadline, where there is one, is checked every 8 192 events.
pub(crate) fn each_event(
    xml: &[u8],
    format: &str,
    deadline: Option<&Deadline>,
    mut f: impl FnMut(quick_xml::events::Event<'_>),
) -> Result<(), ExtractError> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_reader(xml);
    let mut n = 0u32;
    loop {
        n = n.wrapping_add(1);
        if n.is_multiple_of(8192)
            && let Some(d) = deadline
        {
            d.check()?;
        }
        match r.read_event() {
            Ok(Event::Eof) => return Ok(()),
            Ok(Event::DocType(_)) => return Err(doctype_error(format)),
            Err(e) => return Err(ExtractError::Corrupt(format!("{format} XML: {e}"))),
            Ok(ev) => f(ev),
        }
    }
}

/// The error for a document type declaration in an office XML part. OOXML packages may not
/// contain DTD declarations (ECMA-376 Part 2, OPC) and office suites never write one into ODF
/// either, so a DTD means a crafted or broken file, typically an entity bomb: `corrupt`, not an
/// empty document (`no_text`). Entities are never expanded in any case.
pub(crate) fn doctype_error(format: &str) -> ExtractError {
    ExtractError::Corrupt(format!(
        "{format} XML with a DTD (not allowed in office documents)"
    ))
}

/// Most distinct furniture lines kept (bounds the duplicate check on hostile headers).
const MAX_FURNITURE: usize = 200;

/// Push a furniture line once (header/footer text repeats per section or page).
/// A nested table as the text of the cell that holds it: cells joined by tabs, rows by
/// newlines, empty cells and rows left out.
pub(crate) fn flatten_table(rows: &[Vec<String>]) -> String {
    rows.iter()
        .map(|r| {
            r.iter()
                .filter(|c| !c.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join("\t")
        })
        .filter(|r| !r.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn push_furniture(furniture: &mut Vec<String>, text: &str) {
    if furniture.len() >= MAX_FURNITURE {
        return;
    }
    let t = collapse_spaces(text);
    if !t.is_empty() && !furniture.contains(&t) {
        furniture.push(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_spaces_trims_and_collapses() {
        assert_eq!(collapse_spaces("  a  b\t c \n  d "), "a b c\nd");
        assert_eq!(collapse_spaces(""), "");
    }

    #[test]
    fn too_large_file_is_rejected_before_sniffing() {
        let limits = Limits {
            max_file_bytes: 10,
            ..Limits::default()
        };
        let err = extract(&[b'x'; 11], &limits).unwrap_err();
        assert_eq!(err.kind(), "too_large");
    }

    #[test]
    fn ocr_settings_are_a_sub_table_of_the_limits() {
        let l: Limits =
            toml::from_str("min_words = 3\n[ocr]\nenabled = false\ndpi = 300\n").unwrap();
        assert_eq!(l.min_words, 3);
        assert!(!l.ocr.enabled);
        assert_eq!(l.ocr.dpi, 300);
        assert_eq!(l.ocr.language, "swe");
        assert!(toml::from_str::<Limits>("[ocr]\ndpj = 300\n").is_err());
    }

    #[test]
    fn guard_maps_panics_to_corrupt() {
        let r: Result<(), _> = guard(|| panic!("boom"));
        assert_eq!(r.unwrap_err().kind(), "corrupt");
    }

    #[test]
    fn deadline_zero_budget_expires() {
        let d = Deadline::new(&Limits {
            max_millis: 0,
            ..Limits::default()
        });
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(d.check().unwrap_err().kind(), "too_large");
    }
}
