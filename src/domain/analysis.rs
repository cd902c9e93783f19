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

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use super::document::{Block, Document, count_words};
use super::grading::{Grade, Status, derive_g, grade};
use super::normalize::{fold, fold_bare};
use super::rulebook::{Rulebook, SECTION_IDS, SectionId};

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
        .map(|b| find_baseline(&b.texts))
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

// ---------------------------------------------------------------------------------------------
// Units

#[derive(Debug, Clone)]
struct Unit {
    text: String,
    /// Heading style, bold paragraph, or first cell of a template row.
    styled: bool,
    /// A table kept whole (rows of cells).
    table: Option<Vec<Vec<String>>>,
    list_item: bool,
}

impl Unit {
    fn para(text: &str, styled: bool) -> Unit {
        Unit {
            text: text.trim().to_string(),
            styled,
            table: None,
            list_item: false,
        }
    }
}

fn flatten(blocks: &[Block], m: &Matcher) -> Vec<Unit> {
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

fn push_lines(out: &mut Vec<Unit>, text: &str, styled: bool) {
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

// ---------------------------------------------------------------------------------------------
// Heading recognition

struct Matcher {
    /// (folded term, section) for titles and synonyms, longest first.
    terms: Vec<(String, SectionId)>,
    placeholders: Vec<String>,
    instructions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct HeadingMatch {
    sections: Vec<SectionId>,
    /// The line looks like a table-of-contents entry (dot leaders, trailing page number).
    toc_like: bool,
}

static TOC_TAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:\s*[.·…_]{3,}\s*|\t+\s*)\d{1,3}\s*$").expect("regex"));
static COMBINED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([a-i])\s*(?:-|och|&|/|,)\s*([a-i])\s*(?:[.):]\s*|\s+-\s+|\s+)(.*)$")
        .expect("regex")
});
static LETTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:(?:steg|del|avsnitt|punkt)\s+)?([a-i])\s*(?:[.):]|\s-\s|$)\s*(.*)$")
        .expect("regex")
});
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d{1,2})\s*[.):]\s*(.*)$").expect("regex"));

impl Matcher {
    fn new(rb: &Rulebook) -> Matcher {
        let mut terms = Vec::new();
        for s in &rb.sections {
            terms.push((fold_bare(&s.title), s.id));
            for syn in &s.synonyms {
                terms.push((fold_bare(syn), s.id));
            }
        }
        terms.sort_by_key(|t| std::cmp::Reverse(t.0.len()));
        let instructions = rb
            .sections
            .iter()
            .flat_map(|s| s.instructions.iter())
            .map(|i| fold(i))
            .filter(|i| !i.is_empty())
            .collect();
        Matcher {
            terms,
            placeholders: rb.placeholders.iter().map(|p| fold_bare(p)).collect(),
            instructions,
        }
    }

    /// Sections a title (without label) names: exact term, a term followed by more words
    /// (only when `loose`), or "X och Y" where both halves are terms.
    fn title_sections(&self, rest: &str, loose: bool) -> Option<Vec<SectionId>> {
        let r = fold_bare(rest);
        if r.is_empty() {
            return None;
        }
        if let Some((_, id)) = self.terms.iter().find(|(t, _)| *t == r) {
            return Some(vec![*id]);
        }
        for sep in [" och ", " & ", " samt ", " / ", " - "] {
            if let Some((a, b)) = r.split_once(sep) {
                let fa = self.terms.iter().find(|(t, _)| *t == a.trim());
                let fb = self.terms.iter().find(|(t, _)| *t == b.trim());
                if let (Some((_, x)), Some((_, y))) = (fa, fb)
                    && x != y
                {
                    let mut v = vec![*x, *y];
                    v.sort();
                    return Some(v);
                }
            }
        }
        if loose {
            return self
                .terms
                .iter()
                .find(|(t, _)| {
                    r.starts_with(t.as_str())
                        && r[t.len()..].starts_with(|c: char| !c.is_alphanumeric())
                })
                .map(|(_, id)| vec![*id]);
        }
        None
    }

