//! Legacy Word 97–2003 `.doc` reader, pure Rust on `cfb` 0.16.
//!
//! Owns the piece-table algorithm ([MS-DOC]): read the FIB from the `WordDocument` stream
//! (`fEncrypted` → [`ExtractError::Encrypted`], Word 6/95 and older → unsupported), find the Clx
//! in the `0Table`/`1Table` stream (`fcClx`/`lcbClx`), skip its Prc entries, walk the PlcPcd and
//! decode each piece (compressed pieces as cp1252, others as UTF-16LE), cut the main document at
//! `ccpText`. Field codes (0x13 … 0x14 result 0x15) keep only the result; 0x0D, 0x07 (cell and
//! row marks) and 0x0C end a paragraph; 0x0B is a line break; object anchors and other control
//! characters are dropped. The header story (`ccpHdd`, after the footnotes) becomes furniture.
//! The output is paragraphs only: no styles, headings or tables for `.doc`.

use super::{Deadline, ExtractError, Limits, push_furniture};
use crate::domain::document::{Block, Document, Format};
use std::io::{Cursor, Read};

fn corrupt(msg: &str) -> ExtractError {
    ExtractError::Corrupt(format!("DOC: {msg}"))
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn read_stream(
    cf: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    name: &str,
    limit: u64,
) -> Result<Vec<u8>, ExtractError> {
    let s = cf
        .open_stream(name)
        .map_err(|e| corrupt(&format!("stream {name}: {e}")))?;
    let mut buf = Vec::new();
    s.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| corrupt(&format!("stream {name}: {e}")))?;
    if buf.len() as u64 > limit {
        return Err(ExtractError::TooLarge(format!(
            "DOC stream {name} over {limit} bytes"
        )));
    }
    Ok(buf)
}

/// The fields of the File Information Block that the reader needs.
#[derive(Debug)]
struct Fib {
    table_stream: &'static str,
    ccp_text: u32,
    ccp_ftn: u32,
    ccp_hdd: u32,
    fc_clx: u32,
    lcb_clx: u32,
}

fn parse_fib(wd: &[u8]) -> Result<Fib, ExtractError> {
    let ident = u16_at(wd, 0).ok_or_else(|| corrupt("short FIB"))?;
    if ident != 0xA5EC {
        return Err(corrupt("bad FIB magic"));
    }
    let nfib = u16_at(wd, 2).ok_or_else(|| corrupt("short FIB"))?;
    if nfib < 106 {
        return Err(ExtractError::Unsupported(format!(
            "Word 6/95 or older document (nFib {nfib})"
        )));
    }
    let flags = u16_at(wd, 0x0A).ok_or_else(|| corrupt("short FIB"))?;
    if flags & 0x0100 != 0 {
        return Err(ExtractError::Encrypted);
    }
    let table_stream = if flags & 0x0200 != 0 {
        "1Table"
    } else {
        "0Table"
    };
    // FibBase is 32 bytes, then csw + fibRgW, cslw + fibRgLw, cbRgFcLcb + fibRgFcLcb.
    let csw = usize::from(u16_at(wd, 32).ok_or_else(|| corrupt("short FIB"))?);
    let lw_count_at = 34 + csw * 2;
    let cslw = usize::from(u16_at(wd, lw_count_at).ok_or_else(|| corrupt("short FIB"))?);
    let rg_lw = lw_count_at + 2;
    if cslw < 5 {
        return Err(corrupt("FIB without ccpText"));
    }
    let ccp_text = u32_at(wd, rg_lw + 12).ok_or_else(|| corrupt("short FIB"))?;
    let ccp_ftn = u32_at(wd, rg_lw + 16).unwrap_or(0);
    let ccp_hdd = u32_at(wd, rg_lw + 20).unwrap_or(0);
    let fc_count_at = rg_lw + cslw * 4;
    let cb_rg_fc_lcb = usize::from(u16_at(wd, fc_count_at).ok_or_else(|| corrupt("short FIB"))?);
    if cb_rg_fc_lcb <= 33 {
        return Err(corrupt("FIB without fcClx"));
    }
    let rg_fc = fc_count_at + 2;
    let fc_clx = u32_at(wd, rg_fc + 33 * 8).ok_or_else(|| corrupt("short FIB"))?;
    let lcb_clx = u32_at(wd, rg_fc + 33 * 8 + 4).ok_or_else(|| corrupt("short FIB"))?;
    Ok(Fib {
        table_stream,
        ccp_text,
        ccp_ftn,
        ccp_hdd,
        fc_clx,
        lcb_clx,
    })
}

