//! Who sent a message, read from the raw header lines rather than from the parser's merged
//! view (issue 10, classes 4 and 5):
//!
//! * RFC 5322 §3.6: exactly one `From` field holding exactly one mailbox. Two `From` fields
//!   (DMARC checks the first, a parser may use the last), several mailboxes (even with a
//!   `Sender`) or a group send the mail to a reviewer.
//! * RFC 8601 `Authentication-Results`: only headers added by a trusted authserv-id are read
//!   (by default only the top-most one, which the receiving server added last); each is judged
//!   on its own, top-most first, so a sender's own `dkim=pass` cannot hide the receiving
//!   server's `dkim=fail`.

use mail_parser::{Address, MessageParser};

/// The header block of a raw message (up to the first empty line, or all of it).
pub fn header_block(raw: &[u8]) -> &[u8] {
    let mut pos = 0;
    while pos < raw.len() {
        let end = raw[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| pos + i + 1);
        let line = &raw[pos..end];
        if line.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            return &raw[..pos];
        }
        pos = end;
    }
    raw
}

/// The unfolded fields of a header block: (name as written, trimmed; raw value).
pub fn raw_fields(block: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(block);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((n, v)) = line.split_once(':') {
            out.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

/// What the `From` fields of a message say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FromCheck {
    /// The first From field's first address, lower case (the one DMARC evaluated).
    pub address: Option<String>,
    pub name: Option<String>,
    /// Why the sender identity is ambiguous (English), when it is.
    pub problem: Option<String>,
}

/// Applies the one-From-one-mailbox rule to the header block of a raw message.
pub fn check_from(raw: &[u8]) -> FromCheck {
    let fields: Vec<String> = raw_fields(header_block(raw))
        .into_iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("from"))
        .map(|(_, v)| v)
        .collect();
    let Some(first) = fields.first() else {
        return FromCheck::default();
    };
    let one = format!("From: {first}\r\n\r\n");
    let parsed = MessageParser::default().parse_headers(one.as_bytes());
    let (mut address, mut name, mut problem) = (None, None, None);
    match parsed.as_ref().and_then(|m| m.from()) {
        Some(Address::List(list)) => {
            if let Some(a) = list.first() {
                address = a.address().map(|s| s.trim().to_lowercase());
                name = a.name().map(|s| s.trim().to_string());
            }
            if list.len() > 1 {
                problem = Some(format!(
                    "the From field holds {} mailboxes; exactly one is accepted",
                    list.len()
                ));
            }
        }
        Some(Address::Group(_)) => {
            problem = Some(
                "the From field is a group of addresses; exactly one mailbox is accepted".into(),
            );
        }
        None => {}
    }
    if fields.len() > 1 {
        problem = Some(format!(
            "the message has {} From fields; RFC 5322 allows exactly one",
            fields.len()
        ));
    }
    FromCheck {
        address: address.filter(|a| !a.is_empty()),
        name: name.filter(|n| !n.is_empty()),
        problem,
    }
}

/// The results found in one or more `Authentication-Results` headers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AuthResults {
    pub dmarc: Vec<String>,
    pub dkim: Vec<String>,
    pub spf: Vec<String>,
}

fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

impl AuthResults {
    /// Parses header values (without the `Authentication-Results:` name).
    pub fn from_headers<'a>(values: impl IntoIterator<Item = &'a str>) -> AuthResults {
        let mut r = AuthResults::default();
        for v in values {
            let v = strip_comments(v);
            // The first clause is the authserv-id (and optional version).
            for clause in v.split(';').skip(1) {
                let Some(token) = clause.split_whitespace().next() else {
                    continue;
                };
                let Some((method, result)) = token.split_once('=') else {
                    continue;
                };
                let method = method.split('/').next().unwrap_or("").to_ascii_lowercase();
                let result = result.trim_matches('"').to_ascii_lowercase();
                match method.as_str() {
                    "dmarc" => r.dmarc.push(result),
                    "dkim" => r.dkim.push(result),
                    "spf" => r.spf.push(result),
                    _ => {}
                }
            }
        }
        r
    }

    /// Why the sender cannot be trusted: DMARC failed, or DKIM failed with no passing
    /// signature. SPF alone decides nothing (forwarding breaks it routinely).
    pub fn failure(&self) -> Option<String> {
        if self.dmarc.iter().any(|r| r == "fail") {
            return Some("Authentication-Results says dmarc=fail".into());
        }
        if self.dkim.iter().any(|r| r == "fail") && !self.dkim.iter().any(|r| r == "pass") {
            return Some(
                "Authentication-Results says dkim=fail and no DKIM signature passed".into(),
            );
        }
        None
    }
}

/// The authserv-id of one `Authentication-Results` value (lower case).
pub fn authserv_id(value: &str) -> Option<String> {
    strip_comments(value)
        .split(';')
        .next()
        .and_then(|s| s.split_whitespace().next())
        .map(str::to_ascii_lowercase)
        .filter(|s| !s.is_empty())
}