    /// Whether a line is a section heading, and of which sections.
    fn heading(&self, line: &str, styled: bool) -> Option<HeadingMatch> {
        let raw = line.trim();
        if raw.is_empty() {
            return None;
        }
        let mut toc_like = false;
        let mut text = raw.to_string();
        if let Some(m) = TOC_TAIL.find(raw) {
            toc_like = true;
            text = raw[..m.start()].to_string();
        }
        let f = fold(&text);
        let words = count_words(&f);
        if words == 0 || words > 16 || f.ends_with('?') {
            return None;
        }
        let caps = text.chars().any(char::is_alphabetic)
            && text
                .chars()
                .filter(|c| c.is_alphabetic())
                .all(char::is_uppercase);
        let emphasised = styled || caps;

        if let Some(c) = COMBINED.captures(&f) {
            let (a, b) = (first_char(&c[1]), first_char(&c[2]));
            let rest = c[3].to_string();
            if a < b && (b as u32 - a as u32) <= 2 {
                let title = self.title_sections(&rest, true);
                if title.is_some() || emphasised || rest.is_empty() {
                    let sections = (a..=b).map(|x| x.to_ascii_uppercase()).collect();
                    return Some(HeadingMatch { sections, toc_like });
                }
            }
        }
        if let Some(c) = LETTER.captures(&f) {
            let letter = first_char(&c[1]).to_ascii_uppercase();
            let rest = c[2].to_string();
            if let Some(secs) = self.title_sections(&rest, true) {
                // A label and a title that disagree: the title says what the content is,
                // unless the label names a section whose synonyms the title also fits.
                let sections = if secs.contains(&letter) {
                    vec![letter]
                } else {
                    secs
                };
                return Some(HeadingMatch { sections, toc_like });
            }
            if (rest.is_empty() && (emphasised || raw.len() <= 3))
                || (emphasised && count_words(&rest) <= 8)
            {
                return Some(HeadingMatch {
                    sections: vec![letter],
                    toc_like,
                });
            }
            return None;
        }
        if let Some(c) = NUMBER.captures(&f) {
            let rest = c[2].to_string();
            return self
                .title_sections(&rest, true)
                .map(|sections| HeadingMatch { sections, toc_like });
        }
        self.title_sections(&f, emphasised && words <= 10)
            .map(|sections| HeadingMatch { sections, toc_like })
    }

    fn is_placeholder(&self, text: &str) -> bool {
        let b = fold_bare(text);
        if self.placeholders.contains(&b) {
            return true;
        }
        // "Se bilaga 2", "Kommer senare!!"
        count_words(&b) <= 4
            && self
                .placeholders
                .iter()
                .filter(|p| p.chars().filter(|c| c.is_alphabetic()).count() >= 4)
                .any(|p| b.starts_with(p.as_str()))
    }

    /// Content words of a line after removing template instruction text and placeholders.
    fn content_words(&self, text: &str) -> usize {
        if self.is_placeholder(text) {
            return 0;
        }
        let mut f = fold(text);
        for ins in &self.instructions {
            if ins.len() >= 12 && f.contains(ins.as_str()) {
                f = f.replace(ins.as_str(), " ");
            }
        }
        let rest = fold_bare(&f);
        if rest.is_empty() || self.is_placeholder(&rest) {
            return 0;
        }
        // A fragment of an instruction (a wrapped line from a PDF) is not content either.
        if count_words(&rest) >= 2 && self.instructions.iter().any(|i| i.contains(rest.as_str())) {
            return 0;
        }
        count_words(&rest)
    }
}

/// A line of dot leaders, optionally with a page number ("........ 3").
fn is_leader(s: &str) -> bool {
    let t = s.trim();
    let dots = t
        .chars()
        .filter(|c| matches!(c, '.' | '·' | '…' | '_'))
        .count();
    dots >= 3
        && t.chars()
            .all(|c| matches!(c, '.' | '·' | '…' | '_') || c.is_whitespace() || c.is_ascii_digit())
}

fn first_char(s: &str) -> char {
    s.chars().next().unwrap_or('a')
}

