//! Baseline (D), goal (C) and measurement points (H).

use std::sync::LazyLock;

use regex::Regex;

use super::dates;
use super::guard::{Guarded, Need, Prefilter, has_digit};
use super::numword::{self, Word};
use super::units::Unit;
use super::{Baseline, Goal};
use crate::domain::document::count_words_to;

pub(super) const NUM: &str = r"\d+(?:[.,]\d+)?";

static PERCENT: Guarded = Guarded::with_lookup(Need::Digit, &[], percent, || {
    format!(r"(?i)\b{NUM}\s*(?:%|procent\b)")
});
const PERCENT_WORDS: &[Word] = &[w("%", false), w("procent", true)];
fn percent(s: &str) -> Vec<(usize, usize)> {
    numword::find_iter(s, PERCENT_WORDS)
}
fn with_unit(s: &str) -> Vec<(usize, usize)> {
    numword::find_iter(s, UNIT_WORDS)
}
const fn w(text: &'static str, boundary: bool) -> Word {
    Word { text, boundary }
}
static X_OF_Y: Guarded = Guarded::with_lookup(Need::Digit, &[&["av"]], numword::x_of_y, || {
    r"(?i)\b\d+\s+av\s+(?:de\s+|totalt\s+)?\d+\b".to_string()
});
static WITH_UNIT: Guarded = Guarded::with_lookup(Need::Digit, &[], with_unit, || {
    format!(
        r"(?i)\b{NUM}\s*(?:dagar|dygn|veckor|timmar|minuter|min|patienter|personer|besök|st|stycken|mmol/mol|mmol/l|mmol|kg|kronor|kr|samtal|ärenden|invånare|individer|recept|remisser|listade|fall|läkemedel|genomgångar|kontakter|vårdplaner|bokningar|uppföljningar|återbesök)\b"
    )
});
/// The units of [`WITH_UNIT`], in its order, each with `\b` after it.
const UNIT_WORDS: &[Word] = &[
    w("dagar", true),
    w("dygn", true),
    w("veckor", true),
    w("timmar", true),
    w("minuter", true),
    w("min", true),
    w("patienter", true),
    w("personer", true),
    w("besök", true),
    w("st", true),
    w("stycken", true),
    w("mmol/mol", true),
    w("mmol/l", true),
    w("mmol", true),
    w("kg", true),
    w("kronor", true),
    w("kr", true),
    w("samtal", true),
    w("ärenden", true),
    w("invånare", true),
    w("individer", true),
    w("recept", true),
    w("remisser", true),
    w("listade", true),
    w("fall", true),
    w("läkemedel", true),
    w("genomgångar", true),
    w("kontakter", true),
    w("vårdplaner", true),
    w("bokningar", true),
    w("uppföljningar", true),
    w("återbesök", true),
];
static TIME_UNIT_PERIOD: Guarded = Guarded::new(Need::Digit, &[], || {
    r"(?i)\b(?:inom|om|efter|på|under)\s+(?:de\s+)?(?:närmaste\s+|kommande\s+)?\d+\s*(?:dagar|dygn|veckor|timmar|månader|år)\b".to_string()
});
static TARGET_NUMBER: Guarded = Guarded::new(
    Need::Digit,
    &[&[
        "öka", "minska", "höja", "sänka", "halvera", "nå", "minst", "högst", "max", "mer", "fler",
        "färre", "över", "under", "till", "med", "från",
    ]],
    || {
        r"(?i)\b(?:öka|minska|höja|sänka|halvera|nå|uppnå|minst|högst|max|maximalt|mer än|fler än|färre än|över|under|till|med|från|ned till|upp till)\s+(?:\w+\s+){0,3}?(\d+(?:[.,]\d+)?)\b".to_string()
    },
);
pub(super) const MONTHS: &str = "januari|februari|mars|april|maj|juni|juli|augusti|september|oktober|november|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|okt|nov|dec";
/// The time-bound patterns, each compiled on first use and only tried when its prefilter (a
/// necessary condition checked with plain string scans) holds: compiling all of them costs
/// more CPU than analysing a small document.
static TIME_BOUND: [Guarded; 10] = [
    Guarded::with_lookup(Need::Digit, &[&["20"], &["-"]], dates::iso_date, || {
        r"\b20\d\d-\d{1,2}-\d{1,2}\b".to_string()
    }),
    Guarded::new(Need::Digit, &[&["/"]], || {
        r"\b\d{1,2}/\d{1,2}(?:[/-]20\d\d)?\b".to_string()
    }),
    Guarded::with_lookup(Need::Digit, &[&MONTH_WORDS], dates::day_month, || {
        format!(r"(?i)\b\d{{1,2}}\s+(?:{MONTHS})\b")
    }),
    Guarded::with_lookup(
        Need::Digit,
        &[&MONTH_WORDS, &["20"]],
        dates::month_year,
        || format!(r"(?i)\b(?:{MONTHS})\s+(?:månad\s+)?(?:år\s+)?20\d\d\b"),
    ),
    Guarded::new(Need::Digit, &[&["20"]], || {
        r"(?i)\b(?:våren|hösten|sommaren|vintern|vår|höst|sommar|vinter|kvartal\s*\d|q[1-4]|tertial\s*\d|halvår|årsskiftet|utgången av|slutet av|början av|mitten av)\s*(?:av\s+)?(?:år\s+)?20\d\d\b".to_string()
    }),
    Guarded::new(Need::Digit, &[&["20"]], || {
        r"(?i)\b(?:senast|till|tills|under|innan|före|inför|per|år|t\.o\.m\.?|tom|till och med|from|fr\.o\.m\.?|by|vid)\s+(?:utgången av\s+|slutet av\s+)?(?:år\s+)?20\d\d\b".to_string()
    }),
    Guarded::new(Need::Nothing, &[&["inom"]], || {
        r"(?i)\binom\s+(?:de\s+)?(?:närmaste\s+|kommande\s+)?(?:\d+|en|ett|två|tre|fyra|fem|sex|sju|åtta|nio|tio|elva|tolv|arton|tjugofyra)\s+(?:dagar|veckor|månader|år|kvartal|terminer)\b".to_string()
    }),
    Guarded::new(Need::Digit, &[&["v"]], || {
        r"(?i)\b(?:vecka|v\.|v)\s*\d{1,2}\b(?:\s+20\d\d)?".to_string()
    }),
    Guarded::new(Need::Nothing, &[&MONTH_WORDS], || {
        format!(r"(?i)\b(?:senast|till|före|innan|under|i)\s+(?:{MONTHS})\b")
    }),
    Guarded::new(Need::Nothing, &[&["år"]], || {
        r"(?i)\b(?:vid\s+)?(?:årets\s+slut|slutet\s+av\s+året|innan\s+årets\s+slut|under\s+året|i\s+år)\b".to_string()
    }),
];
/// Month names as [`MONTHS`] lists them (the short forms are prefixes of the long ones).
const MONTH_WORDS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec",
];
pub(super) static YEAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:19|20)\d\d$").expect("regex"));

