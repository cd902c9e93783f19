//! RTF reader: a small tokenizer and group-state machine.
//!
//! Owns RTF → [`Block`]s: control words, groups, `\par`, `\line`, `\tab`, `\'hh` in the
//! `\ansicpg` code page (cp1252 by default, decoded with encoding_rs), `\uN` with `\ucN`
//! fallback skipping, `\binN`. Destinations are skipped (`\*`, fonttbl, colortbl, pict, fldinst,
//! footnotes, list text…) except: the stylesheet (read for heading styles: `\outlinelevelN` or a
//! "heading N"/"Title" name, following `\sbasedon`), `\info` (only `\title` is kept), and
//! header/footer groups, which go to furniture. Paragraphs: `\outlinelevelN` or a heading style
//! → Heading; `\lsN`/`\ilvlN` or a `\listtext` group → ListItem; `bold` when every visible
//! character is under `\b`. Tables: `\cell` ends a cell, `\row` a row, and the table ends at the
//! first paragraph outside `\intbl`; nested cells (`\nestcell`) are flattened into the cell.

use super::{Deadline, ExtractError, Limits, collapse_spaces, push_furniture};
use crate::domain::document::{Block, Document, Format};
use std::collections::HashMap;

/// Deepest group nesting accepted (each level holds a copy of the group state).
const MAX_DEPTH: usize = 1024;

/// Extract an RTF document.
pub fn extract(bytes: &[u8], limits: &Limits) -> Result<Document, ExtractError> {
    let deadline = Deadline::new(limits);
    let mut p = Parser::new(bytes);
    p.run(&deadline)?;
    Ok(p.finish())
}

/// Where text of the current group goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest {
    Body,
    Furniture,
    Info,
    Title,
    Stylesheet,
    StyleEntry,
    Skip,
}

/// Group-scoped state (RTF properties are pushed on `{` and restored on `}`).
#[derive(Debug, Clone, Copy)]
struct GState {
    dest: Dest,
    uc: u32,
    bold: bool,
    style: u32,
    outline: Option<u8>,
    list: bool,
    ilvl: u8,
    intbl: bool,
}

impl Default for GState {
    fn default() -> Self {
        GState {
            dest: Dest::Body,
            uc: 1,
            bold: false,
            style: 0,
            outline: None,
            list: false,
            ilvl: 0,
            intbl: false,
        }
    }
}

#[derive(Debug, Default, Clone)]
struct StyleEntry {
    name: String,
    based_on: Option<u32>,
    outline: Option<u8>,
}

#[derive(Debug, Default)]
struct Para {
    text: String,
    visible: bool,
    all_bold: bool,
    listtext: bool,
}

impl Para {
    fn new() -> Self {
        Para {
            all_bold: true,
            ..Para::default()
        }
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    st: GState,
    stack: Vec<GState>,
    group_start: bool,
    ignorable: bool,
    encoding: &'static encoding_rs::Encoding,
    pending: Vec<u8>,
    skip_fallback: u32,
    styles: HashMap<u32, StyleEntry>,
    cur_style: StyleEntry,
    cur_style_id: Option<u32>,
    blocks: Vec<Block>,
    para: Para,
    furn: String,
    furniture: Vec<String>,
    title: String,
    cell: Vec<String>,
    row: Vec<String>,
    table: Vec<Vec<String>>,
}

fn encoding_for(cp: i32) -> &'static encoding_rs::Encoding {
    let label = match cp {
        874 | 1250..=1258 => format!("windows-{cp}"),
        932 => "shift_jis".into(),
        936 => "gbk".into(),
        949 => "euc-kr".into(),
        950 => "big5".into(),
        866 => "ibm866".into(),
        20866 => "koi8-r".into(),
        28591..=28599 => format!("iso-8859-{}", cp - 28590),
        65001 => "utf-8".into(),
        _ => "windows-1252".into(),
    };
    encoding_rs::Encoding::for_label(label.as_bytes()).unwrap_or(encoding_rs::WINDOWS_1252)
}

