//! Folder names as the server wants them: the personal NAMESPACE prefix and hierarchy
//! delimiter (RFC 2342), modified UTF-7 (RFC 3501 §5.1.3), and how the server compares names.
//!
//! Configured names are UTF-8 with `/` as the hierarchy separator and without the namespace
//! prefix (`Behandlat`, `Arkiv/Färdigt`). On a server whose personal folders live under
//! `INBOX.` with `.` as delimiter (Courier, Cyrus, some Dovecot setups) `Behandlat` becomes
//! `INBOX.Behandlat`; a name that already carries the prefix is kept. `INBOX` is always the
//! inbox, in any case.

use super::utf7;

/// The personal namespace: prefix and hierarchy delimiter (`None` = flat names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    pub prefix: String,
    pub delimiter: Option<char>,
}

impl Default for Namespace {
    /// What servers without NAMESPACE get: no prefix, `/` as delimiter.
    fn default() -> Self {
        Namespace {
            prefix: String::new(),
            delimiter: Some('/'),
        }
    }
}

pub use crate::config::FolderCase;

/// True when `name` is the inbox (RFC 3501: `INBOX` in any case).
pub fn is_inbox(name: &str) -> bool {
    name.eq_ignore_ascii_case("INBOX")
}

/// Do two server names (UTF-7 encoded, as on the wire) name the same folder?
pub fn same_folder(a: &str, b: &str, case: FolderCase) -> bool {
    if a == b || (is_inbox(a) && is_inbox(b)) {
        return true;
    }
    if case != FolderCase::Insensitive {
        return false;
    }
    match (utf7::decode(a), utf7::decode(b)) {
        (Some(x), Some(y)) => x.to_lowercase() == y.to_lowercase(),
        _ => a.eq_ignore_ascii_case(b),
    }
}

/// The configured name → the server's name (prefix, delimiter, modified UTF-7).
pub fn server_name(configured: &str, ns: &Namespace, case: FolderCase) -> String {
    let name = configured.trim_matches('/');
    if is_inbox(name) {
        return "INBOX".into();
    }
    let delim = ns.delimiter.unwrap_or('/');
    let local: String = name
        .chars()
        .map(|c| if c == '/' { delim } else { c })
        .collect();
    let encoded = utf7::encode(&local);
    let p = ns.prefix.as_str();
    if p.is_empty() {
        return encoded;
    }
    // The prefix compares like a name; a prefix under INBOX (`INBOX.`) case-insensitively.
    let inbox_based = p.len() >= 5 && p.is_char_boundary(5) && is_inbox(&p[..5]);
    if encoded.len() >= p.len() && encoded.is_char_boundary(p.len()) {
        let (head, tail) = encoded.split_at(p.len());
        if head == p
            || ((inbox_based || case == FolderCase::Insensitive) && head.eq_ignore_ascii_case(p))
        {
            return format!("{p}{tail}");
        }
    }
    format!("{p}{encoded}")
}

/// Parses the personal namespace out of an untagged NAMESPACE response line
/// (`* NAMESPACE (("INBOX." ".")) NIL NIL`). `None` when the line is not one.
pub fn parse_namespace(line: &str) -> Option<Namespace> {
    let rest = line.trim_start().strip_prefix('*')?.trim_start();
    let rest = strip_prefix_ci(rest, "NAMESPACE")?.trim_start();
    if strip_prefix_ci(rest, "NIL").is_some() {
        return Some(Namespace {
            prefix: String::new(),
            delimiter: None,
        });
    }
    let rest = rest.strip_prefix('(')?.trim_start().strip_prefix('(')?;
    let (prefix, rest) = string(rest.trim_start())?;
    let rest = rest.trim_start();
    let delimiter = if let Some(_r) = strip_prefix_ci(rest, "NIL") {
        None
    } else {
        let (d, _) = string(rest)?;
        d.and_then(|d| d.chars().next())
    };
    Some(Namespace {
        prefix: prefix.unwrap_or_default(),
        delimiter,
    })
}