/// Measured values in a text: percentages, "x av y", numbers with units.
pub(super) fn measured_values(text: &str) -> Vec<String> {
    if !has_digit(text) {
        return Vec::new();
    }
    let pre = Prefilter::new(text);
    let mut found: Vec<(usize, String)> = Vec::new();
    for g in [&PERCENT, &X_OF_Y, &WITH_UNIT] {
        for (a, b) in g.find_ranges(&pre) {
            if !found.iter().any(|(s, v)| *s <= a && a < s + v.len()) {
                found.push((a, text[a..b].trim().to_string()));
            }
        }
    }
    found.sort();
    found.into_iter().map(|(_, v)| v).collect()
}

/// Sentences of a section: lines are joined first (PDF text breaks sentences across lines),
/// then split after '.', '!' or '?' followed by a capital letter or digit.
pub(super) fn sentences(texts: &[String]) -> Vec<String> {
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

pub(super) fn excerpt(s: &str) -> String {
    const MAX: usize = 240;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{}…", cut.trim_end())
    }
}

/// A label that says the number after it is the baseline ("Utgångsvärde", "Baslinje").
/// Matches what `(?i)\b(?:utgångsvärde\w*|…|nuvarande\s+värde\w*)\b` matches: the regex
/// stops at the label's stem and [`baseline_label`] extends the match over the rest of the
/// word, which spares compiling the Unicode `\w` class.
static BASELINE_LABEL: Guarded = Guarded::new(
    Need::Nothing,
    &[&[
        "utgångs",
        "baslinje",
        "baseline",
        "startvärde",
        "nollmätning",
        "nuvarande",
    ]],
    || {
        r"(?i)\b(?:utgångsvärde|utgångsläge|baslinje|baseline\b|startvärde|nollmätning|nuvarande\s+värde)"
            .to_string()
    },
);

