//! `word/styles.xml`: style definitions, read lazily.
//!
//! A document refers to a handful of styles, but Word's and python-docx's templates define a
//! hundred or more (the python-docx template's part is 349 KB, mostly table styles), and
//! tokenising all of it was the largest single cost of checking a small DOCX
//! (docs/performance.md, sixth round). So [`Styles::new`] only finds where each `style`
//! element starts and ends (a scan for `<`, exact for well-formed XML, where `<` cannot occur
//! in text or attribute values), and a definition is parsed with quick-xml the first time a
//! paragraph, run or `basedOn` chain asks for it.
//!
//! For a well-formed part this gives the same definitions as parsing the whole part (a test
//! compares both on every DOCX fixture). A malformed part differs: the whole-part parse kept
//! the styles before the first error; here every style whose own element parses is kept.

use std::cell::RefCell;
use std::collections::HashMap;

use memchr::memchr;
use memchr::memmem;
use quick_xml::Reader;
use quick_xml::events::Event;

use super::{heading_name_level, on_off};
use crate::extract::xml_attr;

/// One style definition from `word/styles.xml`.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct StyleDef {
    pub(super) name: String,
    pub(super) based_on: Option<String>,
    pub(super) outline: Option<u8>,
    pub(super) bold: Option<bool>,
    pub(super) numbered: bool,
}

/// Style definitions by style id, parsed on first use.
#[derive(Debug, Default)]
pub(super) struct Styles {
    xml: Vec<u8>,
    /// Style id → byte range of its `style` element (the last one for a repeated id).
    spans: HashMap<String, (usize, usize)>,
    parsed: RefCell<HashMap<String, Option<StyleDef>>>,
}

/// Longest `w:basedOn` chain followed (guards against cycles).
const MAX_STYLE_DEPTH: usize = 16;

impl Styles {
    /// Index the `style` elements of a `word/styles.xml` part.
    pub(super) fn new(xml: Vec<u8>) -> Styles {
        let mut spans = HashMap::new();
        for (start, end) in style_elements(&xml) {
            if let Some(id) = style_id(&xml[start..end]) {
                spans.insert(id, (start, end));
            }
        }
        Styles {
            xml,
            spans,
            parsed: RefCell::default(),
        }
    }

    /// The definition of one style id, parsed on first use.
    fn def(&self, id: &str) -> Option<StyleDef> {
        if let Some(d) = self.parsed.borrow().get(id) {
            return d.clone();
        }
        let def = self
            .spans
            .get(id)
            .and_then(|&(a, b)| parse_defs(&self.xml[a..b]).remove(id));
        self.parsed.borrow_mut().insert(id.to_string(), def.clone());
        def
    }

    /// Walk the style and its ancestors, returning the first `Some` from `f`.
    fn find<T>(&self, id: &str, f: impl Fn(&str, Option<&StyleDef>) -> Option<T>) -> Option<T> {
        let mut cur = Some(id.to_string());
        for _ in 0..MAX_STYLE_DEPTH {
            let id = cur?;
            let def = self.def(&id);
            if let Some(v) = f(&id, def.as_ref()) {
                return Some(v);
            }
            cur = def.and_then(|d| d.based_on);
        }
        None
    }

    /// Heading level (1-based) of a paragraph style, if it is a heading style.
    pub(super) fn heading_level(&self, id: &str) -> Option<u8> {
        self.find(id, |id, def| {
            if let Some(o) = def.and_then(|d| d.outline) {
                return Some(o + 1);
            }
            heading_name_level(id).or_else(|| def.and_then(|d| heading_name_level(&d.name)))
        })
    }

    pub(super) fn bold(&self, id: &str) -> bool {
        self.find(id, |_, def| def.and_then(|d| d.bold))
            .unwrap_or(false)
    }

    /// List level of a list style (numbering in the definition, or a List Bullet/Number name).
    pub(super) fn list_level(&self, id: &str) -> Option<u8> {
        self.find(id, |id, def| {
            let named = ["ListBullet", "ListNumber", "Listpunkt", "Listnumrering"]
                .iter()
                .find_map(|p| id.strip_prefix(p));
            if let Some(rest) = named {
                let n: u8 = rest.parse().unwrap_or(1);
                return Some(n.saturating_sub(1));
            }
            def.filter(|d| d.numbered).map(|_| 0)
        })
    }
}