impl<'a> Parser<'a> {
    fn new(b: &'a [u8]) -> Self {
        Parser {
            b,
            i: 0,
            st: GState::default(),
            stack: Vec::new(),
            group_start: false,
            ignorable: false,
            encoding: encoding_rs::WINDOWS_1252,
            pending: Vec::new(),
            skip_fallback: 0,
            styles: HashMap::new(),
            cur_style: StyleEntry::default(),
            cur_style_id: None,
            blocks: Vec::new(),
            para: Para::new(),
            furn: String::new(),
            furniture: Vec::new(),
            title: String::new(),
            cell: Vec::new(),
            row: Vec::new(),
            table: Vec::new(),
        }
    }

    fn run(&mut self, deadline: &Deadline) -> Result<(), ExtractError> {
        let mut n = 0u32;
        while self.i < self.b.len() {
            n = n.wrapping_add(1);
            if n.is_multiple_of(65_536) {
                deadline.check()?;
            }
            let c = self.b[self.i];
            match c {
                b'{' => {
                    self.flush_pending();
                    self.i += 1;
                    if self.stack.len() >= MAX_DEPTH {
                        return Err(ExtractError::Corrupt("RTF groups nested too deeply".into()));
                    }
                    self.stack.push(self.st);
                    if self.st.dest == Dest::Stylesheet {
                        self.st.dest = Dest::StyleEntry;
                        self.cur_style = StyleEntry::default();
                        self.cur_style_id = Some(0);
                    }
                    self.group_start = true;
                    self.ignorable = false;
                    self.skip_fallback = 0;
                }
                b'}' => {
                    self.flush_pending();
                    self.i += 1;
                    let closing = self.st.dest;
                    match self.stack.pop() {
                        Some(prev) => self.st = prev,
                        None => break,
                    }
                    if closing == Dest::StyleEntry
                        && self.st.dest == Dest::Stylesheet
                        && let Some(id) = self.cur_style_id.take()
                    {
                        let mut e = std::mem::take(&mut self.cur_style);
                        e.name = e.name.trim().trim_end_matches(';').trim().to_string();
                        self.styles.insert(id, e);
                    }
                    if closing == Dest::Furniture && self.st.dest != Dest::Furniture {
                        self.end_furniture_para();
                    }
                    self.group_start = false;
                    self.skip_fallback = 0;
                }
                b'\\' => {
                    self.i += 1;
                    self.control();
                }
                b'\r' | b'\n' => self.i += 1,
                _ => {
                    self.i += 1;
                    self.group_start = false;
                    if self.skip_fallback > 0 {
                        self.skip_fallback -= 1;
                        continue;
                    }
                    if c >= 0x80 {
                        self.pending.push(c);
                    } else {
                        self.flush_pending();
                        self.emit((c as char).encode_utf8(&mut [0; 4]));
                    }
                }
            }
        }
        self.flush_pending();
        Ok(())
    }

    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.pending);
        let (s, _) = self.encoding.decode_without_bom_handling(&bytes);
        let s = s.into_owned();
        self.emit(&s);
    }

    fn control(&mut self) {
        let Some(&c) = self.b.get(self.i) else {
            return;
        };
        // `{\*\word` keeps the group start for the word after the star.
        let at_start = std::mem::take(&mut self.group_start);
        if !c.is_ascii_alphabetic() {
            self.i += 1;
            match c {
                b'\'' => {
                    let hex = self.b.get(self.i..self.i + 2).and_then(|h| {
                        std::str::from_utf8(h)
                            .ok()
                            .and_then(|h| u8::from_str_radix(h, 16).ok())
                    });
                    if let Some(v) = hex {
                        self.i += 2;
                        if self.skip_fallback > 0 {
                            self.skip_fallback -= 1;
                        } else {
                            self.pending.push(v);
                        }
                    }
                    return;
                }
                b'*' => {
                    self.ignorable = true;
                    self.group_start = at_start;
                    return;
                }
                _ => {}
            }
            self.flush_pending();
            match c {
                b'\\' | b'{' | b'}' => self.emit((c as char).encode_utf8(&mut [0; 4])),
                b'~' => self.emit(" "),
                b'_' => self.emit("-"),
                b'\r' | b'\n' => self.word("par", None),
                _ => {}
            }
            return;
        }
        let start = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_alphabetic() && self.i - start < 32 {
            self.i += 1;
        }
        let b = self.b;
        // Only ASCII letters were consumed, so this is valid UTF-8.
        let word = std::str::from_utf8(&b[start..self.i]).unwrap_or("");
        let mut param: Option<i32> = None;
        let neg = self.b.get(self.i) == Some(&b'-');
        let num_start = if neg { self.i + 1 } else { self.i };
        let mut j = num_start;
        while j < self.b.len() && self.b[j].is_ascii_digit() && j - num_start < 10 {
            j += 1;
        }
        if j > num_start {
            let v: i64 = std::str::from_utf8(&self.b[num_start..j])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let v = if neg { -v } else { v };
            param = Some(v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32);
            self.i = j;
        }
        if self.b.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
        if word == "bin" {
            let n = usize::try_from(param.unwrap_or(0).max(0)).unwrap_or(0);
            self.i = self.i.saturating_add(n).min(self.b.len());
            return;
        }
        if word == "u" {
            self.flush_pending();
            let v = param.unwrap_or(0);
            let v = if v < 0 { v + 65_536 } else { v };
            let ch = u32::try_from(v)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            self.emit(ch.encode_utf8(&mut [0; 4]));
            self.skip_fallback = self.st.uc;
            return;
        }
        self.flush_pending();
        self.skip_fallback = 0;
        if at_start && self.destination(word) {
            return;
        }
        self.word(word, param);
    }

    /// Handle a control word that opens a group; returns true when it was a destination.
    fn destination(&mut self, word: &str) -> bool {
        let ignorable = std::mem::take(&mut self.ignorable);
        if matches!(self.st.dest, Dest::Skip) {
            return true;
        }
        if self.st.dest == Dest::Info {
            self.st.dest = if word == "title" {
                Dest::Title
            } else {
                Dest::Skip
            };
            return true;
        }
        let dest = match word {
            "fonttbl" | "colortbl" | "pict" | "objdata" | "themedata" | "colorschememapping"
            | "latentstyles" | "datastore" | "xmlnstbl" | "listtable" | "listoverridetable"
            | "revtbl" | "rsidtbl" | "generator" | "pgdsctbl" | "fldinst" | "footnote"
            | "annotation" | "atnid" | "atnauthor" | "pn" | "nonshppict" | "shp" | "tc" | "txe"
            | "xe" | "rxe" | "template" | "docvar" | "userprops" | "filetbl" | "mmathPr"
            | "ftnsep" | "ftnsepc" | "aftnsep" | "aftnsepc" | "ftncn" => Some(Dest::Skip),
            "listtext" | "pntext" => {
                self.para.listtext = true;
                Some(Dest::Skip)
            }
            "stylesheet" => Some(Dest::Stylesheet),
            "info" => Some(Dest::Info),
            "header" | "footer" | "headerl" | "headerr" | "headerf" | "footerl" | "footerr"
            | "footerf" => Some(Dest::Furniture),
            "field" | "fldrslt" => None,
            _ if ignorable => Some(Dest::Skip),
            _ => None,
        };
        match dest {
            Some(d) => {
                if d == Dest::Furniture {
                    self.end_furniture_para();
                }
                self.st.dest = d;
                true
            }
            None => false,
        }
    }

    fn word(&mut self, word: &str, param: Option<i32>) {
        let p = param.unwrap_or(1);
        if self.st.dest == Dest::StyleEntry {
            match word {
                "s" => self.cur_style_id = u32::try_from(p).ok(),
                "cs" | "ds" | "ts" => self.cur_style_id = None,
                "sbasedon" => self.cur_style.based_on = u32::try_from(p).ok(),
                "outlinelevel" => self.cur_style.outline = u8::try_from(p).ok().filter(|l| *l < 9),
                _ => {}
            }
            return;
        }
        match word {
            "ansicpg" => self.encoding = encoding_for(p),
            "uc" => self.st.uc = u32::try_from(p).unwrap_or(1).min(8),
            "b" => self.st.bold = p != 0,
            "plain" => self.st.bold = false,
            "pard" => {
                self.st.style = 0;
                self.st.outline = None;
                self.st.list = false;
                self.st.ilvl = 0;
                self.st.intbl = false;
            }
            "s" => self.st.style = u32::try_from(p).unwrap_or(0),
            "outlinelevel" => self.st.outline = u8::try_from(p).ok().filter(|l| *l < 9),
            "ls" => self.st.list = p > 0,
            "ilvl" => self.st.ilvl = u8::try_from(p).unwrap_or(0).min(8),
            "intbl" => self.st.intbl = true,
            "par" => self.end_para(false),
            "cell" | "nestcell" => self.end_para(true),
            "row" => self.end_row(),
            "line" => self.emit("\n"),
            "tab" => self.emit("\t"),
            "emdash" => self.emit("\u{2014}"),
            "endash" => self.emit("\u{2013}"),
            "bullet" => self.emit("\u{2022}"),
            "lquote" => self.emit("\u{2018}"),
            "rquote" => self.emit("\u{2019}"),
            "ldblquote" => self.emit("\u{201C}"),
            "rdblquote" => self.emit("\u{201D}"),
            "emspace" | "enspace" | "qmspace" => self.emit(" "),
            _ => {}
        }
        if word == "cell" {
            let cell = std::mem::take(&mut self.cell).join("\n");
            self.row.push(cell);
        }
    }

    fn emit(&mut self, s: &str) {
        match self.st.dest {
            Dest::Body => {
                self.para.text.push_str(s);
                if s.chars().any(|c| !c.is_whitespace()) {
                    self.para.visible = true;
                    if !self.st.bold {
                        self.para.all_bold = false;
                    }
                }
            }
            Dest::Furniture => {
                if s == "\n" {
                    self.end_furniture_para();
                } else {
                    self.furn.push_str(s);
                }
            }
            Dest::Title => self.title.push_str(s),
            Dest::StyleEntry => self.cur_style.name.push_str(s),
            Dest::Info | Dest::Stylesheet | Dest::Skip => {}
        }
    }

    fn end_furniture_para(&mut self) {
        let t = std::mem::take(&mut self.furn);
        push_furniture(&mut self.furniture, &t);
    }

    /// Heading level of a style, following `\sbasedon` (at most 16 steps).
    fn style_heading(&self, mut id: u32) -> Option<u8> {
        for _ in 0..16 {
            let e = self.styles.get(&id)?;
            if let Some(o) = e.outline {
                return Some(o + 1);
            }
            if let Some(l) = super::docx::heading_name_level(&e.name) {
                return Some(l);
            }
            id = e.based_on?;
        }
        None
    }

    fn end_para(&mut self, cell: bool) {
        match self.st.dest {
            Dest::Furniture => {
                self.end_furniture_para();
                return;
            }
            Dest::Body => {}
            _ => return,
        }
        let para = std::mem::replace(&mut self.para, Para::new());
        let text = para
            .text
            .lines()
            .map(collapse_spaces)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        if cell || self.st.intbl {
            if !text.is_empty() {
                self.cell.push(text);
            }
            return;
        }
        if text.is_empty() {
            return;
        }
        self.flush_table();
        let level = self
            .st
            .outline
            .map(|o| o + 1)
            .or_else(|| self.style_heading(self.st.style));
        let block = if let Some(level) = level {
            Block::Heading { level, text }
        } else if self.st.list || para.listtext {
            Block::ListItem {
                level: self.st.ilvl,
                text,
            }
        } else {
            Block::Paragraph {
                text,
                bold: para.visible && para.all_bold,
            }
        };
        self.blocks.push(block);
    }

    fn end_row(&mut self) {
        if self.st.dest != Dest::Body {
            return;
        }
        if !self.cell.is_empty() {
            let cell = std::mem::take(&mut self.cell).join("\n");
            self.row.push(cell);
        }
        let row = std::mem::take(&mut self.row);
        if !row.is_empty() {
            self.table.push(row);
        }
    }

    fn flush_table(&mut self) {
        if !self.cell.is_empty() || !self.row.is_empty() {
            self.end_row();
        }
        let rows = std::mem::take(&mut self.table);
        if rows.iter().flatten().any(|c| !c.is_empty()) {
            self.blocks.push(Block::Table { rows });
        }
    }

    fn finish(mut self) -> Document {
        self.st = GState::default();
        self.end_para(false);
        self.flush_table();
        let title = collapse_spaces(&self.title);
        Document {
            format: Some(Format::Rtf),
            blocks: self.blocks,
            furniture: self.furniture,
            title: (!title.is_empty()).then_some(title),
            pages: None,
            ..Document::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtf(s: &str) -> Document {
        extract(s.as_bytes(), &Limits::default()).unwrap()
    }

    #[test]
    fn headings_from_stylesheet_bold_lists_and_codepage() {
        let d = rtf(concat!(
            r"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Arial;}}",
            r"{\stylesheet{\s0 Normal;}{\s1\sbasedon0 heading 1;}{\s82\sbasedon1 Rubrik1;}{\*\cs15 Strong;}}",
            r"{\info{\title Plan f\'f6r 2026}{\author X}}",
            r"{\header\pard\plain Sidhuvud\par}{\footer\pard\plain Datak\u228\'e4lla: registret\par}",
            r"\pard\plain\s1{A. Val av f\u246\'f6rb\u228\'e4ttringsomr\u229\'e5de}\par",
            r"\pard\plain\s82 Egen\par",
            r"\pard\plain\outlinelevel2 Niv\'e5 tre\par",
            r"\pard\plain{\b Helt}{\b  fet}\par",
            r"\pard\plain{\b Delvis} fet\par",
            r"\pard\plain{\listtext\pard\plain 1.\tab}\ilvl1\ls2 Punkt\par",
            r"\pard\plain Rad\line tv\'e5\tab x\~y {\field{\*\fldinst PAGE}{\fldrslt 3}}\par",
            "}"
        ));
        assert_eq!(
            d.blocks,
            vec![
                Block::Heading {
                    level: 1,
                    text: "A. Val av förbättringsområde".into()
                },
                Block::Heading {
                    level: 1,
                    text: "Egen".into()
                },
                Block::Heading {
                    level: 3,
                    text: "Nivå tre".into()
                },
                Block::Paragraph {
                    text: "Helt fet".into(),
                    bold: true
                },
                Block::Paragraph {
                    text: "Delvis fet".into(),
                    bold: false
                },
                Block::ListItem {
                    level: 1,
                    text: "Punkt".into()
                },
                Block::Paragraph {
                    text: "Rad\ntvå x y 3".into(),
                    bold: false
                },
            ]
        );
        assert_eq!(d.title.as_deref(), Some("Plan för 2026"));
        assert_eq!(
            d.furniture,
            vec!["Sidhuvud".to_string(), "Datakälla: registret".into()]
        );
    }

    #[test]
    fn tables_and_nested_cells() {
        let d = rtf(concat!(
            r"{\rtf1\ansi ",
            r"\trowd\cellx100\cellx200\pard\intbl M\'e5tt\par andra\cell\pard\intbl V\'e4rde\cell\row",
            r"\trowd\cellx100\cellx200\pard\intbl a\nestcell b\nestcell\cell\pard\intbl\cell\row",
            r"\pard Efter tabellen\par}"
        ));
        assert_eq!(
            d.blocks,
            vec![
                Block::Table {
                    rows: vec![
                        vec!["Mått\nandra".into(), "Värde".into()],
                        vec!["a\nb".into(), String::new()],
                    ]
                },
                Block::Paragraph {
                    text: "Efter tabellen".into(),
                    bold: false
                },
            ]
        );
    }

    #[test]
    fn unicode_skip_bin_and_deep_nesting() {
        let d =
            rtf(r"{\rtf1\uc2 \u8364\'80\'80 euro{\*\unknown hidden}{\pict\bin4 {{{{} text\par}");
        assert_eq!(
            d.blocks,
            vec![Block::Paragraph {
                text: "€ euro text".into(),
                bold: false
            }]
        );
        let deep = format!("{{\\rtf1 {}", "{".repeat(5000));
        assert_eq!(
            extract(deep.as_bytes(), &Limits::default())
                .unwrap_err()
                .kind(),
            "corrupt"
        );
    }
}
