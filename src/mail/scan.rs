//! A cheap, non-recursive pre-scan of a raw message's MIME structure, run BEFORE mail-parser
//! sees the bytes. mail-parser keeps nested `message/rfc822` parts in a tree whose building
//! (`into_owned`) and dropping recurse once per level, so a mail nested tens of thousands deep
//! overflows the stack and aborts the process (issue 10, class 1). This scan follows the same
//! state machine as mail-parser 0.11 (headers, boundary search anywhere in the stream, one
//! nested message closed per boundary, the last Content-Type header wins, multipart/digest
//! parts default to message/rfc822) but only counts how many containers (multiparts and
//! messages) are open, and stops as soon as the count passes the limit. Bodies of
//! base64/quoted-printable `message/*` parts are decoded and scanned too, one level of
//! recursion per nesting level, so recursion is bounded by the limit itself.

use base64::Engine;

/// Default for `[mailbox] max_mime_depth`: containers (multipart or message) open at once.
pub const DEFAULT_MAX_DEPTH: usize = 16;

/// mail-parser follows base64/quoted-printable `message/*` parts this many levels deep.
const ENCODED_LEVELS: usize = 3;

/// The message is nested deeper than allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooDeep {
    pub limit: usize,
}

impl std::fmt::Display for TooDeep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MIME structure nested too deep (more than {} levels of multipart or \
             forwarded message parts)",
            self.limit
        )
    }
}

