//! ODT reader: zip (through [`SafeZip`]) plus quick-xml streaming of `content.xml` and
//! `styles.xml`.
//!
//! Owns the mapping from ODF text markup to [`Block`]s: `text:h` (with `text:outline-level`) →
//! Heading, `text:p` → Paragraph (bold when the paragraph style or every span with visible text is
//! bold, via `style:text-properties fo:font-weight`, best effort), paragraphs inside
//! `text:list-item` → ListItem (level = list nesting), `table:table` → Table (nested tables
//! flattened into the cell). `text:s`, `text:tab` and `text:line-break` become spaces, tabs and
//! newlines. Master-page headers and footers in `styles.xml` go to furniture; `meta.xml`
//! `dc:title` is the title. An encrypted package (`manifest:encryption-data`) is
//! [`ExtractError::Encrypted`]. Footnotes, annotations, tracked deletions and index templates
//! are skipped.

use super::zipsafe::SafeZip;
use super::{Deadline, ExtractError, Limits, each_event, push_furniture, xml_attr, xml_ref};
use crate::domain::document::{Block, Document, Format};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::collections::HashMap;

/// Longest paragraph kept, in bytes; the rest of a longer paragraph is dropped.
const MAX_PARA_BYTES: usize = 1 << 20;

/// Extract an ODT document.
pub fn extract(bytes: &[u8], limits: &Limits) -> Result<Document, ExtractError> {
    let deadline = Deadline::new(limits);
    let mut zip = SafeZip::open(bytes, limits)?;
    if let Some(manifest) = zip.read("META-INF/manifest.xml")?
        && manifest.windows(15).any(|w| w == b"encryption-data")
    {
        return Err(ExtractError::Encrypted);
    }
    let content = zip
        .read("content.xml")?
        .ok_or_else(|| ExtractError::Corrupt("ODT without content.xml".into()))?;
    let mut styles = StyleMap::default();
    let mut furniture = Vec::new();
    if let Some(xml) = zip.read("styles.xml")? {
        // Best effort: a broken styles.xml must not sink the body.
        if let Ok(blocks) = parse(&xml, Mode::Styles, &mut styles, &deadline) {
            for b in blocks {
                for line in b.text().lines() {
                    push_furniture(&mut furniture, line);
                }
            }
        }
    }
    deadline.check()?;
    let blocks = parse(&content, Mode::Content, &mut styles, &deadline)?;
    let notes = note_texts(&content);
    let title = match zip.read("meta.xml") {
        Ok(Some(x)) => super::docx::core_title(&x),
        _ => None,
    };
    Ok(Document {
        format: Some(Format::Odt),
        blocks,
        furniture,
        title,
        pages: None,
        notes,
        ..Document::default()
    })
}

/// The text of every footnote and endnote (`text:note-body`), one entry per note; the body
/// parser skips notes, so that they never count as a section's content.
fn note_texts(xml: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut cur = String::new();
    let mut r = Reader::from_reader(xml);
    loop {
        match r.read_event() {
            Ok(Event::Eof) | Err(_) => break,
            Ok(Event::Start(e)) => {
                if depth > 0 || e.local_name().as_ref() == b"note-body" {
                    depth += 1;
                }
            }
            Ok(Event::End(e)) => {
                if depth > 0 {
                    depth -= 1;
                    if depth == 0 && e.local_name().as_ref() == b"note-body" {
                        let t = cur.split_whitespace().collect::<Vec<_>>().join(" ");
                        if !t.is_empty() && out.len() < 10_000 {
                            out.push(t);
                        }
                        cur.clear();
                    } else if e.local_name().as_ref() == b"p" {
                        cur.push(' ');
                    }
                }
            }
            Ok(Event::Text(t)) if depth > 0 && cur.len() < MAX_PARA_BYTES => {
                cur.push_str(&t.decode().unwrap_or_default());
            }
            Ok(Event::GeneralRef(g)) if depth > 0 => {
                if let Some(s) = xml_ref(&g) {
                    cur.push_str(&s);
                }
            }
            Ok(_) => {}
        }
    }
    out
}

/// Which part is parsed: the body of `content.xml`, or the master-page headers and footers of
/// `styles.xml`. Style definitions are collected in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Content,
    Styles,
}

#[derive(Debug, Default, Clone)]
struct StyleDef {
    parent: Option<String>,
    bold: Option<bool>,
}

#[derive(Debug, Default)]
struct StyleMap {
    map: HashMap<String, StyleDef>,
    /// List styles whose first level is numbered with letters: name → (upper case, suffix).
    letter_lists: HashMap<String, (bool, String)>,
}

