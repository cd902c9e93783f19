//! One cleaning function for sender-controlled text (subjects, file names, display names)
//! before it reaches a reply or a text report: control characters (C0, C1, DEL), bidi
//! overrides and isolates, and zero-width characters are removed, line breaks and tabs become
//! single spaces, and the length is bounded in characters with an ellipsis (issue 10, class 8).

/// Default bound for a file name or subject quoted in a reply, in characters.
pub const MAX_QUOTED_CHARS: usize = 120;

/// True for characters that must never be copied from a sender into our text.
fn is_hostile(c: char) -> bool {
    c.is_control() // C0, DEL and C1 (U+0080..U+009F)
        || matches!(c,
            '\u{202A}'..='\u{202E}' // LRE, RLE, PDF, LRO, RLO
            | '\u{2066}'..='\u{2069}' // LRI, RLI, FSI, PDI
            | '\u{200E}' | '\u{200F}' | '\u{061C}' // LRM, RLM, ALM
            | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' // zero-width, word joiner, BOM
            | '\u{2028}' | '\u{2029}' // line and paragraph separators
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
        )
}

fn is_break(c: char) -> bool {
    matches!(
        c,
        '\r' | '\n' | '\t' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

/// `s` fit to quote in a reply or a report: hostile characters removed, line breaks and tabs
/// collapsed to one space, trimmed, and at most `max_chars` characters (the last one an
/// ellipsis when cut).
pub fn clean_text(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars * 4));
    let mut count = 0usize;
    let mut pending_space = false;
    let mut cut = false;
    for c in s.chars() {
        if is_break(c) || c == ' ' {
            pending_space = !out.is_empty();
            continue;
        }
        if is_hostile(c) {
            continue;
        }
        let need = if pending_space { 2 } else { 1 };
        if count + need > max_chars {
            cut = true;
            break;
        }
        if pending_space {
            out.push(' ');
            count += 1;
            pending_space = false;
        }
        out.push(c);
        count += 1;
    }
    if cut && max_chars > 0 {
        while count >= max_chars {
            out.pop();
            count -= 1;
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_bidi_and_zero_width_are_removed() {
        assert_eq!(
            clean_text(
                "plan\u{202E}fdp.exe\u{2066}\u{200B}\u{0007}\u{009B}.docx",
                100
            ),
            "planfdp.exe.docx"
        );
        assert_eq!(clean_text("\u{FEFF}a\u{200E}\u{061C}b\u{7F}", 100), "ab");
    }

    #[test]
    fn line_breaks_collapse_to_one_space() {
        assert_eq!(
            clean_text("  Plan\r\n\r\nBcc: x@y.test\tz\u{2028}w  ", 100),
            "Plan Bcc: x@y.test z w"
        );
    }

    #[test]
    fn length_is_bounded_with_an_ellipsis() {
        let long = "å".repeat(500);
        let c = clean_text(&long, 20);
        assert_eq!(c.chars().count(), 20);
        assert!(c.ends_with('…'));
        assert_eq!(clean_text("abc", 3), "abc");
        assert_eq!(clean_text("abcd", 3), "ab…");
        assert_eq!(clean_text("ab cd", 4), "ab…");
    }
}
