//! The heading detection's four patterns, matched by hand.
//!
//! Each function returns exactly what its regex (in the doc comment, as it was written before)
//! returns: the same match, the same groups. They follow the regex's leftmost-first order of
//! alternatives and repetitions step by step, so their captures are those of a backtracking
//! engine, which the regex crate's leftmost-first semantics equal. `\s` is Unicode's
//! White_Space, which is what `char::is_whitespace` tests. `\d` is Unicode's decimal digits:
//! where a text holds a non-ASCII numeric character, the regex itself decides (compiled on
//! first use); everywhere else `\d` is `[0-9]`. Tests compare each function with its regex on
//! fixed and generated texts (ASCII, Swedish letters, Unicode spaces, leaders, other digits).
//!
//! Why by hand: compiling the four regexes cost more CPU than reading a small document
//! (docs/performance.md, issue 11).

use std::sync::LazyLock;

use regex::Regex;

/// `(?:\s*[.·…_]{3,}\s*|\t+\s*)\d{1,3}\s*$`
const TOC_TAIL_RE: &str = r"(?:\s*[.·…_]{3,}\s*|\t+\s*)\d{1,3}\s*$";
/// `^([a-i])\s*(?:-|och|&|/|,)\s*([a-i])\s*(?:[.):]\s*|\s+-\s+|\s+)(.*)$` (only ASCII letters
/// decide, so the tests alone compile it)
#[cfg(test)]
const COMBINED_RE: &str = r"^([a-i])\s*(?:-|och|&|/|,)\s*([a-i])\s*(?:[.):]\s*|\s+-\s+|\s+)(.*)$";
/// `^(?:(?:steg|del|avsnitt|punkt)\s+)?([a-i])\s*(?:[.):]|\s-\s|$)\s*(.*)$` (tests only, as above)
#[cfg(test)]
const LETTER_RE: &str = r"^(?:(?:steg|del|avsnitt|punkt)\s+)?([a-i])\s*(?:[.):]|\s-\s|$)\s*(.*)$";
/// `^(\d{1,2})\s*[.):]\s*(.*)$`
const NUMBER_RE: &str = r"^(\d{1,2})\s*[.):]\s*(.*)$";

static TOC_TAIL: LazyLock<Regex> = LazyLock::new(|| Regex::new(TOC_TAIL_RE).expect("regex"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(NUMBER_RE).expect("regex"));

/// Two letter labels ("d-e. Aktiviteter"): the two letters and the rest of the line.
pub(super) struct Combined<'a> {
    pub first: char,
    pub last: char,
    pub rest: &'a str,
}

/// One letter label ("c.", "steg c:"): the letter and the rest of the line.
pub(super) struct Letter<'a> {
    pub letter: char,
    pub rest: &'a str,
}

/// Where a table-of-contents tail (dot leaders or tabs, then a page number) starts.
pub(super) fn toc_tail_start(s: &str) -> Option<usize> {
    if has_other_digits(s) {
        return TOC_TAIL.find(s).map(|m| m.start());
    }
    // From the end: white space, then the page number (1–3 digits, not part of a longer
    // number), then white space before it.
    let end = trim_ws_end(s, s.len());
    let digits = s[..end]
        .bytes()
        .rev()
        .take_while(u8::is_ascii_digit)
        .count();
    if digits == 0 || digits > 3 {
        return None;
    }
    let j = end - digits;
    let k = trim_ws_end(s, j);
    // Leaders before that white space: three or more, then the white space before them.
    let l = s[..k]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_leader(*c))
        .last()
        .map_or(k, |(i, _)| i);
    if s[l..k].chars().count() >= 3 {
        return Some(trim_ws_end(s, l));
    }
    // Otherwise tabs and white space only: from the first tab of that white space.
    s[k..j].find('\t').map(|t| k + t)
}

/// `^([a-i])\s*(?:-|och|&|/|,)\s*([a-i])\s*(?:[.):]\s*|\s+-\s+|\s+)(.*)$`.
pub(super) fn combined(s: &str) -> Option<Combined<'_>> {
    let first = label_letter(s, 0)?;
    let p = ws_end(s, 1);
    let sep = ["-", "och", "&", "/", ","]
        .iter()
        .find(|t| s[p..].starts_with(**t))?;
    let q = ws_end(s, p + sep.len());
    let last = label_letter(s, q)?;
    let r = q + 1;
    let ws = ws_end(s, r);
    // `\s*` gives back one character at a time, and at each length the three alternatives
    // are tried in order.
    for k in ws_positions_backwards(s, r, ws) {
        let after_ws = ws_end(s, k);
        let alternatives = [
            s[k..]
                .starts_with(['.', ')', ':'])
                .then(|| ws_end(s, k + 1)),
            (after_ws > k && s[after_ws..].starts_with('-'))
                .then(|| ws_end(s, after_ws + 1))
                .filter(|w| *w > after_ws + 1),
            (after_ws > k).then_some(after_ws),
        ];
        for w in alternatives.into_iter().flatten() {
            if let Some(rest) = rest_of_line(s, w) {
                return Some(Combined { first, last, rest });
            }
        }
    }
    None
}

