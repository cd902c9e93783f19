//! Raw message bytes to an [`Inbound`]: parse with mail-parser, classify, collect documents.
//!
//! The rules run in a fixed order (first match wins): unparseable (including MIME nested
//! deeper than the policy allows, refused before parsing), an ambiguous From (needs review),
//! bounce (DSN, null Return-Path from a mailer daemon; MDN read receipts count as
//! auto-replies), RFC 3834 auto-reply, mailing list (both skipped for list/bulk/Auto-Submitted
//! headers on a registered clinic's mail with a document, which becomes a submission without
//! a reply), our own address (a loop), unknown sender, failed DMARC/DKIM in trusted
//! Authentication-Results, and finally submission or no-document. Attachments are collected
//! for every parsed class (a reviewer may need them), see [`super::parts`].

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{TimeZone, Utc};
use mail_parser::{HeaderValue, Message, MessageParser, MessagePart, MimeHeaders};
use sha2::{Digest, Sha256};

pub use super::bounce::{DsnRecipient, parse_delivery_status};
use super::bounce::{bounce_info, bounce_reason};
pub use super::identity::AuthResults;
use super::parts::{collect_parts, split_appendices};
use super::registry::Registry;
use super::{Attachment, Inbound, MailClass, MailPolicy, identity, scan};

/// Maximum length of [`Inbound::text`], in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;

/// Parses and classifies one raw message with the default [`MailPolicy`].
pub fn understand(raw: &[u8], registry: &Registry, own_addresses: &[String]) -> Inbound {
    understand_with(raw, registry, own_addresses, &MailPolicy::default())
}

/// Parses and classifies one raw message. Never panics: a message nested deeper than
/// `policy.max_mime_depth` is refused before the parser sees it, and a panic inside the
/// parser is caught; both are reported as [`MailClass::Unparseable`].
pub fn understand_with(
    raw: &[u8],
    registry: &Registry,
    own_addresses: &[String],
    policy: &MailPolicy,
) -> Inbound {
    let sha256 = sha256_hex(raw);
    if let Err(e) = scan::check_depth(raw, policy.max_mime_depth) {
        let mut inbound = unparseable(
            sha256,
            &format!("{e}: nested too deep to open safely; quarantined whole."),
        );
        top_headers(raw, &mut inbound);
        return inbound;
    }
    match catch_unwind(AssertUnwindSafe(|| {
        understand_inner(raw, registry, own_addresses, policy, &sha256)
    })) {
        Ok(inbound) => inbound,
        Err(_) => unparseable(
            sha256,
            "The mail parser failed on this message (internal panic caught); quarantined whole.",
        ),
    }
}

/// For a message that is not opened: Message-ID, From and Subject from its own header block
/// only (bounded, the body is never looked at), so the ledger and the triage item can still
/// say what it was. The sender text is cleaned and bounded like everywhere else.
fn top_headers(raw: &[u8], inbound: &mut Inbound) {
    const MAX: usize = 64 * 1024;
    let limit = raw.len().min(MAX);
    let end = raw[..limit]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| {
            raw[..limit]
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|p| p + 2)
        })
        .unwrap_or(limit);
    let Some(msg) = MessageParser::default().parse_headers(&raw[..end]) else {
        return;
    };
    inbound.message_id = msg.message_id().map(|s| s.trim().to_string());
    inbound.subject = msg
        .subject()
        .map(|s| super::clean::clean_text(s, 200))
        .unwrap_or_default();
    let from = msg.from().and_then(|a| a.first());
    inbound.from = from
        .and_then(|a| a.address())
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty());
    inbound.from_name = from
        .and_then(|a| a.name())
        .map(|n| super::clean::clean_text(n, 200))
        .filter(|n| !n.is_empty());
}

pub(super) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn unparseable(sha256: String, reason: &str) -> Inbound {
    Inbound {
        class: MailClass::Unparseable,
        message_id: None,
        in_reply_to: Vec::new(),
        references: Vec::new(),
        subject: String::new(),
        from: None,
        from_name: None,
        recipients: Vec::new(),
        date_header: None,
        clinic_id: None,
        documents: Vec::new(),
        appendices: Vec::new(),
        other_parts: Vec::new(),
        text: String::new(),
        reason: reason.to_string(),
        sha256,
        bounce: None,
        suppress_reply: None,
    }
}

