//! Document extraction: bytes in, [`Document`] out, or a typed [`ExtractError`].
//!
//! Owns format sniffing and the per-format readers (DOCX, ODT, PDF, legacy DOC, RTF). No
//! network, no file system: callers hand in bytes. Every reader works under [`Limits`] so that
//! hostile input (zip bombs, huge PDFs, corrupt or encrypted files) ends in an error, in
//! bounded time and memory, never in a panic.

use crate::domain::document::{Document, Format};
use serde::{Deserialize, Serialize};

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
    /// Largest input file accepted, in bytes.
    pub max_file_bytes: u64,
    /// Largest total of decompressed bytes read from a zip container (DOCX/ODT).
    pub max_decompressed_bytes: u64,
    /// Largest number of entries in a zip container.
    pub max_zip_entries: usize,
    /// Largest declared compression ratio of one zip entry.
    pub max_zip_ratio: u64,
    /// Largest number of PDF pages read.
    pub max_pdf_pages: u32,
    /// Largest number of PDF objects.
    pub max_pdf_objects: usize,
    /// Wall-clock budget for one extraction, in milliseconds (checked between pages/parts).
    pub max_millis: u64,
    /// Fewer body words than this means "no text" (e.g. a scanned PDF without text layer).
    pub min_words: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 25 * 1024 * 1024,
            max_decompressed_bytes: 64 * 1024 * 1024,
            max_zip_entries: 2_000,
            max_zip_ratio: 200,
            max_pdf_pages: 300,
            max_pdf_objects: 200_000,
            max_millis: 10_000,
            min_words: 5,
        }
    }
}

/// Detect the format from the leading bytes (and, for zip containers, the entry names).
pub fn sniff(bytes: &[u8]) -> Result<Format, ExtractError> {
    let _ = bytes;
    Err(ExtractError::Unsupported("extraction not wired yet".into()))
}

/// Extract a document from bytes under the given limits.
pub fn extract(bytes: &[u8], limits: &Limits) -> Result<Document, ExtractError> {
    let _ = (bytes, limits);
    Err(ExtractError::Unsupported("extraction not wired yet".into()))
}