fn strip_prefix_ci<'a>(s: &'a str, p: &str) -> Option<&'a str> {
    (s.len() >= p.len() && s.is_char_boundary(p.len()) && s[..p.len()].eq_ignore_ascii_case(p))
        .then(|| &s[p.len()..])
}

/// A quoted string or NIL at the start of `s` → (value, rest).
fn string(s: &str) -> Option<(Option<String>, &str)> {
    if let Some(rest) = strip_prefix_ci(s, "NIL") {
        return Some((None, rest));
    }
    let mut chars = s.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((Some(out), &s[i + 2..])),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dotted() -> Namespace {
        Namespace {
            prefix: "INBOX.".into(),
            delimiter: Some('.'),
        }
    }

    #[test]
    fn namespace_lines_parse() {
        assert_eq!(
            parse_namespace(r#"* NAMESPACE (("INBOX." ".")) NIL NIL"#),
            Some(dotted())
        );
        assert_eq!(
            parse_namespace(r#"* NAMESPACE (("" "/")) (("Other Users/" "/")) (("Shared/" "/"))"#),
            Some(Namespace::default())
        );
        assert_eq!(
            parse_namespace(r#"* namespace (("" NIL)) NIL NIL"#),
            Some(Namespace {
                prefix: String::new(),
                delimiter: None
            })
        );
        assert_eq!(
            parse_namespace(r#"* NAMESPACE (("a\"b" "\\")) NIL NIL"#)
                .unwrap()
                .prefix,
            "a\"b"
        );
        assert_eq!(parse_namespace("* OK hello"), None);
    }

    #[test]
    fn names_follow_prefix_delimiter_and_utf7() {
        let c = FolderCase::Sensitive;
        let flat = Namespace::default();
        assert_eq!(server_name("Behandlat", &flat, c), "Behandlat");
        assert_eq!(server_name("Färdigt", &flat, c), "F&AOQ-rdigt");
        assert_eq!(server_name("Arkiv/Färdigt", &flat, c), "Arkiv/F&AOQ-rdigt");
        assert_eq!(server_name("inbox", &flat, c), "INBOX");
        let d = dotted();
        assert_eq!(server_name("Behandlat", &d, c), "INBOX.Behandlat");
        assert_eq!(server_name("Färdigt", &d, c), "INBOX.F&AOQ-rdigt");
        assert_eq!(server_name("Arkiv/2026", &d, c), "INBOX.Arkiv.2026");
        assert_eq!(server_name("INBOX", &d, c), "INBOX");
        assert_eq!(server_name("Inbox", &d, c), "INBOX");
        // Already prefixed (any case of INBOX): kept, not doubled.
        assert_eq!(server_name("INBOX.Behandlat", &d, c), "INBOX.Behandlat");
        assert_eq!(server_name("inbox.Behandlat", &d, c), "INBOX.Behandlat");
    }

    #[test]
    fn comparison_follows_the_server() {
        let s = FolderCase::Sensitive;
        let i = FolderCase::Insensitive;
        assert!(
            same_folder("INBOX", "inbox", s),
            "INBOX is case-insensitive everywhere"
        );
        assert!(!same_folder("Behandlat", "behandlat", s));
        assert!(same_folder("Behandlat", "behandlat", i));
        // Ä and ä differ in their UTF-7 forms; Exchange still treats them as one name.
        assert!(same_folder("F&AMQ-rdigt", "f&AOQ-rdigt", i));
        assert!(!same_folder("F&AMQ-rdigt", "F&AOQ-rdigt", s));
        assert_eq!(
            FolderCase::Auto.resolve("* OK The Microsoft Exchange IMAP4 service is ready."),
            i
        );
        assert_eq!(
            FolderCase::Auto.resolve("* OK [CAPABILITY IMAP4rev1] Dovecot ready."),
            s
        );
        assert_eq!(FolderCase::Sensitive.resolve("Microsoft Exchange"), s);
    }
}
