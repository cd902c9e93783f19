//! PPTX reader (PowerPoint, PresentationML): zip through [`SafeZip`] plus quick-xml streaming.
//!
//! Owns the slide order (`p:sldIdLst` in `ppt/presentation.xml`, resolved through
//! `ppt/_rels/presentation.xml.rels`; file-name order when that is missing), the mapping of one
//! slide's shape tree to a [`Slide`] (title placeholder → heading, other text boxes →
//! paragraphs, `a:tbl` → table, footer/date/number placeholders → furniture) and speaker notes
//! (the body placeholder of the slide's `notesSlide`) → [`Document::notes`]. Text inherited
//! from layouts and masters (placeholder prompts) is not slide content and is not read. Fields
//! (`a:fld`: slide number, date) and `mc:Fallback` duplicates are skipped. A DTD is `corrupt`.

use super::slides::{Deck, Role, Slide};
use super::tables::Tables;
use super::zipsafe::SafeZip;
use super::{Deadline, ExtractError, Limits, each_event};
use crate::domain::document::{Document, Format};
use quick_xml::events::{BytesStart, Event};

/// Extract a PPTX deck.
pub fn extract(bytes: &[u8], limits: &Limits) -> Result<Document, ExtractError> {
    let deadline = Deadline::new(limits);
    let mut zip = SafeZip::open(bytes, limits)?;
    let presentation = zip
        .read("ppt/presentation.xml")?
        .ok_or_else(|| ExtractError::Corrupt("PPTX without ppt/presentation.xml".into()))?;
    let rels = zip.read("ppt/_rels/presentation.xml.rels")?;
    let mut order = slide_order(&presentation, rels.as_deref())?;
    if order.is_empty() {
        order = slides_by_name(&zip);
    }
    let mut deck = Deck::default();
    for path in order {
        deadline.check()?;
        let Some(xml) = zip.read(&path)? else {
            continue;
        };
        let mut slide = Slide::default();
        parse_shapes(&xml, &mut slide, false, &deadline)?;
        if let Some(notes) = notes_path(&mut zip, &path)?
            && let Some(nxml) = zip.read(&notes)?
        {
            // Broken notes must not sink the slide.
            let _ = parse_shapes(&nxml, &mut slide, true, &deadline);
        }
        deck.push(slide);
    }
    let title = match zip.read("docProps/core.xml") {
        Ok(Some(x)) => super::docx::core_title(&x),
        _ => None,
    };
    Ok(deck.into_document(Format::Pptx, title))
}

