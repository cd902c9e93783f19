//! The heading detection's regexes, each in two forms: as written (Unicode `\s`, `\d`, `.`)
//! and an ASCII form used when the text is ASCII (nearly every folded line).
//!
//! On an ASCII text the Unicode classes match exactly their ASCII parts (`\s`: `[\t-\r ]`,
//! `\d`: `[0-9]`, `.`: every ASCII character but `\n`), and the two forms have the same
//! structure and groups, so they find the same matches with the same captures; the ASCII form
//! compiles to a much smaller NFA (issue 11, "Speed"). Tests compare both forms on generated
//! texts.

use std::sync::LazyLock;

use regex::Regex;

/// A pattern in both forms, each compiled on first use.
pub(super) struct TwoForms {
    unicode: LazyLock<Regex>,
    ascii: LazyLock<Regex>,
}

impl TwoForms {
    /// The form to run on `text`.
    pub(super) fn on(&self, text: &str) -> &Regex {
        if text.is_ascii() {
            &self.ascii
        } else {
            &self.unicode
        }
    }
}

macro_rules! two_forms {
    ($unicode:expr, $ascii:expr) => {
        TwoForms {
            unicode: LazyLock::new(|| Regex::new($unicode).expect("regex")),
            ascii: LazyLock::new(|| Regex::new($ascii).expect("regex")),
        }
    };
}

/// A table-of-contents tail: dot leaders or tabs, then a page number.
pub(super) static TOC_TAIL: TwoForms = two_forms!(
    r"(?:\s*[.·…_]{3,}\s*|\t+\s*)\d{1,3}\s*$",
    r"(?:[\t-\r ]*[._]{3,}[\t-\r ]*|\t+[\t-\r ]*)[0-9]{1,3}[\t-\r ]*$"
);

/// Two letter labels ("d-e", "d och e") and the rest of the line.
pub(super) static COMBINED: TwoForms = two_forms!(
    r"^([a-i])\s*(?:-|och|&|/|,)\s*([a-i])\s*(?:[.):]\s*|\s+-\s+|\s+)(.*)$",
    r"^([a-i])[\t-\r ]*(?:-|och|&|/|,)[\t-\r ]*([a-i])[\t-\r ]*(?:[.):][\t-\r ]*|[\t-\r ]+-[\t-\r ]+|[\t-\r ]+)([\x00-\x09\x0B-\x7F]*)$"
);

/// One letter label ("c.", "steg c:") and the rest of the line.
pub(super) static LETTER: TwoForms = two_forms!(
    r"^(?:(?:steg|del|avsnitt|punkt)\s+)?([a-i])\s*(?:[.):]|\s-\s|$)\s*(.*)$",
    r"^(?:(?:steg|del|avsnitt|punkt)[\t-\r ]+)?([a-i])[\t-\r ]*(?:[.):]|[\t-\r ]-[\t-\r ]|$)[\t-\r ]*([\x00-\x09\x0B-\x7F]*)$"
);

/// A numbered heading ("3. Mål") and the rest of the line.
pub(super) static NUMBER: TwoForms = two_forms!(
    r"^(\d{1,2})\s*[.):]\s*(.*)$",
    r"^([0-9]{1,2})[\t-\r ]*[.):][\t-\r ]*([\x00-\x09\x0B-\x7F]*)$"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ALL: [&TwoForms; 4] = [&TOC_TAIL, &COMBINED, &LETTER, &NUMBER];

    /// Every group's span of the first match, or `None`.
    fn spans(r: &Regex, s: &str) -> Option<Vec<Option<(usize, usize)>>> {
        r.captures(s)
            .map(|c| c.iter().map(|m| m.map(|m| (m.start(), m.end()))).collect())
    }

    fn same(s: &str) -> Result<(), TestCaseError> {
        for p in ALL {
            prop_assert_eq!(spans(&p.unicode, s), spans(&p.ascii, s), "{:?}", s);
        }
        Ok(())
    }

    #[test]
    fn ascii_form_is_chosen_for_ascii_only() {
        assert!(std::ptr::eq(LETTER.on("c. mal"), &*LETTER.ascii));
        assert!(std::ptr::eq(LETTER.on("c. mål"), &*LETTER.unicode));
    }

    #[test]
    fn both_forms_agree_on_headings_and_near_misses() {
        let mut matched = 0;
        for s in [
            "c. mal",
            "d-e. aktiviteter",
            "d och e matning",
            "steg c: mal",
            "c",
            "c ",
            "c - x",
            "3. mal",
            "12) malbild",
            "123. mal",
            "a.b",
            "j. nej",
            "innehall ....... 3",
            "innehall\t4",
            "innehall ___ 12 ",
            "mal 3",
            "c.\tmal",
            "c\n. mal",
            "d-e\nx",
            "3.\nmal",
            "punkt  d )  x",
            "avsnitt a",
            "del i - slut",
            "\u{b}c.\u{c}x",
        ] {
            same(s).unwrap();
            matched += ALL.iter().filter(|p| p.ascii.is_match(s)).count();
        }
        assert!(matched >= 15, "{matched}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn both_forms_agree_on_generated_ascii(
            parts in prop::collection::vec(prop::sample::select(vec![
                "a", "c", "d", "e", "i", "j", "s", "p", "x", "steg", "del", "avsnitt", "punkt",
                "och", " ", "  ", "\t", "\n", "\r", "\u{b}", "\u{c}", ".", "...", "_", ")",
                ":", "-", "&", "/", ",", "1", "3", "12", "123", "mal", "\u{0}", "\u{7f}",
            ]), 0..12)
        ) {
            same(&parts.concat())?;
        }
    }
}
