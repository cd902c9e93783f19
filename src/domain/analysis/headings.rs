//! Step 2–3: which units are section headings (labels, titles, synonyms, key-idea scores),
//! and which are table-of-contents entries.

use memchr::memmem::Finder;

use super::heading_patterns::{combined, letter, number, toc_tail_start};
use super::units::Unit;
use crate::domain::document::{count_words, count_words_to};
use crate::domain::normalize::{bare, fold, fold_bare};
use crate::domain::rulebook::{Rulebook, SectionId};

pub(super) struct Matcher {
    /// (folded term, section) for titles and synonyms, longest first.
    pub(super) terms: Vec<(String, SectionId)>,
    pub(super) placeholders: Vec<String>,
    /// The template's instruction text and the rulebook's questions (folded): not content.
    pub(super) instructions: Vec<String>,
    /// Substring searchers for the instructions of at least 12 bytes, in `instructions` order
    /// (built once: `str::contains` builds a searcher on every call, which made
    /// `content_words` the costliest step of a PDF's analysis; and only when a text holds the
    /// instruction's first bytes, which a short plan's text mostly does not).
    long_instructions: Vec<LazyFinder>,
    /// Key ideas per section: (folded words, section, weight).
    keywords: Vec<(Vec<String>, SectionId, f64)>,
    min_score: f64,
    /// Headings of no section (folded).
    others: Vec<String>,
}

/// How a heading was recognised (reported as `matched_by` in the JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A letter label ("C.", "D–E.") with a title, or a letter label of an emphasised line.
    Label,
    /// The rulebook's title or one of its synonyms.
    Title,
    /// The section's key ideas, scored.
    Keywords,
    /// A heading of no section (Budget, Bilagor ...): ends the section before it.
    Other,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Label => "label",
            Rule::Title => "title",
            Rule::Keywords => "keywords",
            Rule::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct HeadingMatch {
    /// Empty for a heading that belongs to no section.
    pub(super) sections: Vec<SectionId>,
    /// The line looks like a table-of-contents entry (dot leaders, trailing page number).
    pub(super) toc_like: bool,
    pub(super) rule: Rule,
    /// 1.0 for labels and titles; for key ideas the winning share of the two best sums.
    pub(super) score: f64,
}

impl HeadingMatch {
    fn new(sections: Vec<SectionId>, toc_like: bool, rule: Rule) -> HeadingMatch {
        HeadingMatch {
            sections,
            toc_like,
            rule,
            score: 1.0,
        }
    }
}

/// Folded words of a text (letters and digits only).
fn words_of(f: &str) -> Vec<&str> {
    f.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect()
}

fn key_fits(key: &str, word: &str) -> bool {
    match key.strip_suffix('*') {
        Some(stem) => word.starts_with(stem),
        None => word == key,
    }
}

impl Matcher {
    pub(super) fn new(rb: &Rulebook) -> Matcher {
        let mut terms = Vec::new();
        let mut keywords = Vec::new();
        for s in &rb.sections {
            terms.push((fold_bare(&s.title), s.id));
            for syn in &s.synonyms {
                terms.push((fold_bare(syn), s.id));
            }
            for (k, w) in &s.keywords {
                let f = fold(k);
                let ws: Vec<String> = f
                    .split(|c: char| !(c.is_alphanumeric() || c == '*'))
                    .filter(|w| !w.is_empty())
                    .map(String::from)
                    .collect();
                if !ws.is_empty() {
                    keywords.push((ws, s.id, *w));
                }
            }
        }
        terms.sort_by_key(|t| std::cmp::Reverse(t.0.len()));
        let instructions = rb
            .sections
            .iter()
            .flat_map(|s| s.instructions.iter().chain(&s.questions))
            .map(|i| fold(i))
            .filter(|i| !i.is_empty())
            .collect::<Vec<String>>();
        let long_instructions = instructions
            .iter()
            .filter(|i| i.len() >= LazyFinder::HEAD)
            .map(|i| LazyFinder::new(i))
            .collect();
        Matcher {
            terms,
            placeholders: rb.placeholders.iter().map(|p| fold_bare(p)).collect(),
            instructions,
            long_instructions,
            keywords,
            min_score: rb.min_heading_score,
            others: rb.other_headings.iter().map(|o| fold_bare(o)).collect(),
        }
    }

