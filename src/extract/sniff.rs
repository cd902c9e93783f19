//! Format detection from the bytes, never from the file name.
//!
//! Owns the mapping from magic numbers and container contents to [`Format`] or an error:
//! `%PDF-` (up to 1 KiB of junk before it) → PDF; a zip with `word/document.xml` → DOCX, with
//! `ppt/presentation.xml` → PPTX, with the ODF text mimetype or `content.xml` → ODT, with the
//! ODF presentation mimetype → ODP, other zips (xlsx, ods…) → unsupported;
//! an OLE compound file with a `WordDocument` stream → DOC, with `EncryptedPackage` →
//! encrypted OOXML, other OLE files (xls, msg) → unsupported; `{\rtf` → RTF; PNG and JPEG →
//! images (photos of pages, read with OCR when available); empty or tiny
//! input → corrupt; everything else → unsupported.

use super::zipsafe::SafeZip;
use super::{ExtractError, Limits};
use crate::domain::document::Format;
use std::io::Cursor;

const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const ODT_MIME: &[u8] = b"application/vnd.oasis.opendocument.text";
const ODP_MIME: &[u8] = b"application/vnd.oasis.opendocument.presentation";
/// Inputs shorter than this cannot be any supported document.
const TINY: usize = 16;

/// Detect the format under default limits.
pub fn sniff(bytes: &[u8]) -> Result<Format, ExtractError> {
    sniff_with(bytes, &Limits::default())
}

