//! A small reader for TNEF (`winmail.dat`, `application/ms-tnef`), enough to get the attached
//! files out: the `tnef` crate fails on ordinary samples (see the crate notes), so this is ours.
//!
//! Format ([MS-OXTNEF]): signature `0x223E9F78`, a 16-bit key, then attributes:
//! `level: u8` (1 message, 2 attachment), `id: u32` (type in the high word), `len: u32`,
//! `data[len]`, `checksum: u16`. Each attachment starts with `attAttachRendData`; the file
//! name is in `attAttachTitle` (8.3 name) and, better, in the MAPI property
//! `PR_ATTACH_LONG_FILENAME` inside `attAttachment`; the bytes are in `attAttachData` (or the
//! MAPI property `PR_ATTACH_DATA_OBJ`). Everything is little-endian. Pure and bounded: every
//! length is checked against the remaining input.

use encoding_rs::Encoding;

pub const TNEF_SIGNATURE: u32 = 0x223E_9F78;

const LVL_ATTACHMENT: u8 = 2;
const ATT_OEM_CODEPAGE: u32 = 0x0006_9007;
const ATT_ATTACH_REND_DATA: u32 = 0x0006_9002;
const ATT_ATTACH_TITLE: u32 = 0x0001_8010;
const ATT_ATTACH_DATA: u32 = 0x0006_800F;
const ATT_ATTACHMENT: u32 = 0x0006_9005;

const PR_ATTACH_DATA_OBJ: u16 = 0x3701;
const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
const PR_ATTACH_FILENAME: u16 = 0x3704;
const PR_DISPLAY_NAME: u16 = 0x3001;
const PR_ATTACH_MIME_TAG: u16 = 0x370E;

const PT_STRING8: u16 = 0x001E;
const PT_UNICODE: u16 = 0x001F;
const PT_BINARY: u16 = 0x0102;
const PT_OBJECT: u16 = 0x000D;
const MV_FLAG: u16 = 0x1000;

/// How deep embedded TNEF streams (attached messages) are followed.
const MAX_DEPTH: usize = 4;

/// One file found in a TNEF stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TnefAttachment {
    /// Long file name when present, else the display name, else the 8.3 title.
    pub name: String,
    /// `PR_ATTACH_MIME_TAG`, when the sender recorded one.
    pub mime_type: Option<String>,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TnefError {
    #[error("not a TNEF stream (bad signature)")]
    BadSignature,
    #[error("TNEF stream truncated at byte {0}")]
    Truncated(usize),
    #[error("TNEF MAPI property block malformed at byte {0}")]
    BadProperties(usize),
}

/// True when the bytes start with the TNEF signature.
pub fn is_tnef(bytes: &[u8]) -> bool {
    bytes.len() >= 4
        && u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) == TNEF_SIGNATURE
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }
}

#[derive(Default)]
struct Partial {
    title: Option<String>,
    long_name: Option<String>,
    display_name: Option<String>,
    mime_type: Option<String>,
    data: Option<Vec<u8>>,
    data_obj: Option<Vec<u8>>,
}

/// All attached files in a TNEF stream, in stream order. Attachments without data (OLE
/// objects, references) are skipped; an attached message (itself TNEF) is descended into.
pub fn read_attachments(bytes: &[u8]) -> Result<Vec<TnefAttachment>, TnefError> {
    read_depth(bytes, 0)
}

