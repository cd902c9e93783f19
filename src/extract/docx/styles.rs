//! `word/styles.xml`: style definitions, read lazily.
//!
//! A document refers to a handful of styles, but Word's and python-docx's templates define a
//! hundred or more (the python-docx template's part is 349 KB, mostly table styles), and
//! inflating and tokenising all of it was the largest single cost of checking a small DOCX
//! (docs/performance.md, sixth and seventh rounds). So the part is inflated in steps, only
//! until the styles asked for are found ([`Styles::streamed`]); each step finds where the
//! `style` elements of what is inflated start and end (a scan for `<`, exact for well-formed
//! XML, where `<` cannot occur in text or attribute values), and a definition is parsed with
//! quick-xml the first time a paragraph, run or `basedOn` chain asks for it.
//!
//! For a well-formed part with one definition per id this gives the same definitions as
//! parsing the whole part (a test compares both on every DOCX fixture). Where an id is
//! defined twice, the first definition counts (the rest of the part may never be read). A
//! malformed part differs too: the whole-part parse kept the styles before the first error;
//! here every style whose own element parses is kept.

use std::cell::RefCell;
use std::collections::HashMap;

use memchr::memchr;
use memchr::memmem;
use quick_xml::Reader;
use quick_xml::events::Event;

use super::{heading_name_level, on_off};
use crate::extract::xml_attr;
use crate::extract::zipsafe::PartStream;

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
#[derive(Default)]
pub(super) struct Styles {
    src: RefCell<Source>,
    parsed: RefCell<HashMap<String, Option<StyleDef>>>,
}

/// The part as far as it is inflated, and where its `style` elements are.
#[derive(Default)]
struct Source {
    xml: Vec<u8>,
    /// The rest of the part, inflated on demand; None when `xml` is all of it.
    rest: Option<PartStream>,
    /// Style id → byte range of its first complete `style` element in `xml`.
    spans: HashMap<String, (usize, usize)>,
}

/// The first step inflates this much; each later step doubles what is inflated.
const FIRST_STEP: usize = 32 * 1024;

/// Longest `w:basedOn` chain followed (guards against cycles).
const MAX_STYLE_DEPTH: usize = 16;

impl Source {
    /// Find the `style` elements of what is inflated. Run again from the start after each
    /// step: on a prefix of the part, the complete elements are found where the whole part's
    /// scan finds them, and the scans of all steps together read at most twice the part.
    fn index(&mut self) {
        let xml = &self.xml;
        let mut spans = HashMap::new();
        for (start, end) in style_elements(xml) {
            if let Some(id) = style_id(&xml[start..end]) {
                spans.entry(id).or_insert((start, end));
            }
        }
        self.spans = spans;
    }

    /// Inflate the next step; false when the part has nothing more.
    fn step(&mut self) -> bool {
        let Some(rest) = self.rest.as_mut() else {
            return false;
        };
        let want = FIRST_STEP.max(self.xml.len());
        let more = rest.read_more(&mut self.xml, want);
        if rest.is_done() {
            self.rest = None;
        }
        if more {
            self.index();
        }
        more
    }
}

impl std::fmt::Debug for Styles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let src = self.src.borrow();
        f.debug_struct("Styles")
            .field("inflated", &src.xml.len())
            .field("complete", &src.rest.is_none())
            .field("styles", &src.spans.len())
            .finish()
    }
}

impl Styles {
    /// Index the `style` elements of a whole `word/styles.xml` part (the tests' reference).
    #[cfg(test)]
    pub(super) fn new(xml: Vec<u8>) -> Styles {
        let mut src = Source {
            xml,
            ..Source::default()
        };
        src.index();
        Styles {
            src: RefCell::new(src),
            parsed: RefCell::default(),
        }
    }

    /// A `word/styles.xml` part inflated only as far as the styles asked for need.
    pub(super) fn streamed(part: PartStream) -> Styles {
        Styles {
            src: RefCell::new(Source {
                rest: Some(part),
                ..Source::default()
            }),
            parsed: RefCell::default(),
        }
    }

