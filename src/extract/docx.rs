//! DOCX reader: zip (through [`SafeZip`]) plus quick-xml streaming of the WordprocessingML parts.
//!
//! Owns the mapping from `word/document.xml` (with `word/styles.xml` for style inheritance) to
//! [`Block`]s, `word/header*.xml`/`word/footer*.xml` to furniture, and `docProps/core.xml`
//! `dc:title` to the title. Chosen over docx-rs because it measured 10–30× faster (see
//! docs/extraction.md).
//!
//! Rules: headings come from `w:outlineLvl` in the paragraph or its style chain, or from style
//! ids/names Heading1..9 / "heading N" / Title (custom styles such as python-docx "Rubrik1" are
//! resolved through `w:basedOn`); list items from `w:numPr` (numId ≠ 0) or list styles; `bold`
//! means every run with visible text is bold (run `w:b`, run style or paragraph style); tables are
//! rows of cells whose paragraphs are joined by '\n', nested tables flattened into the cell text.
//! Deleted text (`w:del`, `w:moveFrom`), field codes (`w:instrText`) and the `mc:Fallback`
//! duplicate of text boxes are skipped; field results (a TOC's entries) are kept.

use super::zipsafe::SafeZip;
use super::{Deadline, ExtractError, Limits, each_event, push_furniture, xml_attr, xml_ref};
use crate::domain::document::{Block, Document, Format};
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::collections::HashMap;
use styles::Styles;

/// Extract a DOCX document.
pub fn extract(bytes: &[u8], limits: &Limits) -> Result<Document, ExtractError> {
    let deadline = Deadline::new(limits);
    let mut zip = SafeZip::open(bytes, limits)?;
    let main = zip
        .read("word/document.xml")?
        .ok_or_else(|| ExtractError::Corrupt("DOCX without word/document.xml".into()))?;
    let styles = match zip.stream("word/styles.xml")? {
        Some(part) => Styles::streamed(part),
        None => Styles::default(),
    };
    let numbering = match zip.read("word/numbering.xml") {
        Ok(Some(x)) => parse_numbering(&x),
        _ => Numbering::default(),
    };
    deadline.check()?;
    let blocks = parse_body_numbered(&main, &styles, Some(&numbering), &deadline)?;

    let mut furniture = Vec::new();
    let mut parts: Vec<String> = zip
        .names()
        .filter(|n| is_header_footer(n))
        .map(String::from)
        .collect();
    parts.sort();
    for name in parts {
        deadline.check()?;
        if let Some(xml) = zip.read(&name)? {
            // A broken header should not sink the body text.
            if let Ok(bs) = parse_body(&xml, &styles, &deadline) {
                for b in bs {
                    for line in b.text().lines() {
                        push_furniture(&mut furniture, line);
                    }
                }
            }
        }
    }
    // Footnotes and endnotes, kept apart from the body (best effort, like the furniture).
    let mut notes = Vec::new();
    for name in ["word/footnotes.xml", "word/endnotes.xml"] {
        deadline.check()?;
        if let Ok(Some(xml)) = zip.read(name)
            && let Ok(bs) = parse_body(&xml, &styles, &deadline)
        {
            notes.extend(bs.iter().map(Block::text).filter(|t| !t.trim().is_empty()));
        }
    }
    let title = match zip.read("docProps/core.xml") {
        Ok(Some(x)) => core_title(&x),
        _ => None,
    };
    Ok(Document {
        format: Some(Format::Docx),
        blocks,
        furniture,
        title,
        pages: None,
        notes,
        ..Document::default()
    })
}

fn is_header_footer(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("word/") else {
        return false;
    };
    let Some(stem) = rest.strip_suffix(".xml") else {
        return false;
    };
    let digits = stem
        .strip_prefix("header")
        .or_else(|| stem.strip_prefix("footer"));
    matches!(digits, Some(d) if d.bytes().all(|b| b.is_ascii_digit()))
}

/// "Heading3", "heading 3", "Rubrik3", "Title" → level.
pub(crate) fn heading_name_level(s: &str) -> Option<u8> {
    let l = s.to_ascii_lowercase();
    if l == "title" || l == "rubrik" {
        return Some(1);
    }
    let rest = l
        .strip_prefix("heading")
        .or_else(|| l.strip_prefix("rubrik"))?
        .trim();
    match rest.parse::<u8>() {
        Ok(n @ 1..=9) => Some(n),
        _ => None,
    }
}

