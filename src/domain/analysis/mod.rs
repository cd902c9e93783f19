//! Reading a plan like a reviewer: which of the rulebook's sections A–I are really described,
//! the baseline (baslinjemätning) in D, the measurable and time-bound goal in C, the data
//! sources cited, the milestone the document is for, and the pre-grade.
//!
//! Owns the heuristics; every word list (titles, synonyms, placeholders, template text,
//! source names) comes from the cycle's [`Rulebook`]. Pure: a function of the document.
//!
//! How it works, in order:
//! 1. Flatten blocks into units; a table that holds the region's template (section headings
//!    in its cells) is unrolled into heading and content units, any other table stays whole.
//! 2. Decide which units are section headings: a letter or number label ("A.", "A)", "A:",
//!    "A –", "D–E.", "1."), a title or synonym, heading style, bold or capitals.
//! 3. Drop table-of-contents entries: lines with dot leaders or page numbers, a list under an
//!    "Innehåll" heading, and runs of empty headings that reappear later.
//! 4. Each section's body runs to the next section heading; template instruction text and
//!    placeholders are removed before counting words. The occurrence with the most content
//!    wins when a heading appears more than once.

mod dates;
mod guard;
mod heading_patterns;
mod headings;
mod measures;
mod milestone;
mod numword;
mod sections;
mod sources;
pub mod stored;
mod units;

use std::collections::BTreeMap;

use super::document::Document;
use super::grading::{Grade, Status, derive_g, grade};
use super::rulebook::{Rulebook, SECTION_IDS, SectionId};
pub use headings::Rule;
use headings::{Matcher, find_headings};
use measures::{find_baseline, find_goal, measurement_points};
use milestone::infer_milestone;
pub use milestone::milestone_from_words;
use sections::section_bodies;
use sources::find_sources;
use units::flatten;

/// The result of analysing one document.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub milestone: u8,
    /// True when the milestone came from the document rather than from the caller.
    pub milestone_inferred: bool,
    /// What the milestone was decided from.
    pub milestone_source: MilestoneSource,
    /// All nine sections in order A..I.
    pub sections: Vec<SectionResult>,
    pub baseline: Baseline,
    pub goal: Goal,
    /// Canonical names of the cited data sources, in rulebook order.
    pub data_sources: Vec<String>,
    pub grade: Grade,
    /// Words in the document body.
    pub words: usize,
    /// Measurement points found in H (None when H has no body).
    pub h_points: Option<usize>,
    /// Observations for the report, in Swedish (e.g. too few measurement points in H).
    pub notes: Vec<String>,
}

/// Where the milestone came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MilestoneSource {
    /// Given by the caller (`--milestone`, or the intake).
    Given,
    /// Title words in the document ("Projektplan", "Slutrapport", "Riktmärke 2").
    Title,
    /// The document has H or I sections, so it is a final report.
    Sections,
    /// Title words only in the page header or footer.
    Furniture,
    /// Nothing said: the first milestone.
    Default,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SectionResult {
    pub id: SectionId,
    pub required: bool,
    pub status: Status,
    /// The heading as written in the document.
    pub heading: Option<String>,
    /// Content words (placeholders and template text not counted).
    pub words: usize,
    /// Why the heading was taken for this section.
    pub matched_by: Option<MatchedBy>,
    /// The start of the section's text as written (for reviewers), at most
    /// [`EXCERPT_CHARS`] characters; `None` when the section has no text.
    pub excerpt: Option<String>,
}

/// The longest section excerpt kept for reviewers.
pub const EXCERPT_CHARS: usize = 280;

