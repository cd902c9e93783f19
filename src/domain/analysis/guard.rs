//! Regexes compiled only when a document needs them.
//!
//! Compiling the analysis' Unicode-aware, case-insensitive regexes costs more CPU than
//! analysing a small document (issue 11, "Speed"). A [`Guarded`] regex carries a cheap
//! necessary condition, checked with plain string scans on a [`Prefilter`]: a digit for
//! patterns with `\d`, and words the pattern cannot match without. When the condition fails
//! the regex cannot match, so it is neither compiled nor run; results are unchanged.

use std::sync::OnceLock;

use regex::Regex;

/// What a text offers the prefilters: whether it has a digit, and its lower-cased form.
pub(super) struct Prefilter<'a> {
    pub raw: &'a str,
    digit: bool,
    lower: String,
}

impl<'a> Prefilter<'a> {
    pub fn new(raw: &'a str) -> Self {
        Prefilter {
            raw,
            digit: has_digit(raw),
            lower: lower(raw),
        }
    }

    /// True when the text holds at least one word of every group.
    fn has_words(&self, groups: &[&[&str]]) -> bool {
        groups
            .iter()
            .all(|g| g.iter().any(|w| self.lower.contains(w)))
    }
}

/// A superset of what `\d` matches (Unicode `Nd`): `char::is_numeric` also takes `Nl`, `No`.
pub(super) fn has_digit(s: &str) -> bool {
    s.chars().any(char::is_numeric)
}

/// Lower case such that every string a `(?i)` literal in lower case matches contains that
/// literal: `to_lowercase` maps the Kelvin and Ångström signs to `k` and `å`; the long s is
/// the one simple case fold of a Swedish letter it leaves alone.
fn lower(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ſ' { 's' } else { c })
        .collect()
}

/// Whether a guarded pattern needs a digit in the text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    Digit,
    Nothing,
}

/// A regex with a necessary condition, compiled on first use past the condition.
pub(super) struct Guarded {
    need: Need,
    /// Lower-case words; the text must hold one word of each group.
    words: &'static [&'static [&'static str]],
    pattern: fn() -> String,
    re: OnceLock<Regex>,
}

impl Guarded {
    pub const fn new(
        need: Need,
        words: &'static [&'static [&'static str]],
        pattern: fn() -> String,
    ) -> Self {
        Guarded {
            need,
            words,
            pattern,
            re: OnceLock::new(),
        }
    }

    /// The compiled regex, when the prefilter admits the text (else it cannot match).
    pub fn get(&self, text: &Prefilter) -> Option<&Regex> {
        if self.need == Need::Digit && !text.digit || !text.has_words(self.words) {
            return None;
        }
        Some(
            self.re
                .get_or_init(|| Regex::new(&(self.pattern)()).expect("regex")),
        )
    }

    pub fn is_match(&self, text: &Prefilter) -> bool {
        self.get(text).is_some_and(|r| r.is_match(text.raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static YEAR_WORD: Guarded = Guarded::new(Need::Digit, &[&["år"]], || {
        r"(?i)\bår\s+20\d\d\b".to_string()
    });

    #[test]
    fn prefilter_keeps_every_case_variant_a_case_insensitive_regex_matches() {
        for s in ["år 2026", "ÅR 2026", "\u{212b}r 2026", "Är år 2027"] {
            assert!(YEAR_WORD.is_match(&Prefilter::new(s)), "{s}");
        }
        assert_eq!(lower("\u{212a}ALLA BAſ"), "kalla bas");
    }

    #[test]
    fn a_text_without_the_digit_or_word_is_rejected_without_compiling() {
        static UNUSED: Guarded = Guarded::new(Need::Digit, &[&["vecka"]], || "(".to_string());
        // The pattern does not even compile: reaching it would panic.
        assert!(!UNUSED.is_match(&Prefilter::new("vecka utan siffror")));
        assert!(!UNUSED.is_match(&Prefilter::new("12 dagar")));
        assert!(UNUSED.re.get().is_none());
        assert!(!has_digit("inga siffror"));
        assert!(has_digit("\u{0663} (arabisk-indisk trea)"));
    }
}
