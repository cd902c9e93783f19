//! Regexes compiled only when a document needs them.
//!
//! Compiling the analysis' Unicode-aware, case-insensitive regexes costs more CPU than
//! analysing a small document (issue 11, "Speed"). A [`Guarded`] regex carries a cheap
//! necessary condition, checked with plain string scans on a [`Prefilter`]: a digit for
//! patterns with `\d`, and words the pattern cannot match without. When the condition fails
//! the regex cannot match, so it is neither compiled nor run; results are unchanged.

use std::sync::OnceLock;

use regex::Regex;

/// What a text offers the prefilters and the fast form of a pattern: whether it has a digit,
/// its lower-cased form, and whether that form lines up byte for byte with the text while
/// its digits and spaces are all ASCII (then the fast form applies, see [`Guarded`]).
pub(super) struct Prefilter<'a> {
    pub raw: &'a str,
    digit: bool,
    lower: String,
    /// Every character lower-cases to one character of the same UTF-8 length, and no
    /// character outside ASCII is one that `\d` or `\s` could match.
    fast: bool,
}

impl<'a> Prefilter<'a> {
    pub fn new(raw: &'a str) -> Self {
        let mut fast = true;
        let mut lower = String::with_capacity(raw.len());
        for c in raw.chars() {
            let mut l = c.to_lowercase();
            let one = match (l.next(), l.next()) {
                (Some(x), None) => x,
                (Some(x), Some(_)) => {
                    // Several characters: the text no longer lines up (İ → i̇).
                    fast = false;
                    lower.push(x);
                    lower.extend(c.to_lowercase().skip(1));
                    continue;
                }
                (None, _) => c,
            };
            let one = if one == 'ſ' { 's' } else { one };
            if one.len_utf8() != c.len_utf8()
                || (!c.is_ascii() && (c.is_numeric() || c.is_whitespace()))
            {
                fast = false;
            }
            lower.push(one);
        }
        Prefilter {
            raw,
            digit: has_digit(raw),
            lower,
            fast,
        }
    }

    /// Whether the fast form of a pattern applies to this text.
    #[cfg(test)]
    pub fn is_fast(&self) -> bool {
        self.fast
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
#[cfg(test)]
fn lower(s: &str) -> String {
    Prefilter::new(s).lower
}

/// Finds byte ranges of matches, as `Regex::find_iter` would (see [`Guarded::lookup`]).
pub(super) type Lookup = fn(&str) -> Vec<(usize, usize)>;

/// Whether a guarded pattern needs a digit in the text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    Digit,
    Nothing,
}

/// A regex with a necessary condition, compiled on first use past the condition, in one of
/// two forms:
/// - the fast form, for texts whose [`Prefilter`] lines up with its lower-cased copy and
///   whose digits and spaces are ASCII (nearly every text): the pattern without `(?i)`, with
///   `\d` and `\s` as ASCII classes, run on the lower-cased copy. Case-insensitive Unicode
///   alternations are most of the cost of compiling a pattern (three times the NFA); the
///   pattern's literals are lower case, so on the lower-cased text the case-sensitive form
///   matches exactly where `(?i)` matches on the text, at the same byte offsets;
/// - the pattern as written, run on the text itself, for every other text.
pub(super) struct Guarded {
    need: Need,
    /// Lower-case words; the text must hold one word of each group.
    words: &'static [&'static [&'static str]],
    pub(super) pattern: fn() -> String,
    /// A function that finds on a lower-cased text exactly what the fast form finds
    /// (`super::numword`): then the fast form's regex is never compiled.
    lookup: Option<Lookup>,
    /// The fast form, and whether it runs on the lower-cased copy (the pattern had `(?i)`).
    fast: OnceLock<(Regex, bool)>,
    re: OnceLock<Regex>,
}

/// The fast form of a pattern: without a leading `(?i)` (its literals must be lower case),
/// `\d` and `\s` as their ASCII classes. Only for patterns without escaped backslashes.
pub(super) fn fast_form(pattern: &str) -> String {
    debug_assert!(!pattern.contains(r"\\"));
    let p = pattern.strip_prefix("(?i)").unwrap_or(pattern);
    p.replace(r"\d", "[0-9]").replace(r"\s", r"[\t-\r ]")
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
            lookup: None,
            fast: OnceLock::new(),
            re: OnceLock::new(),
        }
    }

    /// A pattern whose fast form `lookup` stands for (see [`Guarded::lookup`]; a test
    /// compares both on generated texts).
    pub const fn with_lookup(
        need: Need,
        words: &'static [&'static [&'static str]],
        lookup: Lookup,
        pattern: fn() -> String,
    ) -> Self {
        let mut g = Guarded::new(need, words, pattern);
        g.lookup = Some(lookup);
        g
    }

    /// Byte ranges of all matches in the text (as `find_iter` gives them).
    pub fn find_ranges(&self, text: &Prefilter) -> Vec<(usize, usize)> {
        if let (Some(lookup), true) = (self.lookup, text.fast) {
            if self.need == Need::Digit && !text.digit || !text.has_words(self.words) {
                return Vec::new();
            }
            return lookup(&text.lower);
        }
        self.get(text)
            .map(|(r, hay)| r.find_iter(hay).map(|m| (m.start(), m.end())).collect())
            .unwrap_or_default()
    }

    /// The compiled regex and the haystack to run it on, when the prefilter admits the text
    /// (else it cannot match). Offsets of matches in the haystack are offsets in the text.
    pub fn get<'t>(&self, text: &'t Prefilter) -> Option<(&Regex, &'t str)> {
        if self.need == Need::Digit && !text.digit || !text.has_words(self.words) {
            return None;
        }
        Some(if text.fast {
            let (re, lowered) = self.fast.get_or_init(|| {
                let p = (self.pattern)();
                (
                    Regex::new(&fast_form(&p)).expect("regex"),
                    p.starts_with("(?i)"),
                )
            });
            (re, if *lowered { &text.lower } else { text.raw })
        } else {
            let re = self
                .re
                .get_or_init(|| Regex::new(&(self.pattern)()).expect("regex"));
            (re, text.raw)
        })
    }

    pub fn is_match(&self, text: &Prefilter) -> bool {
        if self.lookup.is_some() && text.fast {
            return !self.find_ranges(text).is_empty();
        }
        self.get(text).is_some_and(|(r, hay)| r.is_match(hay))
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
        assert!(UNUSED.re.get().is_none() && UNUSED.fast.get().is_none());
        assert!(!has_digit("inga siffror"));
        assert!(has_digit("\u{0663} (arabisk-indisk trea)"));
    }
}