/// Why the sender cannot be trusted, judged only on trusted `Authentication-Results` values.
/// `values` are in header order (top-most first). With an empty `trusted` list only the
/// top-most value is read; otherwise every value whose authserv-id is listed, each on its
/// own, top-most first (the first failure is reported).
pub fn trusted_failure(values: &[String], trusted: &[String]) -> Option<String> {
    let chosen: Vec<&String> = if trusted.is_empty() {
        values.first().into_iter().collect()
    } else {
        values
            .iter()
            .filter(|v| {
                authserv_id(v)
                    .is_some_and(|id| trusted.iter().any(|t| t.trim().eq_ignore_ascii_case(&id)))
            })
            .collect()
    };
    chosen.into_iter().find_map(|v| {
        AuthResults::from_headers([v.as_str()])
            .failure()
            .map(|f| format!("{f} (authserv-id {})", authserv_id(v).unwrap_or_default()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_results() {
        let r = AuthResults::from_headers([
            "mx.rjl.test; dkim=pass (2048-bit key) header.d=ekbacken.vc.test; \
             spf=pass (sender SPF authorized) smtp.mailfrom=ekbacken.vc.test; dmarc=pass \
             (p=REJECT) header.from=ekbacken.vc.test",
        ]);
        assert_eq!(r.dkim, vec!["pass"]);
        assert_eq!(r.spf, vec!["pass"]);
        assert_eq!(r.dmarc, vec!["pass"]);
        assert!(r.failure().is_none());

        let fail = AuthResults::from_headers([
            "mx.rjl.test; spf=softfail smtp.mailfrom=x.test; dkim=none; dmarc=fail (p=none dis=none) header.from=ekbacken.vc.test",
        ]);
        assert!(fail.failure().unwrap().contains("dmarc=fail"));

        // Within one header, a DKIM fail with another passing signature is fine.
        let two = AuthResults::from_headers([
            "mx.rjl.test; dkim=fail header.d=list.test; dkim=pass header.d=ekbacken.vc.test",
        ]);
        assert!(two.failure().is_none());
        let one = AuthResults::from_headers(["mx.rjl.test 1; DKIM=FAIL (bad sig) header.i=@x"]);
        assert!(one.failure().unwrap().contains("dkim=fail"));

        // Comments and the authserv-id do not produce results; "none" has no clauses.
        let odd = AuthResults::from_headers([
            "mx.rjl.test (dmarc=fail; looks odd); none",
            "mx.rjl.test; spf=fail smtp.mailfrom=x.test",
        ]);
        assert_eq!(odd.dmarc, Vec::<String>::new());
        assert!(odd.failure().is_none(), "SPF alone decides nothing");
    }

    #[test]
    fn only_trusted_authserv_ids_count() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let forged_below = v(&[
            "mx.rjl.test; dkim=fail header.d=ekbacken.vc.test",
            "evil.test; dkim=pass header.d=ekbacken.vc.test; dmarc=pass",
        ]);
        // Default: only the top-most header; the receiving server's fail wins.
        assert!(
            trusted_failure(&forged_below, &[])
                .unwrap()
                .contains("dkim=fail")
        );
        let trusted = v(&["MX.rjl.test"]);
        assert!(
            trusted_failure(&forged_below, &trusted)
                .unwrap()
                .contains("mx.rjl.test")
        );
        // A forged fail from an untrusted id is ignored too.
        let forged_fail = v(&[
            "mx.rjl.test; dkim=pass; dmarc=pass",
            "evil.test; dmarc=fail",
        ]);
        assert!(trusted_failure(&forged_fail, &trusted).is_none());
        assert!(trusted_failure(&forged_fail, &[]).is_none());
        // A forged pass with the trusted id, below the real one, cannot hide its fail.
        let same_id = v(&["mx.rjl.test; dkim=fail", "mx.rjl.test; dkim=pass"]);
        assert!(trusted_failure(&same_id, &trusted).is_some());
        assert_eq!(
            authserv_id(" (c) mx.rjl.test 1; none").as_deref(),
            Some("mx.rjl.test")
        );
    }

    #[test]
    fn from_rule() {
        let c =
            check_from(b"From: Anna <Anna@Ekbacken.vc.test>\r\nSubject: x\r\n\r\nFrom: body\r\n");
        assert_eq!(c.address.as_deref(), Some("anna@ekbacken.vc.test"));
        assert_eq!(c.name.as_deref(), Some("Anna"));
        assert!(c.problem.is_none());
        let two = check_from(b"From: a@ekbacken.vc.test\r\nfrom : b@evil.test\r\n\r\n");
        assert_eq!(two.address.as_deref(), Some("a@ekbacken.vc.test"));
        assert!(two.problem.unwrap().contains("2 From fields"));
        let many = check_from(
            b"From: a@ekbacken.vc.test,\r\n b@evil.test\r\nSender: a@ekbacken.vc.test\r\n\r\n",
        );
        assert!(many.problem.unwrap().contains("2 mailboxes"));
        let group = check_from(b"From: G: a@ekbacken.vc.test, b@evil.test;\r\n\r\n");
        assert!(group.problem.is_some());
        assert_eq!(check_from(b"Subject: x\r\n\r\n"), FromCheck::default());
        assert_eq!(header_block(b"A: b\nC: d\n\nbody"), b"A: b\nC: d\n");
    }
}
