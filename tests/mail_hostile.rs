//! Issue 10: hostile mails must neither crash nor fool the intake. Whole raw mails through
//! `understand`: deep MIME nesting (stack), several From fields or mailboxes, forged
//! Authentication-Results, list/bulk headers on a clinic's plan, and sender-controlled text
//! that must be cleaned before it reaches a reply.

use base64::Engine;
use vardval::mail::parse::{understand, understand_with};
use vardval::mail::registry::Registry;
use vardval::mail::{MailClass, MailPolicy};

const REGISTRY: &str = "id,name,emails,listed_inhabitants\n\
    vc-ekbacken,Vårdcentralen Ekbacken,@ekbacken.vc.test,12000\n";

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

/// Runs `f` in a thread with an ordinary 2 MiB stack (as a tokio blocking thread has).
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .expect("no panic")
}

/// `depth` message/rfc822 parts, each inside the previous one, around a PDF.
fn nested_rfc822(depth: usize) -> Vec<u8> {
    let mut raw = String::from(
        "From: Anna Berg <anna@ekbacken.vc.test>\r\nTo: vardval@rjl.test\r\n\
         Subject: Projektplan\r\nMessage-ID: <deep@ekbacken.vc.test>\r\nMIME-Version: 1.0\r\n",
    );
    for i in 0..depth {
        raw.push_str("Content-Type: message/rfc822\r\n\r\n");
        raw.push_str(&format!("From: x{i}@ekbacken.vc.test\r\nSubject: s{i}\r\n"));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\nHej\r\n");
    raw.into_bytes()
}

/// `depth` multipart/mixed parts, each inside the previous one.
fn nested_multipart(depth: usize) -> Vec<u8> {
    let mut raw = String::from(
        "From: Anna Berg <anna@ekbacken.vc.test>\r\nTo: vardval@rjl.test\r\n\
         Subject: Projektplan\r\nMessage-ID: <deepmp@ekbacken.vc.test>\r\nMIME-Version: 1.0\r\n",
    );
    for i in 0..depth {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\nHej\r\n");
    for i in (0..depth).rev() {
        raw.push_str(&format!("--b{i}--\r\n"));
    }
    raw.into_bytes()
}

#[test]
fn rfc822_nested_50000_deep_is_unparseable_not_a_crash() {
    let m = on_small_stack(|| understand(&nested_rfc822(50_000), &registry(), &own()));
    assert_eq!(m.class, MailClass::Unparseable, "{}", m.reason);
    assert!(m.reason.contains("nested too deep"), "{}", m.reason);
    assert!(m.documents.is_empty());
}

#[test]
fn multipart_nested_50000_deep_is_unparseable_not_a_crash() {
    let m = on_small_stack(|| understand(&nested_multipart(50_000), &registry(), &own()));
    assert_eq!(m.class, MailClass::Unparseable, "{}", m.reason);
    assert!(m.reason.contains("nested too deep"), "{}", m.reason);
}

#[test]
fn base64_wrapped_deep_nesting_is_found_too() {
    // The deep structure hidden inside a base64-encoded message/rfc822 part.
    let inner = nested_rfc822(50_000);
    let raw = format!(
        "From: Anna Berg <anna@ekbacken.vc.test>\r\nTo: vardval@rjl.test\r\n\
         Subject: Projektplan\r\nMessage-ID: <deep64@ekbacken.vc.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"OUT\"\r\n\r\n--OUT\r\n\
         Content-Type: text/plain\r\n\r\nHej\r\n--OUT\r\nContent-Type: message/rfc822\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--OUT--\r\n",
        b64(&inner)
    );
    let m = on_small_stack(move || understand(raw.as_bytes(), &registry(), &own()));
    assert_eq!(m.class, MailClass::Unparseable, "{}", m.reason);
    assert!(m.reason.contains("nested too deep"), "{}", m.reason);
    // The message is not opened, but its own header block still says what it was.
    assert_eq!(m.message_id.as_deref(), Some("deep64@ekbacken.vc.test"));
    assert_eq!(m.from.as_deref(), Some("anna@ekbacken.vc.test"));
    assert_eq!(m.subject, "Projektplan");
}

#[test]
fn ordinary_forwarded_nesting_is_still_read() {
    // Four forwards deep, each a multipart/mixed with the next forward: well inside the limit.
    let pdf = b64(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n");
    let mut body = format!(
        "From: a@ekbacken.vc.test\r\nSubject: inner\r\nContent-Type: application/pdf; \
         name=plan.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{pdf}\r\n"
    );
    for i in 0..4 {
        body = format!(
            "From: a@ekbacken.vc.test\r\nSubject: fwd {i}\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"F{i}\"\r\n\r\n--F{i}\r\n\
             Content-Type: text/plain\r\n\r\nSe nedan.\r\n--F{i}\r\n\
             Content-Type: message/rfc822\r\n\r\n{body}\r\n--F{i}--\r\n"
        );
    }
    let raw = format!(
        "To: vardval@rjl.test\r\nMessage-ID: <fwd@ekbacken.vc.test>\r\n{}",
        body.replacen("From: a@", "From: Anna Berg <anna@", 1)
    );
    let m = understand(raw.as_bytes(), &registry(), &own());
    assert_eq!(m.class, MailClass::Submission, "{}", m.reason);
    assert_eq!(m.documents.len(), 1);
    assert_eq!(m.documents[0].name, "plan.pdf");
}

fn pdf() -> String {
    b64(b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n%%EOF\n")
}

/// A clinic-looking mail with a PDF; `headers` are the root headers (From included).
fn plan_mail(headers: &str) -> Vec<u8> {
    format!(
        "{headers}To: vardval@rjl.test\r\nSubject: Projektplan\r\n\
         Message-ID: <plan@ekbacken.vc.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nHär är planen.\r\n--B\r\n\
         Content-Type: application/pdf; name=plan.pdf\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=plan.pdf\r\n\r\n{}\r\n--B--\r\n",
        pdf()
    )
    .into_bytes()
}

#[test]
fn two_from_fields_need_a_reviewer() {
    // DMARC evaluated the first From (an outsider); the parser would use the last (a clinic).
    let m = understand(
        &plan_mail("From: Mallory <mallory@evil.test>\r\nFrom: Anna <anna@ekbacken.vc.test>\r\n"),
        &registry(),
        &own(),
    );
    assert_eq!(m.class, MailClass::NeedsReview, "{}", m.reason);
    assert!(m.reason.contains("2 From fields"), "{}", m.reason);
    assert_eq!(
        m.from.as_deref(),
        Some("mallory@evil.test"),
        "the first From is recorded"
    );
    assert_eq!(m.suppress_reply, None);
    // The same with both fields naming the clinic: still not exactly one field.
    let m = understand(
        &plan_mail("From: anna@ekbacken.vc.test\r\nFROM : anna@ekbacken.vc.test\r\n"),
        &registry(),
        &own(),
    );
    assert_eq!(m.class, MailClass::NeedsReview, "{}", m.reason);
}

#[test]
fn several_mailboxes_in_from_need_a_reviewer_even_with_sender() {
    for headers in [
        "From: Anna <anna@ekbacken.vc.test>, Mallory <mallory@evil.test>\r\n",
        "From: anna@ekbacken.vc.test,\r\n mallory@evil.test\r\nSender: anna@ekbacken.vc.test\r\n",
        "From: Grupp: anna@ekbacken.vc.test, mallory@evil.test;\r\n",
    ] {
        let m = understand(&plan_mail(headers), &registry(), &own());
        assert_eq!(m.class, MailClass::NeedsReview, "{headers}: {}", m.reason);
        assert!(m.reason.contains("Ambiguous sender"), "{}", m.reason);
    }
    let ok = understand(
        &plan_mail("From: Anna <anna@ekbacken.vc.test>\r\n"),
        &registry(),
        &own(),
    );
    assert_eq!(ok.class, MailClass::Submission, "{}", ok.reason);
}

#[test]
fn a_senders_own_authentication_results_cannot_hide_the_servers_fail() {
    // The server found only a broken signature (no DMARC verdict); the sender added passes
    // below, one even with the server's own authserv-id.
    let headers = "Authentication-Results: mx.rjl.test; dkim=fail (bad signature) \
                   header.d=ekbacken.vc.test; spf=none\r\n\
                   Received: from relay.evil.test by mx.rjl.test\r\n\
                   Authentication-Results: mx.rjl.test; dkim=pass header.d=ekbacken.vc.test; \
                   dmarc=pass\r\nAuthentication-Results: evil.test; dkim=pass; dmarc=pass\r\n\
                   From: Anna <anna@ekbacken.vc.test>\r\n";
    let m = understand(&plan_mail(headers), &registry(), &own());
    assert_eq!(m.class, MailClass::NeedsReview, "{}", m.reason);
    assert!(m.reason.contains("dkim=fail"), "{}", m.reason);
    let policy = MailPolicy {
        trusted_authserv_ids: vec!["mx.rjl.test".into()],
        ..MailPolicy::default()
    };
    let m = understand_with(&plan_mail(headers), &registry(), &own(), &policy);
    assert_eq!(m.class, MailClass::NeedsReview, "{}", m.reason);
}

#[test]
fn untrusted_authentication_results_are_ignored() {
    // A forged fail (or anything) from an authserv-id we do not trust decides nothing.
    let headers = "Authentication-Results: mx.rjl.test; dkim=pass header.d=ekbacken.vc.test; \
                   dmarc=pass\r\nAuthentication-Results: evil.test; dmarc=fail\r\n\
                   From: Anna <anna@ekbacken.vc.test>\r\n";
    let policy = MailPolicy {
        trusted_authserv_ids: vec!["mx.rjl.test".into()],
        ..MailPolicy::default()
    };
    let m = understand_with(&plan_mail(headers), &registry(), &own(), &policy);
    assert_eq!(m.class, MailClass::Submission, "{}", m.reason);
    // With a trusted list, a top-most header from another id is skipped, the trusted one read.
    let headers = "Authentication-Results: filter.rjl.test; dkim=pass; dmarc=pass\r\n\
                   Authentication-Results: mx.rjl.test; dmarc=fail header.from=ekbacken.vc.test\r\n\
                   From: Anna <anna@ekbacken.vc.test>\r\n";
    let m = understand_with(&plan_mail(headers), &registry(), &own(), &policy);
    assert_eq!(m.class, MailClass::NeedsReview, "{}", m.reason);
    assert!(m.reason.contains("mx.rjl.test"), "{}", m.reason);
}

#[test]
fn list_and_bulk_headers_on_a_clinic_plan_record_it_without_a_reply() {
    for extra in [
        "List-Unsubscribe: <mailto:unsub@gw.ekbacken.vc.test>\r\n",
        "Precedence: bulk\r\n",
        "Auto-Submitted: auto-generated\r\n",
        "List-Id: <plans.ekbacken.vc.test>\r\nPrecedence: list\r\n",
    ] {
        let m = understand(
            &plan_mail(&format!("From: Anna <anna@ekbacken.vc.test>\r\n{extra}")),
            &registry(),
            &own(),
        );
        assert_eq!(m.class, MailClass::Submission, "{extra}: {}", m.reason);
        let why = m.suppress_reply.as_deref().unwrap_or_default();
        assert!(why.contains("not answered automatically"), "{extra}: {why}");
        assert_eq!(m.documents.len(), 1);
    }
}

#[test]
fn list_headers_keep_todays_class_without_document_or_from_strangers() {
    let no_doc = "From: Anna <anna@ekbacken.vc.test>\r\nTo: vardval@rjl.test\r\n\
                  Subject: Nyhetsbrev\r\nMessage-ID: <n@ekbacken.vc.test>\r\n\
                  List-Unsubscribe: <mailto:u@x.test>\r\nContent-Type: text/plain\r\n\r\nHej\r\n";
    let m = understand(no_doc.as_bytes(), &registry(), &own());
    assert_eq!(m.class, MailClass::MailingList, "{}", m.reason);
    assert_eq!(m.suppress_reply, None);
    let stranger = understand(
        &plan_mail("From: news@elsewhere.test\r\nPrecedence: bulk\r\n"),
        &registry(),
        &own(),
    );
    assert_eq!(
        stranger.class,
        MailClass::MailingList,
        "{}",
        stranger.reason
    );
    let auto = understand(
        &plan_mail("From: news@elsewhere.test\r\nAuto-Submitted: auto-replied\r\n"),
        &registry(),
        &own(),
    );
    assert_eq!(auto.class, MailClass::AutoReply, "{}", auto.reason);
}

#[test]
fn the_reason_quotes_file_names_cleaned() {
    let raw = String::from_utf8(plan_mail("From: Anna <anna@ekbacken.vc.test>\r\n"))
        .unwrap()
        .replace(
            "filename=plan.pdf",
            "filename*=utf-8''plan%E2%80%AE%0D%0AX-Injected%3A%20yes.pdf",
        );
    let m = understand(raw.as_bytes(), &registry(), &own());
    assert_eq!(m.class, MailClass::Submission, "{}", m.reason);
    assert!(
        m.documents[0].name.contains('\u{202E}'),
        "the record keeps the name as sent"
    );
    assert!(
        m.reason.contains("plan X-Injected: yes.pdf"),
        "{}",
        m.reason
    );
    assert!(!m.reason.contains('\u{202E}') && !m.reason.contains('\n'));
}
