use super::*;
use crate::extract::zipsafe::tests::make_zip;

const W: &str = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;

fn doc(body: &str, styles: &str) -> Vec<u8> {
    let d = format!(r#"<?xml version="1.0"?><w:document {W}><w:body>{body}</w:body></w:document>"#);
    let s = format!(r#"<?xml version="1.0"?><w:styles {W}>{styles}</w:styles>"#);
    make_zip(&[
            ("word/document.xml", d.as_bytes()),
            ("word/styles.xml", s.as_bytes()),
            (
                "word/footer1.xml",
                format!(r#"<w:ftr {W}><w:p><w:r><w:t>Källa: registret</w:t></w:r></w:p></w:ftr>"#)
                    .as_bytes(),
            ),
            (
                "docProps/core.xml",
                br#"<cp:coreProperties xmlns:cp="c" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Plan &amp; m&#229;l</dc:title></cp:coreProperties>"#,
            ),
        ])
}

fn para(style: &str, runs: &str) -> String {
    let ppr = if style.is_empty() {
        String::new()
    } else {
        format!(r#"<w:pPr><w:pStyle w:val="{style}"/></w:pPr>"#)
    };
    format!("<w:p>{ppr}{runs}</w:p>")
}

fn run(text: &str, bold: bool) -> String {
    let rpr = if bold { "<w:rPr><w:b/></w:rPr>" } else { "" };
    format!(r#"<w:r>{rpr}<w:t xml:space="preserve">{text}</w:t></w:r>"#)
}

#[test]
fn headings_custom_styles_bold_lists_and_entities() {
    let styles = r#"
          <w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style>
          <w:style w:type="paragraph" w:styleId="Rubrik1"><w:name w:val="Rubrik1"/><w:basedOn w:val="Heading1"/></w:style>
          <w:style w:type="paragraph" w:styleId="Strong"><w:name w:val="Strong para"/><w:rPr><w:b/></w:rPr></w:style>
          <w:style w:type="paragraph" w:styleId="ListNumber"><w:name w:val="List Number"/><w:pPr><w:numPr><w:numId w:val="3"/></w:numPr></w:pPr></w:style>"#;
    let body = [
            para("Heading2", &run("A. Val av förbättringsområde", false)),
            para("Rubrik1", &run("Egen rubrik", false)),
            para("", &(run("Helt ", true) + &run("fet", true))),
            para("", &(run("Delvis ", true) + &run("fet", false))),
            para("Strong", &run("Fet via stil", false)),
            para("", &run("AT&amp;T &lt;3 &#229;", false)),
            para("ListNumber", &run("Punkt ett", false)),
            r#"<w:p><w:pPr><w:numPr><w:ilvl w:val="1"/><w:numId w:val="5"/></w:numPr><w:rPr><w:b/></w:rPr></w:pPr><w:r><w:t>Underpunkt</w:t></w:r></w:p>"#.to_string(),
            r#"<w:p><w:pPr><w:outlineLvl w:val="2"/></w:pPr><w:r><w:t>Nivå tre</w:t></w:r></w:p>"#.to_string(),
        ]
        .concat();
    let d = extract(&doc(&body, styles), &Limits::default()).unwrap();
    assert_eq!(
        d.blocks,
        vec![
            Block::Heading {
                level: 2,
                text: "A. Val av förbättringsområde".into()
            },
            Block::Heading {
                level: 1,
                text: "Egen rubrik".into()
            },
            Block::Paragraph {
                text: "Helt fet".into(),
                bold: true
            },
            Block::Paragraph {
                text: "Delvis fet".into(),
                bold: false
            },
            Block::Paragraph {
                text: "Fet via stil".into(),
                bold: true
            },
            Block::Paragraph {
                text: "AT&T <3 å".into(),
                bold: false
            },
            Block::ListItem {
                level: 0,
                text: "Punkt ett".into()
            },
            Block::ListItem {
                level: 1,
                text: "Underpunkt".into()
            },
            Block::Heading {
                level: 3,
                text: "Nivå tre".into()
            },
        ]
    );
    assert_eq!(d.furniture, vec!["Källa: registret".to_string()]);
    assert_eq!(d.title.as_deref(), Some("Plan & mål"));
}

#[test]
fn tables_nested_tables_deletions_fields_tabs() {
    let cell = |inner: &str| format!("<w:tc>{inner}</w:tc>");
    let nested = format!(
        "<w:tbl><w:tr>{}{}</w:tr></w:tbl>",
        cell(&para("", &run("n1", false))),
        cell(&para("", &run("n2", false)))
    );
    let body = format!(
        "<w:tbl><w:tr>{}{}</w:tr><w:tr>{}{}</w:tr></w:tbl>{}",
        cell(&(para("", &run("Mått", false)) + &para("", &run("rad två", false)))),
        cell(&para("", &run("Värde", false))),
        cell(&nested),
        cell(""),
        para(
            "",
            r#"<w:r><w:t>Före</w:t></w:r><w:del><w:r><w:delText>borta</w:delText></w:r></w:del><w:ins><w:r><w:tab/><w:t>ny</w:t><w:br/><w:t>rad</w:t></w:r></w:ins><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>PAGEREF _Toc1 \h</w:instrText></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r><w:r><w:t>3</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>"#
        )
    );
    let d = extract(&doc(&body, ""), &Limits::default()).unwrap();
    assert_eq!(
        d.blocks[0],
        Block::Table {
            rows: vec![
                vec!["Mått\nrad två".into(), "Värde".into()],
                vec!["n1\tn2".into(), String::new()],
            ]
        }
    );
    assert_eq!(
        d.blocks[1],
        Block::Paragraph {
            text: "Före\tny\nrad3".into(),
            bold: false
        }
    );
}

#[test]
fn broken_xml_is_corrupt_and_missing_part_is_corrupt() {
    let z = make_zip(&[("word/document.xml", b"<w:document><w:body><w:p></w:x>")]);
    assert_eq!(
        extract(&z, &Limits::default()).unwrap_err().kind(),
        "corrupt"
    );
    let z = make_zip(&[("word/other.xml", b"<x/>")]);
    assert_eq!(
        extract(&z, &Limits::default()).unwrap_err().kind(),
        "corrupt"
    );
}

#[test]
fn truncated_part_inside_table_and_deletion_terminates() {
    let z = make_zip(&[(
        "word/document.xml",
        b"<w:document><w:body><w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell</w:t></w:r><w:del><w:r>",
    )]);
    let d = extract(&z, &Limits::default()).unwrap();
    assert_eq!(
        d.blocks,
        vec![Block::Table {
            rows: vec![vec!["cell".into()]]
        }]
    );
}

#[test]
fn header_footer_names() {
    assert!(is_header_footer("word/header1.xml"));
    assert!(is_header_footer("word/footer.xml"));
    assert!(!is_header_footer("word/footnotes.xml"));
    assert!(!is_header_footer("word/headerx.xml"));
}

#[test]
fn letters_from_list_numbering_and_notes_apart() {
    let numbering = format!(
        r#"<w:numbering {W}><w:abstractNum w:abstractNumId="7"><w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="upperLetter"/><w:lvlText w:val="%1."/></w:lvl></w:abstractNum><w:abstractNum w:abstractNumId="8"><w:lvl w:ilvl="0"><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/></w:lvl></w:abstractNum><w:num w:numId="2"><w:abstractNumId w:val="7"/></w:num><w:num w:numId="3"><w:abstractNumId w:val="8"/></w:num></w:numbering>"#
    );
    let np = |num: &str, text: &str| {
        format!(
            r#"<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="{num}"/></w:numPr></w:pPr><w:r><w:rPr><w:b/></w:rPr><w:t>{text}</w:t></w:r></w:p>"#
        )
    };
    let body = [
        np("2", "Vårt valda område"),
        para("", &run("Text om området.", false)),
        np("2", "Därför behövs arbetet"),
        np("3", "En punkt"),
        r#"<w:p><w:r><w:t>Se not</w:t></w:r><w:r><w:footnoteReference w:id="1"/></w:r></w:p>"#
            .to_string(),
    ]
    .concat();
    let d = format!(r#"<?xml version="1.0"?><w:document {W}><w:body>{body}</w:body></w:document>"#);
    let notes = format!(
        r#"<w:footnotes {W}><w:footnote w:id="0"><w:p><w:r><w:separator/></w:r></w:p></w:footnote><w:footnote w:id="1"><w:p><w:r><w:t>Källa: Länsbarometern.</w:t></w:r></w:p></w:footnote></w:footnotes>"#
    );
    let ends = format!(
        r#"<w:endnotes {W}><w:endnote w:id="1"><w:p><w:r><w:t>Slutnot.</w:t></w:r></w:p></w:endnote></w:endnotes>"#
    );
    let bytes = make_zip(&[
        ("word/document.xml", d.as_bytes()),
        ("word/numbering.xml", numbering.as_bytes()),
        ("word/footnotes.xml", notes.as_bytes()),
        ("word/endnotes.xml", ends.as_bytes()),
    ]);
    let doc = extract(&bytes, &Limits::default()).unwrap();
    let texts: Vec<String> = doc.blocks.iter().map(Block::text).collect();
    assert_eq!(
        texts,
        vec![
            "A. Vårt valda område",
            "Text om området.",
            "B. Därför behövs arbetet",
            "En punkt",
            "Se not"
        ]
    );
    assert_eq!(
        doc.blocks[0],
        Block::Paragraph {
            text: "A. Vårt valda område".into(),
            bold: true
        }
    );
    assert!(matches!(doc.blocks[3], Block::ListItem { .. }));
    assert_eq!(doc.notes, vec!["Källa: Länsbarometern.", "Slutnot."]);
}