fn understand_inner(
    raw: &[u8],
    registry: &Registry,
    own_addresses: &[String],
    policy: &MailPolicy,
    sha256: &str,
) -> Inbound {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return unparseable(
            sha256.to_string(),
            "The message could not be parsed as RFC 5322 (no header block).",
        );
    };
    // The sender as the first raw From field says (the one DMARC evaluated); mail-parser
    // would use the last one.
    let from_check = identity::check_from(raw);
    let from_addr = msg.from().and_then(|a| a.first());
    let from = from_check.address.clone().or_else(|| {
        from_addr
            .and_then(|a| a.address())
            .map(|a| a.trim().to_lowercase())
            .filter(|a| !a.is_empty())
    });
    let from_name = from_check.name.clone().or_else(|| {
        from_addr
            .and_then(|a| a.name())
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
    });
    let subject = msg.subject().map(|s| s.trim().to_string());
    let message_id = msg.message_id().map(|s| s.trim().to_string());
    if from.is_none() && message_id.is_none() && subject.is_none() {
        return unparseable(
            sha256.to_string(),
            "The message has no From, Message-ID or Subject header: not a mail message.",
        );
    }

    let mut inbound = Inbound {
        class: MailClass::UnknownSender,
        message_id,
        in_reply_to: id_list(msg.in_reply_to()),
        references: id_list(msg.references()),
        subject: subject.unwrap_or_default(),
        from: from.clone(),
        from_name,
        recipients: recipients(&msg),
        date_header: msg
            .date()
            .filter(|d| d.is_valid())
            .and_then(|d| Utc.timestamp_opt(d.to_timestamp(), 0).single()),
        clinic_id: None,
        documents: Vec::new(),
        appendices: Vec::new(),
        other_parts: Vec::new(),
        text: body_text(&msg),
        reason: String::new(),
        sha256: sha256.to_string(),
        bounce: None,
        suppress_reply: None,
    };
    let mut notes = Vec::new();
    collect_parts(&msg, 0, &mut inbound, &mut notes);
    split_appendices(&mut inbound);
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" Note: {}.", notes.join("; "))
    };

    let (class, reason, suppress) = classify(
        &msg,
        &inbound,
        registry,
        own_addresses,
        policy,
        from_check.problem.as_deref(),
    );
    inbound.class = class;
    inbound.reason = format!("{reason}{notes}");
    if class == MailClass::Submission {
        inbound.suppress_reply = suppress;
    }
    if class == MailClass::Bounce {
        inbound.bounce = Some(bounce_info(&msg));
    }
    // The clinic is recorded whenever the From address matches, whatever the class (an
    // auto-reply or list post from a clinic address is still that clinic's); the class
    // decides what is done with the message.
    inbound.clinic_id = from
        .as_deref()
        .and_then(|a| registry.lookup(a))
        .map(|c| c.id.clone());
    inbound
}

