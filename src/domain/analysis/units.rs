//! Step 1: flatten blocks into units (lines), unrolling the region's two-column template table.

use super::headings::{Matcher, Rule};
use crate::domain::document::{Block, count_words_to};

#[derive(Debug, Clone)]
pub(super) struct Unit {
    pub(super) text: String,
    /// Heading style, bold paragraph, or first cell of a template row.
    pub(super) styled: bool,
    /// A table kept whole (rows of cells).
    pub(super) table: Option<Vec<Vec<String>>>,
    pub(super) list_item: bool,
    /// A short line set apart from the text around it (the previous line ends a sentence or a
    /// paragraph): in PDF text, where no style survives, the shape of a heading.
    pub(super) apart: bool,
}

impl Unit {
    pub(super) fn para(text: &str, styled: bool) -> Unit {
        Unit {
            text: text.trim().to_string(),
            styled,
            table: None,
            list_item: false,
            apart: false,
        }
    }
}

pub(super) fn flatten(blocks: &[Block], m: &Matcher) -> Vec<Unit> {
    let mut out = Vec::new();
    for b in blocks {
        match b {
            Block::Heading { text, .. } => push_lines(&mut out, text, true, m),
            Block::Paragraph { text, bold } => push_lines(&mut out, text, *bold, m),
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
                        m.heading(first, true, false)
                            .is_some_and(|h| matches!(h.rule, Rule::Label | Rule::Title))
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
                        apart: false,
                    });
                }
            }
        }
    }
    join_broken_headings(&mut out, m);
    mark_apart(&mut out);
    out
}

/// PDF text may break a heading in two at a soft hyphen or a wide space ("C. Över" /
/// "gripande mål"): join a label line that is no heading with the next short line when
/// together they make a labelled title.
fn join_broken_headings(units: &mut Vec<Unit>, m: &Matcher) {
    let mut i = 0;
    while i + 1 < units.len() {
        let (a, b) = (&units[i], &units[i + 1]);
        let label = a.text.len() <= 40 && label_start(&a.text);
        let candidate = label
            && a.table.is_none()
            && b.table.is_none()
            && count_words_to(&b.text, 7) <= 6
            && m.heading(&a.text, a.styled, false).is_none();
        if candidate {
            let joined = [
                format!("{}{}", a.text, b.text),
                format!("{} {}", a.text, b.text),
            ]
            .into_iter()
            .find(|j| {
                m.heading(j, a.styled, false)
                    .is_some_and(|h| h.rule == Rule::Label && !h.sections.is_empty())
                    && m.title_sections(j.split_once(' ').map_or("", |x| x.1), false)
                        .is_some()
            });
            if let Some(j) = joined {
                units[i].text = j;
                units.remove(i + 1);
            }
        }
        i += 1;
    }
}

/// A line that starts with a section letter label ("C. ", "D) "): what `^[A-Ia-i]\s*[.):]`
/// matches (`\s` and `char::is_whitespace` are both Unicode's White_Space; tested against the
/// regex). Compiling that regex's Unicode class cost ≈ 0.2 M instructions and 80 page faults
/// in a short `check` process.
fn label_start(s: &str) -> bool {
    let mut chars = s.chars();
    if !matches!(chars.next(), Some('A'..='I' | 'a'..='i')) {
        return false;
    }
    matches!(chars.find(|c| !c.is_whitespace()), Some('.' | ')' | ':'))
}

/// A heading written as the start of a line: "Bakgrund: Vi har ...", "C. Mål: ...". Returns
/// the lead-in (before the colon) and the text after it. Matches exactly what
/// `^((?:[A-I][.)]\s*)?\p{Lu}[^:.!?]{0,60}):\s+(\S.*)$` matches on a line without '\n'
/// (tested against that regex): compiling the regex (a Unicode negated class repeated 60
/// times) cost more than reading a small document.
fn lead_in(l: &str) -> Option<(&str, &str)> {
    let colon = l.find(':')?;
    let (head, tail) = (&l[..colon], &l[colon + 1..]);
    let rest = tail.trim_start();
    if rest.len() == tail.len() || rest.is_empty() || rest.contains('\n') {
        return None;
    }
    // An upper-case letter, then at most 60 characters, none of them . ! ? (nor ':', as the
    // colon is the first one).
    let body = |s: &str| {
        let mut cs = s.chars();
        cs.next().is_some_and(is_lu)
            && cs.clone().count() <= 60
            && !cs.any(|c| matches!(c, '.' | '!' | '?'))
    };
    let mut cs = head.chars();
    let labelled = matches!((cs.next(), cs.next()), (Some('A'..='I'), Some('.' | ')')))
        && body(head[2..].trim_start());
    (labelled || body(head)).then_some((head, rest))
}