/// The end of the first baseline label in `s`, if any.
fn baseline_label(s: &str) -> Option<usize> {
    let pre = Prefilter::new(s);
    let (re, hay) = BASELINE_LABEL.get(&pre)?;
    let m = re.find(hay)?;
    let rest = &s[m.end()..];
    let word = rest
        .char_indices()
        .find(|(_, c)| !regex_syntax::is_word_character(*c))
        .map_or(rest.len(), |(i, _)| i);
    Some(m.end() + word)
}

static BARE_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d+(?:[.,]\d+)?\b").expect("regex"));

fn bare_numbers(s: &str) -> Vec<String> {
    if !has_digit(s) {
        return Vec::new();
    }
    BARE_NUMBER
        .find_iter(s)
        .map(|m| m.as_str().to_string())
        .filter(|n| !YEAR.is_match(n))
        .collect()
}

/// Numbers a table labels as the baseline: the rest of a row whose first cell carries the
/// label, or a column whose header does.
fn labelled_table_values(rows: &[Vec<String>]) -> Vec<String> {
    let mut out = Vec::new();
    for row in rows {
        if row.first().is_some_and(|c| baseline_label(c).is_some()) {
            out.extend(row.iter().skip(1).flat_map(|c| bare_numbers(c)));
        }
    }
    if let Some(header) = rows.first() {
        for (col, h) in header.iter().enumerate() {
            if col > 0 && baseline_label(h).is_some() {
                out.extend(
                    rows.iter()
                        .skip(1)
                        .filter_map(|r| r.get(col))
                        .flat_map(|c| bare_numbers(c)),
                );
            }
        }
    }
    out
}

pub(super) fn find_baseline(texts: &[String], units: &[Unit]) -> Baseline {
    let mut values = Vec::new();
    let mut first = None;
    for s in sentences(texts) {
        let mut v = measured_values(&s);
        if v.is_empty()
            && let Some(end) = baseline_label(&s)
        {
            // "Utgångsvärde (antal patienter) 148": a labelled number without a unit.
            v = bare_numbers(&s[end..]);
        }
        if !v.is_empty() && first.is_none() {
            first = Some(excerpt(&s));
        }
        values.extend(v);
    }
    for rows in units.iter().filter_map(|u| u.table.as_ref()) {
        let v = labelled_table_values(rows);
        if !v.is_empty() && first.is_none() {
            first = Some(excerpt(
                &rows
                    .iter()
                    .map(|r| r.join(" | "))
                    .collect::<Vec<_>>()
                    .join("; "),
            ));
        }
        for x in v {
            if !values.contains(&x) {
                values.push(x);
            }
        }
    }
    Baseline {
        found: !values.is_empty(),
        values,
        excerpt: first,
    }
}