/// `^(?:(?:steg|del|avsnitt|punkt)\s+)?([a-i])\s*(?:[.):]|\s-\s|$)\s*(.*)$`.
pub(super) fn letter(s: &str) -> Option<Letter<'_>> {
    // A prefix word and at least one space after it.
    let prefixed = ["steg", "del", "avsnitt", "punkt"].iter().find_map(|w| {
        let p = s.starts_with(w).then(|| ws_end(s, w.len()))?;
        (p > w.len()).then_some(p)
    });
    // The optional prefix is tried first, then the line without it.
    for p in prefixed.into_iter().chain([0]) {
        let Some(letter) = label_letter(s, p) else {
            continue;
        };
        let r = p + 1;
        for k in ws_positions_backwards(s, r, ws_end(s, r)) {
            let rest = &s[k..];
            let mut after = None;
            if rest.starts_with(['.', ')', ':']) {
                after = Some(k + 1);
            } else if let Some(c) = rest.chars().next()
                && c.is_whitespace()
                && rest[c.len_utf8()..].starts_with('-')
                && rest[c.len_utf8() + 1..]
                    .chars()
                    .next()
                    .is_some_and(char::is_whitespace)
            {
                let c2 = rest[c.len_utf8() + 1..].chars().next().unwrap_or(' ');
                after = Some(k + c.len_utf8() + 1 + c2.len_utf8());
            } else if rest.is_empty() {
                after = Some(k);
            }
            if let Some(a) = after
                && let Some(rest) = rest_of_line(s, ws_end(s, a))
            {
                return Some(Letter { letter, rest });
            }
        }
    }
    None
}

/// `^(\d{1,2})\s*[.):]\s*(.*)$`: the rest of the line after a heading number.
pub(super) fn number(s: &str) -> Option<&str> {
    if has_other_digits(s) {
        return NUMBER
            .captures(s)
            .map(|c| c.get(2).map_or("", |m| m.as_str()));
    }
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 2 {
        return None;
    }
    // A shorter `\d{1,2}` leaves a digit where `\s` or `[.):]` must be: no match.
    let k = ws_end(s, digits);
    if !s[k..].starts_with(['.', ')', ':']) {
        return None;
    }
    rest_of_line(s, ws_end(s, k + 1))
}

/// `(.*)$` from `w`: the rest, if it holds no line break. (A shorter `\s*` before it only adds
/// white space to the rest, and cannot remove a line break from it.)
fn rest_of_line(s: &str, w: usize) -> Option<&str> {
    (!s[w..].contains('\n')).then(|| &s[w..])
}

/// The ASCII letter a–i at byte `i`.
fn label_letter(s: &str, i: usize) -> Option<char> {
    s.as_bytes()
        .get(i)
        .filter(|b| (b'a'..=b'i').contains(b))
        .map(|b| *b as char)
}

/// End of the white space run starting at byte `i`.
fn ws_end(s: &str, i: usize) -> usize {
    i + s[i..]
        .char_indices()
        .find(|(_, c)| !c.is_whitespace())
        .map_or(s.len() - i, |(k, _)| k)
}

/// Start of the white space run ending at byte `i`.
fn trim_ws_end(s: &str, i: usize) -> usize {
    s[..i].trim_end_matches(char::is_whitespace).len()
}

/// The ends a greedy `\s*` from `r` (to `ws` at most) tries, longest first.
fn ws_positions_backwards(s: &str, r: usize, ws: usize) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(ws).chain(s[r..ws].char_indices().rev().map(move |(k, _)| r + k))
}

fn is_leader(c: char) -> bool {
    matches!(c, '.' | '·' | '…' | '_')
}

/// A numeric character outside ASCII, for which `\d` may differ from `[0-9]`.
fn has_other_digits(s: &str) -> bool {
    !s.is_ascii() && s.chars().any(|c| !c.is_ascii() && c.is_numeric())
}

#[cfg(test)]
mod tests;