impl StyleMap {
    /// Whether the style is (or inherits from) the "Title" paragraph style.
    fn is_title(&self, name: &str) -> bool {
        let mut cur = Some(name.to_string());
        for _ in 0..16 {
            let Some(n) = cur else { return false };
            if n == "Title" {
                return true;
            }
            cur = self.map.get(&n).and_then(|d| d.parent.clone());
        }
        false
    }

    fn bold(&self, name: &str) -> Option<bool> {
        let mut cur = Some(name.to_string());
        for _ in 0..16 {
            let def = self.map.get(cur.as_deref()?)?;
            if def.bold.is_some() {
                return def.bold;
            }
            cur = def.parent.clone();
        }
        None
    }
}

fn weight_is_bold(w: &str) -> bool {
    w == "bold" || w.parse::<u32>().is_ok_and(|n| n >= 600)
}

#[derive(Debug, Default)]
struct Para {
    text: String,
    heading: Option<u8>,
    list_level: Option<u8>,
    style_bold: bool,
    visible: bool,
    all_bold: bool,
}

/// Elements whose subtree never contributes body text.
fn is_skipped(local: &[u8]) -> bool {
    matches!(
        local,
        b"note"
            | b"annotation"
            | b"tracked-changes"
            | b"table-of-content-source"
            | b"alphabetical-index-source"
            | b"illustration-index-source"
            | b"bibliography-source"
            | b"sequence-decls"
            | b"variable-decls"
            | b"user-field-decls"
            | b"forms"
            | b"desc"
            | b"title"
            | b"scripts"
            | b"font-face-decls"
    )
}

struct Parser<'a> {
    mode: Mode,
    styles: &'a mut StyleMap,
    blocks: Vec<Block>,
    paras: Vec<Para>,
    tables: super::tables::Tables,
    spans: Vec<Option<bool>>,
    lists: usize,
    active: usize,
    skip: usize,
    cur_style: Option<String>,
    /// The list style being defined (`text:list-style`).
    cur_list_style: Option<String>,
    /// The style of the outermost open list, and letter counters per list style.
    top_list: Option<String>,
    letter_count: HashMap<String, u32>,
    /// A list item has started and its first paragraph has not yet.
    item_start: bool,
}

fn parse(
    xml: &[u8],
    mode: Mode,
    styles: &mut StyleMap,
    deadline: &Deadline,
) -> Result<Vec<Block>, ExtractError> {
    let mut p = Parser {
        mode,
        styles,
        blocks: Vec::new(),
        paras: Vec::new(),
        tables: Default::default(),
        spans: Vec::new(),
        lists: 0,
        active: 0,
        skip: 0,
        cur_style: None,
        cur_list_style: None,
        top_list: None,
        letter_count: HashMap::new(),
        item_start: false,
    };
    each_event(xml, "ODT", Some(deadline), |ev| match ev {
        Event::Start(e) => p.start(&e, false),
        Event::Empty(e) => {
            p.start(&e, true);
            p.end(e.local_name().as_ref(), true);
        }
        Event::End(e) => p.end(e.local_name().as_ref(), false),
        Event::Text(t) => {
            let s = t.decode().unwrap_or_default();
            p.push_raw(&s);
        }
        Event::CData(t) => p.push_raw(&String::from_utf8_lossy(&t)),
        Event::GeneralRef(g) => {
            if let Some(s) = xml_ref(&g) {
                p.push_text(&s);
            }
        }
        _ => {}
    })?;
    p.flush();
    Ok(p.blocks)
}

