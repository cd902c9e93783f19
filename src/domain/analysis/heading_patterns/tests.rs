//! Each hand matcher against its regex as written, on fixed and generated texts.

use super::*;
use proptest::prelude::*;

static TOC: LazyLock<Regex> = LazyLock::new(|| Regex::new(TOC_TAIL_RE).unwrap());
static COMB: LazyLock<Regex> = LazyLock::new(|| Regex::new(COMBINED_RE).unwrap());
static LET: LazyLock<Regex> = LazyLock::new(|| Regex::new(LETTER_RE).unwrap());
static NUM: LazyLock<Regex> = LazyLock::new(|| Regex::new(NUMBER_RE).unwrap());

/// Whether each matcher agrees with its regex on `s`; the number of matches.
fn same(s: &str) -> Result<usize, TestCaseError> {
    let toc = TOC.find(s).map(|m| m.start());
    prop_assert_eq!(toc_tail_start(s), toc, "toc {:?}", s);
    let comb = COMB.captures(s).map(|c| {
        (
            first_char(&c[1]),
            first_char(&c[2]),
            c.get(3).unwrap().range(),
        )
    });
    let mine = combined(s).map(|c| (c.first, c.last, span(s, c.rest)));
    prop_assert_eq!(mine, comb.clone(), "combined {:?}", s);
    let let_ = LET
        .captures(s)
        .map(|c| (first_char(&c[1]), c.get(2).unwrap().range()));
    let mine = letter(s).map(|l| (l.letter, span(s, l.rest)));
    prop_assert_eq!(mine, let_.clone(), "letter {:?}", s);
    let num = NUM.captures(s).map(|c| c.get(2).unwrap().range());
    prop_assert_eq!(number(s).map(|r| span(s, r)), num.clone(), "number {:?}", s);
    Ok(
        [toc.is_some(), comb.is_some(), let_.is_some(), num.is_some()]
            .iter()
            .filter(|m| **m)
            .count(),
    )
}

fn first_char(s: &str) -> char {
    s.chars().next().unwrap()
}

/// Byte range of a sub-slice of `s`.
fn span(s: &str, part: &str) -> std::ops::Range<usize> {
    let a = part.as_ptr() as usize - s.as_ptr() as usize;
    a..a + part.len()
}

#[test]
fn agree_on_headings_and_near_misses() {
    let mut matched = 0;
    for s in [
        "c. mal",
        "c. mål",
        "d-e. aktiviteter",
        "d och e matning",
        "d och e mätning",
        "d&e  -  x",
        "d / f. x",
        "d-e \t x\n",
        "d-e - \nx",
        "d-e -",
        "d-e - x",
        "d-e",
        "d-e ",
        "steg c: mal",
        "steg\u{a0}c: mål",
        "stegc: x",
        "del - x",
        "del a",
        "avsnitt - x",
        "c",
        "c ",
        "c - x",
        "c  - x",
        "c -x",
        "c \u{2003}-\u{3000}x",
        "3. mal",
        "12) malbild",
        "123. mal",
        "1 2. x",
        "٣. x",
        "1٣. x",
        "a.b",
        "j. nej",
        "innehall ....... 3",
        "innehåll ……… 12",
        "innehall · · · 3",
        "innehall ··· 3",
        "innehall\t4",
        "innehall \t \t 4 ",
        "innehall ___ 12 ",
        "innehall ...... 1234",
        "innehall .. 12",
        "innehall ..\t12",
        "x ... . 3",
        "...3",
        "\t3",
        "mal 3",
        "c.\tmal",
        "c\n. mal",
        "c.\nmal",
        "c. x\ny",
        "d-e\nx",
        "3.\nmal",
        "punkt  d )  x",
        "avsnitt a",
        "del i - slut",
        "\u{b}c.\u{c}x",
        "",
    ] {
        matched += same(s).unwrap();
    }
    assert!(matched >= 35, "{matched}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6000))]
    #[test]
    fn agree_on_generated_texts(
        parts in prop::collection::vec(prop::sample::select(vec![
            "a", "c", "d", "e", "i", "j", "s", "p", "x", "å", "Ä", "steg", "del", "avsnitt",
            "punkt", "och", " ", "  ", "\t", "\n", "\r", "\u{b}", "\u{c}", "\u{a0}", "\u{2003}",
            "\u{85}", ".", "...", "·", "…", "_", ")", ":", "-", "&", "/", ",", "1", "3", "12",
            "123", "٣", "²", "mal", "\u{0}", "\u{7f}",
        ]), 0..12)
    ) {
        same(&parts.concat())?;
    }
}
