//! Step 4: each section's body runs to the next heading; content words exclude template text
//! and placeholders.

use std::collections::BTreeMap;

use super::headings::{HeadingMatch, Matcher, Rule};
use super::units::Unit;
use crate::domain::rulebook::SectionId;

#[derive(Clone)]
pub(super) struct Body {
    pub(super) heading: String,
    /// How the heading was recognised, and the key-idea score (1.0 for labels and titles).
    pub(super) rule: Rule,
    pub(super) score: f64,
    pub(super) words: usize,
    /// Content texts (placeholders and instructions still present: the finders skip them).
    pub(super) texts: Vec<String>,
    pub(super) units: Vec<Unit>,
}

pub(super) fn section_bodies(
    units: &[Unit],
    heads: &[Option<HeadingMatch>],
    m: &Matcher,
) -> BTreeMap<SectionId, Body> {
    let mut best: BTreeMap<SectionId, Body> = BTreeMap::new();
    let mut i = 0;
    while i < units.len() {
        let Some(head) = &heads[i] else {
            i += 1;
            continue;
        };
        let mut j = i + 1;
        // A repeated heading of the same section (a bold "Mål:" inside C) continues it.
        let secs = &head.sections;
        while j < units.len()
            && heads[j]
                .as_ref()
                .is_none_or(|h| !secs.is_empty() && h.sections == *secs)
        {
            j += 1;
        }
        let body_units: Vec<Unit> = units[i + 1..j]
            .iter()
            .zip(&heads[i + 1..j])
            .filter(|(_, h)| h.is_none())
            .map(|(u, _)| u.clone())
            .collect();
        let words = body_units.iter().map(|u| unit_words(u, m)).sum();
        let texts = body_units.iter().map(|u| u.text.clone()).collect();
        let body = Body {
            heading: units[i].text.clone(),
            rule: head.rule,
            score: head.score,
            words,
            texts,
            units: body_units,
        };
        for s in secs {
            let better = best.get(s).is_none_or(|b| body.words > b.words);
            if better {
                best.insert(*s, body.clone());
            }
        }
        i = j;
    }
    best
}

pub(super) fn unit_words(u: &Unit, m: &Matcher) -> usize {
    match &u.table {
        Some(rows) => rows.iter().flatten().map(|c| m.content_words(c)).sum(),
        None => m.content_words(&u.text),
    }
}