/// The start of a section's texts, cut at a word boundary within [`EXCERPT_CHARS`].
fn excerpt(texts: &[String]) -> Option<String> {
    let mut out = String::new();
    for t in texts {
        for w in t.split_whitespace() {
            if out.chars().count() + w.chars().count() + 1 > EXCERPT_CHARS {
                out.push('…');
                return Some(out);
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Why a heading was taken for a section: the heading as written, the rule that matched, and
/// the key-idea score (1.0 for labels, titles and synonyms).
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedBy {
    pub heading: String,
    pub rule: Rule,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Baseline {
    pub found: bool,
    pub values: Vec<String>,
    pub excerpt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Goal {
    pub found: bool,
    pub measurable: bool,
    pub time_bound: bool,
    pub excerpt: Option<String>,
}

impl Analysis {
    pub fn section(&self, id: SectionId) -> &SectionResult {
        &self.sections[SECTION_IDS.iter().position(|s| *s == id).expect("A..I")]
    }

    /// Required sections that are not ok, in order.
    pub fn shortcomings(&self) -> impl Iterator<Item = &SectionResult> {
        self.sections
            .iter()
            .filter(|s| s.required && s.status != Status::Ok)
    }
}

/// Analyse a document. `milestone` overrides the inferred milestone when given.
pub fn analyse(doc: &Document, rb: &Rulebook, milestone: Option<u8>) -> Analysis {
    let matcher = Matcher::new(rb);
    let units = flatten(&doc.blocks, &matcher);
    let heads = find_headings(&units, &matcher);
    let bodies = section_bodies(&units, &heads, &matcher);

    let has_h_or_i = bodies.contains_key(&'H') || bodies.contains_key(&'I');
    let (milestone, milestone_source) = match milestone {
        Some(m) => (m, MilestoneSource::Given),
        None => infer_milestone(doc, &units, &heads, rb, has_h_or_i),
    };
    let required: Vec<SectionId> = rb
        .milestone(milestone)
        .map(|m| m.required.clone())
        .unwrap_or_else(|| SECTION_IDS.to_vec());

    let mut notes = Vec::new();
    let mut statuses: BTreeMap<SectionId, Status> = BTreeMap::new();
    for id in SECTION_IDS {
        let st = match bodies.get(&id) {
            None => Status::Missing,
            Some(b) if b.words >= rb.min_section_words => Status::Ok,
            Some(_) => Status::Weak,
        };
        statuses.insert(id, st);
    }
    // H needs several measurement points in a table or diagram.
    let h_points = bodies.get(&'H').map(|b| measurement_points(&b.units));
    if let (Some(points), Some(min)) = (h_points, rb.section('H').min_measurement_points)
        && points < min
    {
        if statuses[&'H'] == Status::Ok {
            statuses.insert('H', Status::Weak);
        }
        notes.push(format!(
                "H redovisar {points} mätpunkt{}; regelboken vill se resultat från flera mätpunkter (minst {min}) i en tabell eller ett diagram.",
                if points == 1 { "" } else { "er" }
            ));
    }
    let a_to_f: Vec<Status> = ['A', 'B', 'C', 'D', 'E', 'F']
        .iter()
        .map(|s| statuses[s])
        .collect();
    statuses.insert('G', derive_g(&a_to_f));

    let sections: Vec<SectionResult> = SECTION_IDS
        .iter()
        .map(|&id| {
            let b = bodies.get(&id);
            SectionResult {
                id,
                required: required.contains(&id),
                status: statuses[&id],
                heading: b.map(|b| b.heading.clone()),
                words: b.map_or(0, |b| b.words),
                matched_by: b.map(|b| MatchedBy {
                    heading: b.heading.clone(),
                    rule: b.rule,
                    score: b.score,
                }),
                excerpt: b.and_then(|b| excerpt(&b.texts)),
            }
        })
        .collect();
    let req_status: Vec<Status> = sections
        .iter()
        .filter(|s| s.required)
        .map(|s| s.status)
        .collect();

    let baseline = bodies
        .get(&'D')
        .map(|b| find_baseline(&b.texts, &b.units))
        .unwrap_or_default();
    let goal = bodies
        .get(&'C')
        .map(|b| find_goal(&b.texts))
        .unwrap_or_default();
    let data_sources = find_sources(doc, rb);

    Analysis {
        milestone,
        milestone_inferred: milestone_source != MilestoneSource::Given,
        milestone_source,
        sections,
        baseline,
        goal,
        data_sources,
        grade: grade(&req_status),
        words: doc.words(),
        h_points,
        notes,
    }
}

#[cfg(test)]
mod tests;