/// Detect the format; `limits` bound the zip entry count and the `mimetype` read.
pub fn sniff_with(bytes: &[u8], limits: &Limits) -> Result<Format, ExtractError> {
    let head = &bytes[..bytes.len().min(1029)];
    if head.windows(5).any(|w| w == b"%PDF-") {
        return Ok(Format::Pdf);
    }
    if is_rtf(bytes) {
        return Ok(Format::Rtf);
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return sniff_zip(bytes, limits);
    }
    if bytes.starts_with(OLE_MAGIC) {
        return sniff_ole(bytes);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if bytes.starts_with(b"\xFF\xD8\xFF") {
        return Ok(Format::Jpeg);
    }
    if bytes.len() < TINY {
        return Err(ExtractError::Corrupt(format!(
            "{} bytes is too short to be a document",
            bytes.len()
        )));
    }
    Err(ExtractError::Unsupported(describe(bytes).into()))
}

fn is_rtf(bytes: &[u8]) -> bool {
    let b = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let start = b
        .iter()
        .take(64)
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(0);
    b[start..].starts_with(b"{\\rtf")
}

fn sniff_zip(bytes: &[u8], limits: &Limits) -> Result<Format, ExtractError> {
    let mut zip = SafeZip::open(bytes, limits)?;
    if zip.has("word/document.xml") {
        return Ok(Format::Docx);
    }
    if zip.has("ppt/presentation.xml") {
        return Ok(Format::Pptx);
    }
    if zip.has("mimetype") {
        let mime = zip.read_at_most("mimetype", 256)?.unwrap_or_default();
        let mime = mime.trim_ascii();
        if mime == ODT_MIME {
            return Ok(Format::Odt);
        }
        if mime == ODP_MIME {
            return Ok(Format::Odp);
        }
        return Err(ExtractError::Unsupported(format!(
            "zip container of type {}",
            String::from_utf8_lossy(&mime[..mime.len().min(80)])
        )));
    }
    if zip.has("content.xml") {
        return Ok(Format::Odt);
    }
    let kind = if zip.names().any(|n| n.starts_with("xl/")) {
        "Excel workbook (xlsx)"
    } else if zip.names().any(|n| n.starts_with("ppt/")) {
        "PowerPoint presentation (pptx)"
    } else {
        "zip archive"
    };
    Err(ExtractError::Unsupported(kind.into()))
}

fn sniff_ole(bytes: &[u8]) -> Result<Format, ExtractError> {
    let cf = cfb::CompoundFile::open(Cursor::new(bytes))
        .map_err(|e| ExtractError::Corrupt(format!("OLE compound file: {e}")))?;
    if cf.exists("/EncryptedPackage") {
        return Err(ExtractError::Encrypted);
    }
    if cf.exists("/WordDocument") {
        return Ok(Format::Doc);
    }
    let kind = if cf.exists("/Workbook") || cf.exists("/Book") {
        "Excel workbook (xls)"
    } else if cf.exists("/PowerPoint Document") {
        "PowerPoint presentation (ppt)"
    } else {
        "OLE compound file"
    };
    Err(ExtractError::Unsupported(kind.into()))
}

/// A short human name for common non-document inputs.
fn describe(bytes: &[u8]) -> &'static str {
    const KNOWN: &[(&[u8], &str)] = &[
        (b"\x89PNG", "PNG image"),
        (b"\xFF\xD8\xFF", "JPEG image"),
        (b"GIF8", "GIF image"),
        (b"\x7FELF", "ELF executable"),
        (b"MZ", "Windows executable"),
        (b"\x1F\x8B", "gzip archive"),
        (b"Rar!", "RAR archive"),
        (b"7z\xBC\xAF", "7-Zip archive"),
        (b"<?xml", "XML file"),
        (b"<html", "HTML file"),
        (b"<!DOCTYPE", "HTML file"),
    ];
    KNOWN
        .iter()
        .find(|(m, _)| bytes.starts_with(m))
        .map(|(_, d)| *d)
        .unwrap_or("unknown binary or text file")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::zipsafe::tests::make_zip;

    #[test]
    fn pdf_with_leading_junk() {
        let mut b = vec![b'x'; 500];
        b.extend_from_slice(b"%PDF-1.7\n...");
        assert_eq!(sniff(&b).unwrap(), Format::Pdf);
        let mut far = vec![b'x'; 2000];
        far.extend_from_slice(b"%PDF-1.7\n...");
        assert_eq!(sniff(&far).unwrap_err().kind(), "unsupported");
    }

    #[test]
    fn zip_kinds() {
        let docx = make_zip(&[("word/document.xml", b"<w:document/>")]);
        assert_eq!(sniff(&docx).unwrap(), Format::Docx);
        let odt = make_zip(&[("mimetype", ODT_MIME), ("content.xml", b"<x/>")]);
        assert_eq!(sniff(&odt).unwrap(), Format::Odt);
        let ods = make_zip(&[(
            "mimetype",
            b"application/vnd.oasis.opendocument.spreadsheet",
        )]);
        assert_eq!(sniff(&ods).unwrap_err().kind(), "unsupported");
        let xlsx = make_zip(&[("xl/workbook.xml", b"<x/>")]);
        assert_eq!(sniff(&xlsx).unwrap_err().kind(), "unsupported");
        let pptx = make_zip(&[("ppt/presentation.xml", b"<p:presentation/>")]);
        assert_eq!(sniff(&pptx).unwrap(), Format::Pptx);
        let odp = make_zip(&[("mimetype", ODP_MIME), ("content.xml", b"<x/>")]);
        assert_eq!(sniff(&odp).unwrap(), Format::Odp);
        let bare_odt = make_zip(&[("content.xml", b"<x/>")]);
        assert_eq!(sniff(&bare_odt).unwrap(), Format::Odt);
    }

    #[test]
    fn rtf_empty_and_other() {
        assert_eq!(sniff(b"{\\rtf1\\ansi hello}").unwrap(), Format::Rtf);
        assert_eq!(sniff(b"").unwrap_err().kind(), "corrupt");
        assert_eq!(sniff(b"PK").unwrap_err().kind(), "corrupt");
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n0000000000000000").unwrap(),
            Format::Png
        );
        assert_eq!(
            sniff(b"\xFF\xD8\xFF\xE0 JFIF 000000000").unwrap(),
            Format::Jpeg
        );
        assert_eq!(
            sniff(b"GIF89a is not a page photo we read")
                .unwrap_err()
                .kind(),
            "unsupported"
        );
        assert_eq!(
            sniff(b"just some plain text that is long enough")
                .unwrap_err()
                .kind(),
            "unsupported"
        );
    }

    #[test]
    fn ole_without_word_stream_is_unsupported_and_garbage_is_corrupt() {
        let mut cf = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        cf.create_stream("/Workbook").unwrap();
        let bytes = cf.into_inner().into_inner();
        assert_eq!(sniff(&bytes).unwrap_err().kind(), "unsupported");

        let mut cf = cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        cf.create_stream("/EncryptedPackage").unwrap();
        let bytes = cf.into_inner().into_inner();
        assert_eq!(sniff(&bytes).unwrap_err().kind(), "encrypted");

        let mut junk = OLE_MAGIC.to_vec();
        junk.extend_from_slice(&[0u8; 600]);
        assert_eq!(sniff(&junk).unwrap_err().kind(), "corrupt");
    }
}