impl Parser<'_> {
    /// The letter ("A.") the first paragraph of a top-level item of a letter-numbered list
    /// shows; counts the item.
    fn letter_label(&mut self) -> Option<String> {
        let first = std::mem::take(&mut self.item_start);
        if !first || self.lists != 1 {
            return None;
        }
        let style = self.top_list.as_ref()?;
        let (upper, suffix) = self.styles.letter_lists.get(style)?;
        let n = self.letter_count.entry(style.clone()).or_insert(0);
        *n += 1;
        let idx = u8::try_from(*n - 1).ok().filter(|i| *i < 26)?;
        let letter = char::from(if *upper { b'A' } else { b'a' } + idx);
        Some(format!("{letter}{suffix}"))
    }

    fn is_container(&self, local: &[u8]) -> bool {
        match self.mode {
            Mode::Content => local == b"text",
            Mode::Styles => matches!(
                local,
                b"header"
                    | b"footer"
                    | b"header-left"
                    | b"footer-left"
                    | b"header-first"
                    | b"footer-first"
            ),
        }
    }

    fn start(&mut self, e: &BytesStart<'_>, empty: bool) {
        let name = e.local_name();
        let local = name.as_ref();
        if self.skip > 0 {
            if !empty {
                self.skip += 1;
            }
            return;
        }
        // Style definitions (automatic styles in content.xml, common ones in styles.xml).
        match local {
            b"style" => {
                let sname = xml_attr(e, b"name").unwrap_or_default();
                let def = StyleDef {
                    parent: xml_attr(e, b"parent-style-name"),
                    bold: None,
                };
                self.styles.map.insert(sname.clone(), def);
                self.cur_style = (!empty).then_some(sname);
            }
            b"list-style" if !empty => self.cur_list_style = xml_attr(e, b"name"),
            b"list-level-style-number" => {
                let fmt = xml_attr(e, b"num-format");
                if let Some(list) = &self.cur_list_style
                    && xml_attr(e, b"level").as_deref() == Some("1")
                    && matches!(fmt.as_deref(), Some("A") | Some("a"))
                {
                    let suffix = xml_attr(e, b"num-suffix").unwrap_or_default();
                    self.styles
                        .letter_lists
                        .insert(list.clone(), (fmt.as_deref() == Some("A"), suffix));
                }
            }
            b"text-properties" => {
                if let Some(s) = &self.cur_style
                    && let Some(w) = xml_attr(e, b"font-weight")
                    && let Some(def) = self.styles.map.get_mut(s)
                {
                    def.bold = Some(weight_is_bold(&w));
                }
            }
            _ => {}
        }
        if self.active == 0 {
            if self.is_container(local) && !empty {
                self.active = 1;
            }
            return;
        }
        if !empty {
            self.active += 1;
        }
        if is_skipped(local) {
            if !empty {
                self.skip = 1;
                self.active -= 1;
            }
            return;
        }
        match local {
            b"p" | b"h" => {
                let label = self.letter_label();
                let style = xml_attr(e, b"style-name");
                let heading = if local == b"h" {
                    Some(
                        xml_attr(e, b"outline-level")
                            .and_then(|v| v.parse::<u8>().ok())
                            .unwrap_or(1)
                            .clamp(1, 9),
                    )
                } else {
                    style
                        .as_deref()
                        .filter(|s| self.styles.is_title(s))
                        .map(|_| 1)
                };
                let style_bold = style.and_then(|s| self.styles.bold(&s)).unwrap_or(false);
                // A letter-numbered item reads like a labelled paragraph ("B. Bakgrund").
                let list_level =
                    (self.lists > 0 && label.is_none()).then(|| (self.lists - 1).min(8) as u8);
                if !empty {
                    self.spans.clear();
                    self.paras.push(Para {
                        heading,
                        list_level,
                        style_bold,
                        all_bold: true,
                        text: label.map(|l| format!("{l} ")).unwrap_or_default(),
                        ..Para::default()
                    });
                }
            }
            b"span" if !empty => {
                let b = xml_attr(e, b"style-name").and_then(|s| self.styles.bold(&s));
                self.spans.push(b);
            }
            b"list" if !empty => {
                if self.lists == 0 {
                    self.top_list = xml_attr(e, b"style-name");
                    let continues = xml_attr(e, b"continue-numbering").as_deref() == Some("true")
                        || xml_attr(e, b"continue-list").is_some();
                    if let Some(st) = &self.top_list
                        && !continues
                    {
                        self.letter_count.remove(st);
                    }
                }
                self.lists += 1;
            }
            b"list-item" => self.item_start = true,
            b"s" => {
                let n = xml_attr(e, b"c")
                    .and_then(|c| c.parse::<usize>().ok())
                    .unwrap_or(1)
                    .min(1000);
                self.push_text(&" ".repeat(n));
            }
            b"tab" => self.push_text("\t"),
            b"line-break" => self.push_text("\n"),
            b"table" if !empty => self.tables.open_table(),
            b"table-row" => self.tables.open_row(),
            b"table-cell" | b"covered-table-cell" => self.tables.open_cell(),
            _ => {}
        }
    }

    fn end(&mut self, local: &[u8], empty: bool) {
        if self.skip > 0 {
            if !empty {
                self.skip -= 1;
            }
            return;
        }
        if local == b"style" {
            self.cur_style = None;
        }
        if self.active == 0 {
            return;
        }
        if !empty {
            self.active -= 1;
        }
        match local {
            b"p" | b"h" if !empty => {
                if let Some(p) = self.paras.pop() {
                    self.finish_para(p);
                }
            }
            b"span" if !empty => {
                self.spans.pop();
            }
            b"list" if !empty => self.lists = self.lists.saturating_sub(1),
            b"table-cell" | b"covered-table-cell" => self.tables.close_cell(),
            b"table-row" => self.tables.close_row(),
            b"table" if !empty => {
                let block = self.tables.close_table();
                self.blocks.extend(block);
            }
            _ => {}
        }
    }

    /// Character data from the XML: runs of whitespace count as one space (ODF §6.1.2).
    fn push_raw(&mut self, s: &str) {
        if self.skip > 0 || self.active == 0 || self.paras.is_empty() {
            return;
        }
        let mut out = String::with_capacity(s.len());
        let mut last_space = self
            .paras
            .last()
            .is_some_and(|p| p.text.ends_with(' ') || p.text.is_empty());
        for c in s.chars() {
            if c.is_whitespace() {
                if !last_space {
                    out.push(' ');
                }
                last_space = true;
            } else {
                out.push(c);
                last_space = false;
            }
        }
        self.push_text(&out);
    }

    fn push_text(&mut self, s: &str) {
        if self.skip > 0 || self.active == 0 {
            return;
        }
        let span_bold = self.spans.iter().rev().find_map(|b| *b);
        let Some(p) = self.paras.last_mut() else {
            return;
        };
        // `text:s text:c="1000"` amplifies 20 input bytes into 1000: cap one paragraph.
        if p.text.len() > MAX_PARA_BYTES {
            return;
        }
        p.text.push_str(s);
        if s.chars().any(|c| !c.is_whitespace()) {
            p.visible = true;
            if !span_bold.unwrap_or(p.style_bold) {
                p.all_bold = false;
            }
        }
    }

    fn finish_para(&mut self, p: Para) {
        let text = p
            .text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        if text.is_empty() {
            return;
        }
        let Some(text) = self.tables.take_text(text) else {
            return;
        };
        let block = if let Some(level) = p.heading {
            Block::Heading { level, text }
        } else if let Some(level) = p.list_level {
            Block::ListItem { level, text }
        } else {
            Block::Paragraph {
                text,
                bold: p.visible && p.all_bold,
            }
        };
        self.blocks.push(block);
    }

    /// Close whatever a truncated part left open. Pops directly: going through `end` could loop
    /// forever when the part ends inside a skipped element (found by fuzzing).
    fn flush(&mut self) {
        self.skip = 0;
        while let Some(para) = self.paras.pop() {
            self.finish_para(para);
        }
        let blocks = self.tables.flush();
        self.blocks.extend(blocks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::zipsafe::tests::make_zip;

    const NS: &str =
        r#"xmlns:office="o" xmlns:text="t" xmlns:table="tb" xmlns:style="s" xmlns:fo="f""#;

    fn odt(body: &str, auto: &str, styles_extra: &str, manifest: &str) -> Vec<u8> {
        let content = format!(
            r#"<office:document-content {NS}><office:automatic-styles>{auto}</office:automatic-styles><office:body><office:text><text:sequence-decls><text:sequence-decl text:name="X"/></text:sequence-decls>{body}</office:text></office:body></office:document-content>"#
        );
        let styles = format!(
            r#"<office:document-styles {NS}><office:styles><style:style style:name="Strong"><style:text-properties fo:font-weight="bold"/></style:style></office:styles><office:master-styles><style:master-page style:name="Standard"><style:header><text:p>Sidhuvud</text:p></style:header><style:footer><text:p>Datakälla: <text:span>registret</text:span></text:p></style:footer></style:master-page></office:master-styles>{styles_extra}</office:document-styles>"#
        );
        make_zip(&[
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            ("META-INF/manifest.xml", manifest.as_bytes()),
            ("content.xml", content.as_bytes()),
            ("styles.xml", styles.as_bytes()),
            ("meta.xml", br#"<office:document-meta xmlns:office="o" xmlns:dc="d"><office:meta><dc:title>Plan</dc:title></office:meta></office:document-meta>"#),
        ])
    }

    #[test]
    fn headings_lists_tables_spaces_bold_furniture() {
        let auto = r#"<style:style style:name="P1" style:family="paragraph"><style:text-properties fo:font-weight="bold"/></style:style><style:style style:name="T1" style:family="text" style:parent-style-name="Strong"/>"#;
        let body = r#"<text:h text:outline-level="2">A. Val av förbättringsområde</text:h>
<text:p text:style-name="P1">Fet rubrik</text:p>
<text:p>Delvis <text:span text:style-name="T1">fet</text:span></text:p>
<text:p><text:span text:style-name="T1">Helt</text:span><text:span text:style-name="T1"> fet</text:span></text:p>
<text:p>a<text:s text:c="3"/>b<text:tab/>c<text:line-break/>d &amp; e<text:note><text:note-body><text:p>fotnot</text:p></text:note-body></text:note></text:p>
<text:list><text:list-item><text:p>Punkt</text:p><text:list><text:list-item><text:p>Under</text:p></text:list-item></text:list></text:list-item></text:list>
<table:table><table:table-row><table:table-cell><text:p>Mått</text:p><text:p>två</text:p></table:table-cell><table:table-cell><table:table><table:table-row><table:table-cell><text:p>n1</text:p></table:table-cell><table:table-cell><text:p>n2</text:p></table:table-cell></table:table-row></table:table></table:table-cell></table:table-row></table:table>"#;
        let d = extract(&odt(body, auto, "", "<m/>"), &Limits::default()).unwrap();
        assert_eq!(
            d.blocks,
            vec![
                Block::Heading {
                    level: 2,
                    text: "A. Val av förbättringsområde".into()
                },
                Block::Paragraph {
                    text: "Fet rubrik".into(),
                    bold: true
                },
                Block::Paragraph {
                    text: "Delvis fet".into(),
                    bold: false
                },
                Block::Paragraph {
                    text: "Helt fet".into(),
                    bold: true
                },
                Block::Paragraph {
                    text: "a   b\tc\nd & e".into(),
                    bold: false
                },
                Block::ListItem {
                    level: 0,
                    text: "Punkt".into()
                },
                Block::ListItem {
                    level: 1,
                    text: "Under".into()
                },
                Block::Table {
                    rows: vec![vec!["Mått\ntvå".into(), "n1\tn2".into()]]
                },
            ]
        );
        assert_eq!(
            d.furniture,
            vec!["Sidhuvud".to_string(), "Datakälla: registret".into()]
        );
        assert_eq!(d.title.as_deref(), Some("Plan"));
    }

    #[test]
    fn truncated_inside_skipped_element_terminates() {
        // Fuzz finding (odt_xml, timeout): style elements inside the body were counted on their
        // end tag only, so the nesting counter reached 0 with a paragraph open, and the final
        // flush (which went through `end`) looped forever at EOF.
        let z = make_zip(&[(
            "content.xml",
            b"<office:document-content><office:body><office:text><text:p>Text av fem ord h\xc3\xa4r<style:text-properties></style:text-properties><style:style></style:style><text:note><text:p>x",
        )]);
        let d = extract(&z, &Limits::default()).unwrap();
        assert_eq!(d.blocks.len(), 1);
    }

    #[test]
    fn encrypted_manifest_and_broken_xml() {
        let z = odt("<text:p>x</text:p>", "", "", "<manifest:encryption-data/>");
        assert_eq!(
            extract(&z, &Limits::default()).unwrap_err().kind(),
            "encrypted"
        );
        let z = make_zip(&[("content.xml", b"<office:document-content><a></b>")]);
        assert_eq!(
            extract(&z, &Limits::default()).unwrap_err().kind(),
            "corrupt"
        );
    }

    #[test]
    fn letters_from_a_letter_numbered_list_and_notes_apart() {
        let auto = r#"<text:list-style style:name="L1"><text:list-level-style-number text:level="1" style:num-format="A" style:num-suffix="."/></text:list-style>"#;
        let body = r#"<text:list text:style-name="L1"><text:list-item><text:p>Vårt område</text:p></text:list-item></text:list>
<text:p>Text<text:note text:note-class="footnote"><text:note-citation>1</text:note-citation><text:note-body><text:p>Källa: Länsbarometern.</text:p></text:note-body></text:note></text:p>
<text:list text:style-name="L1" text:continue-numbering="true"><text:list-item><text:p>Bakgrunden</text:p></text:list-item></text:list>
<text:list text:style-name="L1"><text:list-item><text:p>Ny lista</text:p></text:list-item></text:list>
<text:list><text:list-item><text:p>Punkt</text:p></text:list-item></text:list>"#;
        let doc = extract(&odt(body, auto, "", "<manifest/>"), &Limits::default()).unwrap();
        let texts: Vec<String> = doc.blocks.iter().map(Block::text).collect();
        assert_eq!(
            texts,
            vec![
                "A. Vårt område",
                "Text",
                "B. Bakgrunden",
                "A. Ny lista",
                "Punkt"
            ]
        );
        assert!(matches!(doc.blocks[0], Block::Paragraph { .. }));
        assert!(matches!(doc.blocks[4], Block::ListItem { .. }));
        assert_eq!(doc.notes, vec!["Källa: Länsbarometern."]);
    }
}