fn read_depth(bytes: &[u8], depth: usize) -> Result<Vec<TnefAttachment>, TnefError> {
    if !is_tnef(bytes) {
        return Err(TnefError::BadSignature);
    }
    let mut c = Cursor {
        data: bytes,
        pos: 6, // signature + legacy key
    };
    if bytes.len() < 6 {
        return Err(TnefError::Truncated(bytes.len()));
    }
    let mut codepage: &'static Encoding = encoding_rs::WINDOWS_1252;
    let mut parts: Vec<Partial> = Vec::new();
    while c.remaining() > 0 {
        let start = c.pos;
        let level = c.u8().ok_or(TnefError::Truncated(start))?;
        let id = c.u32().ok_or(TnefError::Truncated(start))?;
        let len = c.u32().ok_or(TnefError::Truncated(start))? as usize;
        let data = c.take(len).ok_or(TnefError::Truncated(start))?;
        // The 16-bit checksum; not verified (real writers get it right, and a wrong one
        // would not make the bytes less useful than dropping them).
        c.u16().ok_or(TnefError::Truncated(start))?;
        match id {
            ATT_OEM_CODEPAGE if data.len() >= 4 => {
                let cp = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
                if let Some(enc) = codepage_encoding(cp) {
                    codepage = enc;
                }
            }
            ATT_ATTACH_REND_DATA => parts.push(Partial::default()),
            _ if level == LVL_ATTACHMENT => {
                if parts.is_empty() {
                    parts.push(Partial::default());
                }
                let cur = parts.last_mut().expect("pushed above");
                match id {
                    ATT_ATTACH_TITLE => cur.title = Some(decode_8bit(data, codepage)),
                    ATT_ATTACH_DATA => cur.data = Some(data.to_vec()),
                    ATT_ATTACHMENT => read_props(data, codepage, cur)?,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (i, p) in parts.into_iter().enumerate() {
        let name = [p.long_name, p.display_name, p.title]
            .into_iter()
            .flatten()
            .find(|n| !n.trim().is_empty())
            .map(|n| n.trim().to_string());
        let Some(data) = p.data.or(p.data_obj) else {
            continue;
        };
        if is_tnef(&data) && depth < MAX_DEPTH {
            // An attached message: take its attachments; if it cannot be read, skip it.
            if let Ok(inner) = read_depth(&data, depth + 1) {
                out.extend(inner);
            }
            continue;
        }
        out.push(TnefAttachment {
            name: name.unwrap_or_else(|| format!("attachment-{}", i + 1)),
            mime_type: p.mime_type,
            data,
        });
    }
    Ok(out)
}

fn codepage_encoding(cp: u32) -> Option<&'static Encoding> {
    match cp {
        65001 => Some(encoding_rs::UTF_8),
        // OEM code pages 437/850 are not in encoding_rs; file names are almost always ASCII
        // there and the long name comes from the Unicode/ANSI MAPI property anyway.
        437 | 850 | 1252 => Some(encoding_rs::WINDOWS_1252),
        28591 => Some(encoding_rs::WINDOWS_1252),
        _ => Encoding::for_label(format!("windows-{cp}").as_bytes())
            .or_else(|| Encoding::for_label(format!("cp{cp}").as_bytes())),
    }
}

fn decode_8bit(data: &[u8], enc: &'static Encoding) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    enc.decode_without_bom_handling(&data[..end]).0.into_owned()
}

fn decode_utf16(data: &[u8]) -> String {
    let units: Vec<u16> = data
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// Reads a MAPI property block (`attAttachment`), keeping the few properties we need.
fn read_props(
    data: &[u8],
    codepage: &'static Encoding,
    cur: &mut Partial,
) -> Result<(), TnefError> {
    let mut c = Cursor { data, pos: 0 };
    let bad = |c: &Cursor| TnefError::BadProperties(c.pos);
    let count = c.u32().ok_or_else(|| bad(&c))?;
    for _ in 0..count {
        let ptype = c.u16().ok_or_else(|| bad(&c))?;
        let pid = c.u16().ok_or_else(|| bad(&c))?;
        if pid >= 0x8000 {
            // Named property: GUID, kind, then an id or a UTF-16 name.
            c.take(16).ok_or_else(|| bad(&c))?;
            let kind = c.u32().ok_or_else(|| bad(&c))?;
            if kind == 0 {
                c.u32().ok_or_else(|| bad(&c))?;
            } else {
                let n = c.u32().ok_or_else(|| bad(&c))? as usize;
                c.take(pad4(n)).ok_or_else(|| bad(&c))?;
            }
        }
        let base = ptype & !MV_FLAG;
        let multi = ptype & MV_FLAG != 0;
        let variable = matches!(base, PT_STRING8 | PT_UNICODE | PT_BINARY | PT_OBJECT);
        let values = if multi || variable {
            c.u32().ok_or_else(|| bad(&c))? as usize
        } else {
            1
        };
        if values > c.remaining() {
            return Err(bad(&c));
        }
        for _ in 0..values {
            if variable {
                let n = c.u32().ok_or_else(|| bad(&c))? as usize;
                let v = c.take(n).ok_or_else(|| bad(&c))?;
                c.take(pad4(n) - n).ok_or_else(|| bad(&c))?;
                let text = match base {
                    PT_STRING8 => Some(decode_8bit(v, codepage)),
                    PT_UNICODE => Some(decode_utf16(v)),
                    _ => None,
                };
                match (pid, text) {
                    (PR_ATTACH_LONG_FILENAME, Some(t)) => cur.long_name = Some(t),
                    (PR_DISPLAY_NAME, Some(t)) if cur.display_name.is_none() => {
                        cur.display_name = Some(t)
                    }
                    (PR_ATTACH_FILENAME, Some(t)) if cur.title.is_none() => cur.title = Some(t),
                    (PR_ATTACH_MIME_TAG, Some(t)) => cur.mime_type = Some(t),
                    (PR_ATTACH_DATA_OBJ, None) => {
                        // PT_OBJECT values start with a 16-byte interface id.
                        let body = if base == PT_OBJECT {
                            v.get(16..).unwrap_or_default()
                        } else {
                            v
                        };
                        cur.data_obj = Some(body.to_vec());
                    }
                    _ => {}
                }
            } else {
                let size = match base {
                    0x0000 | 0x0001 => 0,                            // unspecified, null
                    0x0002 | 0x0003 | 0x0004 | 0x000A | 0x000B => 4, // short, long, float, error, bool
                    0x0005 | 0x0006 | 0x0007 | 0x0014 | 0x0040 => 8, // double, currency, apptime, i8, systime
                    0x0048 => 16,                                    // clsid
                    _ => return Err(bad(&c)),
                };
                c.take(size).ok_or_else(|| bad(&c))?;
            }
        }
    }
    Ok(())
}

/// Builds TNEF streams for tests (here and in the fixture tests).
#[doc(hidden)]
pub mod build {
    use super::*;

    pub fn attr(out: &mut Vec<u8>, level: u8, id: u32, data: &[u8]) {
        out.push(level);
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        let sum = data.iter().fold(0u16, |s, &b| s.wrapping_add(b as u16));
        out.extend_from_slice(&sum.to_le_bytes());
    }

    fn prop_string(props: &mut Vec<u8>, ptype: u16, pid: u16, value: &[u8]) {
        props.extend_from_slice(&ptype.to_le_bytes());
        props.extend_from_slice(&pid.to_le_bytes());
        props.extend_from_slice(&1u32.to_le_bytes());
        props.extend_from_slice(&(value.len() as u32).to_le_bytes());
        props.extend_from_slice(value);
        props.resize(props.len() + (pad4(value.len()) - value.len()), 0);
    }

    /// A stream with one message-level attribute and, per file, RendData, Title (8.3 name
    /// in windows-1252), Data and an attAttachment block with a fixed-size property, a named
    /// property and the long file name as PT_UNICODE.
    pub fn stream(files: &[(&str, &str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&TNEF_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&0x1234u16.to_le_bytes());
        attr(&mut out, 1, 0x0008_9006, &0x0001_0000u32.to_le_bytes()); // attTnefVersion
        attr(
            &mut out,
            1,
            ATT_OEM_CODEPAGE,
            &[0xE4, 0x04, 0, 0, 0, 0, 0, 0],
        ); // 1252
        attr(&mut out, 1, 0x0001_8004, b"Projektplan\0"); // attSubject
        for (short, long, data) in files {
            attr(
                &mut out,
                2,
                ATT_ATTACH_REND_DATA,
                &[1, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0],
            );
            let (title, _, _) = encoding_rs::WINDOWS_1252.encode(short);
            let mut title = title.into_owned();
            title.push(0);
            attr(&mut out, 2, ATT_ATTACH_TITLE, &title);
            attr(&mut out, 2, ATT_ATTACH_DATA, data);
            let mut props = Vec::new();
            props.extend_from_slice(&3u32.to_le_bytes());
            // PR_ATTACH_METHOD (PT_LONG) = 1
            props.extend_from_slice(&0x0003u16.to_le_bytes());
            props.extend_from_slice(&0x3705u16.to_le_bytes());
            props.extend_from_slice(&1u32.to_le_bytes());
            // a named PT_BOOLEAN property with a string name
            props.extend_from_slice(&0x000Bu16.to_le_bytes());
            props.extend_from_slice(&0x8005u16.to_le_bytes());
            props.extend_from_slice(&[7u8; 16]);
            props.extend_from_slice(&1u32.to_le_bytes());
            let name: Vec<u8> = "x\0".encode_utf16().flat_map(u16::to_le_bytes).collect();
            props.extend_from_slice(&(name.len() as u32).to_le_bytes());
            props.extend_from_slice(&name);
            props.resize(props.len() + (pad4(name.len()) - name.len()), 0);
            props.extend_from_slice(&1u32.to_le_bytes());
            // PR_ATTACH_LONG_FILENAME as PT_UNICODE
            let mut wide: Vec<u8> = long.encode_utf16().flat_map(u16::to_le_bytes).collect();
            wide.extend_from_slice(&[0, 0]);
            prop_string(&mut props, PT_UNICODE, PR_ATTACH_LONG_FILENAME, &wide);
            attr(&mut out, 2, ATT_ATTACHMENT, &props);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_long_names_and_data() {
        let pdf = b"%PDF-1.4 fake";
        let docx = b"PK\x03\x04 fake docx";
        let s = build::stream(&[
            ("PROJEK~1.PDF", "Projektplan Vårdcentralen Älmhult.pdf", pdf),
            ("BILAGA~1.DOC", "Bilaga ÅÄÖ.docx", docx),
        ]);
        let got = read_attachments(&s).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name, "Projektplan Vårdcentralen Älmhult.pdf");
        assert_eq!(got[0].data, pdf);
        assert_eq!(got[1].name, "Bilaga ÅÄÖ.docx");
        assert_eq!(got[1].data, docx);
    }

    #[test]
    fn falls_back_to_title_and_rejects_garbage() {
        let mut s = Vec::new();
        s.extend_from_slice(&TNEF_SIGNATURE.to_le_bytes());
        s.extend_from_slice(&[0, 0]);
        build::attr(&mut s, 2, ATT_ATTACH_REND_DATA, &[0; 14]);
        build::attr(&mut s, 2, ATT_ATTACH_TITLE, b"Pl\xE5n.rtf\0");
        build::attr(&mut s, 2, ATT_ATTACH_DATA, b"{\\rtf1 x}");
        let got = read_attachments(&s).unwrap();
        assert_eq!(got[0].name, "Plån.rtf");
        assert_eq!(got[0].data, b"{\\rtf1 x}");

        assert_eq!(read_attachments(b"not tnef"), Err(TnefError::BadSignature));
        let full = build::stream(&[("A.PDF", "a.pdf", b"%PDF")]);
        for cut in [7, 20, full.len() - 1] {
            assert!(matches!(
                read_attachments(&full[..cut]),
                Err(TnefError::Truncated(_)) | Err(TnefError::BadProperties(_))
            ));
        }
        // A length field far beyond the input is reported, not allocated.
        let mut huge = full[..6].to_vec();
        huge.extend_from_slice(&[2, 0x0F, 0x80, 0x06, 0x00, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert!(matches!(
            read_attachments(&huge),
            Err(TnefError::Truncated(6))
        ));
    }
}
