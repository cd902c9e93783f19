//! What PPTX and ODP have in common: a deck is a list of slides, each with an optional title
//! (a placeholder of class "title"), body text boxes and tables, footer placeholders and
//! speaker notes. [`Deck`] turns slides into a [`Document`]: the title becomes a level-1
//! heading before the slide's content (whatever its position in the shape tree), text boxes
//! become paragraphs (list items when indented or in a list), tables stay tables, footer-like
//! placeholders go to furniture and speaker notes to [`Document::notes`], apart from the body.

use crate::domain::document::{Block, Document, Format};

/// What a text frame on a slide is, from its placeholder type / presentation class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Title,
    Body,
    /// Footer, date, slide number, header: repeated on every slide.
    Furniture,
    /// The slide image in a notes page, or anything else with no body text.
    Ignore,
}

impl Role {
    /// PresentationML `p:ph/@type` (absent = body / object placeholder).
    pub(crate) fn from_pptx(ph_type: Option<&str>) -> Role {
        match ph_type {
            Some("title" | "ctrTitle") => Role::Title,
            Some("ftr" | "sldNum" | "dt" | "hdr") => Role::Furniture,
            Some("sldImg") => Role::Ignore,
            _ => Role::Body,
        }
    }

    /// ODF `presentation:class` (absent = a free text box or shape).
    pub(crate) fn from_odp(class: Option<&str>) -> Role {
        match class {
            Some("title") => Role::Title,
            Some("footer" | "date-time" | "page-number" | "header") => Role::Furniture,
            Some("page" | "handout") => Role::Ignore,
            _ => Role::Body,
        }
    }
}

/// One slide while it is read.
#[derive(Debug, Default)]
pub(crate) struct Slide {
    title: Vec<String>,
    body: Vec<Block>,
    furniture: Vec<String>,
    notes: Vec<String>,
}

impl Slide {
    /// A finished paragraph of a text frame with the given role.
    pub(crate) fn paragraph(&mut self, role: Role, text: &str, level: u8, bold: bool) {
        let text = super::collapse_spaces(text);
        if text.is_empty() {
            return;
        }
        match role {
            Role::Title => self.title.push(text),
            Role::Body if level > 0 => self.body.push(Block::ListItem {
                level: level - 1,
                text,
            }),
            Role::Body => self.body.push(Block::Paragraph { text, bold }),
            Role::Furniture => self.furniture.push(text),
            Role::Ignore => {}
        }
    }

    /// A finished table on the slide.
    pub(crate) fn table(&mut self, b: Block) {
        self.body.push(b);
    }

    /// A paragraph of the slide's speaker notes.
    pub(crate) fn note(&mut self, text: &str) {
        let t = super::collapse_spaces(text);
        if !t.is_empty() {
            self.notes.push(t);
        }
    }
}

/// The slides read so far, in order.
#[derive(Debug, Default)]
pub(crate) struct Deck {
    blocks: Vec<Block>,
    furniture: Vec<String>,
    notes: Vec<String>,
    slides: u32,
}

impl Deck {
    pub(crate) fn push(&mut self, s: Slide) {
        self.slides += 1;
        if !s.title.is_empty() {
            self.blocks.push(Block::Heading {
                level: 1,
                text: s.title.join(" "),
            });
        }
        self.blocks.extend(s.body);
        for f in &s.furniture {
            super::push_furniture(&mut self.furniture, f);
        }
        self.notes.extend(s.notes);
    }

    pub(crate) fn into_document(self, format: Format, title: Option<String>) -> Document {
        Document {
            format: Some(format),
            blocks: self.blocks,
            furniture: self.furniture,
            title,
            pages: Some(self.slides),
            notes: self.notes,
            ..Document::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_leads_the_slide_and_notes_stay_apart() {
        let mut d = Deck::default();
        let mut s = Slide::default();
        s.paragraph(Role::Body, "Vi  vill korta väntetiden.", 0, false);
        s.paragraph(Role::Body, "Telefontid", 2, false);
        s.paragraph(Role::Title, "B. Bakgrund", 0, false);
        s.paragraph(Role::Furniture, "Vårdcentralen Exempel", 0, false);
        s.paragraph(Role::Ignore, "bild", 0, false);
        s.note("Säg något om statistiken.");
        d.push(s);
        let doc = d.into_document(Format::Pptx, None);
        assert_eq!(
            doc.blocks,
            vec![
                Block::Heading {
                    level: 1,
                    text: "B. Bakgrund".into()
                },
                Block::Paragraph {
                    text: "Vi vill korta väntetiden.".into(),
                    bold: false
                },
                Block::ListItem {
                    level: 1,
                    text: "Telefontid".into()
                },
            ]
        );
        assert_eq!(doc.furniture, vec!["Vårdcentralen Exempel"]);
        assert_eq!(doc.notes, vec!["Säg något om statistiken."]);
        assert_eq!(doc.pages, Some(1));
    }
}