/// `w:b`, `w:b w:val="0"`, `w:val="false"`… → bool.
fn on_off(e: &BytesStart<'_>) -> bool {
    !matches!(
        xml_attr(e, b"val").as_deref(),
        Some("0" | "false" | "off" | "none")
    )
}

/// A paragraph being read.
#[derive(Debug, Default)]
struct Para {
    text: String,
    style: Option<String>,
    outline: Option<u8>,
    ilvl: Option<u8>,
    num_id: Option<String>,
    visible: bool,
    all_bold: bool,
}

/// A table being read.
/// Elements whose whole subtree is ignored.
fn is_skipped(local: &[u8]) -> bool {
    matches!(
        local,
        b"del"
            | b"moveFrom"
            | b"instrText"
            | b"delText"
            | b"delInstrText"
            | b"Fallback"
            | b"pPrChange"
            | b"rPrChange"
            | b"tblPrChange"
            | b"sectPr"
    )
}

struct BodyParser<'s> {
    numbering: Option<&'s Numbering>,
    /// List counters per (abstractNumId, ilvl).
    counters: HashMap<(String, u8), u32>,
    styles: &'s Styles,
    blocks: Vec<Block>,
    paras: Vec<Para>,
    tables: super::tables::Tables,
    skip: usize,
    in_ppr: usize,
    in_rpr: usize,
    in_t: bool,
    run_bold: Option<bool>,
    run_style: Option<String>,
}

/// List numbering with letters (`w:numFmt` upperLetter / lowerLetter) from numbering.xml:
/// the letters live there, not in the text, yet a reader sees "A." before the paragraph.
#[derive(Debug, Default)]
struct Numbering {
    /// numId → abstractNumId.
    nums: HashMap<String, String>,
    /// (abstractNumId, ilvl) → (upper case, lvlText such as "%1.", start).
    letters: HashMap<(String, u8), (bool, String, u32)>,
}

fn parse_numbering(xml: &[u8]) -> Numbering {
    let mut n = Numbering::default();
    let mut r = Reader::from_reader(xml);
    let (mut abs, mut ilvl, mut num): (Option<String>, Option<u8>, Option<String>) =
        (None, None, None);
    let (mut fmt, mut text, mut start) = (None::<bool>, String::new(), 1u32);
    loop {
        let ev = r.read_event();
        let (e, is_start) = match &ev {
            Ok(Event::Eof) | Err(_) => break,
            Ok(Event::Start(e)) => (e.clone(), true),
            Ok(Event::Empty(e)) => (e.clone(), false),
            Ok(Event::End(e)) => {
                match e.local_name().as_ref() {
                    b"lvl" => {
                        if let (Some(a), Some(l), Some(upper)) = (&abs, ilvl, fmt) {
                            n.letters
                                .insert((a.clone(), l), (upper, text.clone(), start));
                        }
                        (ilvl, fmt, start) = (None, None, 1);
                        text.clear();
                    }
                    b"abstractNum" => abs = None,
                    b"num" => num = None,
                    _ => {}
                }
                continue;
            }
            Ok(_) => continue,
        };
        match e.local_name().as_ref() {
            b"abstractNum" if is_start => abs = xml_attr(&e, b"abstractNumId"),
            b"lvl" if is_start => ilvl = xml_attr(&e, b"ilvl").and_then(|v| v.parse().ok()),
            b"numFmt" if ilvl.is_some() => {
                fmt = match xml_attr(&e, b"val").as_deref() {
                    Some("upperLetter") => Some(true),
                    Some("lowerLetter") => Some(false),
                    _ => None,
                }
            }
            b"lvlText" if ilvl.is_some() => text = xml_attr(&e, b"val").unwrap_or_default(),
            b"start" if ilvl.is_some() => {
                start = xml_attr(&e, b"val")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1)
            }
            b"num" if is_start => num = xml_attr(&e, b"numId"),
            b"abstractNumId" => {
                if let (Some(id), Some(a)) = (&num, xml_attr(&e, b"val")) {
                    n.nums.insert(id.clone(), a);
                }
            }
            _ => {}
        }
    }
    n
}