/// The value of an attribute by its exact (prefixed) name, e.g. `r:id`; `prefixed` selects
/// between `id` and `r:id` when only the local name is known to be `id`.
fn attr(e: &BytesStart<'_>, local: &[u8], prefixed: bool) -> Option<String> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.local_name().as_ref() == local && a.key.prefix().is_some() == prefixed)
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

/// Resolve a relationship target against the folder of the part that holds the rels.
fn resolve(base_dir: &str, target: &str) -> String {
    if let Some(abs) = target.strip_prefix('/') {
        return abs.to_string();
    }
    let mut parts: Vec<&str> = base_dir.split('/').filter(|p| !p.is_empty()).collect();
    for seg in target.split('/') {
        match seg {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// (Id, Type, Target) of every relationship in a `.rels` part.
fn relationships(xml: &[u8]) -> Result<Vec<(String, String, String)>, ExtractError> {
    let mut out = Vec::new();
    each_event(xml, "PPTX", None, |ev| {
        if let Event::Start(e) | Event::Empty(e) = ev
            && e.local_name().as_ref() == b"Relationship"
        {
            let get = |k: &[u8]| attr(&e, k, false).unwrap_or_default();
            out.push((get(b"Id"), get(b"Type"), get(b"Target")));
        }
    })?;
    Ok(out)
}

/// Slide part names in presentation order.
fn slide_order(presentation: &[u8], rels: Option<&[u8]>) -> Result<Vec<String>, ExtractError> {
    let mut ids = Vec::new();
    each_event(presentation, "PPTX", None, |ev| {
        if let Event::Start(e) | Event::Empty(e) = ev
            && e.local_name().as_ref() == b"sldId"
            && let Some(rid) = attr(&e, b"id", true)
        {
            ids.push(rid);
        }
    })?;
    let Some(rels) = rels else {
        return Ok(Vec::new());
    };
    let rels = relationships(rels)?;
    Ok(ids
        .iter()
        .filter_map(|id| rels.iter().find(|(rid, _, _)| rid == id))
        .map(|(_, _, target)| resolve("ppt", target))
        .collect())
}

/// `ppt/slides/slideN.xml` sorted by N, for a deck without a usable slide list.
fn slides_by_name(zip: &SafeZip<'_>) -> Vec<String> {
    let mut v: Vec<(u32, String)> = zip
        .names()
        .filter_map(|n| {
            let num = n
                .strip_prefix("ppt/slides/slide")?
                .strip_suffix(".xml")?
                .parse()
                .ok()?;
            Some((num, n.to_string()))
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, n)| n).collect()
}

/// The notes slide of a slide, from the slide's own relationships.
fn notes_path(zip: &mut SafeZip<'_>, slide: &str) -> Result<Option<String>, ExtractError> {
    let (dir, file) = slide.rsplit_once('/').unwrap_or(("", slide));
    let Some(rels) = zip.read(&format!("{dir}/_rels/{file}.rels"))? else {
        return Ok(None);
    };
    let Ok(rels) = relationships(&rels) else {
        return Ok(None);
    };
    Ok(rels
        .into_iter()
        .find(|(_, ty, _)| ty.ends_with("/notesSlide"))
        .map(|(_, _, target)| resolve(dir, &target)))
}

/// Read a slide's (or, with `notes`, a notes page's) shape tree into `slide`.
fn parse_shapes(
    xml: &[u8],
    slide: &mut Slide,
    notes: bool,
    deadline: &Deadline,
) -> Result<(), ExtractError> {
    let mut st = ShapeState::default();
    each_event(xml, "PPTX", Some(deadline), |ev| match ev {
        Event::Start(e) => st.start(&e, false),
        // An empty element inside a skipped one is skipped with it (no depth change).
        Event::Empty(e) if st.skip == 0 => {
            st.start(&e, true);
            st.end(e.local_name().as_ref(), slide, notes);
        }
        Event::End(e) => st.end(e.local_name().as_ref(), slide, notes),
        Event::Text(t) if st.in_t && st.skip == 0 => {
            st.text.push_str(&t.decode().unwrap_or_default());
        }
        Event::GeneralRef(g) if st.in_t && st.skip == 0 => {
            if let Some(s) = super::xml_ref(&g) {
                st.text.push_str(&s);
            }
        }
        _ => {}
    })?;
    // A truncated part: keep what was complete.
    for b in st.tables.flush() {
        slide.table(b);
    }
    Ok(())
}

#[derive(Default)]
struct ShapeState {
    /// Placeholder type of the current shape (`None` until a `p:ph` is seen; body by default).
    ph: Option<Option<String>>,
    /// Text of the current paragraph.
    text: String,
    level: u8,
    /// Whether every run with text so far is bold (None: no run yet).
    bold: Option<bool>,
    run_bold: bool,
    run_start: usize,
    in_t: bool,
    skip: usize,
    tables: Tables,
}

impl ShapeState {
    fn role(&self) -> Role {
        Role::from_pptx(self.ph.as_ref().and_then(|p| p.as_deref()))
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
        match local {
            b"fld" | b"Fallback" | b"extLst" if !empty => self.skip = 1,
            b"sp" => self.ph = None,
            b"ph" => self.ph = Some(attr(e, b"type", false)),
            b"p" => {
                self.text.clear();
                self.level = 0;
                self.bold = None;
            }
            b"pPr" => {
                self.level = attr(e, b"lvl", false)
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
            }
            b"r" => {
                self.run_bold = false;
                self.run_start = self.text.len();
            }
            b"rPr" => {
                self.run_bold = matches!(attr(e, b"b", false).as_deref(), Some("1" | "true"));
            }
            b"t" if !empty => self.in_t = true,
            b"br" => self.text.push('\n'),
            b"tbl" => self.tables.open_table(),
            b"tr" => self.tables.open_row(),
            b"tc" => self.tables.open_cell(),
            _ => {}
        }
    }

    fn end(&mut self, local: &[u8], slide: &mut Slide, notes: bool) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        match local {
            b"t" => self.in_t = false,
            b"r" => {
                if self.text[self.run_start..].trim().is_empty() {
                    return;
                }
                self.bold = Some(self.bold.unwrap_or(true) && self.run_bold);
            }
            b"p" => {
                let text = std::mem::take(&mut self.text);
                if let Some(rest) = self.tables.take_text(text) {
                    let role = self.role();
                    if notes {
                        if role == Role::Body {
                            slide.note(&rest);
                        }
                    } else {
                        // `lvl` 0 is a top-level text line; deeper levels are list items.
                        slide.paragraph(role, &rest, self.level, self.bold == Some(true));
                    }
                }
            }
            b"tc" => self.tables.close_cell(),
            b"tr" => self.tables.close_row(),
            b"tbl" => {
                if let Some(b) = self.tables.close_table()
                    && !notes
                {
                    slide.table(b);
                }
            }
            b"sp" => self.ph = None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relationship_targets_resolve() {
        assert_eq!(resolve("ppt", "slides/slide1.xml"), "ppt/slides/slide1.xml");
        assert_eq!(
            resolve("ppt/slides", "../notesSlides/notesSlide2.xml"),
            "ppt/notesSlides/notesSlide2.xml"
        );
        assert_eq!(resolve("ppt", "/ppt/slides/s.xml"), "ppt/slides/s.xml");
    }

    #[test]
    fn slide_list_order_wins_over_names() {
        let pres = br#"<p:presentation xmlns:p="p" xmlns:r="r"><p:sldIdLst><p:sldId id="257" r:id="rId3"/><p:sldId id="256" r:id="rId2"/></p:sldIdLst></p:presentation>"#;
        let rels = br#"<Relationships><Relationship Id="rId2" Type="x/slide" Target="slides/slide1.xml"/><Relationship Id="rId3" Type="x/slide" Target="slides/slide2.xml"/></Relationships>"#;
        assert_eq!(
            slide_order(pres, Some(rels)).unwrap(),
            vec!["ppt/slides/slide2.xml", "ppt/slides/slide1.xml"]
        );
    }
}
