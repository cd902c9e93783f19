//! The files of a parsed message: which parts are candidate documents, their names (RFC
//! 2047/2231, raw Latin-1), their bytes (transfer encoding undone, text parts byte for byte),
//! forwarded `message/rfc822` parts (followed [`MAX_NESTING`] deep) and TNEF `winmail.dat`
//! containers, and "Bilaga" appendices set apart from the plan.

use base64::Engine;
use mail_parser::{Encoding, Message, MessagePart, MimeHeaders, PartType};
use unicode_normalization::UnicodeNormalization;

use super::parse::{ct_string, sha256_hex, unfold};
use super::{Attachment, Inbound, tnef};

/// How deep forwarded messages are followed.
pub const MAX_NESTING: usize = 8;

const DOC_EXTENSIONS: &[&str] = &[
    "docx", "docm", "dotx", "doc", "dot", "odt", "ott", "pdf", "rtf",
];
const DOC_TYPES: &[&str] = &[
    "application/pdf",
    "application/x-pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-word.document.macroenabled.12",
    "application/vnd.oasis.opendocument.text",
    "application/rtf",
    "application/x-rtf",
    "text/rtf",
    "text/richtext",
];
const NOT_DOC_EXTENSIONS: &[&str] = &["vcf", "p7s", "p7m", "p7c", "ics", "asc", "sig"];
const NOT_DOC_TYPES: &[&str] = &[
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
    "text/vcard",
    "text/x-vcard",
    "text/directory",
    "text/calendar",
];

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The document kind the bytes announce by their magic number, if any.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF") {
        Some("pdf")
    } else if bytes.starts_with(b"PK\x03\x04") {
        Some("zip")
    } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        Some("ole")
    } else if bytes.starts_with(b"{\\rtf") {
        Some("rtf")
    } else {
        None
    }
}

/// Strips any path a sender's client put in the name, and normalises it to NFC.
fn clean_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.trim().trim_matches('"').trim().nfc().collect()
}

/// The decoded file name of a part: RFC 2047/2231 via mail-parser; when that holds U+FFFD
/// (raw 8-bit Latin-1), the Content-Type `name`, then the raw header bytes as windows-1252.
fn part_name(msg: &Message<'_>, part: &MessagePart<'_>) -> Option<String> {
    let parsed = part.attachment_name().map(str::to_string);
    if let Some(n) = &parsed
        && !n.contains('\u{FFFD}')
    {
        return Some(n.clone());
    }
    let ct_name = part
        .content_type()
        .and_then(|ct| ct.attribute("name"))
        .filter(|n| !n.contains('\u{FFFD}'));
    if let Some(n) = ct_name {
        return Some(n.to_string());
    }
    if parsed.is_some()
        || part
            .content_type()
            .is_some_and(|ct| ct.has_attribute("name"))
    {
        for h in part.headers.iter().filter(|h| {
            let n = h.name.as_str();
            n.eq_ignore_ascii_case("Content-Disposition") || n.eq_ignore_ascii_case("Content-Type")
        }) {
            let Some(bytes) = msg
                .raw_message
                .get(h.offset_start as usize..h.offset_end as usize)
            else {
                continue;
            };
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            if let Some(n) = raw_param(&unfold(&text), &["filename", "name"]) {
                return Some(n);
            }
        }
    }
    parsed
}

/// A parameter value from a raw MIME header value (`; filename="x"` or `; filename=x`).
fn raw_param(value: &str, names: &[&str]) -> Option<String> {
    for seg in value.split(';').skip(1) {
        let Some((k, v)) = seg.split_once('=') else {
            continue;
        };
        if names.iter().any(|n| k.trim().eq_ignore_ascii_case(n)) {
            let v = v.trim().trim_matches('"').to_string();
            if !v.is_empty() {
                return Some(v);
            }
        }
    }
    None
}

fn make_attachment(name: String, content_type: String, bytes: Vec<u8>, inline: bool) -> Attachment {
    Attachment {
        sha256: sha256_hex(&bytes),
        name,
        content_type,
        bytes,
        inline,
    }
}