/// One piece of the piece table: character positions `[cp_start, cp_end)` stored at `fc`.
#[derive(Debug, Clone, Copy)]
struct Piece {
    cp_start: u32,
    cp_end: u32,
    offset: usize,
    compressed: bool,
}

fn parse_pieces(clx: &[u8]) -> Result<Vec<Piece>, ExtractError> {
    let mut i = 0usize;
    while i < clx.len() {
        match clx[i] {
            0x01 => {
                let cb = u16_at(clx, i + 1).ok_or_else(|| corrupt("short Prc"))?;
                i += 3 + usize::from(cb);
            }
            0x02 => {
                let lcb = u32_at(clx, i + 1).ok_or_else(|| corrupt("short Pcdt"))? as usize;
                let plc = clx
                    .get(i + 5..i.saturating_add(5).saturating_add(lcb))
                    .ok_or_else(|| corrupt("PlcPcd out of range"))?;
                if plc.len() < 16 {
                    return Err(corrupt("empty PlcPcd"));
                }
                let n = (plc.len() - 4) / 12;
                let mut pieces = Vec::with_capacity(n);
                for k in 0..n {
                    let cp_start = u32_at(plc, k * 4).unwrap_or(0);
                    let cp_end = u32_at(plc, (k + 1) * 4).unwrap_or(0);
                    let pcd = (n + 1) * 4 + k * 8;
                    let fc = u32_at(plc, pcd + 2).ok_or_else(|| corrupt("short Pcd"))?;
                    let compressed = fc & 0x4000_0000 != 0;
                    let raw = fc & 0x3FFF_FFFF;
                    let offset = if compressed { raw / 2 } else { raw } as usize;
                    if cp_end > cp_start {
                        pieces.push(Piece {
                            cp_start,
                            cp_end,
                            offset,
                            compressed,
                        });
                    }
                }
                return Ok(pieces);
            }
            _ => return Err(corrupt("bad Clx entry")),
        }
    }
    Err(corrupt("Clx without piece table"))
}

/// The characters in `[from, to)` of the document's character positions. Fails with
/// [`ExtractError::TooLarge`] past `budget` bytes (a hostile piece table can reference the same
/// bytes many times).
fn text_range(
    wd: &[u8],
    pieces: &[Piece],
    from: u32,
    to: u32,
    budget: usize,
) -> Result<String, ExtractError> {
    let mut out = String::new();
    for p in pieces {
        if out.len() > budget {
            return Err(ExtractError::TooLarge(format!(
                "DOC text over {budget} bytes"
            )));
        }
        let s = p.cp_start.max(from);
        let e = p.cp_end.min(to);
        if s >= e {
            continue;
        }
        let skip = (s - p.cp_start) as usize;
        let count = (e - s) as usize;
        if p.compressed {
            let Some(bytes) = wd.get(p.offset + skip..p.offset + skip + count) else {
                continue;
            };
            let (t, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes);
            out.push_str(&t);
        } else {
            let Some(bytes) = wd.get(p.offset + skip * 2..p.offset + (skip + count) * 2) else {
                continue;
            };
            let units = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]));
            out.extend(char::decode_utf16(units).map(|c| c.unwrap_or('\u{FFFD}')));
        }
    }
    Ok(out)
}

/// Split raw Word text into paragraphs: strip field codes, map special characters.
fn paragraphs(raw: &str) -> Vec<String> {
    let mut paras = Vec::new();
    let mut cur = String::new();
    // Field nesting: true while in the instruction part (before 0x14) of a field.
    let mut fields: Vec<bool> = Vec::new();
    for c in raw.chars() {
        match c {
            '\u{13}' => {
                fields.push(true);
                continue;
            }
            '\u{14}' => {
                if let Some(f) = fields.last_mut() {
                    *f = false;
                }
                continue;
            }
            '\u{15}' => {
                fields.pop();
                continue;
            }
            _ => {}
        }
        if fields.iter().any(|in_code| *in_code) {
            continue;
        }
        match c {
            '\r' | '\u{7}' | '\u{c}' => {
                let t = cur.trim();
                if !t.is_empty() {
                    paras.push(t.to_string());
                }
                cur.clear();
            }
            '\u{b}' => cur.push('\n'),
            '\t' => cur.push('\t'),
            '\u{a0}' => cur.push(' '),
            '\u{1e}' => cur.push('-'),
            c if (c as u32) < 0x20 => {}
            c => cur.push(c),
        }
    }
    let t = cur.trim();
    if !t.is_empty() {
        paras.push(t.to_string());
    }
    paras
}