/// Unicode general category Lu: the `Uppercase` property without `Other_Uppercase` (Roman
/// numerals and circled or squared letters).
fn is_lu(c: char) -> bool {
    c.is_uppercase()
        && !matches!(c,
            '\u{2160}'..='\u{216F}'
            | '\u{24B6}'..='\u{24CF}'
            | '\u{1F130}'..='\u{1F149}'
            | '\u{1F150}'..='\u{1F169}'
            | '\u{1F170}'..='\u{1F189}')
}

pub(super) fn push_lines(out: &mut Vec<Unit>, text: &str, styled: bool, m: &Matcher) {
    // A paragraph with soft line breaks may hold "A. Titel\nInnehåll ..."; split so a heading
    // written on the first line of a paragraph is still seen.
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        let l = l.trim();
        if !styled
            && let Some((head, rest)) = lead_in(l)
            && count_words_to(head, 8) <= 7
            && m.heading(head, false, true)
                .is_some_and(|h| !h.sections.is_empty())
        {
            out.push(Unit::para(&format!("{head}:"), true));
            out.push(Unit::para(rest, false));
            continue;
        }
        out.push(Unit::para(l, styled));
    }
}

/// Mark short lines that stand apart: at most eight words, a capital first, no closing
/// punctuation, and the line before ends a sentence or is much shorter than a full line.
fn mark_apart(units: &mut [Unit]) {
    let full = units
        .iter()
        .filter(|u| u.table.is_none())
        .map(|u| u.text.chars().count())
        .max()
        .unwrap_or(0);
    for i in 0..units.len() {
        let u = &units[i];
        if u.table.is_some() || u.styled || u.list_item {
            continue;
        }
        let t = u.text.trim();
        let shape = count_words_to(t, 9) <= 8
            && t.chars().next().is_some_and(char::is_uppercase)
            && !t.ends_with(['.', ',', ';'])
            && t.chars().count() * 10 < full.max(1) * 6;
        if !shape {
            continue;
        }
        let before = match i.checked_sub(1).map(|p| &units[p]) {
            None => true,
            Some(p) if p.table.is_some() => true,
            Some(p) => {
                let pt = p.text.trim();
                p.styled || pt.ends_with(['.', '!', '?', ':']) || pt.chars().count() * 10 < full * 6
            }
        };
        // A heading is followed by a new sentence (or nothing), not by the rest of its own.
        let after = units.get(i + 1).is_none_or(|n| {
            n.table.is_some()
                || n.text
                    .trim()
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
        });
        units[i].apart = before && after;
    }
}

#[cfg(test)]
mod lead_in_tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn lead_in_matches_what_the_regex_matched() {
        let re = Regex::new(r"^((?:[A-I][.)]\s*)?\p{Lu}[^:.!?]{0,60}):\s+(\S.*)$").unwrap();
        let long = format!("Bakgrund{}: text", " och mer".repeat(8));
        let mut cases: Vec<String> = [
            "Bakgrund: Vi har sett att väntetiderna ökar.",
            "C. Mål: 80 % senast december 2026.",
            "C.Mål: kort",
            "A)  Val av område:\u{a0}diabetes",
            "Bakgrund:Vi",
            "Bakgrund:   ",
            "bakgrund: liten bokstav",
            "Mål. Delmål: nej",
            "Vad vill vi? Svar: ja",
            "Ⅰ Romersk: nej",
            "Ärende: ja",
            "İnom: ja",
            "C. mål: liten",
            "J. Utanför: ja",
            "X: y",
            ": tomt",
            "Mål: a: b",
            "Tid kl. 10: nej",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        cases.push(long);
        cases.push(format!("Rubrik{}: text", "x".repeat(59)));
        cases.push(format!("Rubrik{}: text", "x".repeat(56)));
        for c in &cases {
            let want = re
                .captures(c)
                .map(|m| (m.get(1).unwrap().as_str(), m.get(2).unwrap().as_str()));
            assert_eq!(lead_in(c), want, "{c:?}");
        }
    }

    #[test]
    fn label_start_matches_what_the_regex_matched() {
        let re = Regex::new(r"^[A-Ia-i]\s*[.):]").unwrap();
        let mut n = 0;
        for first in ["A", "I", "a", "i", "J", "j", "Ä", "1", "", " A"] {
            for space in [
                "", " ", "\t", "\u{a0}", "\u{2003}", "\u{3000}", "\u{200b}", " \n ", "x",
            ] {
                for last in [".", ")", ":", "(", ",", "", " ."] {
                    let t = format!("{first}{space}{last} rest");
                    assert_eq!(label_start(&t), re.is_match(&t), "{t:?}");
                    n += usize::from(label_start(&t));
                }
            }
        }
        assert!(n > 50, "{n}");
    }
}
