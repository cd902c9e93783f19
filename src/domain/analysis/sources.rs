//! The data sources a document cites: named in the body or in a footnote/endnote (never in
//! page headers or footers).

use super::milestone::contains_word;
use crate::domain::document::{Block, Document};
use crate::domain::normalize::fold;
use crate::domain::rulebook::Rulebook;

pub(super) fn find_sources(doc: &Document, rb: &Rulebook) -> Vec<String> {
    let body = fold(
        &doc.blocks
            .iter()
            .map(Block::text)
            .chain(doc.notes.iter().cloned())
            .collect::<Vec<_>>()
            .join("\n"),
    );
    rb.data_sources
        .iter()
        .filter(|s| {
            std::iter::once(&s.name)
                .chain(&s.aliases)
                .any(|a| contains_word(&body, &fold(a)))
        })
        .map(|s| s.name.clone())
        .collect()
}