/// Heading decisions per unit index.
fn find_headings(units: &[Unit], m: &Matcher) -> Vec<Option<Vec<SectionId>>> {
    let mut heads: Vec<Option<HeadingMatch>> = units
        .iter()
        .map(|u| {
            if u.table.is_some() {
                None
            } else {
                m.heading(&u.text, u.styled)
            }
        })
        .collect();

    // A table of contents: an "Innehåll" line followed by heading-like lines.
    for i in 0..units.len() {
        let f = fold_bare(&units[i].text);
        if f == "innehall" || f == "innehallsforteckning" || f == "innehallsforteckning:" {
            // Entries run until a section comes round a second time (the real heading).
            let mut seen: Vec<SectionId> = Vec::new();
            let mut j = i + 1;
            while j < units.len() {
                if is_leader(&units[j].text) {
                    j += 1;
                    continue;
                }
                let Some(h) = &heads[j] else { break };
                if h.sections.iter().any(|s| seen.contains(s)) {
                    break;
                }
                seen.extend(h.sections.iter().copied());
                heads[j] = None;
                j += 1;
            }
        }
    }
    // Lines with dot leaders or page numbers are TOC entries; so are lines followed by a line
    // of dot leaders alone (PDF text puts the leader on a line of its own).
    for (i, h) in heads.iter_mut().enumerate() {
        let leader_next = units.get(i + 1).is_some_and(|u| is_leader(&u.text));
        if h.as_ref().is_some_and(|h| h.toc_like) || leader_next {
            *h = None;
        }
    }
    // A run of three or more consecutive headings without content between them, whose
    // sections appear again later, is a table of contents too.
    let mut i = 0;
    while i < units.len() {
        if heads[i].is_none() {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < units.len() && heads[j].is_some() {
            j += 1;
        }
        if j - i >= 3 {
            let later: Vec<SectionId> = heads[j..]
                .iter()
                .flatten()
                .flat_map(|h| h.sections.iter().copied())
                .collect();
            let reappears = heads[i..j]
                .iter()
                .flatten()
                .filter(|h| h.sections.iter().any(|s| later.contains(s)))
                .count();
            if reappears * 2 >= j - i {
                for h in heads.iter_mut().take(j).skip(i) {
                    *h = None;
                }
            }
        }
        i = j;
    }
    heads.into_iter().map(|h| h.map(|h| h.sections)).collect()
}

struct Body {
    heading: String,
    words: usize,
    /// Content texts (placeholders and instructions still present: the finders skip them).
    texts: Vec<String>,
    units: Vec<Unit>,
}

fn section_bodies(
    units: &[Unit],
    heads: &[Option<Vec<SectionId>>],
    m: &Matcher,
) -> BTreeMap<SectionId, Body> {
    let mut best: BTreeMap<SectionId, Body> = BTreeMap::new();
    let mut i = 0;
    while i < units.len() {
        let Some(secs) = &heads[i] else {
            i += 1;
            continue;
        };
        let mut j = i + 1;
        // A repeated heading of the same section (a bold "Mål:" inside C) continues it.
        while j < units.len() && heads[j].as_ref().is_none_or(|h| h == secs) {
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
            words,
            texts,
            units: body_units,
        };
        for s in secs {
            let better = best.get(s).is_none_or(|b| body.words > b.words);
            if better {
                best.insert(
                    *s,
                    Body {
                        heading: body.heading.clone(),
                        words: body.words,
                        texts: body.texts.clone(),
                        units: body.units.clone(),
                    },
                );
            }
        }
        i = j;
    }
    best
}

fn unit_words(u: &Unit, m: &Matcher) -> usize {
    match &u.table {
        Some(rows) => rows.iter().flatten().map(|c| m.content_words(c)).sum(),
        None => m.content_words(&u.text),
    }
}

// ---------------------------------------------------------------------------------------------
// Milestone

fn infer_milestone(
    doc: &Document,
    units: &[Unit],
    heads: &[Option<Vec<SectionId>>],
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

fn contains_word(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    hay.match_indices(needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !c.is_alphanumeric())
    })
}

// ---------------------------------------------------------------------------------------------
// Baseline, goal, measurement points, data sources

