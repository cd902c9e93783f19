//! Förhandskontroll: a clinic may send a draft to have it checked before the deadline. Such a
//! mail is answered with the same analysis as a receipt, but it is not a submission: nothing is
//! recorded against the milestone. A mail is a pre-check when its subject starts with one of the
//! configured words (after reply/forward prefixes such as "SV:" or "Fwd:"), or when it was sent
//! to one of the configured pre-check addresses (for instance a plus address of the mailbox).

use serde::Deserialize;

use super::normalize::fold;

/// Reply and forward prefixes mail clients put before a subject (folded, without the colon).
const REPLY_PREFIXES: &[&str] = &["re", "sv", "aw", "fw", "fwd", "vb", "vs", "tr", "ang"];

/// When a mail is a pre-check rather than a submission (`[precheck]` in the config).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PrecheckRule {
    /// A subject starting with one of these words (case and diacritics ignored) asks for a
    /// pre-check.
    pub subject_prefixes: Vec<String>,
    /// Mail sent (To, Cc, Delivered-To, X-Original-To) to one of these addresses is a pre-check.
    pub addresses: Vec<String>,
}

impl Default for PrecheckRule {
    fn default() -> Self {
        PrecheckRule {
            subject_prefixes: vec!["Förhandskontroll".into(), "Utkast".into()],
            addresses: Vec::new(),
        }
    }
}

impl PrecheckRule {
    /// Why this mail is a pre-check (English, for the ledger), or `None` for an ordinary mail.
    /// `recipients` are the lower-case addresses the mail was sent to.
    pub fn reason(&self, subject: &str, recipients: &[String]) -> Option<String> {
        let folded = fold(subject);
        let bare = strip_reply_prefixes(&folded);
        if let Some(p) = self
            .subject_prefixes
            .iter()
            .find(|p| starts_with_word(bare, &fold(p)))
        {
            return Some(format!("pre-check: the subject starts with \"{p}\""));
        }
        self.addresses
            .iter()
            .find(|a| recipients.iter().any(|r| r.eq_ignore_ascii_case(a.trim())))
            .map(|a| format!("pre-check: sent to {a}"))
    }
}

/// `s` without leading "Re:", "SV:", "Fwd:" … (any number of them, also "Re[2]:").
fn strip_reply_prefixes(s: &str) -> &str {
    let mut rest = s.trim_start();
    loop {
        let Some((head, tail)) = rest.split_once(':') else {
            return rest;
        };
        let word = head.trim();
        let word = word.split('[').next().unwrap_or(word).trim();
        if REPLY_PREFIXES.contains(&word) {
            rest = tail.trim_start();
        } else {
            return rest;
        }
    }
}

/// `s` starts with the word(s) `prefix`, followed by the end or a non-letter.
fn starts_with_word(s: &str, prefix: &str) -> bool {
    let prefix = prefix.trim();
    if prefix.is_empty() || !s.starts_with(prefix) {
        return false;
    }
    !s[prefix.len()..]
        .chars()
        .next()
        .is_some_and(char::is_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> PrecheckRule {
        PrecheckRule {
            addresses: vec!["vardval+forhandskontroll@rjl.test".into()],
            ..PrecheckRule::default()
        }
    }

    #[test]
    fn subject_words_with_and_without_prefixes_and_diacritics() {
        let r = rule();
        for s in [
            "Förhandskontroll: projektplan",
            "förhandskontroll av vår plan",
            "FORHANDSKONTROLL - projektplan VC Ekbacken",
            "SV: Förhandskontroll: projektplan",
            "Re: Fwd: Utkast projektplan",
            "VB:Utkast",
            "Utkast",
        ] {
            assert!(r.reason(s, &[]).is_some(), "{s}");
        }
        for s in [
            "Projektplan riktmärke 1",
            "Projektplan (utkast 2 är ersatt)",
            "Utkastet till projektplan",
            "Förhandskontrollerad projektplan",
            "Re: projektplan, inte förhandskontroll",
            "",
        ] {
            assert!(r.reason(s, &[]).is_none(), "{s}");
        }
    }

    #[test]
    fn a_configured_address_among_the_recipients() {
        let r = rule();
        let to = vec!["vardval+forhandskontroll@rjl.test".to_string()];
        assert!(r.reason("Projektplan", &to).unwrap().contains("sent to"));
        let to = vec!["vardval@rjl.test".to_string()];
        assert!(r.reason("Projektplan", &to).is_none());
        let none = PrecheckRule {
            subject_prefixes: vec![],
            addresses: vec![],
        };
        assert!(none.reason("Förhandskontroll", &[]).is_none());
    }
}
