//! The common document model every extractor produces and the analysis reads.
//!
//! Owns: [`Document`], [`Block`] and [`Format`]. Pure data, no I/O. A document is an ordered
//! list of body blocks plus header/footer text kept apart, so that a page header that repeats
//! "Projektplan" on every page never counts as body content.

use serde::Serialize;

/// The file format, detected from the bytes (never from the file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Docx,
    Odt,
    Pdf,
    Doc,
    Rtf,
    /// PowerPoint slides (PresentationML).
    Pptx,
    /// OpenDocument presentation (Impress).
    Odp,
    /// A photo or scan of pages, read with OCR.
    Png,
    Jpeg,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Docx => "docx",
            Format::Odt => "odt",
            Format::Pdf => "pdf",
            Format::Doc => "doc",
            Format::Rtf => "rtf",
            Format::Pptx => "pptx",
            Format::Odp => "odp",
            Format::Png => "png",
            Format::Jpeg => "jpeg",
        }
    }
}

/// One block of body content, in reading order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Block {
    /// A heading with its outline level (1 = top). Word heading styles, ODT `text:h`,
    /// RTF `\outlinelevel`, or a paragraph the extractor knows to be a heading.
    Heading { level: u8, text: String },
    /// A plain paragraph. `bold` is true when every visible run of the paragraph is bold
    /// (clinics often write headings as bold normal paragraphs).
    Paragraph { text: String, bold: bool },
    /// A list item (bullet or numbered), with its nesting level (0 = top).
    ListItem { level: u8, text: String },
    /// A table: rows of cells, each cell's text with paragraphs joined by '\n'.
    Table { rows: Vec<Vec<String>> },
}

impl Block {
    /// The block's text; a table's cells joined by tabs and rows by newlines.
    pub fn text(&self) -> String {
        match self {
            Block::Heading { text, .. }
            | Block::Paragraph { text, .. }
            | Block::ListItem { text, .. } => text.clone(),
            Block::Table { rows } => rows
                .iter()
                .map(|r| r.join("\t"))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }
}

/// Where the body text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TextSource {
    /// The file's own text (every format's normal case).
    #[default]
    Text,
    /// Optical character recognition of page images (a scan or a photo): less certain.
    Ocr,
}

/// An extracted document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Document {
    pub format: Option<Format>,
    /// Body blocks in reading order.
    pub blocks: Vec<Block>,
    /// Header and footer text (page headers, running footers), kept apart from the body.
    pub furniture: Vec<String>,
    /// Footnote and endnote text, and a slide deck's speaker notes, kept apart like the
    /// furniture: a note is not a section's content, but a data source named in a note is
    /// cited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Document title from metadata when the format has one (docProps/core.xml, PDF Info).
    pub title: Option<String>,
    /// Number of pages when the format knows it (PDF, slides in a deck), else None.
    pub pages: Option<u32>,
    /// Whether the text is the file's own or came from OCR.
    pub source: TextSource,
}

impl Document {
    /// Count words in the body (whitespace-separated tokens containing a letter or digit).
    pub fn words(&self) -> usize {
        self.blocks.iter().map(|b| count_words(&b.text())).sum()
    }
}

/// Words in a string: whitespace-separated tokens with at least one alphanumeric character.
pub fn count_words(s: &str) -> usize {
    s.split_whitespace()
        .filter(|t| {
            t.bytes().any(|b| b.is_ascii_alphanumeric())
                || (!t.is_ascii() && t.chars().any(char::is_alphanumeric))
        })
        .count()
}
