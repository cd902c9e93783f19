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
    count_words_to(s, usize::MAX)
}

/// [`count_words`], stopping at `cap`: `count_words_to(s, 5) <= 4` asks whether `s` has at
/// most four words without reading a long text to its end.
pub fn count_words_to(s: &str, cap: usize) -> usize {
    // One pass over the bytes, with a token's rest skipped once it has counted (a test
    // compares this with `split_whitespace` for every character).
    let b = s.as_bytes();
    let mut words = 0;
    let mut i = 0;
    while i < b.len() && words < cap {
        let (c, len) = char_at(s, b, i);
        i += len;
        if !c.is_whitespace() && c.is_alphanumeric() {
            words += 1;
            i = token_end(s, b, i);
        }
    }
    words
}

/// The character at byte `i` and its length, without decoding ASCII.
#[inline(always)]
fn char_at(s: &str, b: &[u8], i: usize) -> (char, usize) {
    if b[i] < 0x80 {
        (b[i] as char, 1)
    } else {
        let c = s[i..].chars().next().expect("a character at a boundary");
        (c, c.len_utf8())
    }
}

/// Where the token running at byte `i` ends: the next white space, or the end.
fn token_end(s: &str, b: &[u8], mut i: usize) -> usize {
    while i < b.len() {
        if b[i] < 0x80 {
            if matches!(b[i], b'\t'..=b'\r' | b' ') {
                return i;
            }
            i += 1;
        } else {
            let (c, len) = char_at(s, b, i);
            if c.is_whitespace() {
                return i;
            }
            i += len;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::{count_words, count_words_to};
    use proptest::prelude::*;

    /// `count_words` as first written.
    fn by_split(s: &str) -> usize {
        s.split_whitespace()
            .filter(|t| t.chars().any(char::is_alphanumeric))
            .count()
    }

    #[test]
    fn every_character_counts_as_split_whitespace_counts_it() {
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            for s in [format!("a{c}b"), format!("{c}"), format!(". {c}{c} -")] {
                assert_eq!(count_words(&s), by_split(&s), "U+{:04X}", c as u32);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn counts_as_split_whitespace(
            s in "[a-zå0-9.\\- \t\n\u{a0}\u{2003}\u{3000}\u{b}–٣]{0,40}",
            cap in 0usize..8,
        ) {
            prop_assert_eq!(count_words(&s), by_split(&s));
            prop_assert_eq!(count_words_to(&s, cap), by_split(&s).min(cap));
        }
    }
}