const NUM: &str = r"\d+(?:[.,]\d+)?";

static PERCENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"(?i)\b{NUM}\s*(?:%|procent\b)")).expect("regex"));
static X_OF_Y: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b\d+\s+av\s+(?:de\s+|totalt\s+)?\d+\b").expect("regex"));
static WITH_UNIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)\b{NUM}\s*(?:dagar|dygn|veckor|timmar|minuter|min|patienter|personer|besök|st|stycken|mmol/mol|mmol/l|mmol|kg|kronor|kr|samtal|ärenden|invånare|individer|recept|remisser|listade|fall|läkemedel|genomgångar|kontakter|vårdplaner|bokningar|uppföljningar|återbesök)\b"
    ))
    .expect("regex")
});
static TIME_UNIT_PERIOD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:inom|om|efter|på|under)\s+(?:de\s+)?(?:närmaste\s+|kommande\s+)?\d+\s*(?:dagar|dygn|veckor|timmar|månader|år)\b").expect("regex")
});
static TARGET_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:öka|minska|höja|sänka|halvera|nå|uppnå|minst|högst|max|maximalt|mer än|fler än|färre än|över|under|till|med|från|ned till|upp till)\s+(?:\w+\s+){0,3}?(\d+(?:[.,]\d+)?)\b").expect("regex")
});
const MONTHS: &str = "januari|februari|mars|april|maj|juni|juli|augusti|september|oktober|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|okt|nov|dec";
static TIME_BOUND: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        r"\b20\d\d-\d{1,2}-\d{1,2}\b".to_string(),
        r"\b\d{1,2}/\d{1,2}(?:[/-]20\d\d)?\b".to_string(),
        format!(r"(?i)\b\d{{1,2}}\s+(?:{MONTHS})\b"),
        format!(r"(?i)\b(?:{MONTHS})\s+(?:månad\s+)?(?:år\s+)?20\d\d\b"),
        r"(?i)\b(?:våren|hösten|sommaren|vintern|vår|höst|sommar|vinter|kvartal\s*\d|q[1-4]|tertial\s*\d|halvår|årsskiftet|utgången av|slutet av|början av|mitten av)\s*(?:av\s+)?(?:år\s+)?20\d\d\b".to_string(),
        r"(?i)\b(?:senast|till|tills|under|innan|före|inför|per|år|t\.o\.m\.?|tom|till och med|from|fr\.o\.m\.?|by|vid)\s+(?:utgången av\s+|slutet av\s+)?(?:år\s+)?20\d\d\b".to_string(),
        r"(?i)\binom\s+(?:de\s+)?(?:närmaste\s+|kommande\s+)?(?:\d+|en|ett|två|tre|fyra|fem|sex|sju|åtta|nio|tio|elva|tolv|arton|tjugofyra)\s+(?:dagar|veckor|månader|år|kvartal|terminer)\b".to_string(),
        r"(?i)\b(?:vecka|v\.|v)\s*\d{1,2}\b(?:\s+20\d\d)?".to_string(),
        format!(r"(?i)\b(?:senast|till|före|innan|under|i)\s+(?:{MONTHS})\b"),
        r"(?i)\b(?:vid\s+)?(?:årets\s+slut|slutet\s+av\s+året|innan\s+årets\s+slut|under\s+året|i\s+år)\b".to_string(),
    ]
    .iter()
    .map(|r| Regex::new(r).expect("regex"))
    .collect()
});
static YEAR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?:19|20)\d\d$").expect("regex"));