fn parse_body(
    xml: &[u8],
    styles: &Styles,
    deadline: &Deadline,
) -> Result<Vec<Block>, ExtractError> {
    parse_body_numbered(xml, styles, None, deadline)
}

fn parse_body_numbered(
    xml: &[u8],
    styles: &Styles,
    numbering: Option<&Numbering>,
    deadline: &Deadline,
) -> Result<Vec<Block>, ExtractError> {
    let mut p = BodyParser {
        numbering,
        counters: HashMap::new(),
        styles,
        blocks: Vec::new(),
        paras: Vec::new(),
        tables: Default::default(),
        skip: 0,
        in_ppr: 0,
        in_rpr: 0,
        in_t: false,
        run_bold: None,
        run_style: None,
    };
    each_event(xml, "DOCX", Some(deadline), |ev| match ev {
        Event::Start(e) => p.start(&e, false),
        Event::Empty(e) => {
            p.start(&e, true);
            p.end(e.local_name().as_ref(), true);
        }
        Event::End(e) => p.end(e.local_name().as_ref(), false),
        Event::Text(t) if p.in_t && p.skip == 0 => {
            let s = t.decode().unwrap_or_default();
            p.push_text(&s);
        }
        Event::CData(t) if p.in_t && p.skip == 0 => {
            let s = String::from_utf8_lossy(&t).into_owned();
            p.push_text(&s);
        }
        Event::GeneralRef(g) if p.in_t && p.skip == 0 => {
            if let Some(s) = xml_ref(&g) {
                p.push_text(&s);
            }
        }
        _ => {}
    })?;
    // Flush anything left open by a truncated part.
    p.flush();
    Ok(p.blocks)
}

