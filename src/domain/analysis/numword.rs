//! A number followed by one of a list of words ("12 dagar", "45 %"), found without a regex.
//!
//! [`find_iter`] finds exactly what the fast form (see `guard.rs`) of
//! `\b\d+(?:[.,]\d+)?\s*(?:w1|w2|…)\b` finds on a lower-cased text, where the fast form has
//! `[0-9]` for `\d` and `[\t-\r ]` for `\s`: compiling such a regex costs more than a small
//! document's whole analysis (issue 11). Why no backtracking is needed: a match starts at a
//! digit after a non-word character; the number can only end where no digit and no `[.,]digit`
//! follows (a shorter number is followed by a digit or `[.,]`, which neither a space nor a word
//! can start with), the spaces likewise end only before a non-space, and of the words the
//! first listed that follows with a word boundary after it wins, as in the regex's
//! leftmost-first alternation. A proptest compares it with the regex.

use regex_syntax::is_word_character as is_word;

/// A word after the number: `text` and whether the regex has `\b` after it (every word here
/// ends in a word character, except `%`, which the patterns list without `\b`).
pub(super) struct Word {
    pub text: &'static str,
    pub boundary: bool,
}

/// Byte ranges of the matches, left to right and non-overlapping, as `Regex::find_iter` gives
/// them. `s` is the lower-cased text; `words` in the pattern's order.
pub(super) fn find_iter(s: &str, words: &[Word]) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    matches(s, |i| {
        let mut j = digits(b, i);
        if j + 1 < b.len() && matches!(b[j], b'.' | b',') && b[j + 1].is_ascii_digit() {
            j = digits(b, j + 1);
        }
        while j < b.len() && matches!(b[j], b'\t'..=b'\r' | b' ') {
            j += 1;
        }
        let rest = &s[j..];
        words.iter().find_map(|w| {
            let after = rest.strip_prefix(w.text)?;
            (!w.boundary || !after.chars().next().is_some_and(is_word)).then(|| j + w.text.len())
        })
    })
}

/// What the fast form of `(?i)\b\d+\s+av\s+(?:de\s+|totalt\s+)?\d+\b` ("12 av 40",
/// "3 av de 9") finds on a lower-cased text. No backtracking either: each `\d+` and `\s+`
/// can only end at the first character outside its class; the optional word is taken when the
/// rest matches after it and never otherwise, since without it the next character is a letter
/// where a digit must be.
pub(super) fn x_of_y(s: &str) -> Vec<(usize, usize)> {
    matches(s, |i| x_of_y_at(s, i))
}

/// Matches that start at an ASCII digit after a non-word character (`\b\d`), left to right
/// and not overlapping; `at` gives the end of a match starting at a byte, if there is one.
pub(super) fn matches(s: &str, at: impl Fn(usize) -> Option<usize>) -> Vec<(usize, usize)> {
    matches_from(s, |c| c.is_ascii_digit(), at)
}

/// [`matches`] for matches that start at a byte `first` accepts after a non-word character.
pub(super) fn matches_from(
    s: &str,
    first: impl Fn(u8) -> bool,
    at: impl Fn(usize) -> Option<usize>,
) -> Vec<(usize, usize)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !first(b[i]) || s[..i].chars().next_back().is_some_and(is_word) {
            i += 1;
            continue;
        }
        match at(i) {
            Some(e) => {
                out.push((i, e));
                i = e;
            }
            None => i += 1,
        }
    }
    out
}

/// The end of an "x av y" match starting at the digit at `i`.
fn x_of_y_at(s: &str, i: usize) -> Option<usize> {
    let b = s.as_bytes();
    let j = spaces(b, digits(b, i))?;
    let j = spaces(b, s[j..].starts_with("av").then_some(j + 2)?)?;
    let number_end = |k: usize| {
        let e = digits(b, k);
        (e > k && !s[e..].chars().next().is_some_and(is_word)).then_some(e)
    };
    ["de", "totalt"]
        .iter()
        .find_map(|w| {
            let k = s[j..].starts_with(w).then_some(j + w.len())?;
            number_end(spaces(b, k)?)
        })
        .or_else(|| number_end(j))
}

/// The end of one or more ASCII spaces (`[\t-\r ]+`) starting at `i`.
pub(super) fn spaces(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while j < b.len() && matches!(b[j], b'\t'..=b'\r' | b' ') {
        j += 1;
    }
    (j > i).then_some(j)
}

/// The end of the ASCII digits starting at `i`.
pub(super) fn digits(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// The regex [`find_iter`] stands for (for tests): the pattern as `guard.rs` writes it.
#[cfg(test)]
pub(super) fn pattern(words: &[Word]) -> String {
    let alts: Vec<String> = words
        .iter()
        .map(|w| {
            let t = regex_syntax::escape(w.text);
            if w.boundary { format!(r"{t}\b") } else { t }
        })
        .collect();
    format!(r"(?i)\b\d+(?:[.,]\d+)?\s*(?:{})", alts.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::analysis::guard::fast_form;
    use proptest::prelude::*;
    use regex::Regex;

    const WORDS: &[Word] = &[
        Word {
            text: "%",
            boundary: false,
        },
        Word {
            text: "procent",
            boundary: true,
        },
        Word {
            text: "mmol/mol",
            boundary: true,
        },
        Word {
            text: "mmol",
            boundary: true,
        },
        Word {
            text: "minuter",
            boundary: true,
        },
        Word {
            text: "min",
            boundary: true,
        },
        Word {
            text: "besök",
            boundary: true,
        },
        Word {
            text: "st",
            boundary: true,
        },
    ];

    fn same(s: &str) -> Result<(), TestCaseError> {
        let re = Regex::new(&fast_form(&pattern(WORDS))).unwrap();
        let want: Vec<_> = re.find_iter(s).map(|m| (m.start(), m.end())).collect();
        prop_assert_eq!(find_iter(s, WORDS), want, "{:?}", s);
        Ok(())
    }

    #[test]
    fn fixed_cases_match_the_regex() {
        for s in [
            "12 dagar och 45 % samt 3,5 procent",
            "1.5%",
            "a1%",
            "x.5%",
            "12,5 st",
            "12,st 3.,min",
            "5 mmol/mol 6 mmol/l 7 mmol",
            "10 minuter 10 min 10 minst 10 mins",
            "20 besök, 20 besöken",
            "3 procentenheter 4 procent_",
            "_5 % é6 % 7\t\n %",
            "1 2 3 %%",
            "",
        ] {
            same(s).unwrap();
        }
        assert_eq!(find_iter("om 12 st", WORDS), vec![(3, 8)]);
        assert!(find_iter("12 stycken", WORDS).is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn agrees_with_the_regex_on_generated_text(
            parts in prop::collection::vec(prop::sample::select(vec![
                "1", "12", "0", ".", ",", " ", "  ", "\t", "\n", "\u{b}", "%", "procent", "mmol",
                "/mol", "/l", "min", "uter", "st", "s", "besök", "ö", "é", "_", "a", "-", "x",
                "\u{a0}", "٣",
            ]), 0..12)
        ) {
            same(&parts.concat())?;
        }
    }
}
