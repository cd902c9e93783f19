//! Step 1: flatten blocks into units (lines), unrolling the region's two-column template table.

use super::headings::Matcher;
use crate::domain::document::Block;

#[derive(Debug, Clone)]
pub(super) struct Unit {
    pub(super) text: String,
    /// Heading style, bold paragraph, or first cell of a template row.
    pub(super) styled: bool,
    /// A table kept whole (rows of cells).
    pub(super) table: Option<Vec<Vec<String>>>,
    pub(super) list_item: bool,
}

impl Unit {
    pub(super) fn para(text: &str, styled: bool) -> Unit {
        Unit {
            text: text.trim().to_string(),
            styled,
            table: None,
            list_item: false,
        }
    }
}

pub(super) fn flatten(blocks: &[Block], m: &Matcher) -> Vec<Unit> {
    let mut out = Vec::new();
    for b in blocks {
        match b {
            Block::Heading { text, .. } => push_lines(&mut out, text, true),
            Block::Paragraph { text, bold } => push_lines(&mut out, text, *bold),
            Block::ListItem { text, .. } => {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    let mut u = Unit::para(line, false);
                    u.list_item = true;
                    out.push(u);
                }
            }
            Block::Table { rows } => {
                let heading_cells = rows
                    .iter()
                    .flatten()
                    .filter(|c| {
                        let first = c.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
                        m.heading(first, true).is_some()
                    })
                    .count();
                if heading_cells >= 2 {
                    // The region's template as a table: unroll cell by cell; the first line of
                    // a cell may be the heading and the rest its content.
                    for row in rows {
                        for (i, cell) in row.iter().enumerate() {
                            let mut first = true;
                            for line in cell.lines().filter(|l| !l.trim().is_empty()) {
                                out.push(Unit::para(line, first && i == 0));
                                first = false;
                            }
                        }
                    }
                } else {
                    out.push(Unit {
                        text: b.text(),
                        styled: false,
                        table: Some(rows.clone()),
                        list_item: false,
                    });
                }
            }
        }
    }
    out
}

pub(super) fn push_lines(out: &mut Vec<Unit>, text: &str, styled: bool) {
    // A paragraph with soft line breaks may hold "A. Titel\nInnehåll ..."; split so a heading
    // written on the first line of a paragraph is still seen.
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() <= 1 {
        if let Some(l) = lines.first() {
            out.push(Unit::para(l, styled));
        }
        return;
    }
    for l in lines {
        out.push(Unit::para(l, styled));
    }
}
