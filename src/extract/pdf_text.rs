//! A page's text from its content stream, with each font's decoder built once per document.
//!
//! Produces exactly the text of lopdf 0.47's `Document::extract_text_chunks_with_limit` for one
//! page with its chunks concatenated and the failed ones dropped (what [`super::pdf`] did
//! before): same operators (`Tf`, `Tj`, `TJ`, `'`, `"`, `T*`, `ET`), same line breaks, same
//! spaces for arrays and large negative kerning, and an empty text where lopdf gave up on the
//! whole page (fonts or content unreadable, `Tf` without operands). What differs is the cost:
//! lopdf rebuilt the page tree and re-parsed every font's encoding and ToUnicode CMap on every
//! page; here the page tree is walked once by the caller and a font's [`Encoding`] is built on
//! first use and kept per font dictionary.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use lopdf::content::Content;
use lopdf::{Dictionary, Document, Encoding, Object, ObjectId};

/// Decoders of a document's fonts, by the address of the font dictionary inside the loaded
/// (immutable) document. `None`: lopdf could not build one (the font is skipped, as lopdf did).
pub(crate) struct FontCache<'a> {
    doc: &'a Document,
    max_stream: usize,
    encodings: HashMap<*const Dictionary, Option<Encoding<'a>>>,
    decoded: Decoded,
}

/// Decoded short strings, by font and string: a text shows the same few glyph codes over
/// and over (LibreOffice writes a `TJ` element per kerning pair), and decoding one through a
/// ToUnicode CMap allocates per code. Keyed by the font dictionary's address and the string
/// packed with its length into a `u64` (strings of up to 7 bytes); longer strings are decoded
/// each time. Value: the text `write_to_string` appended and whether it failed.
type Decoded = HashMap<(usize, u64), (Box<str>, bool), BuildHasherDefault<PackedHasher>>;

/// At most this many memoised strings per document (a hostile PDF cannot grow it unbounded).
const MAX_DECODED: usize = 1 << 16;

impl<'a> FontCache<'a> {
    pub(crate) fn new(doc: &'a Document, max_stream: usize) -> Self {
        FontCache {
            doc,
            max_stream,
            encodings: HashMap::new(),
            decoded: Decoded::default(),
        }
    }

    /// The text of one page: lopdf's chunks, concatenated.
    pub(crate) fn page_text(&mut self, page_id: ObjectId) -> String {
        self.chunks(page_id).unwrap_or_default()
    }

    fn chunks(&mut self, page_id: ObjectId) -> Option<String> {
        let doc = self.doc;
        let fonts = doc.get_page_fonts(page_id).ok()?;
        for font in fonts.values() {
            let key: *const Dictionary = *font;
            let max = self.max_stream;
            self.encodings
                .entry(key)
                .or_insert_with(|| font.get_font_encoding_with_limit(doc, max).ok());
        }
        let content = doc
            .get_page_content_with_limit(page_id, self.max_stream)
            .ok()?;
        let content = Content::decode(&content).ok()?;
        let FontCache {
            encodings, decoded, ..
        } = self;
        let font_encoding = |name: &[u8]| -> Option<Font<'_, 'a>> {
            let font: *const Dictionary = *fonts.get(name)?;
            let encoding = encodings.get(&font)?.as_ref()?;
            Some(Font {
                key: font as usize,
                encoding,
            })
        };

        let mut out = String::new();
        // lopdf starts a new chunk at every `Tf` after text; "ends with a line break" is asked
        // of the current chunk only.
        let mut chunk_start = 0;
        let mut encoding: Option<Font<'_, 'a>> = None;
        let chunk_ends_with_newline = |out: &String, start: usize| out[start..].ends_with('\n');
        for op in &content.operations {
            match op.operator.as_str() {
                "Tf" => {
                    let font = op.operands.first()?;
                    encoding = font.as_name().ok().and_then(font_encoding);
                    chunk_start = out.len();
                }
                "Tj" | "TJ" => {
                    if let Some(enc) = &encoding {
                        let _ = collect_text(&mut out, enc, decoded, &op.operands);
                    }
                }
                "'" => {
                    if let Some(enc) = &encoding {
                        if !chunk_ends_with_newline(&out, chunk_start) {
                            out.push('\n');
                        }
                        let _ = collect_text(&mut out, enc, decoded, &op.operands);
                    }
                }
                "\"" => {
                    if let Some(enc) = &encoding {
                        if !chunk_ends_with_newline(&out, chunk_start) {
                            out.push('\n');
                        }
                        if let Some(s) = op.operands.get(2) {
                            let _ = collect_text(&mut out, enc, decoded, std::slice::from_ref(s));
                        }
                    }
                }
                "T*" | "ET" if !chunk_ends_with_newline(&out, chunk_start) => out.push('\n'),
                _ => {}
            }
        }
        Some(out)
    }
}

/// A page's font: its key in [`Decoded`] and its decoder.
struct Font<'c, 'a> {
    key: usize,
    encoding: &'c Encoding<'a>,
}