    fn term(&self, r: &str) -> Option<SectionId> {
        self.terms.iter().find(|(t, _)| t == r).map(|(_, id)| *id)
    }

    /// Sections a title (without label) names: exact term, a term followed by more words
    /// (only when `loose`), "X och Y" where both halves are terms, or a bilingual
    /// "English / Svenska" where one half is a term.
    pub(super) fn title_sections(&self, rest: &str, loose: bool) -> Option<Vec<SectionId>> {
        let r = fold_bare(rest);
        if r.is_empty() {
            return None;
        }
        if let Some(id) = self.term(&r) {
            return Some(vec![id]);
        }
        for sep in [" och ", " & ", " samt ", " / ", " - ", "/", " | "] {
            if let Some((a, b)) = r.split_once(sep) {
                let (a, b) = (fold_bare(a), fold_bare(b));
                match (self.term(&a), self.term(&b)) {
                    (Some(x), Some(y)) if x != y => {
                        let mut v = vec![x, y];
                        v.sort();
                        return Some(v);
                    }
                    (Some(x), _) | (None, Some(x)) if sep.contains(['/', '-', '|']) => {
                        return Some(vec![x]);
                    }
                    _ => {}
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

    /// The section whose key ideas a (folded) heading names, with the winning share of the
    /// two best sums; None below the rulebook's minimum or on a tie.
    pub(super) fn score(&self, f: &str) -> Option<(SectionId, f64)> {
        let words = words_of(f);
        let mut sums: Vec<(SectionId, f64)> = Vec::new();
        for (key, id, w) in &self.keywords {
            let fits = words
                .windows(key.len())
                .any(|win| win.iter().zip(key).all(|(word, k)| key_fits(k, word)));
            if fits {
                match sums.iter_mut().find(|(s, _)| s == id) {
                    Some((_, v)) => *v += w,
                    None => sums.push((*id, *w)),
                }
            }
        }
        sums.sort_by(|a, b| b.1.total_cmp(&a.1));
        let (best, top) = *sums.first()?;
        let second = sums.get(1).map_or(0.0, |s| s.1);
        if top < self.min_score || top <= second {
            return None;
        }
        Some((best, (top / (top + second) * 100.0).round() / 100.0))
    }

    /// A heading of no section ("Budget", "Bilaga 2 – Mätdata").
    fn is_other(&self, f: &str) -> bool {
        let b = fold_bare(f);
        self.others.iter().any(|o| {
            b.starts_with(o.as_str()) && b[o.len()..].starts_with(|c: char| !c.is_alphanumeric())
                || b == *o
        })
    }

    /// The rulebook's own question or instruction (a template left in), not the author's.
    fn is_template_text(&self, f: &str) -> bool {
        let b = fold_bare(f);
        count_words_to(&b, 2) >= 2
            && self
                .instructions
                .iter()
                .any(|i| i.contains(b.as_str()) || b.contains(fold_bare(i).as_str()))
    }

    /// Whether a line is a section heading, and of which sections.
    /// `apart`: an unstyled short line set apart from the text (see `units::mark_apart`); it
    /// may be taken for a section by its key ideas, like an emphasised line.
    pub(super) fn heading(&self, line: &str, styled: bool, apart: bool) -> Option<HeadingMatch> {
        let raw = line.trim();
        if raw.is_empty() {
            return None;
        }
        let mut toc_like = false;
        let mut text = raw.to_string();
        // The cheap first-character and digit tests below are necessary conditions of the
        // regexes after them: they spare compiling a regex a document never needs.
        if let Some(start) = raw
            .contains(char::is_numeric)
            .then(|| toc_tail_start(raw))
            .flatten()
        {
            toc_like = true;
            text = raw[..start].to_string();
        }
        let f = fold(&text);
        let words = count_words(&f);
        if words == 0 || words > 16 {
            return None;
        }
        let caps = text.chars().any(char::is_alphabetic)
            && text
                .chars()
                .filter(|c| c.is_alphabetic())
                .all(char::is_uppercase);
        let emphasised = styled || caps;
        if f.ends_with('?') {
            // The author's own question as a heading ("Vad vill vi uppnå?"); the region's
            // question left in the template is not one.
            if !(emphasised || apart) || words > 14 || self.is_template_text(&f) {
                return None;
            }
            let q = f.trim_end_matches(['?', ' ']);
            if let Some(sections) = self.title_sections(q, false) {
                return Some(HeadingMatch::new(sections, toc_like, Rule::Title));
            }
            return self.score(q).map(|(id, score)| HeadingMatch {
                sections: vec![id],
                toc_like,
                rule: Rule::Keywords,
                score,
            });
        }

        let first = f.chars().next().unwrap_or(' ');
        if let Some(c) = ('a'..='i').contains(&first).then(|| combined(&f)).flatten() {
            let (a, b) = (c.first, c.last);
            let rest = c.rest.to_string();
            if a < b && (b as u32 - a as u32) <= 2 {
                let title = self.title_sections(&rest, true);
                if title.is_some() || emphasised || rest.is_empty() {
                    let sections = (a..=b).map(|x| x.to_ascii_uppercase()).collect();
                    return Some(HeadingMatch::new(sections, toc_like, Rule::Label));
                }
            }
        }
        if let Some(c) = (('a'..='i').contains(&first) || first == 's' || first == 'p')
            .then(|| letter(&f))
            .flatten()
        {
            let letter = c.letter.to_ascii_uppercase();
            let rest = c.rest.to_string();
            if let Some(secs) = self.title_sections(&rest, true) {
                // A label and a title that disagree: the title says what the content is,
                // unless the label names a section whose synonyms the title also fits.
                let sections = if secs.contains(&letter) {
                    vec![letter]
                } else {
                    secs
                };
                return Some(HeadingMatch::new(sections, toc_like, Rule::Label));
            }
            // A label whose words name the same section's ideas needs no emphasis.
            let agrees = count_words_to(&rest, 9) <= 8
                && self.score(&rest).is_some_and(|(id, _)| id == letter);
            if (rest.is_empty() && (emphasised || raw.len() <= 3))
                || (emphasised && count_words_to(&rest, 9) <= 8)
                || agrees
            {
                return Some(HeadingMatch::new(vec![letter], toc_like, Rule::Label));
            }
            return None;
        }
        if let Some(c) = first.is_numeric().then(|| number(&f)).flatten() {
            let rest = c.to_string();
            if let Some(sections) = self.title_sections(&rest, true) {
                return Some(HeadingMatch::new(sections, toc_like, Rule::Title));
            }
            return (emphasised && count_words_to(&rest, 11) <= 10)
                .then(|| self.score(&rest))
                .flatten()
                .map(|(id, score)| HeadingMatch {
                    sections: vec![id],
                    toc_like,
                    rule: Rule::Keywords,
                    score,
                });
        }
        if let Some(sections) = self.title_sections(&f, emphasised && words <= 10) {
            return Some(HeadingMatch::new(sections, toc_like, Rule::Title));
        }
        // An address line or a sentence is no heading.
        if !(emphasised || apart) || words > 10 || f.ends_with(['.', ',', ';']) || f.contains('@') {
            return None;
        }
        if self.is_other(&f) {
            return Some(HeadingMatch::new(Vec::new(), toc_like, Rule::Other));
        }
        self.score(&f).map(|(id, score)| HeadingMatch {
            sections: vec![id],
            toc_like,
            rule: Rule::Keywords,
            score,
        })
    }

    pub(super) fn is_placeholder(&self, text: &str) -> bool {
        self.is_placeholder_bare(&fold_bare(text))
    }

    /// [`Self::is_placeholder`] for a string `fold_bare` already returned.
    fn is_placeholder_bare(&self, b: &str) -> bool {
        if self.placeholders.iter().any(|p| p == b) {
            return true;
        }
        // "Se bilaga 2", "Kommer senare!!"
        count_words_to(b, 5) <= 4
            && self
                .placeholders
                .iter()
                .filter(|p| p.chars().filter(|c| c.is_alphabetic()).count() >= 4)
                .any(|p| b.starts_with(p.as_str()))
    }

    /// Content words of a line after removing template instruction text and placeholders.
    pub(super) fn content_words(&self, text: &str) -> usize {
        // Folded once: `fold` returns ASCII text unchanged when folded again, so for ASCII
        // the later `fold_bare` calls reduce to `bare` and the placeholder test to its tail.
        let mut f = fold(text);
        if self.is_placeholder_bare(&bare(&f)) {
            return 0;
        }
        let mut replaced = false;
        for ins in &self.long_instructions {
            if ins.is_in(f.as_bytes()) {
                f = f.replace(ins.needle.as_str(), " ");
                replaced = true;
            }
        }
        let stable = !replaced && f.is_ascii();
        let rest = if stable { bare(&f) } else { fold_bare(&f) };
        if rest.is_empty()
            || if rest.is_ascii() {
                self.is_placeholder_bare(&rest)
            } else {
                self.is_placeholder(&rest)
            }
        {
            return 0;
        }
        // A fragment of an instruction (a wrapped line from a PDF) is not content either.
        let words = count_words(&rest);
        if words >= 2 && self.instructions.iter().any(|i| i.len() >= rest.len()) {
            let finder = Finder::new(rest.as_bytes());
            if self
                .instructions
                .iter()
                .any(|i| i.len() >= rest.len() && finder.find(i.as_bytes()).is_some())
            {
                return 0;
            }
        }
        words
    }
}

/// A substring searcher for one instruction, built the first time a text holds the
/// instruction's first [`Self::HEAD`] bytes (building one costs as much as searching a few
/// kilobytes; every occurrence starts with those bytes, so the test only spares work).
pub(super) struct LazyFinder {
    needle: String,
    finder: std::sync::OnceLock<Finder<'static>>,
}

impl LazyFinder {
    /// The bytes tested first; instructions shorter than this are not cut out of a text.
    pub(super) const HEAD: usize = 12;

    pub(super) fn new(needle: &str) -> LazyFinder {
        assert!(needle.len() >= Self::HEAD);
        LazyFinder {
            needle: needle.to_string(),
            finder: std::sync::OnceLock::new(),
        }
    }

    /// Whether the needle occurs in `hay`.
    pub(super) fn is_in(&self, hay: &[u8]) -> bool {
        let n = self.needle.as_bytes();
        let Some(last_start) = hay.len().checked_sub(n.len()) else {
            return false;
        };
        let head = &n[..Self::HEAD];
        let starts = &hay[..last_start + 1];
        if !memchr::memchr_iter(head[0], starts).any(|i| hay[i..].starts_with(head)) {
            return false;
        }
        self.finder
            .get_or_init(|| Finder::new(n).into_owned())
            .find(hay)
            .is_some()
    }
}

/// A line of dot leaders, optionally with a page number ("........ 3").
pub(super) fn is_leader(s: &str) -> bool {
    let t = s.trim();
    let dots = t
        .chars()
        .filter(|c| matches!(c, '.' | '·' | '…' | '_'))
        .count();
    dots >= 3
        && t.chars()
            .all(|c| matches!(c, '.' | '·' | '…' | '_') || c.is_whitespace() || c.is_ascii_digit())
}

/// Heading decisions per unit index.
pub(super) fn find_headings(units: &[Unit], m: &Matcher) -> Vec<Option<HeadingMatch>> {
    let mut heads: Vec<Option<HeadingMatch>> = units
        .iter()
        .map(|u| {
            if u.table.is_some() {
                None
            } else {
                m.heading(&u.text, u.styled, u.apart)
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
    drop_before_plan(&mut heads);
    heads
}

/// A long document with an annual report before the plan: results and summary headings
/// before the plan's first A–F heading belong to the report, not to H or I, when at least
/// three of A–F follow.
fn drop_before_plan(heads: &mut [Option<HeadingMatch>]) {
    let plan = |h: &HeadingMatch| h.sections.iter().any(|s| ('A'..='F').contains(s));
    let Some(first) = heads.iter().position(|h| h.as_ref().is_some_and(plan)) else {
        return;
    };
    let mut after: Vec<SectionId> = heads[first..]
        .iter()
        .flatten()
        .flat_map(|h| h.sections.iter().copied())
        .filter(|s| ('A'..='F').contains(s))
        .collect();
    after.sort();
    after.dedup();
    if after.len() < 3 {
        return;
    }
    for h in heads[..first].iter_mut() {
        if h.as_ref()
            .is_some_and(|h| h.sections.iter().all(|s| *s == 'H' || *s == 'I'))
        {
            *h = None;
        }
    }
}