/// A target stated as a relative change: "ska halveras", "fördubblas", "öka med en
/// tredjedel", "minska med hälften". Two regexes whose union matches what
/// `(?i)\b(?:halver|…)\w*\b|\b(?:öka|…)\w*\s+…` matches: a stem followed by `\w*\b`
/// always matches once the stem does, so the first needs no `\w`.
static RELATIVE_STEM: Guarded = Guarded::new(
    Need::Nothing,
    &[&["halver", "fördubbl", "tredubbl", "fyrdubbl", "dubbler"]],
    || r"(?i)\b(?:halver|fördubbl|tredubbl|fyrdubbl|dubbler)".to_string(),
);
static RELATIVE_BY: Guarded = Guarded::new(
    Need::Nothing,
    &[
        &[
            "öka",
            "minska",
            "höja",
            "sänka",
            "reducera",
            "förbättra",
            "växa",
            "korta",
        ],
        &["med"],
    ],
    || {
        r"(?i)\b(?:öka|minska|höja|sänka|reducera|förbättra|växa|korta)\w*\s+(?:\w+\s+){0,2}?med\s+(?:en\s+|ett\s+)?(?:hälften|halva|tredjedel|fjärdedel|femtedel|tiondel|\w+\s+procent)".to_string()
    },
);

pub(super) fn is_measurable(s: &str) -> bool {
    let pre = Prefilter::new(s);
    if PERCENT.is_match(&pre)
        || X_OF_Y.is_match(&pre)
        || RELATIVE_STEM.is_match(&pre)
        || RELATIVE_BY.is_match(&pre)
    {
        return true;
    }
    // Numbers with units, but not a period such as "inom 6 månader".
    let periods: Vec<(usize, usize)> = TIME_UNIT_PERIOD
        .get(&pre)
        .map(|(r, hay)| r.find_iter(hay).map(|m| (m.start(), m.end())).collect())
        .unwrap_or_default();
    let outside = |a: usize| !periods.iter().any(|(p, q)| *p <= a && a < *q);
    if WITH_UNIT
        .find_ranges(&pre)
        .into_iter()
        .any(|(a, _)| outside(a))
    {
        return true;
    }
    TARGET_NUMBER.get(&pre).is_some_and(|(r, hay)| {
        r.captures_iter(hay)
            .filter_map(|c| c.get(1))
            .any(|n| !YEAR.is_match(n.as_str()) && outside(n.start()))
    })
}

pub(super) fn is_time_bound(s: &str) -> bool {
    let text = Prefilter::new(s);
    TIME_BOUND.iter().any(|g| g.is_match(&text))
}

pub(super) fn find_goal(texts: &[String]) -> Goal {
    let content: Vec<String> = sentences(texts)
        .into_iter()
        .filter(|s| count_words_to(s, 3) >= 3)
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
pub(super) fn measurement_points(units: &[Unit]) -> usize {
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
        n = BARE_NUMBER
            .find_iter(&joined)
            .filter(|m| !YEAR.is_match(m.as_str()))
            .count();
    }
    n
}

#[cfg(test)]
mod fast_form_tests {
    use super::*;
    use crate::domain::analysis::guard::fast_form;

    /// Texts that differ from their lower-cased copy in every way that matters: capitals,
    /// Swedish letters, the Kelvin and Ångström signs, the long s, a dotted capital I,
    /// non-breaking and other Unicode spaces, non-ASCII digits.
    const TEXTS: &[&str] = &[
        "Senast December 2026 ska 80 % av patienterna ha fått en uppföljning.",
        "MÅLET: ÖKA ANDELEN FRÅN 45 PROCENT TILL 60 PROCENT INOM 6 MÅNADER, 12 DAGAR.",
        "Utgångsvärde 2025: 12 av 40 (30\u{a0}%), mätt vecka 12 2026 och v. 48.",
        "Inom tre månader halveras väntetiden; Q3 2026; 15 mars; 1\u{202f}200 patienter.",
        "\u{212a}ontroll 3 \u{212b}terbesök 2026-05-01 och 5/11-2026 BAſLINJE 14 dygn.",
        "İnom 6 månader ska 20 % ha minskat med en tredjedel till ٣ besök.",
        "Vi ska minska antalet besök med hälften till hösten 2026 och nå minst 75 procent.",
    ];