/// Byte ranges of the elements whose local name is `style`: from the `<` of the start tag to
/// just after the end tag (or the empty tag's `/>`). A start tag inside an open `style`
/// replaces it, and an unclosed one at the end is dropped, as the whole-part parse did.
fn style_elements(xml: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut open: Option<usize> = None;
    let mut on_tag = |tag: Tag| match tag {
        Tag::Start(at) => open = Some(at),
        Tag::Empty(at, end) => {
            open = None;
            out.push((at, end));
        }
        Tag::End(end) => {
            if let Some(at) = open.take() {
                out.push((at, end));
            }
        }
    };
    // Only elements can hold a tag-like `<…style` in a part without comments, CDATA, a
    // DOCTYPE or processing instructions (past the XML declaration): there, the names are
    // found directly; otherwise every `<` is visited.
    let plain = memmem::find(xml, b"<!").is_none()
        && xml
            .get(1..)
            .is_none_or(|x| memmem::find(x, b"<?").is_none());
    if plain {
        style_tags_by_name(xml, &mut on_tag);
    } else {
        style_tags_by_walk(xml, &mut on_tag);
    }
    out
}

/// A `style` tag: a start tag at `<`, an empty tag from `<` to after `/>`, an end tag ending
/// before the given index.
#[derive(Debug, PartialEq)]
enum Tag {
    Start(usize),
    Empty(usize, usize),
    End(usize),
}

/// The `style` tags of a part without comments, CDATA, declarations or processing
/// instructions: each `style` preceded by `<` or `</` and an optional prefix, and followed by
/// the end of a name.
fn style_tags_by_name(xml: &[u8], on_tag: &mut impl FnMut(Tag)) {
    for pos in memmem::find_iter(xml, b"style") {
        if !matches!(
            xml.get(pos + 5),
            Some(b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>')
        ) {
            continue;
        }
        let mut k = pos;
        if k > 0 && xml[k - 1] == b':' {
            k -= 1;
            while k > 0 && is_name_byte(xml[k - 1]) {
                k -= 1;
            }
            if k == pos - 1 {
                continue;
            }
        }
        if k > 0 && xml[k - 1] == b'<' {
            emit_start(xml, k - 1, on_tag);
        } else if k > 1
            && xml[k - 1] == b'/'
            && xml[k - 2] == b'<'
            && let Some(e) = memchr(b'>', &xml[pos..])
        {
            on_tag(Tag::End(pos + e + 1));
        }
    }
}

/// The `style` tags found by visiting every `<`, stepping over comments, CDATA, processing
/// instructions and declarations.
fn style_tags_by_walk(xml: &[u8], on_tag: &mut impl FnMut(Tag)) {
    let mut i = 0;
    while let Some(p) = memchr(b'<', &xml[i..]) {
        let at = i + p;
        let rest = &xml[at + 1..];
        let skip_to = |close: &[u8]| memmem::find(rest, close).map(|q| at + 1 + q + close.len());
        let next = if rest.starts_with(b"!--") {
            skip_to(b"-->")
        } else if rest.starts_with(b"![CDATA[") {
            skip_to(b"]]>")
        } else if rest.starts_with(b"?") || rest.starts_with(b"!") {
            skip_to(b">")
        } else if let Some(name) = rest.strip_prefix(b"/") {
            let end = skip_to(b">");
            if is_style(tag_name(name))
                && let Some(e) = end
            {
                on_tag(Tag::End(e));
            }
            end
        } else if is_style(tag_name(rest)) {
            emit_start(xml, at, on_tag)
        } else {
            Some(at + 1)
        };
        match next {
            Some(n) => i = n,
            None => break,
        }
    }
}

/// Report the `style` start or empty tag at `at`; the index after it.
fn emit_start(xml: &[u8], at: usize, on_tag: &mut impl FnMut(Tag)) -> Option<usize> {
    let end = tag_end(xml, at)?;
    if xml[end - 2] == b'/' {
        on_tag(Tag::Empty(at, end));
    } else {
        on_tag(Tag::Start(at));
    }
    Some(end)
}

/// A byte of an XML name (ASCII letters, digits, `_ - .`, or part of a non-ASCII character).
fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.') || b >= 0x80
}

