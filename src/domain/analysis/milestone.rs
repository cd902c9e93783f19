//! Which milestone a document is for: title words, H/I sections, page furniture.

use super::MilestoneSource;
use super::headings::HeadingMatch;
use super::units::Unit;
use crate::domain::document::Document;
use crate::domain::normalize::fold;
use crate::domain::rulebook::Rulebook;

pub(super) fn infer_milestone(
    doc: &Document,
    units: &[Unit],
    heads: &[Option<HeadingMatch>],
    rb: &Rulebook,
    has_h_or_i: bool,
) -> (u8, MilestoneSource) {
    let first_head = heads
        .iter()
        .position(Option::is_some)
        .unwrap_or(units.len());
    let mut preamble: Vec<String> = doc.title.iter().cloned().collect();
    preamble.extend(units[..first_head].iter().take(8).map(|u| u.text.clone()));
    if let Some(m) = milestone_from_words(&preamble.join("\n"), rb) {
        return (m, MilestoneSource::Title);
    }
    if has_h_or_i {
        let last = rb.milestones.iter().map(|m| m.id).max().unwrap_or(2);
        return (last, MilestoneSource::Sections);
    }
    if let Some(m) = milestone_from_words(&doc.furniture.join("\n"), rb) {
        return (m, MilestoneSource::Furniture);
    }
    (
        rb.milestones.iter().map(|m| m.id).min().unwrap_or(1),
        MilestoneSource::Default,
    )
}

/// The milestone whose title words appear in `text` (later milestones win ties, since a final
/// report often repeats "projektplan" when it describes A–F).
pub fn milestone_from_words(text: &str, rb: &Rulebook) -> Option<u8> {
    let f = fold(text);
    let mut ms: Vec<_> = rb.milestones.iter().collect();
    ms.sort_by_key(|m| std::cmp::Reverse(m.id));
    ms.into_iter()
        .find(|m| m.title_words.iter().any(|w| contains_word(&f, &fold(w))))
        .map(|m| m.id)
}

pub(super) fn contains_word(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    // memchr's searcher: several times cheaper than `str::match_indices` on a whole body. A
    // match of valid UTF-8 in valid UTF-8 starts and ends at character boundaries.
    memchr::memmem::find_iter(hay.as_bytes(), needle.as_bytes()).any(|i| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !c.is_alphanumeric())
    })
}
