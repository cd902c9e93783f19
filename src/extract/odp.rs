//! ODP reader (OpenDocument presentation, LibreOffice Impress): `content.xml` through
//! [`SafeZip`] plus quick-xml streaming.
//!
//! Owns the mapping of `draw:page` (slides, in document order) to a [`Slide`]: a frame of
//! `presentation:class="title"` → heading; other frames, text boxes and shapes → paragraphs
//! (`text:p`/`text:h`; inside nested `text:list`s → list items); `table:table` → table;
//! footer/date/page-number frames → furniture; `presentation:notes` → [`Document::notes`].
//! Footer and header declarations (`presentation:footer-decl`) become furniture of the slides
//! that use them (`presentation:use-footer-name`). Styles, annotations and forms are not text. `text:s`, `text:tab`
//! and `text:line-break` are honoured. An encrypted manifest is `encrypted`, a DTD `corrupt`.

use super::slides::{Deck, Role, Slide};
use super::tables::Tables;
use super::zipsafe::SafeZip;
use super::{Deadline, ExtractError, Limits, each_event, xml_attr, xml_ref};
use crate::domain::document::{Document, Format};
use quick_xml::events::{BytesStart, Event};

/// Extract an ODP deck.
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
        .ok_or_else(|| ExtractError::Corrupt("ODP without content.xml".into()))?;
    let deck = parse(&content, &deadline)?;
    let title = match zip.read("meta.xml") {
        Ok(Some(x)) => super::docx::core_title(&x),
        _ => None,
    };
    Ok(deck.into_document(Format::Odp, title))
}

/// Elements whose text is never slide text.
fn is_skipped(local: &[u8]) -> bool {
    matches!(
        local,
        b"automatic-styles"
            | b"styles"
            | b"master-styles"
            | b"annotation"
            | b"forms"
            | b"date-time-decl"
            | b"settings"
            | b"note"
    )
}

fn parse(xml: &[u8], deadline: &Deadline) -> Result<Deck, ExtractError> {
    let mut p = Parser::default();
    each_event(xml, "ODP", Some(deadline), |ev| match ev {
        Event::Start(e) => p.start(&e, false),
        // Empty elements open nothing that an end would close (`start` only adds text).
        Event::Empty(e) => p.start(&e, true),
        Event::End(e) => p.end(e.local_name().as_ref()),
        Event::Text(t) if p.in_para() || p.in_decl.is_some() => {
            p.text.push_str(&t.decode().unwrap_or_default());
        }
        Event::GeneralRef(g) if p.in_para() => {
            if let Some(s) = xml_ref(&g) {
                p.text.push_str(&s);
            }
        }
        _ => {}
    })?;
    // A truncated part: keep the slide that was open.
    if let Some(mut s) = p.slide.take() {
        for b in p.tables.flush() {
            s.table(b);
        }
        p.deck.push(s);
    }
    Ok(p.deck)
}

#[derive(Default)]
struct Parser {
    deck: Deck,
    slide: Option<Slide>,
    /// Role of each open `draw:frame` (innermost last).
    frames: Vec<Role>,
    in_notes: usize,
    lists: u8,
    /// Depth of open paragraphs (`text:p`/`text:h` can nest through frames in frames).
    paras: usize,
    text: String,
    skip: usize,
    tables: Tables,
    /// Footer/header declarations by name, and the one being read.
    decls: Vec<(String, String)>,
    in_decl: Option<String>,
}

impl Parser {
    fn in_para(&self) -> bool {
        self.paras > 0 && self.skip == 0 && self.slide.is_some()
    }

    fn role(&self) -> Role {
        self.frames.last().copied().unwrap_or(Role::Body)
    }

    fn start(&mut self, e: &BytesStart<'_>, empty: bool) {
        let name = e.local_name();
        let local = name.as_ref();
        if self.skip > 0 || is_skipped(local) {
            if !empty {
                self.skip += 1;
            }
            return;
        }
        match local {
            b"footer-decl" | b"header-decl" if !empty => {
                self.in_decl = Some(xml_attr(e, b"name").unwrap_or_default());
                self.text.clear();
            }
            b"page" if !empty => {
                let mut slide = Slide::default();
                for key in [b"use-footer-name".as_slice(), b"use-header-name"] {
                    if let Some(name) = xml_attr(e, key)
                        && let Some((_, text)) = self.decls.iter().find(|(n, _)| *n == name)
                    {
                        slide.paragraph(Role::Furniture, text, 0, false);
                    }
                }
                self.slide = Some(slide);
            }
            b"notes" if !empty => self.in_notes += 1,
            b"frame" if !empty => {
                let class = xml_attr(e, b"class");
                self.frames.push(Role::from_odp(class.as_deref()));
            }
            b"list" if !empty => self.lists = self.lists.saturating_add(1),
            b"p" | b"h" if !empty => {
                if self.paras == 0 {
                    self.text.clear();
                }
                self.paras += 1;
            }
            b"s" if self.in_para() => {
                let c = xml_attr(e, b"c")
                    .and_then(|c| c.parse::<usize>().ok())
                    .unwrap_or(1);
                self.text.push_str(&" ".repeat(c.min(64)));
            }
            b"tab" if self.in_para() => self.text.push('\t'),
            b"line-break" if self.in_para() => self.text.push('\n'),
            b"table" if !empty => self.tables.open_table(),
            b"table-row" if !empty => self.tables.open_row(),
            b"table-cell" if !empty => self.tables.open_cell(),
            _ => {}
        }
    }