/// Extract a legacy `.doc` document (unguarded: call [`crate::extract::extract`] in production).
pub fn extract(bytes: &[u8], limits: &Limits) -> Result<Document, ExtractError> {
    let deadline = Deadline::new(limits);
    let mut cf = cfb::CompoundFile::open(Cursor::new(bytes))
        .map_err(|e| corrupt(&format!("OLE compound file: {e}")))?;
    if cf.exists("/EncryptedPackage") {
        return Err(ExtractError::Encrypted);
    }
    let limit = limits.max_decompressed_bytes;
    let wd = read_stream(&mut cf, "/WordDocument", limit)?;
    let fib = parse_fib(&wd)?;
    let table = read_stream(&mut cf, &format!("/{}", fib.table_stream), limit)?;
    deadline.check()?;
    let clx = table
        .get(fib.fc_clx as usize..(fib.fc_clx as usize).saturating_add(fib.lcb_clx as usize))
        .ok_or_else(|| corrupt("Clx out of range"))?;
    let pieces = parse_pieces(clx)?;
    let budget = usize::try_from(limit).unwrap_or(usize::MAX);
    let body = text_range(&wd, &pieces, 0, fib.ccp_text, budget)?;
    deadline.check()?;
    let blocks = paragraphs(&body)
        .into_iter()
        .map(|text| Block::Paragraph { text, bold: false })
        .collect();
    let mut furniture = Vec::new();
    if fib.ccp_hdd > 0 {
        let start = fib.ccp_text.saturating_add(fib.ccp_ftn);
        let hdr = text_range(
            &wd,
            &pieces,
            start,
            start.saturating_add(fib.ccp_hdd),
            budget,
        )?;
        for p in paragraphs(&hdr) {
            for line in p.lines() {
                push_furniture(&mut furniture, line);
            }
        }
    }
    Ok(Document {
        format: Some(Format::Doc),
        blocks,
        furniture,
        title: None,
        pages: None,
        ..Document::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_codes_and_marks() {
        let raw = "Rubrik\r\u{13} TOC \\o \u{14}Innehåll 3\u{15}\rCell1\u{7}Cell2\u{7}\u{7}rad\u{b}två\u{1}\r";
        assert_eq!(
            paragraphs(raw),
            vec!["Rubrik", "Innehåll 3", "Cell1", "Cell2", "rad\ntvå"]
        );
        // Nested field: the inner field's result is inside the outer instruction.
        assert_eq!(
            paragraphs("a\u{13}X\u{13}Y\u{14}y\u{15}\u{14}res\u{15}b"),
            vec!["aresb"]
        );
    }

    #[test]
    fn pieces_compressed_and_unicode() {
        // Two pieces: 3 compressed chars at byte 0, 2 UTF-16 chars at byte 4.
        let wd = [b'H', b'e', 0xE5, 0, b'a', 0, 0xF6, 0];
        let mut plc = Vec::new();
        for cp in [0u32, 3, 5] {
            plc.extend_from_slice(&cp.to_le_bytes());
        }
        for fc in [0x4000_0000u32, 4] {
            plc.extend_from_slice(&[0, 0]);
            plc.extend_from_slice(&fc.to_le_bytes());
            plc.extend_from_slice(&[0, 0]);
        }
        let mut clx = vec![0x01, 2, 0, 9, 9, 0x02];
        clx.extend_from_slice(&(plc.len() as u32).to_le_bytes());
        clx.extend_from_slice(&plc);
        let pieces = parse_pieces(&clx).unwrap();
        assert_eq!(text_range(&wd, &pieces, 0, 5, 100).unwrap(), "Heåaö");
        assert_eq!(text_range(&wd, &pieces, 0, 4, 100).unwrap(), "Heåa");
        let many = vec![pieces[0]; 100];
        assert_eq!(
            text_range(&wd, &many, 0, 5, 10).unwrap_err().kind(),
            "too_large"
        );
    }

    #[test]
    fn bad_inputs_error() {
        assert_eq!(
            extract(b"not ole", &Limits::default()).unwrap_err().kind(),
            "corrupt"
        );
        let mut cf = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        {
            let mut s = cf.create_stream("/WordDocument").unwrap();
            let mut fib = vec![0u8; 64];
            fib[0..2].copy_from_slice(&0xA5ECu16.to_le_bytes());
            fib[2..4].copy_from_slice(&0x00C1u16.to_le_bytes());
            fib[0x0A..0x0C].copy_from_slice(&0x0100u16.to_le_bytes());
            std::io::Write::write_all(&mut s, &fib).unwrap();
        }
        let bytes = cf.into_inner().into_inner();
        assert_eq!(
            extract(&bytes, &Limits::default()).unwrap_err().kind(),
            "encrypted"
        );
    }
}
