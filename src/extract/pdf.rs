//! PDF reader on lopdf 0.47 (`default-features = false`).
//!
//! Owns: loading under limits (stream decompression bounded by
//! [`Limits::max_decompressed_bytes`], object and page counts checked, the time budget checked
//! between pages), the encryption check (`is_encrypted()` after loading: a real user password
//! loads with 0 pages, an empty user password decrypts transparently and is read), per-page text
//! extraction ([`super::pdf_text`]), and turning text lines into blocks:
//! - one [`Block::Paragraph`] per non-empty line, trimmed, internal runs of spaces collapsed;
//! - running headers/footers: a line among the first or last two lines of a page that repeats
//!   (digits ignored) on at least half of the pages, and on at least 2, goes to furniture once;
//! - page-number-only lines ("3", "- 3 -", "Sida 3 av 20", "Page 3 of 20") are dropped;
//! - the Info dictionary `/Title` is the title.
//!
//! lopdf may panic on hostile input; [`crate::extract::extract`] catches panics and reports
//! [`ExtractError::Corrupt`]. This entry point is unguarded so that fuzzing sees panics.

use super::pdf_text::FontCache;
use super::{Deadline, ExtractError, Limits, collapse_spaces, push_furniture};
use crate::domain::document::{Block, Document, Format};
use std::collections::HashMap;

/// Lines at each end of a page that may be running headers or footers.
const EDGE_LINES: usize = 2;

/// Extract a PDF document (unguarded: call [`crate::extract::extract`] in production).
pub fn extract(bytes: &[u8], limits: &Limits) -> Result<Document, ExtractError> {
    let deadline = Deadline::new(limits);
    let max_stream = usize::try_from(limits.max_decompressed_bytes).unwrap_or(usize::MAX);
    let options = lopdf::LoadOptions {
        max_decompressed_size: Some(max_stream),
        ..lopdf::LoadOptions::default()
    };
    let doc = match lopdf::Document::load_mem_with_options(bytes, options) {
        Ok(d) => d,
        Err(lopdf::Error::Decryption(_)) => return Err(ExtractError::Encrypted),
        Err(lopdf::Error::Decompress(e)) => {
            return Err(ExtractError::TooLarge(format!("PDF stream: {e}")));
        }
        Err(e) => return Err(ExtractError::Corrupt(format!("PDF: {e}"))),
    };
    if doc.is_encrypted() {
        return Err(ExtractError::Encrypted);
    }
    if doc.objects.len() > limits.max_pdf_objects {
        return Err(ExtractError::TooLarge(format!(
            "PDF has {} objects, limit {}",
            doc.objects.len(),
            limits.max_pdf_objects
        )));
    }
    let pages = doc.get_pages();
    if pages.len() > limits.max_pdf_pages as usize {
        return Err(ExtractError::TooLarge(format!(
            "PDF has {} pages, limit {}",
            pages.len(),
            limits.max_pdf_pages
        )));
    }
    deadline.check()?;
    let mut page_lines: Vec<Vec<String>> = Vec::with_capacity(pages.len());
    let mut fonts = FontCache::new(&doc, max_stream);
    for &page_id in pages.values() {
        deadline.check()?;
        let text = fonts.page_text(page_id);
        page_lines.push(
            text.lines()
                .map(|l| collapse_spaces(l.trim_matches(|c: char| c.is_whitespace() || c == '\0')))
                .filter(|l| !l.is_empty())
                .collect(),
        );
    }
    let (blocks, furniture) = lines_to_blocks(&page_lines);
    Ok(Document {
        format: Some(Format::Pdf),
        blocks,
        furniture,
        title: info_title(&doc),
        pages: Some(u32::try_from(pages.len()).unwrap_or(u32::MAX)),
        ..Document::default()
    })
}