/// Measured values in a text: percentages, "x av y", numbers with units.
fn measured_values(text: &str) -> Vec<String> {
    let mut found: Vec<(usize, String)> = Vec::new();
    for re in [&*PERCENT, &*X_OF_Y, &*WITH_UNIT] {
        for m in re.find_iter(text) {
            if !found
                .iter()
                .any(|(s, v)| *s <= m.start() && m.start() < s + v.len())
            {
                found.push((m.start(), m.as_str().trim().to_string()));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, v)| v).collect()
}

/// Sentences of a section: lines are joined first (PDF text breaks sentences across lines),
/// then split after '.', '!' or '?' followed by a capital letter or digit.
fn sentences(texts: &[String]) -> Vec<String> {
    let joined: Vec<String> = texts
        .iter()
        .flat_map(|t| t.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let mut out = Vec::new();
    for t in [joined.join(" ")] {
        for line in t.lines() {
            let mut cur = String::new();
            let chars: Vec<char> = line.chars().collect();
            for (i, c) in chars.iter().enumerate() {
                cur.push(*c);
                let end = matches!(c, '.' | '!' | '?')
                    && chars.get(i + 1).is_some_and(|n| n.is_whitespace())
                    && chars
                        .get(i + 2)
                        .is_some_and(|n| n.is_uppercase() || n.is_numeric());
                if end {
                    out.push(cur.trim().to_string());
                    cur.clear();
                }
            }
            if !cur.trim().is_empty() {
                out.push(cur.trim().to_string());
            }
        }
    }
    out
}

fn excerpt(s: &str) -> String {
    const MAX: usize = 240;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{}…", cut.trim_end())
    }
}

fn find_baseline(texts: &[String]) -> Baseline {
    let mut values = Vec::new();
    let mut first = None;
    for s in sentences(texts) {
        let v = measured_values(&s);
        if !v.is_empty() && first.is_none() {
            first = Some(excerpt(&s));
        }
        values.extend(v);
    }
    Baseline {
        found: !values.is_empty(),
        values,
        excerpt: first,
    }
}

fn is_measurable(s: &str) -> bool {
    if PERCENT.is_match(s) || X_OF_Y.is_match(s) {
        return true;
    }
    // Numbers with units, but not a period such as "inom 6 månader".
    let periods: Vec<(usize, usize)> = TIME_UNIT_PERIOD
        .find_iter(s)
        .map(|m| (m.start(), m.end()))
        .collect();
    let outside = |a: usize| !periods.iter().any(|(p, q)| *p <= a && a < *q);
    if WITH_UNIT.find_iter(s).any(|m| outside(m.start())) {
        return true;
    }
    TARGET_NUMBER
        .captures_iter(s)
        .filter_map(|c| c.get(1))
        .any(|n| !YEAR.is_match(n.as_str()) && outside(n.start()))
}

fn is_time_bound(s: &str) -> bool {
    TIME_BOUND.iter().any(|r| r.is_match(s))
}

fn find_goal(texts: &[String]) -> Goal {
    let content: Vec<String> = sentences(texts)
        .into_iter()
        .filter(|s| count_words(s) >= 3)
        .collect();
    if content.is_empty() {
        return Goal::default();
    }
    let measurable = content.iter().any(|s| is_measurable(s));
    let time_bound = content.iter().any(|s| is_time_bound(s));
    let pick = content
        .iter()
        .find(|s| is_measurable(s) && is_time_bound(s))
        .or_else(|| {
            content
                .iter()
                .find(|s| is_measurable(s) || is_time_bound(s))
        })
        .unwrap_or(&content[0]);
    Goal {
        found: true,
        measurable,
        time_bound,
        excerpt: Some(excerpt(pick)),
    }
}

/// Measurement points in H: data rows with numbers in its tables, or, without a table, the
/// measured values in its text.
fn measurement_points(units: &[Unit]) -> usize {
    let tables: Vec<&Vec<Vec<String>>> = units.iter().filter_map(|u| u.table.as_ref()).collect();
    if !tables.is_empty() {
        return tables
            .iter()
            .map(|rows| {
                rows.iter()
                    .skip(1)
                    .filter(|r| r.iter().any(|c| c.chars().any(|ch| ch.is_ascii_digit())))
                    .count()
            })
            .sum();
    }
    let text: Vec<String> = units.iter().map(|u| u.text.clone()).collect();
    let joined = text.join("\n");
    let mut n = measured_values(&joined).len();
    if n == 0 {
        // Bare numbers that are not years or dates ("mars 45, juni 58").
        static BARE: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(r"\b\d+(?:[.,]\d+)?\b").expect("regex"));
        n = BARE
            .find_iter(&joined)
            .filter(|m| !YEAR.is_match(m.as_str()))
            .count();
    }
    n
}

