//! Text that the ledger can store on every backend. PostgreSQL refuses a NUL character in a
//! `TEXT` value (SQLite takes it), and a header of a megabyte is no use to a reviewer, so the
//! store cleans and bounds every text it records from a mail before the insert, instead of
//! letting the insert fail and the mail stay in the mailbox for ever. The intake transaction
//! reports what it changed in a triage item ("unstorable text goes to triage at once").
//!
//! Invalid UTF-8 never reaches this point: the mail parser decodes lossily (U+FFFD).

use std::borrow::Cow;

use super::intake::Intake;

/// What replaces a NUL character.
const NUL_REPLACEMENT: char = '\u{FFFD}';

/// Column bounds, in characters.
pub(crate) const MAX_KEY: usize = 1_000;
pub(crate) const MAX_HEADER: usize = 2_000;
pub(crate) const MAX_ADDRESS: usize = 1_000;
pub(crate) const MAX_REASON: usize = 8_000;

/// `s` with NUL characters replaced and cut to `max_chars` characters.
pub fn storable_text(s: &str, max_chars: usize) -> Cow<'_, str> {
    storable_text_changes(s, max_chars).0
}

/// Like [`storable_text`], also saying what was changed (English, for the triage item), or
/// `None` when `s` was storable as it is.
pub fn storable_text_changes(s: &str, max_chars: usize) -> (Cow<'_, str>, Option<String>) {
    let nuls = s.matches('\0').count();
    let chars = s.chars().count();
    if nuls == 0 && chars <= max_chars {
        return (Cow::Borrowed(s), None);
    }
    let mut out: String = s
        .chars()
        .take(max_chars)
        .map(|c| if c == '\0' { NUL_REPLACEMENT } else { c })
        .collect();
    out.shrink_to_fit();
    let mut what = Vec::new();
    if nuls > 0 {
        what.push(format!("{nuls} NUL character(s) replaced by U+FFFD"));
    }
    if chars > max_chars {
        what.push(format!("cut from {chars} to {max_chars} characters"));
    }
    (Cow::Owned(out), Some(what.join(", ")))
}

fn clean(field: &str, value: &mut String, max: usize, changes: &mut Vec<String>) {
    if let (Cow::Owned(v), Some(what)) = storable_text_changes(value, max) {
        changes.push(format!("{field}: {what}"));
        *value = v;
    }
}

fn clean_opt(field: &str, value: &mut Option<String>, max: usize, changes: &mut Vec<String>) {
    if let Some(v) = value {
        clean(field, v, max, changes);
    }
}

/// A copy of `intake` whose texts can be stored, with a triage reason naming what was changed
/// (the existing reason, if any, comes first). `None` when nothing needed a change.
pub(crate) fn storable_intake(intake: &Intake) -> Option<Intake> {
    let mut out = intake.clone();
    let mut ch = Vec::new();
    let m = &mut out.message;
    clean("source key", &mut m.source_key, MAX_KEY, &mut ch);
    clean("archive path", &mut m.archive_path, MAX_KEY, &mut ch);
    clean_opt("Message-ID", &mut m.mail_message_id, MAX_HEADER, &mut ch);
    clean_opt("sender", &mut m.from_addr, MAX_ADDRESS, &mut ch);
    clean("subject", &mut m.subject, MAX_HEADER, &mut ch);
    clean_opt("clinic id", &mut m.clinic_id, MAX_ADDRESS, &mut ch);
    clean("reason", &mut m.reason, MAX_REASON, &mut ch);
    if let Some(s) = &mut out.submission {
        clean("document name", &mut s.doc_name, MAX_HEADER, &mut ch);
        clean_opt("document format", &mut s.doc_format, MAX_ADDRESS, &mut ch);
        clean_opt(
            "submission Message-ID",
            &mut s.mail_message_id,
            MAX_HEADER,
            &mut ch,
        );
        clean_opt("error kind", &mut s.error_kind, MAX_ADDRESS, &mut ch);
        // JSON from serde escapes NUL as \u0000; only a hand-made string could hold one.
        clean("analysis", &mut s.analysis_json, usize::MAX, &mut ch);
    }
    for o in &mut out.outbox {
        clean("reply subject", &mut o.subject, MAX_HEADER, &mut ch);
        clean("reply recipient", &mut o.recipient, MAX_ADDRESS, &mut ch);
    }
    let mut triage = out.triage_reason.take();
    if let Some(t) = &mut triage {
        clean("triage reason", t, MAX_REASON, &mut ch);
    }
    if ch.is_empty() {
        return None;
    }
    let note = format!(
        "unstorable text was changed before it was recorded ({}); the raw mail in the archive is unchanged",
        ch.join("; ")
    );
    out.triage_reason = Some(match triage {
        Some(t) if !t.is_empty() => format!("{t}; {note}"),
        _ => note,
    });
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_replaced_and_long_text_cut() {
        assert!(matches!(storable_text("plan", 10), Cow::Borrowed("plan")));
        let (s, what) = storable_text_changes("a\0b", 10);
        assert_eq!(s, "a\u{FFFD}b");
        assert_eq!(what.unwrap(), "1 NUL character(s) replaced by U+FFFD");
        let long = "å".repeat(20);
        let (s, what) = storable_text_changes(&long, 5);
        assert_eq!(s, "ååååå");
        assert_eq!(what.unwrap(), "cut from 20 to 5 characters");
    }
}
