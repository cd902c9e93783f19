//! Text normalisation shared by the analysis: case and diacritic folding, dash unification and
//! whitespace collapsing, so that "NULÄGE", "Nulage" and "nuläge" compare equal.

/// Fold for comparison: lower case, diacritics removed (å→a, ä→a, ö→o, é→e), every dash
/// variant turned into '-', typographic quotes and invisible characters (soft hyphen,
/// zero-width space) dropped, whitespace collapsed, trimmed.
pub fn fold(s: &str) -> String {
    let mut f = Folder {
        out: Vec::with_capacity(s.len()),
        last_space: true,
    };
    // The string's NFD is each character's full canonical decomposition in turn, with runs
    // of characters of non-zero combining class reordered among themselves. Every such
    // character is a combining mark, which `push` drops, so the order within those runs never
    // shows and each character can be decomposed on its own (a test checks both premises
    // over all of Unicode, and compares with the NFD iterator on generated text). ASCII, most
    // of any text, is folded byte by byte.
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] < 0x80 {
            f.push_ascii(bytes[i]);
            i += 1;
            continue;
        }
        let c = s[i..].chars().next().expect("a character starts here");
        i += c.len_utf8();
        if let Some(base) = swedish_base(c) {
            // The letter's NFD is this base letter and a combining mark, which is dropped.
            f.push_ascii(base);
        } else {
            unicode_normalization::char::decompose_canonical(c, |d| f.push(d));
        }
    }
    if f.out.last() == Some(&b' ') {
        f.out.pop();
    }
    String::from_utf8(f.out).expect("fold writes whole characters")
}

/// The folding of one character of the NFD form.
struct Folder {
    out: Vec<u8>,
    last_space: bool,
}

/// The base letter of the accented letters Swedish text is full of (a test checks each
/// against its NFD).
fn swedish_base(c: char) -> Option<u8> {
    Some(match c {
        'å' | 'ä' | 'Å' | 'Ä' => b'a',
        'ö' | 'Ö' => b'o',
        'é' | 'É' => b'e',
        _ => return None,
    })
}

impl Folder {
    /// An ASCII character: letters and digits in lower case, white space (U+0009–U+000D,
    /// space) collapsed, everything else kept as it is (what `push` does with ASCII).
    #[inline(always)]
    fn push_ascii(&mut self, b: u8) {
        if b.is_ascii_alphanumeric() {
            self.out.push(b.to_ascii_lowercase());
            self.last_space = false;
        } else if matches!(b, b'\t'..=b'\r' | b' ') {
            if !self.last_space {
                self.out.push(b' ');
                self.last_space = true;
            }
        } else {
            self.out.push(b);
            self.last_space = false;
        }
    }

    fn push(&mut self, c: char) {
        if c.is_ascii() {
            return self.push_ascii(c as u8);
        }
        if unicode_normalization::char::is_combining_mark(c) {
            return;
        }
        let c = match c {
            '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            '\u{00a0}' | '\u{2007}' | '\u{202f}' => ' ',
            '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{2018}' | '\u{2019}' | '\u{00ab}'
            | '\u{00bb}' => return,
            // Soft hyphen, zero-width space/joiners and BOM: invisible, never a word break.
            '\u{00ad}' | '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}' => return,
            'ø' | 'Ø' => 'o',
            'æ' | 'Æ' => 'a',
            c => c,
        };
        if c.is_ascii() {
            return self.push_ascii(c as u8);
        }
        if c.is_whitespace() {
            return self.push_ascii(b' ');
        }
        let mut buf = [0; 4];
        for l in c.to_lowercase() {
            self.out
                .extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
        }
        self.last_space = false;
    }
}

/// Fold and strip leading/trailing punctuation and symbols (for whole-paragraph comparisons
/// such as placeholders: "Ej ifyllt." equals "ej ifyllt").
pub fn fold_bare(s: &str) -> String {
    bare(&fold(s))
}

