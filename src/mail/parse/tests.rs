use super::*;

#[test]
fn delivery_status_fields() {
    let ds = "Reporting-MTA: dns; mx.rjl.test\r\nArrival-Date: Mon, 2 Feb 2026\r\n\r\n\
                  Final-Recipient: rfc822; anna@ekbacken.vc.test\r\nAction: failed\r\n\
                  Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n  (mailbox gone)\r\n";
    let r = parse_delivery_status(ds);
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].final_recipient.as_deref(),
        Some("anna@ekbacken.vc.test")
    );
    assert_eq!(r[0].action.as_deref(), Some("failed"));
    assert_eq!(r[0].status.as_deref(), Some("5.1.1"));
    assert_eq!(
        r[0].diagnostic.as_deref(),
        Some("smtp; 550 5.1.1 user unknown (mailbox gone)")
    );
}

#[test]
fn text_rtf_attachment_keeps_its_bytes() {
    let rtf = b"{\\rtf1\\ansi\\ansicpg1252 V\\'e5rdcentral \xe5}";
    let mut raw = b"From: a@x.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\
            Content-Type: text/plain\r\n\r\nhej\r\n--B\r\n\
            Content-Type: text/rtf; charset=iso-8859-1; name=plan.rtf\r\n\
            Content-Disposition: attachment; filename=plan.rtf\r\n\r\n"
        .to_vec();
    raw.extend_from_slice(rtf);
    raw.extend_from_slice(b"\r\n--B--\r\n");
    let m = understand(&raw, &Registry::default(), &[]);
    assert_eq!(m.documents.len(), 1, "{:?}", m.other_parts);
    assert_eq!(m.documents[0].bytes, rtf);
}

#[test]
fn recipients_are_each_listed_once_in_header_order() {
    // A sender decides how many addresses a mail names; 60 000 Cc addresses (every one twice)
    // and 20 000 Delivered-To fields must come out once each, in order.
    let mut raw = String::from("From: sjoudden@vc.test\r\nTo: Vardval <VARDVAL@rjl.test>\r\nCc: ");
    let cc: Vec<String> = (0..60_000)
        .map(|i| format!("a{}@x.test", i % 30_000))
        .collect();
    raw.push_str(&cc.join(", "));
    raw.push_str("\r\n");
    for i in 0..20_000 {
        raw.push_str(&format!("Delivered-To: d{}@rjl.test\r\n", i % 10_000));
    }
    raw.push_str("Delivered-To: vardval@rjl.test\r\nSubject: s\r\n\r\nhej\r\n");
    let m = understand(raw.as_bytes(), &Registry::default(), &[]);
    let want: Vec<String> = std::iter::once("vardval@rjl.test".to_string())
        .chain((0..30_000).map(|i| format!("a{i}@x.test")))
        .chain((0..10_000).map(|i| format!("d{i}@rjl.test")))
        .collect();
    assert_eq!(m.recipients.len(), want.len());
    assert_eq!(m.recipients, want);
}