fn find_sources(doc: &Document, rb: &Rulebook) -> Vec<String> {
    let body = fold(
        &doc.blocks
            .iter()
            .map(Block::text)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rb() -> Rulebook {
        Rulebook::embedded()
    }

    fn h(t: &str) -> Block {
        Block::Heading {
            level: 1,
            text: t.into(),
        }
    }
    fn p(t: &str) -> Block {
        Block::Paragraph {
            text: t.into(),
            bold: false,
        }
    }
    fn b(t: &str) -> Block {
        Block::Paragraph {
            text: t.into(),
            bold: true,
        }
    }
    const LONG: &str = "Vi har under hösten sett att många patienter med diabetes inte får sin årliga fotundersökning i tid, vilket påverkar både livskvalitet och risken för komplikationer för de listade.";

    fn doc(blocks: Vec<Block>) -> Document {
        Document {
            blocks,
            ..Default::default()
        }
    }

    #[test]
    fn heading_forms() {
        let rb = rb();
        let m = Matcher::new(&rb);
        let secs = |t: &str, styled| m.heading(t, styled).map(|h| h.sections);
        assert_eq!(secs("A. Val av förbättringsområde", false), Some(vec!['A']));
        assert_eq!(secs("B) Bakgrund", false), Some(vec!['B']));
        assert_eq!(secs("C: Övergripande mål", false), Some(vec!['C']));
        assert_eq!(secs("D – Nuläge", false), Some(vec!['D']));
        assert_eq!(secs("4. Nuläge", false), Some(vec!['D']));
        assert_eq!(secs("NULAGE", false), Some(vec!['D']));
        assert_eq!(secs("Overgripande mal", false), Some(vec!['C']));
        assert_eq!(secs("D–E. Nuläge och analys", false), Some(vec!['D', 'E']));
        assert_eq!(secs("Nuläge och analys", true), Some(vec!['D', 'E']));
        assert_eq!(secs("Syfte och bakgrund", false), Some(vec!['B']));
        assert_eq!(secs("Orsaksanalys", false), Some(vec!['E']));
        assert_eq!(secs("Sammanfattning", false), Some(vec!['I']));
        assert_eq!(
            secs("I dag får 42 % av patienterna sin undersökning.", false),
            None
        );
        assert_eq!(
            secs("Beskriv varför detta förbättringsområde är valt?", true),
            None
        );
        let toc = m
            .heading("A. Val av förbättringsområde ........ 3", false)
            .unwrap();
        assert!(toc.toc_like);
    }

    #[test]
    fn green_plan_with_baseline_goal_and_sources() {
        let d = doc(vec![
            p("Projektplan 2026 – Vårdcentralen Testby"),
            h("A. Val av förbättringsområde"),
            p(&format!(
                "{LONG} Valet bygger på PrimarvardsKvalitet och Länsbarometern."
            )),
            h("B. Bakgrund"),
            p(LONG),
            h("C. Övergripande mål"),
            p(
                "Andelen patienter med årlig fotundersökning ska öka från 42 % till 80 % senast december 2026, med delmål varje kvartal.",
            ),
            h("D. Nuläge"),
            p(
                "I dag får 42 % av patienterna med diabetes sin fotundersökning inom rekommenderad tid enligt vår uppföljning.",
            ),
            h("E. Analys av nuläge"),
            p(LONG),
            h("F. Prioritering av förändringar som ska testas"),
            p(LONG),
        ]);
        let a = analyse(&d, &rb(), None);
        assert_eq!(a.milestone, 1);
        assert_eq!(a.grade, Grade::Green, "{a:#?}");
        assert!(a.baseline.found);
        assert_eq!(a.baseline.values, vec!["42 %"]);
        assert!(a.goal.measurable && a.goal.time_bound);
        assert_eq!(
            a.data_sources,
            vec!["PrimärvårdsKvalitet", "Länsbarometern"]
        );
        assert_eq!(a.section('G').status, Status::Ok);
        assert!(!a.section('H').required);
    }

    #[test]
    fn placeholders_instructions_and_toc_are_not_content() {
        let d = doc(vec![
            p("Innehållsförteckning"),
            p("A. Val av förbättringsområde\t2"),
            p("B. Bakgrund\t2"),
            p("C. Övergripande mål\t3"),
            b("A. Val av förbättringsområde"),
            p(LONG),
            b("B. Bakgrund"),
            p(
                "Beskriv varför detta förbättringsområde är valt? Varför just nu? Samt hur det relaterar patientnytta ur ett kliniskt perspektiv utifrån den listade befolkningens behov.",
            ),
            b("C. Övergripande mål"),
            p("Ej ifyllt"),
            b("D. Nuläge"),
            p("Se bilaga"),
        ]);
        let a = analyse(&d, &rb(), Some(1));
        assert_eq!(a.section('A').status, Status::Ok);
        assert_eq!(a.section('B').status, Status::Weak);
        assert_eq!(a.section('C').status, Status::Weak);
        assert_eq!(a.section('D').status, Status::Weak);
        assert_eq!(a.section('E').status, Status::Missing);
        assert_eq!(a.grade, Grade::Red);
    }

    #[test]
    fn template_table_is_unrolled() {
        let rows = vec![
            vec!["A. Val av förbättringsområde".to_string(), LONG.to_string()],
            vec!["B. Bakgrund".to_string(), LONG.to_string()],
            vec!["C. Övergripande mål".to_string(), String::new()],
        ];
        let a = analyse(&doc(vec![Block::Table { rows }]), &rb(), Some(1));
        assert_eq!(a.section('A').status, Status::Ok);
        assert_eq!(a.section('B').status, Status::Ok);
        assert_eq!(a.section('C').status, Status::Weak);
    }

    #[test]
    fn h_needs_two_measurement_points() {
        let one = doc(vec![
            p("Slutrapport"),
            h("H. Analys och resultat"),
            p(&format!("{LONG} Efter testerna är andelen nu 58 %.")),
        ]);
        let a = analyse(&one, &rb(), None);
        assert_eq!(a.milestone, 2);
        assert_eq!(a.h_points, Some(1));
        assert_eq!(a.section('H').status, Status::Weak);
        assert_eq!(a.notes.len(), 1);
        let table = doc(vec![
            h("H. Analys och resultat"),
            p(LONG),
            Block::Table {
                rows: vec![
                    vec!["Mätpunkt".into(), "Andel".into()],
                    vec!["Mars".into(), "45 %".into()],
                    vec!["Juni".into(), "58 %".into()],
                ],
            },
        ]);
        let a = analyse(&table, &rb(), Some(2));
        assert_eq!(a.h_points, Some(2));
        assert_eq!(a.section('H').status, Status::Ok);
    }

    #[test]
    fn goal_flags() {
        let g = |t: &str| find_goal(&[t.to_string()]);
        let both = g("Andelen ska öka till 80 % senast december 2026.");
        assert!(both.measurable && both.time_bound);
        let period = g("Vi vill förbättra flödet för patienterna inom sex månader.");
        assert!(!period.measurable && period.time_bound);
        let not_time = g("Väntetiden ska vara högst 14 dagar för alla patienter.");
        assert!(not_time.measurable && !not_time.time_bound);
        let neither = g("Vi vill att patienterna ska bli mer nöjda med vården.");
        assert!(neither.found && !neither.measurable && !neither.time_bound);
        let year_only = g("Målet är att arbeta bättre under 2026 med detta.");
        assert!(!year_only.measurable && year_only.time_bound);
    }

    #[test]
    fn sources_only_from_the_body() {
        let mut d = doc(vec![p(
            "Vi följer LANSBAROMETERN och vårdcentralens dashboard noga.",
        )]);
        d.furniture.push("Källa: PrimärvårdsKvalitet".into());
        let a = analyse(&d, &rb(), Some(1));
        assert_eq!(
            a.data_sources,
            vec!["Vårdcentralens dashboard", "Länsbarometern"]
        );
    }
}