/// The stripping step of [`fold_bare`], for a string [`fold`] already returned.
pub fn bare(f: &str) -> String {
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
    use proptest::prelude::*;
    use unicode_normalization::UnicodeNormalization;

    /// `fold` as first written: the NFD iterator over the whole string (with reordering) and
    /// each character folded into a `String`.
    fn fold_by_nfd(s: &str) -> String {
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
            out.extend(c.to_lowercase());
            last_space = false;
        }
        if out.ends_with(' ') {
            out.pop();
        }
        out
    }

    #[test]
    fn every_character_of_nonzero_combining_class_is_dropped() {
        // The premise of decomposing character by character: what NFD reorders, `push`
        // drops, whatever its position.
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            if unicode_normalization::char::canonical_combining_class(c) != 0 {
                let mut f = Folder {
                    out: Vec::new(),
                    last_space: false,
                };
                f.push(c);
                assert!(f.out.is_empty(), "U+{:04X} is kept", c as u32);
            }
        }
    }

    #[test]
    fn every_character_folds_as_the_nfd_iterator_folds_it() {
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            let s = format!("a{c}b");
            assert_eq!(fold(&s), fold_by_nfd(&s), "U+{:04X}", c as u32);
        }
    }

    /// Characters where folding has cases: ASCII, Swedish and other Latin letters, combining
    /// marks of different classes (reordered by NFD), Hangul, dashes, quotes, invisible and
    /// white-space characters, ligatures and compatibility forms.
    fn text() -> impl Strategy<Value = String> {
        let chars = prop::sample::select(vec![
            'a',
            'Z',
            '1',
            ' ',
            '\t',
            '\n',
            '.',
            '-',
            'å',
            'Ä',
            'ö',
            'é',
            'ü',
            'ø',
            'Æ',
            'ñ',
            'ǅ',
            'ﬁ',
            'İ',
            'ẞ',
            'Ω',
            'Ω',
            'Å',
            '\u{300}',
            '\u{301}',
            '\u{308}',
            '\u{30a}',
            '\u{316}',
            '\u{323}',
            '\u{327}',
            '\u{345}',
            '\u{5b0}',
            '\u{93c}',
            '\u{ac00}',
            '\u{d4db}',
            '\u{1100}',
            '\u{2013}',
            '\u{2212}',
            '\u{201d}',
            '\u{ad}',
            '\u{200b}',
            '\u{a0}',
            '\u{3000}',
            '\u{2028}',
            '\u{1e0a}',
            '\u{1e63}',
            '\u{f900}',
            '\u{2126}',
            '\u{212b}',
            '\u{1d15e}',
            '\u{fb1d}',
        ]);
        prop::collection::vec(chars, 0..40).prop_map(|v| v.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn folds_as_the_nfd_iterator(s in text()) {
            prop_assert_eq!(fold(&s), fold_by_nfd(&s));
        }
    }

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
    fn swedish_bases_are_the_nfd_base_letters_and_ascii_folds_as_before() {
        for c in ['å', 'ä', 'Å', 'Ä', 'ö', 'Ö', 'é', 'É'] {
            let nfd: Vec<char> = std::iter::once(c).nfd().collect();
            assert_eq!(nfd.len(), 2, "{c}");
            assert!(unicode_normalization::char::is_combining_mark(nfd[1]));
            assert_eq!(
                swedish_base(c),
                Some(nfd[0].to_ascii_lowercase() as u8),
                "{c}"
            );
        }
        // Every ASCII character as the general steps fold it: white space collapses, the
        // rest is itself in lower case.
        for b in 0u8..128 {
            let c = b as char;
            let want = if c.is_whitespace() {
                String::new()
            } else {
                c.to_lowercase().collect()
            };
            assert_eq!(fold(&format!("x{c}")), format!("x{want}"), "{b}");
            assert_eq!(
                fold(&format!("x{c}{c}y")).len(),
                if c.is_whitespace() { 3 } else { 4 }
            );
        }
    }

    #[test]
    fn precomposed_and_decomposed_spellings_fold_alike() {
        // Precomposed and decomposed spellings fold alike.
        assert_eq!(fold("ÅÄÖ éü Ñ ŠŽ ø"), "aao eu n sz o");
        assert_eq!(fold("A\u{30a}A\u{308}O\u{308} e\u{301}"), "aao e");
        // A Latin-1 letter before a combining mark takes the full path.
        assert_eq!(fold("ä\u{301}r"), "ar");
    }

    #[test]
    fn bare_strips_punctuation_but_keeps_pure_punctuation() {
        assert_eq!(fold_bare("Ej ifyllt."), "ej ifyllt");
        assert_eq!(fold_bare(" – "), "-");
        assert_eq!(fold_bare("..."), "...");
    }

    #[test]
    fn ascii_fold_output_is_stable() {
        // content_words relies on this to fold a line once.
        for s in [
            "  Ej IFYLLT.\t",
            "Se bilaga 2!!",
            " - ",
            "...",
            "A\u{0b}B\u{0c}C",
        ] {
            let f = fold(s);
            assert_eq!(fold(&f), f, "{s:?}");
            let b = bare(&f);
            assert_eq!(fold_bare(&b), b, "{s:?}");
        }
    }
}