    /// The definition of one style id, parsed on first use. An id not yet found inflates the
    /// part further, to its end if the id is not defined.
    fn def(&self, id: &str) -> Option<StyleDef> {
        if let Some(d) = self.parsed.borrow().get(id) {
            return d.clone();
        }
        let mut src = self.src.borrow_mut();
        let def = loop {
            if let Some(&(a, b)) = src.spans.get(id) {
                break parse_defs(&src.xml[a..b]).remove(id);
            }
            if !src.step() {
                break None;
            }
        };
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
    use crate::extract::Limits;
    use crate::extract::zipsafe::SafeZip;

    /// Every DOCX under `fixtures/` with a readable `word/styles.xml`: the file and the part.
    fn fixture_styles() -> Vec<(Vec<u8>, Vec<u8>)> {
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
                let file = std::fs::read(&p).unwrap();
                if SafeZip::open(&file, &Limits::default()).is_err() {
                    continue;
                }
                let Ok(mut zip) = zip::ZipArchive::new(std::io::Cursor::new(&file[..])) else {
                    continue;
                };
                let Ok(mut part) = zip.by_name("word/styles.xml") else {
                    continue;
                };
                let mut xml = Vec::new();
                if std::io::Read::read_to_end(&mut part, &mut xml).is_ok() {
                    drop(part);
                    parts.push((file, xml));
                }
            }
        }
        parts
    }

    fn streamed(docx: &[u8]) -> Styles {
        let mut zip = SafeZip::open(docx, &Limits::default()).unwrap();
        Styles::streamed(zip.stream("word/styles.xml").unwrap().unwrap())
    }

    /// Every style of every DOCX fixture reads the same lazily, from the whole part or
    /// streamed, as from a parse of the whole part, and no style id is found that the
    /// whole-part parse does not know. An id the part does not define reads it to its end.
    #[test]
    fn lazy_definitions_equal_the_whole_part_parse_on_every_fixture() {
        let mut compared = 0;
        for (docx, xml) in fixture_styles() {
            let whole = parse_defs(&xml);
            let lazy = Styles::new(xml.clone());
            {
                let src = lazy.src.borrow();
                let mut ids: Vec<&String> = src.spans.keys().collect();
                ids.sort();
                let mut known: Vec<&String> = whole.keys().collect();
                known.sort();
                assert_eq!(ids, known);
            }
            let stream = streamed(&docx);
            let mut ids: Vec<&String> = whole.keys().collect();
            ids.sort();
            for id in ids {
                let def = &whole[id];
                assert_eq!(lazy.def(id).as_ref(), Some(def), "{id}");
                assert_eq!(stream.def(id).as_ref(), Some(def), "{id}");
                compared += 1;
            }
            assert_eq!(stream.def("NoSuchStyle"), None);
            let src = stream.src.borrow();
            assert!(src.rest.is_none() && src.xml == xml);
        }
        assert!(compared > 1000, "only {compared} styles compared");
    }

    /// A style near the start of a large part is found without inflating the rest; its
    /// `basedOn` chain too.
    #[test]
    fn a_style_near_the_start_inflates_only_the_start() {
        let mut seen = 0;
        for (docx, xml) in fixture_styles() {
            if xml.len() < 8 * FIRST_STEP {
                continue;
            }
            let whole = parse_defs(&xml);
            let src_of = |s: &Styles| s.src.borrow().xml.len();
            // The id whose element starts first.
            let first = Styles::new(xml.clone());
            let (id, _) = first
                .src
                .borrow()
                .spans
                .iter()
                .min_by_key(|(_, (a, _))| *a)
                .map(|(id, span)| (id.clone(), *span))
                .unwrap();
            let s = streamed(&docx);
            assert_eq!(s.def(&id).as_ref(), whole.get(&id));
            assert!(
                src_of(&s) < xml.len() / 2,
                "{} of {}",
                src_of(&s),
                xml.len()
            );
            seen += 1;
        }
        assert!(seen >= 5, "{seen}");
    }

    /// A large part where comments, CDATA, quoted `>` and processing instructions fall
    /// across the steps' boundaries: every id streamed equals the whole-part parse, asked
    /// for from the last to the first and the other way.
    #[test]
    fn ids_are_found_across_steps_whatever_falls_on_a_boundary() {
        let mut xml = String::from(r#"<?xml version="1.0"?><w:styles xmlns:w="w">"#);
        for i in 0..3000 {
            match i % 5 {
                0 => xml.push_str(&format!(
                    "<!-- <w:style w:styleId=\"c{i}\"> {} -->",
                    "-".repeat(i % 97)
                )),
                1 => xml.push_str(&format!("<![CDATA[<w:style w:styleId=\"d{i}\">]]>")),
                2 => xml.push_str(&format!("<?pi <w:style w:styleId=\"p{i}\"> ?>")),
                _ => {}
            }
            xml.push_str(&format!(
                r#"<w:style w:type="paragraph" w:styleId="S{i}" w:x="a>b{}"><w:name w:val="heading {}"/><w:basedOn w:val="S{}"/></w:style>"#,
                "x".repeat(i % 41),
                i % 9 + 1,
                i / 2
            ));
        }
        xml.push_str("</w:styles>");
        let whole = parse_defs(xml.as_bytes());
        assert_eq!(whole.len(), 3000);
        let docx = crate::extract::zipsafe::tests::make_zip(&[("word/styles.xml", xml.as_bytes())]);
        let mut ids: Vec<String> = (0..3000).map(|i| format!("S{i}")).collect();
        for _ in 0..2 {
            let s = streamed(&docx);
            for id in &ids {
                assert_eq!(s.def(id).as_ref(), whole.get(id), "{id}");
            }
            for i in (0..3000).step_by(5) {
                assert_eq!(s.def(&format!("c{i}")), None);
            }
            ids.reverse();
        }
        // Asked for the first style only, a few steps suffice.
        let s = streamed(&docx);
        assert_eq!(s.heading_level("S0"), Some(1));
        assert!(s.src.borrow().xml.len() < xml.len() / 4);
    }

    #[test]
    fn the_first_of_two_definitions_of_an_id_counts() {
        let xml = br#"<w:styles><w:style w:styleId="A"><w:name w:val="heading 1"/></w:style><w:style w:styleId="A"><w:name w:val="heading 2"/></w:style></w:styles>"#;
        assert_eq!(Styles::new(xml.to_vec()).heading_level("A"), Some(1));
    }

    /// Both ways of finding the tags agree on every fixture's part.
    #[test]
    fn tags_by_name_equal_tags_by_walk_on_every_fixture() {
        let mut n = 0;
        for (_, xml) in fixture_styles() {
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
        {
            let src = s.src.borrow();
            let mut ids: Vec<&String> = src.spans.keys().collect();
            ids.sort();
            assert_eq!(ids, ["A", "B", "E"]);
        }
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