/// Checks that no part of `raw` sits inside more than `limit` containers. Returns the
/// deepest nesting seen.
pub fn check_depth(raw: &[u8], limit: usize) -> Result<usize, TooDeep> {
    scan(raw, 0, limit, ENCODED_LEVELS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Message,
    Multipart,
    Digest,
}

struct State {
    kind: Kind,
    boundary: Option<Vec<u8>>,
}

/// What one header block says about its part.
#[derive(Default)]
struct PartHeaders {
    content_type: Option<String>,
    encoding: Option<String>,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    /// The next line without its line end; None at the end of the data.
    fn line(&mut self) -> Option<&'a [u8]> {
        if self.pos >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.pos..];
        let (line, used) = match memchr(b'\n', rest) {
            Some(i) => (&rest[..i], i + 1),
            None => (rest, rest.len()),
        };
        self.pos += used;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    }

    /// Header block at the cursor (unfolded); None when there is nothing left.
    fn headers(&mut self) -> Option<PartHeaders> {
        let mut h = PartHeaders::default();
        let mut current: Option<(String, String)> = None;
        let mut any = false;
        loop {
            let Some(line) = self.line() else {
                finish_header(&mut h, current.take());
                return any.then_some(h);
            };
            any = true;
            if line.iter().all(|b| b.is_ascii_whitespace()) {
                finish_header(&mut h, current.take());
                return Some(h);
            }
            let text = String::from_utf8_lossy(line);
            if line[0] == b' ' || line[0] == b'\t' {
                if let Some((_, v)) = &mut current {
                    v.push(' ');
                    v.push_str(text.trim());
                }
                continue;
            }
            finish_header(&mut h, current.take());
            if let Some((name, value)) = text.split_once(':') {
                current = Some((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
    }

    /// mail-parser's `seek_next_part`: "--boundary" anywhere from the cursor; the cursor
    /// ends right after it. False (cursor unchanged) when absent.
    fn seek_boundary(&mut self, boundary: &[u8]) -> bool {
        if boundary.is_empty() {
            return false;
        }
        let mut needle = Vec::with_capacity(boundary.len() + 2);
        needle.extend_from_slice(b"--");
        needle.extend_from_slice(boundary);
        match find(&self.data[self.pos..], &needle) {
            Some(i) => {
                self.pos += i + needle.len();
                true
            }
            None => false,
        }
    }

    fn skip_crlf(&mut self) {
        while let Some(&b) = self.data.get(self.pos) {
            match b {
                b'\r' | b' ' | b'\t' => self.pos += 1,
                b'\n' => {
                    self.pos += 1;
                    break;
                }
                _ => break,
            }
        }
    }

    /// mail-parser's `is_multipart_end` right after a boundary.
    fn multipart_end(&mut self) -> bool {
        match (self.data.get(self.pos), self.data.get(self.pos + 1)) {
            (Some(b'-'), Some(b'-')) => {
                self.pos += 2;
                true
            }
            (Some(b'\r'), Some(b'\n')) => {
                self.pos += 2;
                false
            }
            (Some(b'\n'), _) => {
                self.pos += 1;
                false
            }
            (Some(a), _) if a.is_ascii_whitespace() => {
                self.pos += 1;
                self.skip_crlf();
                false
            }
            _ => false,
        }
    }
}

fn finish_header(h: &mut PartHeaders, header: Option<(String, String)>) {
    // The last occurrence wins, as in mail-parser's `header_value`.
    match header {
        Some((n, v)) if n == "content-type" => h.content_type = Some(v),
        Some((n, v)) if n == "content-transfer-encoding" => h.encoding = Some(v),
        _ => {}
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut start = 0;
    while let Some(i) = memchr(first, &hay[start..]) {
        let at = start + i;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        start = at + 1;
    }
    None
}

/// The media type (lower case, comments dropped) and the boundary parameter of a
/// Content-Type value. RFC 2231 continuations (`boundary*0=`) are joined.
fn parse_content_type(v: &str) -> (String, Option<Vec<u8>>) {
    let v = strip_comments(v);
    let mut segs = split_params(&v).into_iter();
    let media = segs
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
        .replace(' ', "");
    let mut plain = None;
    let mut pieces: Vec<(usize, String)> = Vec::new();
    for seg in segs {
        let Some((k, val)) = seg.split_once('=') else {
            continue;
        };
        let k = k.trim().to_ascii_lowercase();
        let val = val.trim();
        let unq = val
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .unwrap_or(val);
        if k == "boundary" {
            plain = Some(unq.to_string());
        } else if let Some(rest) = k.strip_prefix("boundary*") {
            let (n, extended) = match rest.strip_suffix('*') {
                Some(n) => (n, true),
                None => (rest, rest.is_empty()),
            };
            let n: usize = n.parse().unwrap_or(0);
            let mut s = unq.to_string();
            if extended {
                if n == 0
                    && let Some((_, tail)) =
                        s.split_once('\'').and_then(|(_, t)| t.split_once('\''))
                {
                    s = tail.to_string();
                }
                s = percent_decode(&s);
            }
            pieces.push((n, s));
        }
    }
    let boundary = plain.or_else(|| {
        (!pieces.is_empty()).then(|| {
            pieces.sort_by_key(|(n, _)| *n);
            pieces.into_iter().map(|(_, s)| s).collect()
        })
    });
    (
        media,
        boundary.filter(|b| !b.is_empty()).map(String::into_bytes),
    )
}

fn split_params(v: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in v.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                out.last_mut().expect("non-empty").push(c);
            }
            ';' if !quoted => out.push(String::new()),
            _ => out.last_mut().expect("non-empty").push(c),
        }
    }
    out
}

fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let (mut depth, mut quoted) = (0usize, false);
    for c in s.chars() {
        match c {
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

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (
                (b[i + 1] as char).to_digit(16),
                (b[i + 2] as char).to_digit(16),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn decode_body(body: &[u8], encoding: &str) -> Vec<u8> {
    if encoding == "base64" {
        let clean: Vec<u8> = body
            .iter()
            .copied()
            .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
            .collect();
        base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&clean)
            .unwrap_or_default()
    } else {
        // quoted-printable: soft breaks and =XX; good enough to see the structure.
        let mut out = Vec::with_capacity(body.len());
        let mut i = 0;
        while i < body.len() {
            if body[i] == b'=' {
                match (body.get(i + 1), body.get(i + 2)) {
                    (Some(b'\r'), Some(b'\n')) => {
                        i += 3;
                        continue;
                    }
                    (Some(b'\n'), _) => {
                        i += 2;
                        continue;
                    }
                    (Some(&h), Some(&l)) => {
                        if let (Some(h), Some(l)) =
                            ((h as char).to_digit(16), (l as char).to_digit(16))
                        {
                            out.push((h * 16 + l) as u8);
                            i += 3;
                            continue;
                        }
                    }
                    _ => {}
                }
            }
            out.push(body[i]);
            i += 1;
        }
        out
    }
}

fn scan(raw: &[u8], base: usize, limit: usize, encoded_levels: usize) -> Result<usize, TooDeep> {
    let mut c = Cursor { data: raw, pos: 0 };
    let mut state = State {
        kind: Kind::Message,
        boundary: None,
    };
    let mut stack: Vec<State> = Vec::new();
    let mut deepest = base;
    let too_deep = |depth: usize| -> Result<(), TooDeep> {
        if depth > limit {
            Err(TooDeep { limit })
        } else {
            Ok(())
        }
    };
    'outer: while let Some(h) = c.headers() {
        let (media, boundary) = match &h.content_type {
            Some(ct) => parse_content_type(ct),
            None if state.kind == Kind::Digest => ("message/rfc822".to_string(), None),
            None => ("text/plain".to_string(), None),
        };
        let encoding = h
            .encoding
            .as_deref()
            .map(|e| e.trim().to_ascii_lowercase())
            .unwrap_or_default();
        let encoded = encoding == "base64" || encoding == "quoted-printable";
        let is_message = media == "message/rfc822" || media == "message/global";
        if media.starts_with("multipart")
            && let Some(b) = boundary
            && c.seek_boundary(&b)
        {
            let kind = if media == "multipart/digest" {
                Kind::Digest
            } else {
                Kind::Multipart
            };
            stack.push(std::mem::replace(
                &mut state,
                State {
                    kind,
                    boundary: Some(b),
                },
            ));
            deepest = deepest.max(base + stack.len());
            too_deep(base + stack.len())?;
            c.skip_crlf();
            continue;
        }
        if is_message && !encoded {
            let boundary = state.boundary.take();
            stack.push(std::mem::replace(
                &mut state,
                State {
                    kind: Kind::Message,
                    boundary,
                },
            ));
            deepest = deepest.max(base + stack.len());
            too_deep(base + stack.len())?;
            continue;
        }
        // A leaf (or an encoded message): its body runs to the current boundary.
        let start = c.pos;
        let end = match state.boundary.clone() {
            Some(b) => {
                if c.seek_boundary(&b) {
                    c.pos - b.len() - 2
                } else {
                    state.boundary = None;
                    c.pos = raw.len();
                    raw.len()
                }
            }
            None => {
                c.pos = raw.len();
                raw.len()
            }
        };
        if is_message && encoded_levels > 0 {
            let inner = decode_body(&raw[start..end], &encoding);
            let d = scan(&inner, base + stack.len() + 1, limit, encoded_levels - 1)?;
            deepest = deepest.max(d);
        }
        if state.boundary.is_some() {
            loop {
                if state.kind == Kind::Message {
                    let Some(mut prev) = stack.pop() else {
                        break 'outer;
                    };
                    prev.boundary = state.boundary.take();
                    state = prev;
                }
                if c.multipart_end() {
                    let Some(prev) = stack.pop() else {
                        break 'outer;
                    };
                    state = prev;
                    if let Some(b) = state.boundary.clone()
                        && c.seek_boundary(&b)
                    {
                        continue;
                    }
                    break 'outer;
                }
                break;
            }
        } else if c.pos >= raw.len() {
            break;
        }
    }
    Ok(deepest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(body: &str) -> Vec<u8> {
        format!("From: a@x.test\r\nSubject: s\r\n{body}").into_bytes()
    }

    #[test]
    fn plain_and_ordinary_multipart_depths() {
        assert_eq!(check_depth(&mail("\r\nHej\r\n"), 16), Ok(0));
        let alt = mail(
            "Content-Type: multipart/mixed; boundary=A\r\n\r\n--A\r\n\
             Content-Type: multipart/alternative; boundary=\"B\"\r\n\r\n--B\r\n\
             Content-Type: text/plain\r\n\r\nhej\r\n--B\r\nContent-Type: text/html\r\n\r\n\
             <p>hej</p>\r\n--B--\r\n--A\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n--A--\r\n",
        );
        assert_eq!(check_depth(&alt, 16), Ok(2));
        assert_eq!(check_depth(&alt, 1), Err(TooDeep { limit: 1 }));
    }

    #[test]
    fn siblings_do_not_add_up() {
        let mut body = String::from("Content-Type: multipart/mixed; boundary=A\r\n\r\n");
        for _ in 0..40 {
            body.push_str(
                "--A\r\nContent-Type: message/rfc822\r\n\r\nFrom: b@x.test\r\n\
                 Subject: fwd\r\n\r\ntext\r\n",
            );
        }
        body.push_str("--A--\r\n");
        assert_eq!(check_depth(&mail(&body), 16), Ok(2));
    }

    #[test]
    fn unclosed_messages_accumulate_as_in_mail_parser() {
        // Two nested messages per part, one closed per boundary: depth grows by one per part.
        let mut body = String::from("Content-Type: multipart/mixed; boundary=A\r\n\r\n");
        for _ in 0..40 {
            body.push_str(
                "--A\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n\
                 Subject: x\r\n\r\ntext\r\n",
            );
        }
        assert!(check_depth(&mail(&body), 16).is_err());
    }

    #[test]
    fn last_content_type_wins_and_digest_defaults_to_message() {
        let mut body = String::new();
        for i in 0..30 {
            body.push_str(&format!(
                "Content-Type: text/plain\r\nContent-Type: multipart/digest; boundary=d{i}\r\n\r\n--d{i}\r\n"
            ));
        }
        assert!(check_depth(&mail(&body), 16).is_err());
        let digest = mail(
            "Content-Type: multipart/digest; boundary=D\r\n\r\n--D\r\n\r\n\
             Subject: a\r\n\r\nx\r\n--D--\r\n",
        );
        assert_eq!(check_depth(&digest, 16), Ok(2));
    }

    #[test]
    fn rfc2231_boundary_is_followed() {
        let (m, b) = parse_content_type("Multipart/Mixed (c); boundary*0=\"ab\"; boundary*1=cd");
        assert_eq!(m, "multipart/mixed");
        assert_eq!(b.as_deref(), Some(&b"abcd"[..]));
        let (_, b) = parse_content_type("multipart/mixed; boundary*=utf-8''a%20b");
        assert_eq!(b.as_deref(), Some(&b"a b"[..]));
    }
}
