//! Three of the time-bound patterns found without a regex: an ISO date, a day and a month,
//! a month and a year.
//!
//! Each function finds on a lower-cased text exactly what the fast form (see `guard.rs`) of
//! its pattern finds, match for match, as `Regex::find_iter` gives them. These are the
//! time-bound patterns a short plan most often reaches ("senast 2026-06-30", "15 juni",
//! "december 2026"), and compiling them cost about 1.6 M instructions of a small DOCX's check
//! (docs/performance.md, sixth round). No backtracking is needed: every repetition ends at the
//! first character outside its class, because what follows it cannot start with one inside;
//! of the months, the first listed that fits wins, as in the regex's leftmost-first
//! alternation. Tests compare them with the patterns on fixed and generated texts.

use regex_syntax::is_word_character as is_word;

use super::numword::{digits, matches, matches_from, spaces};

/// The short forms after the names (`vocab::MONTHS`), in the order `measures::MONTHS` lists
/// them all (a test checks it).
const SHORT_MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "okt", "nov", "dec",
];

/// Every month word in the pattern's order: its alternation is leftmost-first.
pub(super) fn months() -> impl Iterator<Item = &'static str> {
    crate::domain::vocab::MONTHS
        .iter()
        .chain(SHORT_MONTHS.iter())
        .copied()
}

/// `\b20\d\d-\d{1,2}-\d{1,2}\b`
pub(super) fn iso_date(s: &str) -> Vec<(usize, usize)> {
    matches(s, |i| {
        let b = s.as_bytes();
        if !s[i..].starts_with("20") || digits(b, i + 2) < i + 4 {
            return None;
        }
        let j = one_or_two_digits(b, dash(b, i + 4)?)?;
        let e = one_or_two_digits(b, dash(b, j)?)?;
        boundary_after(s, e)
    })
}

/// `\b\d{1,2}\s+(?:months)\b` (lower-cased text).
pub(super) fn day_month(s: &str) -> Vec<(usize, usize)> {
    matches(s, |i| {
        let b = s.as_bytes();
        let j = one_or_two_digits(b, i)?;
        let k = spaces(b, j)?;
        months().find_map(|m| {
            s[k..]
                .starts_with(m)
                .then(|| boundary_after(s, k + m.len()))
                .flatten()
        })
    })
}

/// `\b(?:months)\s+(?:månad\s+)?(?:år\s+)?20\d\d\b` (lower-cased text).
pub(super) fn month_year(s: &str) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let year_at = |k: usize| {
        let k = optional_word(s, k, "månad");
        let k = optional_word(s, k, "år");
        if s[k..].starts_with("20") && digits(b, k + 2) >= k + 4 {
            boundary_after(s, k + 4)
        } else {
            None
        }
    };
    // A month name starts with one of these letters.
    let initial = |c: u8| matches!(c, b'a' | b'd' | b'f' | b'j' | b'm' | b'n' | b'o' | b's');
    matches_from(s, initial, |i| {
        months().find_map(|m| {
            let k = s[i..].starts_with(m).then(|| spaces(b, i + m.len()))??;
            year_at(k)
        })
    })
}

/// `word\s+` at `k` when it is there, else `k` (the regex's optional group: without it,
/// what follows would have to start where the word's first letter is).
fn optional_word(s: &str, k: usize, word: &str) -> usize {
    if s[k..].starts_with(word)
        && let Some(e) = spaces(s.as_bytes(), k + word.len())
    {
        return e;
    }
    k
}

/// `\d{1,2}` at `i`, not followed by another digit (a shorter or longer run leaves a digit
/// where the pattern needs something else).
fn one_or_two_digits(b: &[u8], i: usize) -> Option<usize> {
    let e = digits(b, i);
    (e > i && e - i <= 2).then_some(e)
}

fn dash(b: &[u8], i: usize) -> Option<usize> {
    (b.get(i) == Some(&b'-')).then_some(i + 1)
}

fn boundary_after(s: &str, e: usize) -> Option<usize> {
    (!s[e..].chars().next().is_some_and(is_word)).then_some(e)
}
