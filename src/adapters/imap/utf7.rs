//! Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3).
//!
//! Printable US-ASCII except `&` stands for itself, `&` is `&-`, everything else is UTF-16
//! in a modified base64 (`,` instead of `/`, no padding) between `&` and `-`:
//! `Färdigt` ⇄ `F&AOQ-rdigt`.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// UTF-8 name → the name as sent to the server.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

fn flush(units: &mut Vec<u16>, out: &mut String) {
    if units.is_empty() {
        return;
    }
    let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out.push('-');
    units.clear();
}

/// The server's name → UTF-8; `None` when it is not valid modified UTF-7.
pub fn decode(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let end = after.find('-')?;
        let run = &after[..end];
        if run.is_empty() {
            out.push('&');
        } else {
            let mut bits: u32 = 0;
            let mut nbits = 0;
            let mut bytes = Vec::new();
            for c in run.bytes() {
                let v = B64.iter().position(|&b| b == c)? as u32;
                bits = (bits << 6) | v;
                nbits += 6;
                if nbits >= 8 {
                    nbits -= 8;
                    bytes.push((bits >> nbits) as u8);
                    bits &= (1 << nbits) - 1;
                }
            }
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            out.push_str(&String::from_utf16(&units).ok()?);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names() {
        // RFC 3501 §5.1.3 and everyday Swedish folder names.
        assert_eq!(encode("Färdigt"), "F&AOQ-rdigt");
        assert_eq!(encode("Behandlat"), "Behandlat");
        assert_eq!(encode("A&B"), "A&-B");
        assert_eq!(encode("Åtgärdat/Övrigt"), "&AMU-tg&AOQ-rdat/&ANY-vrigt");
        assert_eq!(
            encode("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(
            decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").as_deref(),
            Some("~peter/mail/台北/日本語")
        );
        assert_eq!(decode("F&AOQ-rdigt").as_deref(), Some("Färdigt"));
        assert_eq!(decode("A&-B").as_deref(), Some("A&B"));
    }

    #[test]
    fn round_trip() {
        for s in [
            "",
            "INBOX",
            "Färdigt",
            "ÅÄÖ åäö",
            "a&b&&c",
            "😀 emoji outside the BMP",
            "Inkorg/Behandlat 2026",
            "x\u{7f}y\u{1}z",
        ] {
            let e = encode(s);
            assert!(e.is_ascii(), "{e}");
            assert_eq!(decode(&e).as_deref(), Some(s), "{s} -> {e}");
        }
    }

    #[test]
    fn malformed_is_refused() {
        assert_eq!(decode("F&AOQ"), None, "no closing dash");
        assert_eq!(decode("F&A*Q-"), None, "not base64");
        assert_eq!(decode("&2D0-"), None, "a lone surrogate");
    }
}