/// Decides whether a part is a candidate document. Returns `true` for a document.
fn is_candidate(name: Option<&str>, content_type: &str, bytes: &[u8], inline_image: bool) -> bool {
    let ext = name.map(extension).unwrap_or_default();
    if NOT_DOC_EXTENSIONS.contains(&ext.as_str()) || NOT_DOC_TYPES.contains(&content_type) {
        return false;
    }
    let docish = DOC_EXTENSIONS.contains(&ext.as_str())
        || DOC_TYPES.contains(&content_type)
        || sniff(bytes).is_some();
    if docish {
        return !inline_image || DOC_EXTENSIONS.contains(&ext.as_str());
    }
    let image = content_type.starts_with("image/")
        || matches!(
            ext.as_str(),
            "png" | "jpg" | "jpeg" | "gif" | "bmp" | "tif" | "tiff" | "emz" | "wmz" | "svg"
        );
    let text = content_type.starts_with("text/");
    !image && !text && name.is_some_and(|n| !n.trim().is_empty())
}

fn push_part(
    inbound: &mut Inbound,
    name: Option<String>,
    content_type: String,
    bytes: Vec<u8>,
    inline_image: bool,
) {
    let doc = is_candidate(name.as_deref(), &content_type, &bytes, inline_image);
    let name = name.map(|n| clean_name(&n)).filter(|n| !n.is_empty());
    let name = name.unwrap_or_else(|| {
        let ext = match sniff(&bytes) {
            Some("pdf") => ".pdf",
            Some("rtf") => ".rtf",
            Some("ole") => ".doc",
            Some("zip") => ".zip",
            _ => "",
        };
        let n = inbound.documents.len() + inbound.other_parts.len() + 1;
        format!("unnamed-part-{n}{ext}")
    });
    let att = make_attachment(name, content_type, bytes, !doc);
    if doc {
        inbound.documents.push(att);
    } else {
        inbound.other_parts.push(att);
    }
}

/// The part's body with only the transfer encoding undone (no charset conversion).
fn raw_body_bytes(msg: &Message<'_>, part: &MessagePart<'_>) -> Option<Vec<u8>> {
    let body = msg
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)?;
    match part.encoding {
        Encoding::None => Some(body.to_vec()),
        Encoding::Base64 => {
            let clean: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
                .collect();
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(&clean)
                .ok()
        }
        Encoding::QuotedPrintable => Some(decode_qp(body)),
    }
}