/// The class, the reason, and (for a submission) why no automatic reply may be sent.
fn classify(
    msg: &Message<'_>,
    inbound: &Inbound,
    registry: &Registry,
    own_addresses: &[String],
    policy: &MailPolicy,
    from_problem: Option<&str>,
) -> (MailClass, String, Option<String>) {
    if let Some(problem) = from_problem {
        return (
            MailClass::NeedsReview,
            format!("Ambiguous sender: {problem}; a reviewer must decide who sent it."),
            None,
        );
    }
    if let Some((c, r)) = bounce_reason(msg, inbound.from.as_deref()) {
        return (c, r, None);
    }
    // List, bulk and Auto-Submitted headers on a registered clinic's mail WITH a document:
    // some gateways add them to ordinary mail. The plan is recorded, but not answered.
    let marker = bulk_marker(msg);
    let clinic_document = marker.is_some()
        && !inbound.documents.is_empty()
        && inbound
            .from
            .as_deref()
            .is_some_and(|f| registry.lookup(f).is_some());
    if let Some(r) = auto_reply_reason(msg, &inbound.subject, clinic_document) {
        return (MailClass::AutoReply, r, None);
    }
    if !clinic_document && let Some(r) = mailing_list_reason(msg) {
        return (MailClass::MailingList, r, None);
    }
    let suppress = if clinic_document { marker } else { None };
    let Some(from) = inbound.from.as_deref() else {
        return (
            MailClass::UnknownSender,
            "The message has no usable From address.".into(),
            None,
        );
    };
    if own_addresses
        .iter()
        .any(|a| a.trim().eq_ignore_ascii_case(from))
    {
        return (
            MailClass::AutoReply,
            format!("The sender {from} is our own address (a mail loop); not answered."),
            None,
        );
    }
    let Some(clinic) = registry.lookup(from) else {
        return (
            MailClass::UnknownSender,
            format!("The sender {from} is not a registered clinic address."),
            None,
        );
    };
    let ar = raw_header_values(msg, "Authentication-Results");
    if let Some(why) = identity::trusted_failure(&ar, &policy.trusted_authserv_ids) {
        return (
            MailClass::NeedsReview,
            format!(
                "Known clinic {} ({from}), but {why}: a reviewer must confirm the sender.",
                clinic.id
            ),
            None,
        );
    }
    let n = inbound.documents.len();
    if n > 0 {
        let quote =
            |d: &Attachment| super::clean::clean_text(&d.name, super::clean::MAX_QUOTED_CHARS);
        let names: Vec<String> = inbound.documents.iter().map(quote).collect();
        let appendices = if inbound.appendices.is_empty() {
            String::new()
        } else {
            let a: Vec<String> = inbound.appendices.iter().map(quote).collect();
            format!(" and appendix {}", a.join(", "))
        };
        (
            MailClass::Submission,
            format!(
                "Clinic {} sent {n} candidate document{}: {}{appendices}.",
                clinic.id,
                if n == 1 { "" } else { "s" },
                names.join(", ")
            ),
            suppress,
        )
    } else {
        (
            MailClass::NoDocument,
            format!(
                "Clinic {} wrote, but the message has no candidate document ({} other part{}).",
                clinic.id,
                inbound.other_parts.len(),
                if inbound.other_parts.len() == 1 {
                    ""
                } else {
                    "s"
                }
            ),
            None,
        )
    }
}

// ---------------------------------------------------------------------------------------
// Headers

/// All values of a root header, raw (unfolded, trimmed), decoded leniently.
fn raw_header_values(msg: &Message<'_>, name: &str) -> Vec<String> {
    msg.root_part()
        .headers
        .iter()
        .filter(|h| h.name.as_str().eq_ignore_ascii_case(name))
        .filter_map(|h| {
            msg.raw_message
                .get(h.offset_start as usize..h.offset_end as usize)
        })
        .map(|b| unfold(&String::from_utf8_lossy(b)))
        .collect()
}

/// The addresses a message was sent to: To and Cc as parsed, and the delivery headers the
/// receiving server adds (Delivered-To, X-Original-To), lower case, without duplicates.
/// Deduplicated through a set: the sender decides how many there are (100 000 `Cc` addresses
/// took 40 s of CPU with a linear search per address).
fn recipients(msg: &Message<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut push = |a: &str| {
        let a = a.trim().trim_matches(['<', '>']).trim().to_lowercase();
        if a.contains('@') && seen.insert(a.clone()) {
            out.push(a);
        }
    };
    for list in [msg.to(), msg.cc()].into_iter().flatten() {
        for addr in list.iter() {
            if let Some(a) = addr.address() {
                push(a);
            }
        }
    }
    for name in ["Delivered-To", "X-Original-To"] {
        for v in raw_header_values(msg, name) {
            let v = v.split_once(':').map_or(v.as_str(), |(_, r)| r);
            push(v);
        }
    }
    out
}

pub(super) fn raw_header(msg: &Message<'_>, name: &str) -> Option<String> {
    raw_header_values(msg, name).into_iter().next()
}