/// The name at the start of a tag's bytes (after `<` or `</`).
fn tag_name(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .position(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>'))
        .unwrap_or(b.len());
    &b[..n]
}

fn is_style(qname: &[u8]) -> bool {
    let local = match memchr(b':', qname) {
        Some(c) => &qname[c + 1..],
        None => qname,
    };
    local == b"style"
}

/// Index just after the `>` that ends the tag starting at `at` (quotes respected).
fn tag_end(xml: &[u8], at: usize) -> Option<usize> {
    let mut quote = None;
    for (k, &c) in xml[at..].iter().enumerate() {
        match (quote, c) {
            (None, b'"' | b'\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, b'>') => return Some(at + k + 1),
            _ => {}
        }
    }
    None
}

/// The `styleId` of a `style` element's bytes.
fn style_id(element: &[u8]) -> Option<String> {
    let mut r = Reader::from_reader(element);
    match r.read_event() {
        Ok(Event::Start(e) | Event::Empty(e)) => Some(xml_attr(&e, b"styleId").unwrap_or_default()),
        _ => None,
    }
}

/// Style definitions in a piece of `word/styles.xml` (the whole part, or one `style`
/// element), read until the end or the first XML error.
pub(super) fn parse_defs(xml: &[u8]) -> HashMap<String, StyleDef> {
    let mut styles = HashMap::new();
    let mut r = Reader::from_reader(xml);
    let mut cur: Option<(String, StyleDef)> = None;
    let mut ppr_rpr_skip = 0usize; // inside tblStylePr or pPr/rPr-like places we ignore
    let mut in_rpr = false;
    loop {
        let ev = match r.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(ev) => ev,
        };
        let (e, empty) = match &ev {
            Event::Start(e) => (e, false),
            Event::Empty(e) => (e, true),
            Event::End(e) => {
                match e.local_name().as_ref() {
                    b"style" => {
                        if let Some((id, def)) = cur.take() {
                            styles.insert(id, def);
                        }
                    }
                    b"tblStylePr" => ppr_rpr_skip = ppr_rpr_skip.saturating_sub(1),
                    b"rPr" => in_rpr = false,
                    _ => {}
                }
                continue;
            }
            _ => continue,
        };
        let name = e.local_name();
        match name.as_ref() {
            b"style" => {
                let id = xml_attr(e, b"styleId").unwrap_or_default();
                if empty {
                    styles.insert(id, StyleDef::default());
                } else {
                    cur = Some((id, StyleDef::default()));
                }
            }
            b"tblStylePr" if !empty => ppr_rpr_skip += 1,
            b"rPr" if !empty => in_rpr = true,
            _ => {
                let Some((_, def)) = cur.as_mut() else {
                    continue;
                };
                if ppr_rpr_skip > 0 {
                    continue;
                }
                match name.as_ref() {
                    b"name" => def.name = xml_attr(e, b"val").unwrap_or_default(),
                    b"basedOn" => def.based_on = xml_attr(e, b"val"),
                    b"outlineLvl" => {
                        def.outline = xml_attr(e, b"val")
                            .and_then(|v| v.parse::<u8>().ok())
                            .filter(|v| *v < 9);
                    }
                    b"numId" => {
                        def.numbered = xml_attr(e, b"val").is_some_and(|v| v != "0");
                    }
                    b"b" if in_rpr => def.bold = Some(on_off(e)),
                    _ => {}
                }
            }
        }
    }
    styles
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `word/styles.xml` of every DOCX under `fixtures/` that has a readable one.
    fn fixture_styles() -> Vec<Vec<u8>> {
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")];
        let mut parts = Vec::new();
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                    continue;
                }
                if p.extension().is_none_or(|x| x != "docx") {
                    continue;
                }
                let Ok(mut zip) = zip::ZipArchive::new(std::fs::File::open(&p).unwrap()) else {
                    continue;
                };
                let Ok(mut part) = zip.by_name("word/styles.xml") else {
                    continue;
                };
                let mut xml = Vec::new();
                if std::io::Read::read_to_end(&mut part, &mut xml).is_ok() {
                    parts.push(xml);
                }
            }
        }
        parts
    }

    /// Every style of every DOCX fixture reads the same lazily as from a parse of the whole
    /// part, and no style id is found that the whole-part parse does not know.
    #[test]
    fn lazy_definitions_equal_the_whole_part_parse_on_every_fixture() {
        let mut compared = 0;
        for xml in fixture_styles() {
            let whole = parse_defs(&xml);
            let lazy = Styles::new(xml);
            let mut ids: Vec<&String> = lazy.spans.keys().collect();
            ids.sort();
            let mut known: Vec<&String> = whole.keys().collect();
            known.sort();
            assert_eq!(ids, known);
            for (id, def) in &whole {
                assert_eq!(lazy.def(id).as_ref(), Some(def), "{id}");
                compared += 1;
            }
        }
        assert!(compared > 1000, "only {compared} styles compared");
    }

    /// Both ways of finding the tags agree on every fixture's part.
    #[test]
    fn tags_by_name_equal_tags_by_walk_on_every_fixture() {
        let mut n = 0;
        for xml in fixture_styles() {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            style_tags_by_name(&xml, &mut |t| a.push(t));
            style_tags_by_walk(&xml, &mut |t| b.push(t));
            assert_eq!(a, b);
            n += a.len();
        }
        assert!(n > 1000, "{n}");
    }

    #[test]
    fn spans_step_over_comments_cdata_and_quoted_brackets() {
        let xml = br#"<?xml version="1.0"?><w:styles xmlns:w="x"><!-- <w:style w:styleId="C"> -->
<w:style w:type="paragraph" w:styleId="A" w:x="a>b"><w:name w:val="heading 2"/></w:style>
<![CDATA[<w:style w:styleId="D">]]><s:style s:styleId="B"/><w:styles2/><w:stylePr/>
<w:style w:styleId="E"><w:basedOn w:val="A"/><w:rPr><w:b/></w:rPr></w:style></w:styles>"#;
        let s = Styles::new(xml.to_vec());
        let mut ids: Vec<&String> = s.spans.keys().collect();
        ids.sort();
        assert_eq!(ids, ["A", "B", "E"]);
        assert_eq!(s.heading_level("A"), Some(2));
        assert_eq!(s.heading_level("E"), Some(2));
        assert!(s.bold("E") && !s.bold("A"));
        assert_eq!(s.def("B"), Some(StyleDef::default()));
        assert_eq!(s.def("C"), None);
        assert_eq!(parse_defs(xml).len(), 3);
    }

    #[test]
    fn names_in_attributes_and_longer_names_are_not_tags() {
        let xml = br#"<?xml version="1.0"?><styles><w:styles2/><w:style w:styleId="A" w:x="a:style b/style>"><w:pStyle w:val="style"/><w:name w:val="heading 4"/></w:style><style styleId="B"><basedOn val="A"/></style><w:stylePr/></styles>"#;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        style_tags_by_name(xml, &mut |t| a.push(t));
        style_tags_by_walk(xml, &mut |t| b.push(t));
        assert_eq!(a, b);
        assert_eq!(a.len(), 4);
        let s = Styles::new(xml.to_vec());
        assert_eq!(s.heading_level("B"), Some(4));
    }

    #[test]
    fn a_broken_style_loses_only_itself() {
        let xml = br#"<w:styles><w:style w:styleId="A"><w:name w:val="heading 1"/></w:style><w:style w:styleId="X"><w:name w:val="heading 3"></w:style><w:style w:styleId="B"><w:name w:val="heading 2"/></w:style></w:styles>"#;
        let s = Styles::new(xml.to_vec());
        assert_eq!(s.heading_level("A"), Some(1));
        assert_eq!(s.heading_level("B"), Some(2));
        assert_eq!(s.def("X"), None);
    }
}