/// Quoted-printable (RFC 2045 §6.7): soft line breaks removed, `=XX` decoded, line ends kept
/// as CRLF, trailing whitespace on a line dropped.
fn decode_qp(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let text_lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
    let n = text_lines.len();
    for (i, line) in text_lines.into_iter().enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut end = line.len();
        while end > 0 && matches!(line[end - 1], b' ' | b'\t') {
            end -= 1;
        }
        let line = &line[..end];
        let (line, soft) = match line.strip_suffix(b"=") {
            Some(l) => (l, true),
            None => (line, false),
        };
        let mut j = 0;
        while j < line.len() {
            if line[j] == b'='
                && j + 2 < line.len()
                && let (Some(h), Some(l)) = (hex_val(line[j + 1]), hex_val(line[j + 2]))
            {
                out.push(h << 4 | l);
                j += 3;
                continue;
            }
            out.push(line[j]);
            j += 1;
        }
        if !soft && i + 1 < n {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// True for a file name that says it is an appendix ("Bilaga 1 – Mätvärden.pdf").
fn is_appendix_name(name: &str) -> bool {
    let lower = name.trim().to_lowercase();
    ["bilaga", "bilagor", "appendix", "bil.", "bil "]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// Moves appendix-named documents to `appendices` when another document remains.
pub(super) fn split_appendices(inbound: &mut Inbound) {
    if inbound.documents.iter().any(|d| !is_appendix_name(&d.name))
        && inbound.documents.iter().any(|d| is_appendix_name(&d.name))
    {
        let (appendices, documents) = std::mem::take(&mut inbound.documents)
            .into_iter()
            .partition(|d| is_appendix_name(&d.name));
        inbound.documents = documents;
        inbound.appendices = appendices;
    }
}

pub(super) fn collect_parts(
    msg: &Message<'_>,
    depth: usize,
    inbound: &mut Inbound,
    notes: &mut Vec<String>,
) {
    for &id in &msg.attachments {
        let Some(part) = msg.parts.get(id as usize) else {
            continue;
        };
        if let PartType::Message(inner) = &part.body {
            if depth < MAX_NESTING {
                collect_parts(inner, depth + 1, inbound, notes);
            } else {
                notes.push("forwarded messages nested too deeply were not opened".into());
            }
            continue;
        }
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        let content_type = ct_string(part).unwrap_or_else(|| {
            if part.is_text() {
                "text/plain".into()
            } else {
                "application/octet-stream".into()
            }
        });
        // Parts of a DSN (the status itself, returned headers) are not files.
        if matches!(
            content_type.as_str(),
            "message/delivery-status"
                | "message/global-delivery-status"
                | "message/disposition-notification"
                | "text/rfc822-headers"
        ) {
            continue;
        }
        let name = part_name(msg, part);
        let bytes = if part.is_text() {
            // mail-parser has charset-decoded text parts; a text/rtf (or mislabelled) file
            // must reach the document engine byte for byte.
            raw_body_bytes(msg, part).unwrap_or_else(|| part.contents().to_vec())
        } else {
            part.contents().to_vec()
        };
        let is_tnef = content_type == "application/ms-tnef"
            || content_type == "application/vnd.ms-tnef"
            || name
                .as_deref()
                .is_some_and(|n| clean_name(n).eq_ignore_ascii_case("winmail.dat"))
            || tnef::is_tnef(&bytes);
        if is_tnef {
            match tnef::read_attachments(&bytes) {
                Ok(files) => {
                    if files.is_empty() {
                        notes.push("winmail.dat (TNEF) held no attached files".into());
                    }
                    for f in files {
                        let ct = f
                            .mime_type
                            .clone()
                            .map(|m| m.trim().to_ascii_lowercase())
                            .filter(|m| m.contains('/'))
                            .unwrap_or_else(|| "application/octet-stream".into());
                        push_part(inbound, Some(f.name), ct, f.data, false);
                    }
                }
                Err(e) => {
                    notes.push(format!(
                        "winmail.dat (TNEF) could not be decoded ({e}); kept as is"
                    ));
                    let name = name.unwrap_or_else(|| "winmail.dat".into());
                    inbound.documents.push(make_attachment(
                        clean_name(&name),
                        content_type,
                        bytes,
                        false,
                    ));
                }
            }
            continue;
        }
        let disposition_inline = part.content_disposition().is_some_and(|d| d.is_inline());
        let inline_image = content_type.starts_with("image/")
            && (disposition_inline || part.content_id().is_some());
        push_part(inbound, name, content_type, bytes, inline_image);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_rules() {
        assert!(is_candidate(
            Some("Plan.DOCX"),
            "application/octet-stream",
            b"",
            false
        ));
        assert!(is_candidate(
            None,
            "application/octet-stream",
            b"%PDF-1.7",
            false
        ));
        assert!(is_candidate(
            Some("plan"),
            "application/octet-stream",
            b"junk",
            false
        ));
        assert!(is_candidate(
            Some("data.xlsx"),
            "application/vnd.ms-excel",
            b"",
            false
        ));
        assert!(!is_candidate(
            None,
            "application/octet-stream",
            b"junk",
            false
        ));
        assert!(!is_candidate(
            Some("logo.png"),
            "image/png",
            b"\x89PNG",
            true
        ));
        assert!(!is_candidate(
            Some("scan.jpg"),
            "image/jpeg",
            b"\xFF\xD8",
            false
        ));
        assert!(!is_candidate(
            Some("anna.vcf"),
            "text/vcard",
            b"BEGIN:VCARD",
            false
        ));
        assert!(!is_candidate(
            Some("smime.p7s"),
            "application/pkcs7-signature",
            b"0\x82",
            false
        ));
        assert!(!is_candidate(
            Some("notes.txt"),
            "text/plain",
            b"hej",
            false
        ));
        assert!(is_candidate(
            Some("plan.rtf"),
            "text/rtf",
            b"{\\rtf1",
            false
        ));
    }

    #[test]
    fn quoted_printable() {
        assert_eq!(
            decode_qp(b"a=3Db =\r\nc  \r\nd=C3=A5=\n"),
            "a=b c\r\nd\u{e5}".as_bytes()
        );
        assert_eq!(decode_qp(b"=ZZ="), b"=ZZ");
    }

    #[test]
    fn raw_params_and_names() {
        assert_eq!(
            raw_param(
                " attachment; filename=\"Plån.docx\"; size=10",
                &["filename"]
            )
            .as_deref(),
            Some("Plån.docx")
        );
        assert_eq!(clean_name("C:\\Users\\x\\Plan.pdf"), "Plan.pdf");
        assert_eq!(clean_name("Pla\u{308}n.pdf"), "Plän.pdf");
    }
}