    fn end(&mut self, local: &[u8]) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        match local {
            b"footer-decl" | b"header-decl" => {
                if let Some(name) = self.in_decl.take()
                    && self.decls.len() < 64
                {
                    self.decls.push((name, std::mem::take(&mut self.text)));
                }
            }
            b"page" => {
                if let Some(mut s) = self.slide.take() {
                    for b in self.tables.flush() {
                        s.table(b);
                    }
                    self.deck.push(s);
                }
            }
            b"notes" => self.in_notes = self.in_notes.saturating_sub(1),
            b"frame" => {
                self.frames.pop();
            }
            b"list" => self.lists = self.lists.saturating_sub(1),
            b"p" | b"h" if self.paras > 0 => {
                self.paras -= 1;
                if self.paras > 0 {
                    return;
                }
                let text = std::mem::take(&mut self.text);
                let Some(rest) = self.tables.take_text(text) else {
                    return;
                };
                let role = self.role();
                let Some(slide) = self.slide.as_mut() else {
                    return;
                };
                if self.in_notes > 0 {
                    if role == Role::Body {
                        slide.note(&rest);
                    }
                } else {
                    // Top-level bullets are text lines, like PPTX `lvl` 0; deeper ones list items.
                    slide.paragraph(role, &rest, self.lists.saturating_sub(1), false);
                }
            }
            b"table-cell" => self.tables.close_cell(),
            b"table-row" => self.tables.close_row(),
            b"table" => {
                if let Some(b) = self.tables.close_table()
                    && self.in_notes == 0
                    && let Some(s) = self.slide.as_mut()
                {
                    s.table(b);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::Block;

    const NS: &str =
        r#"xmlns:office="o" xmlns:draw="d" xmlns:presentation="p" xmlns:text="t" xmlns:table="tb""#;

    #[test]
    fn slides_titles_lists_tables_notes() {
        let xml = format!(
            r#"<office:document-content {NS}><office:automatic-styles><text:p>stil</text:p></office:automatic-styles><office:body><office:presentation><presentation:footer-decl presentation:name="ftr1">VC Sidfot</presentation:footer-decl>
<draw:page presentation:use-footer-name="ftr1"><draw:frame presentation:class="title"><draw:text-box><text:p>A. Val av område</text:p></draw:text-box></draw:frame>
<draw:frame presentation:class="outline"><draw:text-box><text:list><text:list-item><text:p>Diabetes<text:s text:c="2"/>vård</text:p><text:list><text:list-item><text:p>Fotvård</text:p></text:list-item></text:list></text:list-item></text:list></draw:text-box></draw:frame>
<draw:frame presentation:class="footer"><draw:text-box><text:p>VC Exempel</text:p></draw:text-box></draw:frame>
<presentation:notes><draw:page-thumbnail/><draw:frame presentation:class="notes"><draw:text-box><text:p>Tala om siffrorna.</text:p></draw:text-box></draw:frame></presentation:notes></draw:page>
<draw:page><draw:frame><table:table><table:table-row><table:table-cell><text:p>Mått</text:p></table:table-cell><table:table-cell><text:p>80 %</text:p></table:table-cell></table:table-row></table:table></draw:frame></draw:page>
</office:presentation></office:body></office:document-content>"#
        );
        let deck = parse(xml.as_bytes(), &Deadline::new(&Limits::default())).unwrap();
        let d = deck.into_document(Format::Odp, None);
        assert_eq!(
            d.blocks,
            vec![
                Block::Heading {
                    level: 1,
                    text: "A. Val av område".into()
                },
                Block::Paragraph {
                    text: "Diabetes vård".into(),
                    bold: false
                },
                Block::ListItem {
                    level: 0,
                    text: "Fotvård".into()
                },
                Block::Table {
                    rows: vec![vec!["Mått".into(), "80 %".into()]]
                },
            ]
        );
        assert_eq!(d.furniture, vec!["VC Sidfot", "VC Exempel"]);
        assert_eq!(d.notes, vec!["Tala om siffrorna."]);
        assert_eq!(d.pages, Some(2));
    }

    #[test]
    fn doctype_is_corrupt() {
        let xml = br#"<!DOCTYPE x [<!ENTITY a "b">]><x/>"#;
        let err = parse(xml, &Deadline::new(&Limits::default()))
            .err()
            .unwrap();
        assert_eq!(err.kind(), "corrupt");
    }
}
