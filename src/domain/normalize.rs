//! Text normalisation shared by the analysis: case and diacritic folding, dash unification and
//! whitespace collapsing, so that "NULÄGE", "Nulage" and "nuläge" compare equal.

use unicode_normalization::UnicodeNormalization;

/// Fold for comparison: lower case, diacritics removed (å→a, ä→a, ö→o, é→e), every dash
/// variant turned into '-', typographic quotes and invisible characters (soft hyphen,
/// zero-width space) dropped, whitespace collapsed, trimmed.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last_space = true;
    for c in s.nfd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        let c = match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            '\u{00a0}' | '\u{2007}' | '\u{202f}' | '\t' | '\n' | '\r' => ' ',
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{2018}' | '\u{2019}' | '\u{00ab}'
            | '\u{00bb}' => continue,
            // Soft hyphen, zero-width space/joiners and BOM: invisible, never a word break.
            '\u{00ad}' | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' => continue,
            'ø' | 'Ø' => 'o',
            'æ' | 'Æ' => 'a',
            c => c,
        };
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
                last_space = true;
            }
            continue;
        }
        for l in c.to_lowercase() {
            out.push(l);
        }
        last_space = false;
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Fold and strip leading/trailing punctuation and symbols (for whole-paragraph comparisons
/// such as placeholders: "Ej ifyllt." equals "ej ifyllt").
pub fn fold_bare(s: &str) -> String {
    let f = fold(s);
    let trimmed = f.trim_matches(|c: char| !c.is_alphanumeric());
    if trimmed.is_empty() {
        // Keep pure-punctuation placeholders ("-", "...", "?") comparable.
        f.trim().to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_diacritics_dashes_and_space() {
        assert_eq!(fold("  NULÄGE  och\tANALYS "), "nulage och analys");
        assert_eq!(fold("D–E. Nuläge"), "d-e. nulage");
        assert_eq!(fold("Primärvårdskvalitét"), "primarvardskvalitet");
        assert_eq!(fold("”Citat”"), "citat");
        assert_eq!(fold("Över\u{ad}gripande\u{a0}mål"), "overgripande mal");
        assert_eq!(fold("Nu\u{200b}läge"), "nulage");
    }

    #[test]
    fn bare_strips_punctuation_but_keeps_pure_punctuation() {
        assert_eq!(fold_bare("Ej ifyllt."), "ej ifyllt");
        assert_eq!(fold_bare(" – "), "-");
        assert_eq!(fold_bare("..."), "...");
    }
}
