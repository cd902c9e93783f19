//! `understand` on small hand-written messages: RFC 3834 headers, the Outlook
//! X-Auto-Response-Suppress false positive, DSN and MDN, lists, own address, DMARC,
//! attachment naming (RFC 2231, raw Latin-1), forwarded rfc822 and TNEF, and a proptest
//! that no input panics.

use base64::Engine;
use proptest::prelude::*;
use vardval::mail::registry::Registry;
use vardval::mail::{MailClass, parse::understand, tnef};

const REGISTRY: &str = "id,name,emails,listed_inhabitants\n\
    vc-ekbacken,Vårdcentralen Ekbacken,@ekbacken.vc.test,12000\n\
    vc-almhult,Vårdcentralen Älmhult,kansli@almhult.vc.test,8500\n";

fn registry() -> Registry {
    Registry::from_csv(REGISTRY).unwrap()
}

fn own() -> Vec<String> {
    vec!["vardval@rjl.test".to_string()]
}

fn b64(bytes: &[u8]) -> String {
    let s = base64::engine::general_purpose::STANDARD.encode(bytes);
    s.as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A message from `from` with `extra` headers and a text body.
fn simple(from: &str, subject: &str, extra: &str) -> Vec<u8> {
    format!(
        "From: Anna Berg <{from}>\r\nTo: vardval@rjl.test\r\nSubject: {subject}\r\n\
         Date: Mon, 2 Feb 2026 10:00:00 +0100\r\nMessage-ID: <m1@ekbacken.vc.test>\r\n\
         {extra}MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHej!\r\n"
    )
    .into_bytes()
}

/// A multipart/mixed message with one attachment part given as raw MIME headers + body.
fn with_part(from: &str, extra: &str, part_headers: &str, part_body: &str) -> Vec<u8> {
    format!(
        "From: Anna Berg <{from}>\r\nTo: vardval@rjl.test\r\nSubject: Projektplan\r\n\
         Message-ID: <m2@ekbacken.vc.test>\r\n{extra}MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"BOUND\"\r\n\r\n\
         --BOUND\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHär kommer planen.\r\n\
         --BOUND\r\n{part_headers}\r\n\r\n{part_body}\r\n--BOUND--\r\n"
    )
    .into_bytes()
}

fn pdf_part(name_header: &str) -> (String, String) {
    (
        format!(
            "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n{name_header}"
        ),
        b64(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n"),
    )
}

#[test]
fn rfc3834_headers_mark_auto_replies() {
    let r = registry();
    for extra in [
        "Auto-Submitted: auto-replied\r\n",
        "Auto-Submitted: auto-generated; owner-email=\"x@y\"\r\n",
        "X-Autoreply: yes\r\n",
        "X-Autorespond: Out of office\r\n",
        "Precedence: auto_reply\r\n",
    ] {
        let m = understand(
            &simple("anna@ekbacken.vc.test", "Projektplan", extra),
            &r,
            &own(),
        );
        assert_eq!(m.class, MailClass::AutoReply, "{extra}: {}", m.reason);
        // The clinic is still recognised; the class says not to answer.
        assert_eq!(m.clinic_id.as_deref(), Some("vc-ekbacken"));
    }
    for subject in [
        "Automatiskt svar: Projektplan",
        "Frånvaromeddelande",
        "Autosvar: Projektplan",
        "Out of Office: Projektplan",
        "Automatic reply: Projektplan",
    ] {
        let m = understand(&simple("anna@ekbacken.vc.test", subject, ""), &r, &own());
        assert_eq!(m.class, MailClass::AutoReply, "{subject}");
    }
    // Auto-Submitted: no is an ordinary message.
    let m = understand(
        &simple("anna@ekbacken.vc.test", "Hej", "Auto-Submitted: no\r\n"),
        &r,
        &own(),
    );
    assert_eq!(m.class, MailClass::NoDocument, "{}", m.reason);
    assert_eq!(m.clinic_id.as_deref(), Some("vc-ekbacken"));
    assert_eq!(m.text, "Hej!");
    assert_eq!(m.message_id.as_deref(), Some("m1@ekbacken.vc.test"));
    assert_eq!(m.from_name.as_deref(), Some("Anna Berg"));
    assert_eq!(
        m.date_header.unwrap().to_rfc3339(),
        "2026-02-02T09:00:00+00:00"
    );
}

#[test]
fn outlook_x_auto_response_suppress_alone_is_not_an_auto_reply() {
    let r = registry();
    // Outlook puts this on every ordinary message it sends.
    let (h, b) = pdf_part("Content-Disposition: attachment; filename=\"Projektplan.pdf\"");
    let m = understand(
        &with_part(
            "anna@ekbacken.vc.test",
            "X-Auto-Response-Suppress: All\r\nThread-Topic: Projektplan\r\n",
            &h,
            &b,
        ),
        &r,
        &own(),
    );
    assert_eq!(m.class, MailClass::Submission, "{}", m.reason);
    assert_eq!(m.documents.len(), 1);
    // On a server-generated message (null Return-Path, Exchange rules loop) it does count.
    let m = understand(
        &simple(
            "anna@ekbacken.vc.test",
            "Projektplan",
            "Return-Path: <>\r\nX-Auto-Response-Suppress: All\r\n\
             X-MS-Exchange-Inbox-Rules-Loop: anna@ekbacken.vc.test\r\n",
        ),
        &r,
        &own(),
    );
    assert_eq!(m.class, MailClass::AutoReply, "{}", m.reason);
}

#[test]
fn mailing_lists_own_address_and_unknown_senders() {
    let r = registry();
    for extra in [
        "List-Id: <nyhetsbrev.lakemedel.test>\r\n",
        "List-Unsubscribe: <mailto:u@x.test>\r\n",
        "Precedence: bulk\r\n",
        "X-Mailing-List: foo\r\n",
    ] {
        let m = understand(
            &simple("anna@ekbacken.vc.test", "Nyhetsbrev", extra),
            &r,
            &own(),
        );
        assert_eq!(m.class, MailClass::MailingList, "{extra}");
    }
    let m = understand(
        &simple("Vardval@RJL.test", "Mottagningsbekräftelse", ""),
        &r,
        &own(),
    );
    assert_eq!(m.class, MailClass::AutoReply);
    assert!(m.reason.contains("own address"), "{}", m.reason);
    let m = understand(&simple("x@elsewhere.test", "Hej", ""), &r, &own());
    assert_eq!(m.class, MailClass::UnknownSender);
    assert_eq!(m.clinic_id, None);
    // Sub-domains of a registered domain are not the clinic.
    let m = understand(&simple("x@mail.ekbacken.vc.test", "Hej", ""), &r, &own());
    assert_eq!(m.class, MailClass::UnknownSender);
}

#[test]
fn dmarc_and_dkim_failures_need_review() {
    let r = registry();
    let m = understand(
        &simple(
            "kansli@almhult.vc.test",
            "Projektplan",
            "Authentication-Results: mx.rjl.test; spf=fail smtp.mailfrom=almhult.vc.test;\r\n \
             dkim=none; dmarc=fail (p=quarantine) header.from=almhult.vc.test\r\n",
        ),
        &r,
        &own(),
    );
    assert_eq!(m.class, MailClass::NeedsReview, "{}", m.reason);
    assert_eq!(m.clinic_id.as_deref(), Some("vc-almhult"));
    let m = understand(
        &simple(
            "kansli@almhult.vc.test",
            "Projektplan",
            "Authentication-Results: mx.rjl.test; dkim=pass header.d=almhult.vc.test;\r\n \
             spf=softfail; dmarc=pass\r\n",
        ),
        &r,
        &own(),
    );
    assert_eq!(m.class, MailClass::NoDocument, "{}", m.reason);
}

#[test]
fn dsn_bounce_and_mdn() {
    let r = registry();
    let dsn = "From: Mail Delivery System <MAILER-DAEMON@mx.rjl.test>\r\nTo: vardval@rjl.test\r\n\
        Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b1@mx.rjl.test>\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/report; report-type=delivery-status; boundary=\"R\"\r\n\r\n\
        --R\r\nContent-Type: text/plain\r\n\r\nThis is the mail system.\r\n\
        --R\r\nContent-Type: message/delivery-status\r\n\r\n\
        Reporting-MTA: dns; mx.rjl.test\r\n\r\n\
        Final-Recipient: rfc822; gone@ekbacken.vc.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\
        Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n\
        --R\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: vardval@rjl.test\r\n\
        Message-ID: <receipt-1@rjl.test>\r\n\r\n--R--\r\n";
    let m = understand(dsn.as_bytes(), &r, &own());
    assert_eq!(m.class, MailClass::Bounce);
    assert!(m.reason.contains("gone@ekbacken.vc.test"), "{}", m.reason);
    assert!(m.reason.contains("5.1.1"), "{}", m.reason);
    assert!(m.documents.is_empty());

    // A non-standard bounce: null Return-Path and a mailer daemon.
    let m = understand(
        &simple(
            "postmaster@ekbacken.vc.test",
            "failure notice",
            "Return-Path: <>\r\n",
        ),
        &r,
        &own(),
    );
    assert_eq!(m.class, MailClass::Bounce);
    // Return-Path <> alone (without a daemon sender) is not a bounce.
    let m = understand(
        &simple("anna@ekbacken.vc.test", "Hej", "Return-Path: <>\r\n"),
        &r,
        &own(),
    );
    assert_eq!(m.class, MailClass::NoDocument);

    let mdn = "From: anna@ekbacken.vc.test\r\nSubject: Läst: Projektplan\r\nMessage-ID: <r@x>\r\n\
        MIME-Version: 1.0\r\n\
        Content-Type: multipart/report; report-type=disposition-notification; boundary=\"R\"\r\n\r\n\
        --R\r\nContent-Type: text/plain\r\n\r\nDitt meddelande har lästs.\r\n\
        --R\r\nContent-Type: message/disposition-notification\r\n\r\n\
        Final-Recipient: rfc822; anna@ekbacken.vc.test\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n\r\n--R--\r\n";
    let m = understand(mdn.as_bytes(), &r, &own());
    assert_eq!(m.class, MailClass::AutoReply);
}

#[test]
fn attachment_names_rfc2231_and_raw_latin1() {
    let r = registry();
    let (h, b) = pdf_part(
        "Content-Disposition: attachment;\r\n filename*=utf-8''Projektplan%20V%C3%A5rdcentralen%20%C3%84lmhult.pdf",
    );
    let m = understand(&with_part("anna@ekbacken.vc.test", "", &h, &b), &r, &own());
    assert_eq!(m.documents[0].name, "Projektplan Vårdcentralen Älmhult.pdf");
    assert!(m.documents[0].bytes.starts_with(b"%PDF"));
    assert_eq!(m.documents[0].sha256.len(), 64);

    // Raw 8-bit Latin-1 in both headers: mail-parser gives U+FFFD; we decode windows-1252.
    let mut raw = with_part(
        "anna@ekbacken.vc.test",
        "",
        "Content-Type: application/pdf; name=\"PLACEHOLDER\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"PLACEHOLDER\"",
        &b,
    );
    let latin1 = b"Projektplan \xC4lmhult \xE5r 2026.pdf";
    let pos = |raw: &[u8]| raw.windows(11).position(|w| w == b"PLACEHOLDER").unwrap();
    for _ in 0..2 {
        let p = pos(&raw);
        raw.splice(p..p + 11, latin1.iter().copied());
    }
    let m = understand(&raw, &r, &own());
    assert_eq!(m.class, MailClass::Submission, "{}", m.reason);
    assert_eq!(m.documents[0].name, "Projektplan Älmhult år 2026.pdf");
}

#[test]
fn inline_images_signatures_and_unknown_files() {
    let r = registry();
    let raw = format!(
        "From: anna@ekbacken.vc.test\r\nSubject: Plan\r\nMessage-ID: <x@y>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: multipart/related; boundary=\"C\"\r\n\r\n\
         --C\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hej <b>V&aring;rdval</b></p><img src=\"cid:logo\">\r\n\
         --C\r\nContent-Type: image/png; name=\"image001.png\"\r\nContent-ID: <logo>\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{png}\r\n--C--\r\n\
         --B\r\nContent-Type: text/vcard; name=\"anna.vcf\"\r\nContent-Disposition: attachment; filename=\"anna.vcf\"\r\n\r\nBEGIN:VCARD\r\nEND:VCARD\r\n\
         --B\r\nContent-Type: application/octet-stream; name=\"plan.pages\"\r\n\
         Content-Disposition: attachment; filename=\"plan.pages\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{junk}\r\n--B--\r\n",
        png = b64(b"\x89PNG\r\n\x1a\nfake"),
        junk = b64(b"\x00\x01garbage")
    );
    let m = understand(raw.as_bytes(), &r, &own());
    assert_eq!(m.class, MailClass::Submission, "{}", m.reason);
    let docs: Vec<_> = m.documents.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(docs, ["plan.pages"]);
    let others: Vec<_> = m.other_parts.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(others, ["image001.png", "anna.vcf"]);
    assert!(m.other_parts.iter().all(|p| p.inline));
    assert!(
        m.text.contains("Vårdval") || m.text.contains("Hej"),
        "{}",
        m.text
    );

    // Only an inline image: no document.
    let only_image = raw
        .replace("plan.pages", "logo2.png")
        .replace("application/octet-stream", "image/png");
    let m = understand(only_image.as_bytes(), &r, &own());
    assert_eq!(m.class, MailClass::NoDocument, "{}", m.reason);
}

#[test]
fn forwarded_rfc822_and_tnef() {
    let r = registry();
    let inner = format!(
        "From: chef@ekbacken.vc.test\r\nSubject: =?utf-8?q?Granskning_=C3=A5r_2025?=\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"I\"\r\n\r\n--I\r\nContent-Type: text/plain\r\n\r\nSe bifogad.\r\n\
         --I\r\nContent-Type: application/pdf; name=\"=?utf-8?q?Granskning_=C3=A5r_2025=2Epdf?=\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--I--\r\n",
        b64(b"%PDF-1.5 inner")
    );
    let raw = with_part(
        "anna@ekbacken.vc.test",
        "",
        "Content-Type: message/rfc822\r\nContent-Disposition: attachment",
        &inner,
    );
    let m = understand(&raw, &r, &own());
    assert_eq!(m.class, MailClass::Submission, "{}", m.reason);
    assert_eq!(m.documents[0].name, "Granskning år 2025.pdf");
    assert_eq!(m.documents[0].bytes, b"%PDF-1.5 inner");

    let docx = b"PK\x03\x04 docx bytes";
    let stream = tnef::build::stream(&[("PROJEK~1.DOC", "Projektplan Ekbacken.docx", docx)]);
    let raw = with_part(
        "anna@ekbacken.vc.test",
        "",
        "Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\n\
         Content-Disposition: attachment; filename=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64",
        &b64(&stream),
    );
    let m = understand(&raw, &r, &own());
    assert_eq!(m.class, MailClass::Submission, "{}", m.reason);
    assert_eq!(m.documents.len(), 1);
    assert_eq!(m.documents[0].name, "Projektplan Ekbacken.docx");
    assert_eq!(m.documents[0].bytes, docx);

    // A broken winmail.dat is kept as it is and noted.
    let raw = with_part(
        "anna@ekbacken.vc.test",
        "",
        "Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64",
        &b64(&stream[..60]),
    );
    let m = understand(&raw, &r, &own());
    assert_eq!(m.documents[0].name, "winmail.dat");
    assert!(m.reason.contains("TNEF"), "{}", m.reason);
}

#[test]
fn junk_is_unparseable() {
    let r = registry();
    for junk in [
        &b""[..],
        b"\x00\x01\x02\xff\xfe",
        b"just some text without headers\n",
    ] {
        let m = understand(junk, &r, &own());
        assert_eq!(m.class, MailClass::Unparseable, "{junk:?}");
        assert_eq!(m.sha256.len(), 64);
    }
}

/// The mail fixtures under 100 KB (others still generating: may be empty).
fn fixture_messages() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mail");
    let mut out: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .filter(|(_, b)| b.len() < 100_000)
        .collect();
    out.sort();
    out.into_iter().map(|(_, b)| b).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn mutated_fixtures_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec(
            (any::<bool>(), any::<prop::sample::Index>(), any::<u8>()),
            1..64,
        ),
        cut in any::<prop::sample::Index>(),
    ) {
        let fixtures = fixture_messages();
        if fixtures.is_empty() {
            return Ok(());
        }
        let mut bytes = fixtures[pick.index(fixtures.len())].clone();
        for (in_headers, i, v) in edits {
            // Half the edits land in the first 3 KB, where the headers and MIME structure are.
            let span = if in_headers { bytes.len().min(3000) } else { bytes.len() };
            let i = i.index(span);
            bytes[i] = v;
        }
        let end = cut.index(bytes.len() + 1);
        let _ = understand(&bytes[..end], &registry(), &own());
        let _ = understand(&bytes, &registry(), &own());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = understand(&bytes, &registry(), &own());
    }

    #[test]
    fn mutated_messages_never_panic(
        seed in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..40),
        cut in any::<prop::sample::Index>(),
    ) {
        let (h, b) = pdf_part("Content-Disposition: attachment; filename*=utf-8''Pl%C3%A5n.pdf");
        let stream = tnef::build::stream(&[("A.PDF", "a.pdf", b"%PDF")]);
        let bases = [
            simple("anna@ekbacken.vc.test", "Projektplan", "Auto-Submitted: no\r\n"),
            with_part("anna@ekbacken.vc.test", "", &h, &b),
            with_part("anna@ekbacken.vc.test", "", "Content-Type: application/ms-tnef\r\nContent-Transfer-Encoding: base64", &b64(&stream)),
            with_part("anna@ekbacken.vc.test", "", "Content-Type: message/rfc822", &String::from_utf8_lossy(&simple("x@y.test", "inner", ""))),
        ];
        let mut bytes = bases[seed].clone();
        for (i, v) in edits {
            let i = i.index(bytes.len());
            bytes[i] = v;
        }
        let end = cut.index(bytes.len() + 1);
        let _ = understand(&bytes[..end], &registry(), &own());
        let _ = understand(&bytes, &registry(), &own());
    }
}