/// lopdf's `collect_text`: strings decoded, a space after each array and for kerning below
/// -100; the first decoding error ends the operation (text decoded before it is kept).
fn collect_text(
    out: &mut String,
    font: &Font,
    decoded: &mut Decoded,
    operands: &[Object],
) -> Result<(), ()> {
    for operand in operands {
        match operand {
            Object::String(bytes, _) => decode(out, font, decoded, bytes)?,
            Object::Array(items) => {
                collect_text(out, font, decoded, items)?;
                out.push(' ');
            }
            Object::Integer(i) if *i < -100 => out.push(' '),
            _ => {}
        }
    }
    Ok(())
}

/// `Encoding::write_to_string`, memoised for short strings.
fn decode(out: &mut String, font: &Font, decoded: &mut Decoded, bytes: &[u8]) -> Result<(), ()> {
    if bytes.len() > 7 {
        return font.encoding.write_to_string(bytes, out).map_err(|_| ());
    }
    let packed = bytes
        .iter()
        .fold(bytes.len() as u64, |acc, &b| (acc << 8) | u64::from(b));
    let key = (font.key, packed);
    if let Some((text, failed)) = decoded.get(&key) {
        out.push_str(text);
        return if *failed { Err(()) } else { Ok(()) };
    }
    let mut text = String::new();
    let failed = font.encoding.write_to_string(bytes, &mut text).is_err();
    out.push_str(&text);
    if decoded.len() < MAX_DECODED {
        decoded.insert(key, (text.into_boxed_str(), failed));
    }
    if failed { Err(()) } else { Ok(()) }
}

/// A multiplicative hash for the `(usize, u64)` keys of [`Decoded`] (SipHash would cost more
/// than the decoding it saves).
#[derive(Default)]
struct PackedHasher(u64);

impl Hasher for PackedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// lopdf's own extraction of one page, as `pdf.rs` called it before.
    fn lopdf_page_text(doc: &Document, n: u32, max: usize) -> String {
        doc.extract_text_chunks_with_limit(&[n], max)
            .into_iter()
            .filter_map(Result::ok)
            .collect()
    }

    #[test]
    fn same_text_as_lopdf_on_every_fixture_pdf() {
        let max = 64 << 20;
        let mut checked = 0;
        for dir in ["fixtures/documents", "fixtures/documents/realistic"] {
            let mut paths: Vec<_> = std::fs::read_dir(dir)
                .expect("fixtures")
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "pdf"))
                .collect();
            paths.sort();
            for path in paths {
                let bytes = std::fs::read(&path).expect("read");
                let Ok(doc) = Document::load_mem(&bytes) else {
                    continue;
                };
                let mut fonts = FontCache::new(&doc, max);
                for (n, id) in doc.get_pages() {
                    let ours = fonts.page_text(id);
                    assert_eq!(ours, lopdf_page_text(&doc, n, max), "{path:?} page {n}");
                    checked += usize::from(!ours.is_empty());
                }
            }
        }
        assert!(checked > 20, "only {checked} pages with text");
    }

    /// A one-page document with two fonts (no encoding entry: standard encoding) and the given
    /// content stream.
    fn one_page(content: &[u8]) -> Document {
        use lopdf::{Stream, dictionary};
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let f1 = doc.add_object(
            dictionary! {"Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica"},
        );
        let f2 = doc.add_object(
            dictionary! {"Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier"},
        );
        let resources =
            doc.add_object(dictionary! {"Font" => dictionary! {"F1" => f1, "F2" => f2}});
        let content = doc.add_object(Stream::new(dictionary! {}, content.to_vec()));
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content, "Resources" => resources,
        });
        doc.objects.insert(
            pages_id,
            Object::Dictionary(
                dictionary! {"Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1},
            ),
        );
        let catalog = doc.add_object(dictionary! {"Type" => "Catalog", "Pages" => pages_id});
        doc.trailer.set("Root", catalog);
        doc
    }

    #[test]
    fn same_text_as_lopdf_on_edge_cases() {
        for content in [
            &b"BT /F1 12 Tf (a) Tj T* T* /F2 12 Tf T* (b) Tj ET BT (c) Tj ET"[..],
            b"BT /F1 12 Tf [(a) -200 (b) 5 (c)] TJ (d) ' 1 2 (e) \" ET /F9 1 Tf (x) Tj ET",
            b"BT (no font yet) Tj /F2 9 Tf ET ET T* (q) Tj /F1 9 Tf T* ET",
            b"BT /F1 12 Tf (a) Tj Tf (b) Tj ET",
            b"BT /F1 12 Tf (unterminated",
            b"BT 12 12 Tf (a) Tj /F1 1 Tf (b) Tj ET",
        ] {
            let doc = one_page(content);
            let (n, id) = doc.get_pages().into_iter().next().expect("a page");
            let ours = FontCache::new(&doc, 1 << 20).page_text(id);
            let theirs = lopdf_page_text(&doc, n, 1 << 20);
            assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(content));
        }
    }
}
