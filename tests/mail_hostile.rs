//! Issue 10: hostile mails must neither crash nor fool the intake. Whole raw mails through
//! `understand`: deep MIME nesting (stack), several From fields or mailboxes, forged
//! Authentication-Results, list/bulk headers on a clinic's plan, and sender-controlled text
//! that must be cleaned before it reaches a reply.

use base64::Engine;
use vardval::mail::registry::Registry;
use vardval::mail::{MailClass, parse::understand};

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