impl BodyParser<'_> {
    fn start(&mut self, e: &BytesStart<'_>, empty: bool) {
        let name = e.local_name();
        let local = name.as_ref();
        if self.skip > 0 {
            if !empty {
                self.skip += 1;
            }
            return;
        }
        if is_skipped(local) {
            if !empty {
                self.skip = 1;
            }
            return;
        }
        match local {
            b"p" if !empty => {
                self.paras.push(Para {
                    all_bold: true,
                    ..Para::default()
                });
            }
            b"p" => {}
            b"pPr" => self.in_ppr += 1,
            b"rPr" => self.in_rpr += 1,
            b"r" => {
                self.run_bold = None;
                self.run_style = None;
            }
            b"t" if self.in_ppr == 0 => self.in_t = !empty,
            b"tbl" => self.tables.open_table(),
            b"tr" => self.tables.open_row(),
            b"tc" => self.tables.open_cell(),
            _ if self.in_ppr > 0 && self.in_rpr == 0 => self.para_prop(local, e),
            _ if self.in_rpr > 0 && self.in_ppr == 0 => match local {
                b"b" => self.run_bold = Some(on_off(e)),
                b"rStyle" => self.run_style = xml_attr(e, b"val"),
                _ => {}
            },
            b"tab" if self.in_rpr == 0 => self.push_text("\t"),
            b"br" | b"cr" if self.in_rpr == 0 => self.push_text("\n"),
            b"noBreakHyphen" => self.push_text("-"),
            b"sym" => {
                if let Some(c) = xml_attr(e, b"char")
                    .and_then(|h| u32::from_str_radix(&h, 16).ok())
                    .map(|c| {
                        if (0xF020..=0xF0FF).contains(&c) {
                            c - 0xF000
                        } else {
                            c
                        }
                    })
                    .and_then(char::from_u32)
                {
                    self.push_text(&c.to_string());
                }
            }
            _ => {}
        }
    }

    fn para_prop(&mut self, local: &[u8], e: &BytesStart<'_>) {
        let Some(p) = self.paras.last_mut() else {
            return;
        };
        match local {
            b"pStyle" => p.style = xml_attr(e, b"val"),
            b"outlineLvl" => {
                p.outline = xml_attr(e, b"val")
                    .and_then(|v| v.parse::<u8>().ok())
                    .filter(|v| *v < 9);
            }
            b"ilvl" => p.ilvl = xml_attr(e, b"val").and_then(|v| v.parse().ok()),
            b"numId" => p.num_id = xml_attr(e, b"val"),
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
        match local {
            b"p" if !empty => {
                if let Some(p) = self.paras.pop() {
                    self.finish_para(p);
                }
            }
            b"pPr" => self.in_ppr = self.in_ppr.saturating_sub(1),
            b"rPr" => self.in_rpr = self.in_rpr.saturating_sub(1),
            b"t" => self.in_t = false,
            b"tc" => self.tables.close_cell(),
            b"tr" => self.tables.close_row(),
            b"tbl" => {
                let block = self.tables.close_table();
                self.blocks.extend(block);
            }
            _ => {}
        }
    }

    fn push_text(&mut self, s: &str) {
        let styles = self.styles;
        let run_bold = self.run_bold;
        let run_style = self.run_style.clone();
        let Some(p) = self.paras.last_mut() else {
            return;
        };
        p.text.push_str(s);
        if s.chars().any(|c| !c.is_whitespace()) {
            p.visible = true;
            let bold = run_bold
                .or_else(|| {
                    run_style
                        .as_deref()
                        .filter(|st| styles.bold(st))
                        .map(|_| true)
                })
                .unwrap_or_else(|| p.style.as_deref().is_some_and(|st| styles.bold(st)));
            if !bold {
                p.all_bold = false;
            }
        }
    }

    /// The letter label ("A.") list numbering gives a paragraph, counting as Word does.
    fn letter_label(&mut self, p: &Para) -> Option<String> {
        let numbering = self.numbering?;
        let abs = numbering.nums.get(p.num_id.as_deref()?)?;
        let ilvl = p.ilvl.unwrap_or(0);
        // Any numbered paragraph advances its level and restarts the deeper ones.
        self.counters.retain(|(a, l), _| !(a == abs && *l > ilvl));
        let count = self.counters.entry((abs.clone(), ilvl)).or_insert(0);
        *count += 1;
        let (upper, pattern, start) = numbering.letters.get(&(abs.clone(), ilvl))?;
        let idx = start.saturating_sub(1) + *count - 1;
        if idx >= 26 {
            return None;
        }
        let base = if *upper { b'A' } else { b'a' };
        let letter = char::from(base + idx as u8).to_string();
        let label = pattern.replace(&format!("%{}", ilvl + 1), &letter);
        (!label.contains('%') && !label.trim().is_empty()).then(|| label.trim().to_string())
    }

    fn finish_para(&mut self, p: Para) {
        let mut text = tidy(&p.text);
        if text.is_empty() {
            return;
        }
        let lettered = if p.num_id.as_deref().is_some_and(|n| n != "0") {
            self.letter_label(&p)
        } else {
            None
        };
        if let Some(label) = &lettered {
            text = format!("{label} {text}");
        }
        let Some(text) = self.tables.take_text(text) else {
            return;
        };
        let style = p.style.as_deref();
        let level = p
            .outline
            .map(|o| o + 1)
            .or_else(|| style.and_then(|s| self.styles.heading_level(s)));
        let block = if let Some(level) = level {
            Block::Heading { level, text }
        } else if lettered.is_some() {
            // A letter-numbered paragraph reads like a labelled paragraph ("B. Bakgrund").
            Block::Paragraph {
                text,
                bold: p.visible && p.all_bold,
            }
        } else if p.num_id.as_deref().is_some_and(|n| n != "0") {
            Block::ListItem {
                level: p.ilvl.unwrap_or(0).min(8),
                text,
            }
        } else if let Some(l) = style
            .filter(|_| p.num_id.is_none())
            .and_then(|s| self.styles.list_level(s))
        {
            Block::ListItem {
                level: p.ilvl.unwrap_or(l).min(8),
                text,
            }
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

/// Trim each line of a paragraph and drop empty lines.
fn tidy(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `dc:title` from `docProps/core.xml`.
pub(crate) fn core_title(xml: &[u8]) -> Option<String> {
    let mut r = Reader::from_reader(xml);
    let mut in_title = false;
    let mut title = String::new();
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) if e.local_name().as_ref() == b"title" => in_title = true,
            Ok(Event::End(e)) if e.local_name().as_ref() == b"title" => break,
            Ok(Event::Text(t)) if in_title => title.push_str(&t.decode().unwrap_or_default()),
            Ok(Event::GeneralRef(g)) if in_title => {
                title.push_str(&xml_ref(&g).unwrap_or_default());
            }
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
    }
    let t = title.trim();
    (!t.is_empty()).then(|| t.to_string())
}

mod styles;

#[cfg(test)]
mod tests;