    fn all() -> Vec<&'static Guarded> {
        let mut v = vec![
            &PERCENT,
            &X_OF_Y,
            &WITH_UNIT,
            &TIME_UNIT_PERIOD,
            &TARGET_NUMBER,
            &BASELINE_LABEL,
            &RELATIVE_STEM,
            &RELATIVE_BY,
        ];
        v.extend(TIME_BOUND.iter());
        v
    }

    #[test]
    fn the_fast_form_finds_what_the_pattern_finds() {
        for g in all() {
            let full = regex::Regex::new(&(g.pattern)()).unwrap();
            let fast = regex::Regex::new(&fast_form(&(g.pattern)())).unwrap();
            for t in TEXTS {
                let pre = Prefilter::new(t);
                let want: Vec<_> = full.find_iter(t).map(|m| m.range()).collect();
                let Some((re, hay)) = g.get(&pre) else {
                    assert!(
                        want.is_empty(),
                        "prefilter refused a match: {} in {t}",
                        full.as_str()
                    );
                    continue;
                };
                let got: Vec<_> = re.find_iter(hay).map(|m| m.range()).collect();
                assert_eq!(got, want, "{} on {t}", full.as_str());
                if pre.is_fast() {
                    let lowered: Vec<_> = fast.find_iter(hay).map(|m| m.range()).collect();
                    assert_eq!(lowered, want, "fast form of {} on {t}", full.as_str());
                }
            }
        }
    }

    use proptest::prelude::*;

    /// The word lookup of `PERCENT` and `WITH_UNIT` against their own patterns' fast form.
    fn numword_agrees(s: &str) -> Result<(), TestCaseError> {
        let lookups: [(&Guarded, crate::domain::analysis::guard::Lookup); 3] = [
            (&PERCENT, percent),
            (&WITH_UNIT, with_unit),
            (&X_OF_Y, numword::x_of_y),
        ];
        for (g, lookup) in lookups {
            let fast = regex::Regex::new(&fast_form(&(g.pattern)())).unwrap();
            let want: Vec<_> = fast.find_iter(s).map(|m| (m.start(), m.end())).collect();
            prop_assert_eq!(lookup(s), want, "{} on {:?}", fast.as_str(), s);
        }
        Ok(())
    }

    #[test]
    fn number_words_agree_with_the_patterns_on_fixed_texts() {
        for t in TEXTS {
            numword_agrees(&t.to_lowercase()).unwrap();
        }
        for t in [
            "12 stycken, 3 st. 4 mmol/mol 5 mmol/l 6 mmol/dl 7 kronor 8 krona 9 kr",
            "1,5 dygn 2.5timmar 10 minuter 10 min 10 mins 3 återbesök 4 besöken",
            "45 % 46% 47 procent 48 procentenheter a49 % _50 % 51\t\n\u{b}%",
            "12 av 40, 3 av de 9, 4 av totalt 80, 5 av\tde  6x 7 av detta 8 av de x 9 av 10_",
            "1 av totalt\n2 3av 4 av 5 av av 6 av de de 7 5 av 60 st",
        ] {
            numword_agrees(t).unwrap();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn number_words_agree_with_the_patterns_on_generated_text(
            parts in prop::collection::vec(prop::sample::select(vec![
                "1", "12", "0", ".", ",", " ", "  ", "\t", "\n", "\u{b}", "%", "procent", "mmol",
                "/mol", "/l", "min", "uter", "st", "ycken", "s", "besök", "åter", "kr", "onor",
                "dagar", "ö", "é", "_", "a", "-", "x", "\u{a0}", "٣", "av", "de", "totalt",
                "av ", " av ", "de ", "totalt ",
            ]), 0..12)
        ) {
            numword_agrees(&parts.concat())?;
        }
    }

    /// The date lookups: on the lower-cased text they find what the fast form finds on its
    /// haystack, and the guard answers as the pattern as written does on the text.
    fn dates_agree(t: &str) -> Result<(), TestCaseError> {
        let lookups: [(&Guarded, crate::domain::analysis::guard::Lookup); 3] = [
            (&TIME_BOUND[0], dates::iso_date),
            (&TIME_BOUND[2], dates::day_month),
            (&TIME_BOUND[3], dates::month_year),
        ];
        // The patterns as written and their fast forms, compiled once.
        static COMPILED: std::sync::LazyLock<Vec<(regex::Regex, regex::Regex)>> =
            std::sync::LazyLock::new(|| {
                [0, 2, 3]
                    .iter()
                    .map(|&i| {
                        let p = (TIME_BOUND[i].pattern)();
                        let fast = regex::Regex::new(&fast_form(&p)).unwrap();
                        (regex::Regex::new(&p).unwrap(), fast)
                    })
                    .collect()
            });
        let pre = Prefilter::new(t);
        for ((g, lookup), (full, fast)) in lookups.into_iter().zip(COMPILED.iter()) {
            let pattern = (g.pattern)();
            prop_assert_eq!(g.is_match(&pre), full.is_match(t), "{} on {:?}", pattern, t);
            if pre.is_fast() {
                let lower = t.to_lowercase();
                let hay = if pattern.starts_with("(?i)") {
                    &lower
                } else {
                    t
                };
                let want: Vec<_> = fast.find_iter(hay).map(|m| (m.start(), m.end())).collect();
                prop_assert_eq!(lookup(&lower), want, "{} on {:?}", fast.as_str(), t);
            }
        }
        Ok(())
    }

    #[test]
    fn date_lookups_agree_with_the_patterns_on_fixed_texts() {
        assert_eq!(dates::months().collect::<Vec<_>>().join("|"), MONTHS);
        for t in TEXTS {
            dates_agree(t).unwrap();
        }
        let mut found = 0;
        for t in [
            "senast 2026-06-30, 2026-6-3 och 2026-06-301 x2026-01-01 2026-01-01x 2026-01-01_",
            "20261-01-01 2026--01 2026-01- 2026-1-1. Ö2026-01-01 é 2026-01-01",
            "15 juni, 1 SEPT, 3 sept, 4 sep, 5 september, 6 septembers, 7 mars 8 marsch 9 mar",
            "123 maj 12maj 1\t\nmaj 4 Maj_ x5 maj 6 decx 7 dec. 8 DECEMBER",
            "december 2026, sept 2027, sep 2028, Mars månad 2026, maj år 2026, juni månad år 2026",
            "maj månad2026 maj  månad  år  2026 junix 2026 xjuni 2026 juni 20266 juni 2026x",
            "Januari 2026 och JANUARI 2027, åmaj 2026, maj\u{a0}2026",
        ] {
            dates_agree(t).unwrap();
            let lower = t.to_lowercase();
            found += dates::iso_date(&lower).len()
                + dates::day_month(&lower).len()
                + dates::month_year(&lower).len();
        }
        assert!(found >= 20, "{found}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn date_lookups_agree_with_the_patterns_on_generated_text(
            parts in prop::collection::vec(prop::sample::select(vec![
                "1", "12", "0", "20", "2026", "-", " ", "  ", "\t", "\n", "\u{a0}", "_", "x",
                "é", "Ö", "å", "maj", "Maj", "MARS", "mar", "s", "sep", "t", "ember", "dec",
                "juni", "månad", "år", "ÅR", "Månad", ".", ",", "٣", "İ",
            ]), 0..12)
        ) {
            dates_agree(&parts.concat())?;
        }
    }
}