pub(super) fn unfold(s: &str) -> String {
    s.split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn id_list(v: &HeaderValue<'_>) -> Vec<String> {
    let clean = |s: &str| s.trim().trim_matches(['<', '>']).trim().to_string();
    match v {
        HeaderValue::Text(t) => vec![clean(t)],
        HeaderValue::TextList(l) => l.iter().map(|t| clean(t)).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect()
}

pub(super) fn ct_string<'x>(part: &MessagePart<'x>) -> Option<String> {
    part.content_type().map(|ct| match ct.subtype() {
        Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
        None => ct.ctype().to_ascii_lowercase(),
    })
}

// ---------------------------------------------------------------------------------------
// Bounces

const AUTO_SUBJECT_PREFIXES: &[&str] = &[
    "automatiskt svar",
    "frånvaromeddelande",
    "autosvar",
    "out of office",
    "automatic reply",
    "auto-reply",
    "autoreply",
];

fn first_token(v: &str) -> String {
    v.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Why the message is an auto-reply. `skip_auto_submitted`: a registered clinic's mail
/// with a document, where `Auto-Submitted` alone does not make it one.
fn auto_reply_reason(
    msg: &Message<'_>,
    subject: &str,
    skip_auto_submitted: bool,
) -> Option<String> {
    if !skip_auto_submitted && let Some(v) = raw_header(msg, "Auto-Submitted") {
        let t = first_token(&v);
        if !t.is_empty() && t != "no" {
            return Some(format!("RFC 3834 auto-reply (Auto-Submitted: {t})."));
        }
    }
    for h in ["X-Autoreply", "X-Autorespond", "X-Autoresponder"] {
        if let Some(v) = raw_header(msg, h) {
            let t = first_token(&v);
            if t != "no" && t != "false" && t != "0" {
                return Some(format!("Auto-reply header {h} is present."));
            }
        }
    }
    if let Some(v) = raw_header(msg, "Precedence")
        && first_token(&v) == "auto_reply"
    {
        return Some("Auto-reply (Precedence: auto_reply).".into());
    }
    let lower = subject.trim().to_lowercase();
    if let Some(p) = AUTO_SUBJECT_PREFIXES
        .iter()
        .find(|p| lower.starts_with(**p))
    {
        return Some(format!("Auto-reply: the subject starts with \"{p}\"."));
    }
    // Outlook sets X-Auto-Response-Suppress on ordinary mail too; it only counts on a
    // message that something else marks as generated by the server.
    if let Some(v) = raw_header(msg, "X-Auto-Response-Suppress") {
        let suppress_all = v
            .split(',')
            .any(|t| matches!(t.trim().to_ascii_lowercase().as_str(), "all" | "oof"));
        let generated = [
            "X-MS-Exchange-Generated-Message-Source",
            "X-MS-Exchange-Inbox-Rules-Loop",
            "X-MS-Exchange-Organization-AutoReply",
        ]
        .iter()
        .any(|h| raw_header(msg, h).is_some())
            || raw_header(msg, "Return-Path")
                .is_some_and(|rp| rp.chars().filter(|c| !c.is_whitespace()).eq("<>".chars()));
        if suppress_all && generated {
            return Some(format!(
                "Auto-reply: X-Auto-Response-Suppress: {v} on a server-generated message."
            ));
        }
    }
    None
}

/// List, bulk or Auto-Submitted headers that some gateways add to ordinary mail: the reason
/// not to answer a clinic's document automatically.
fn bulk_marker(msg: &Message<'_>) -> Option<String> {
    if let Some(v) = raw_header(msg, "Auto-Submitted") {
        let t = first_token(&v);
        if !t.is_empty() && t != "no" {
            return Some(format!(
                "the mail carries Auto-Submitted: {t}; recorded, but not answered automatically"
            ));
        }
    }
    mailing_list_reason(msg).map(|r| {
        format!(
            "{} Recorded, but not answered automatically.",
            r.trim_end_matches('.')
        )
    })
}

fn mailing_list_reason(msg: &Message<'_>) -> Option<String> {
    for h in ["List-Id", "List-Unsubscribe", "List-Post", "X-Mailing-List"] {
        if let Some(v) = raw_header(msg, h) {
            let v = super::clean::clean_text(&v, 120);
            return Some(format!("Mailing-list message ({h}: {v})."));
        }
    }
    if let Some(v) = raw_header(msg, "Precedence") {
        let t = first_token(&v);
        if matches!(t.as_str(), "list" | "bulk" | "junk") {
            return Some(format!("Bulk or list message (Precedence: {t})."));
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Body text

fn body_text(msg: &Message<'_>) -> String {
    let text = msg
        .body_text(0)
        .map(|t| t.into_owned())
        .or_else(|| msg.body_html(0).map(|h| strip_tags(&h)))
        .unwrap_or_default();
    let text = text.trim();
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((i, _)) => text[..i].to_string(),
        None => text.to_string(),
    }
}

fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests;