fn info_title(doc: &lopdf::Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let (_, info) = doc.dereference(info).ok()?;
    let title = info.as_dict().ok()?.get(b"Title").ok()?;
    let (_, title) = doc.dereference(title).ok()?;
    let t = lopdf::decode_text_string(title).ok()?;
    let t = t.trim().trim_matches('\0').trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// The key under which repeated edge lines are counted: the lower-cased line, with digits
/// replaced by '#' only when the line names a page ("Plan 2026 – sida 3"), so that numbered
/// headings at the top of pages ("Avsnitt 3") are not mistaken for a running header.
fn repeat_key(line: &str) -> String {
    let lower = line.to_lowercase();
    let names_page = ["sida", "page", "sid.", "s. "].iter().any(|w| {
        lower.match_indices(w).any(|(i, _)| {
            lower[i + w.len()..]
                .trim_start()
                .starts_with(|c: char| c.is_ascii_digit())
        })
    });
    if names_page {
        lower
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect()
    } else {
        lower
    }
}

/// "3", "- 3 -", "Sida 3 av 20", "Page 3 of 20", "3/20", "s. 3".
pub(crate) fn is_page_number(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    let l = l.trim_matches(|c: char| c == '-' || c == '–' || c.is_whitespace());
    let l = ["sida", "page", "sid.", "s."]
        .iter()
        .find_map(|p| l.strip_prefix(p))
        .unwrap_or(l)
        .trim();
    let mut parts = l
        .split(|c: char| c == '/' || c.is_whitespace())
        .filter(|p| !p.is_empty());
    let Some(first) = parts.next() else {
        return false;
    };
    if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) || first.len() > 3 {
        return false;
    }
    match (parts.next(), parts.next(), parts.next()) {
        (None, _, _) => true,
        (Some(n), None, _) => n.bytes().all(|b| b.is_ascii_digit()),
        (Some("av" | "of" | "(av" | "/"), Some(n), None) => n.bytes().all(|b| b.is_ascii_digit()),
        _ => false,
    }
}

/// Turn per-page lines into body paragraphs and furniture.
pub(crate) fn lines_to_blocks(pages: &[Vec<String>]) -> (Vec<Block>, Vec<String>) {
    // Count, per key, the pages on which it appears among the edge lines.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for lines in pages {
        let mut seen: Vec<String> = Vec::new();
        let n = lines.len();
        for (i, l) in lines.iter().enumerate() {
            if i < EDGE_LINES || i + EDGE_LINES >= n {
                let k = repeat_key(l);
                if !seen.contains(&k) {
                    seen.push(k);
                }
            }
        }
        for k in seen {
            *counts.entry(k).or_default() += 1;
        }
    }
    let running = |l: &str| {
        let c = counts.get(&repeat_key(l)).copied().unwrap_or(0);
        c >= 2 && c * 2 >= pages.len()
    };
    let mut blocks = Vec::new();
    let mut furniture = Vec::new();
    let mut furniture_keys: Vec<String> = Vec::new();
    for lines in pages {
        let n = lines.len();
        for (i, l) in lines.iter().enumerate() {
            if is_page_number(l) {
                continue;
            }
            let edge = i < EDGE_LINES || i + EDGE_LINES >= n;
            if edge && running(l) {
                let key = repeat_key(l);
                if !furniture_keys.contains(&key) {
                    furniture_keys.push(key);
                    push_furniture(&mut furniture, l);
                }
                continue;
            }
            blocks.push(Block::Paragraph {
                text: l.clone(),
                bold: false,
            });
        }
    }
    (blocks, furniture)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn page_numbers() {
        for yes in [
            "3",
            "- 3 -",
            "Sida 3 av 20",
            "Page 3 of 20",
            "3/20",
            "sida 12",
        ] {
            assert!(is_page_number(yes), "{yes}");
        }
        for no in [
            "3 patienter",
            "2026",
            "A. Val",
            "Sida",
            "Mål 3 av 5 uppnådda i år",
        ] {
            assert!(!is_page_number(no), "{no}");
        }
    }

    #[test]
    fn running_header_and_footer_go_to_furniture_once() {
        let pages = vec![
            page(&[
                "Vårdcentralen X – plan",
                "Avsnitt 1",
                "Text ett.",
                "Källa: registret",
                "Plan, sida 1 av 3",
            ]),
            page(&[
                "Vårdcentralen X – plan",
                "Avsnitt 2",
                "Text två.",
                "Källa: registret",
                "Plan, sida 2 av 3",
            ]),
            page(&[
                "Vårdcentralen X – plan",
                "Avsnitt 3",
                "Text tre.",
                "Källa: registret",
                "Plan, sida 3 av 3",
            ]),
        ];
        let (blocks, furniture) = lines_to_blocks(&pages);
        assert_eq!(
            furniture,
            vec![
                "Vårdcentralen X – plan".to_string(),
                "Källa: registret".into(),
                "Plan, sida 1 av 3".into()
            ]
        );
        let texts: Vec<String> = blocks.iter().map(Block::text).collect();
        assert_eq!(
            texts,
            vec![
                "Avsnitt 1",
                "Text ett.",
                "Avsnitt 2",
                "Text två.",
                "Avsnitt 3",
                "Text tre."
            ]
        );
    }

    #[test]
    fn single_page_keeps_everything() {
        let (blocks, furniture) = lines_to_blocks(&[page(&["Rubrik", "Text"])]);
        assert_eq!(blocks.len(), 2);
        assert!(furniture.is_empty());
    }

    #[test]
    fn garbage_is_corrupt_not_panic() {
        let e = extract(
            b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ntrailer",
            &Limits::default(),
        );
        assert!(e.is_err());
    }
}
