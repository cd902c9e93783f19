//! Bounces: delivery status notifications (RFC 3464 `multipart/report`) and null-sender mail
//! from mailer daemons, and what failed (recipient, status, the bounced Message-ID).

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};

use super::parse::{ct_string, raw_header};
use super::{BounceInfo, MailClass};

pub(super) fn local_part(addr: &str) -> &str {
    addr.rsplit_once('@').map_or(addr, |(l, _)| l)
}

pub(super) fn bounce_reason(msg: &Message<'_>, from: Option<&str>) -> Option<(MailClass, String)> {
    let root = msg.root_part();
    let root_ct = ct_string(root);
    if root_ct.as_deref() == Some("multipart/report") {
        let report_type = root
            .content_type()
            .and_then(|ct| ct.attribute("report-type"))
            .unwrap_or("")
            .to_ascii_lowercase();
        if report_type == "disposition-notification" {
            return Some((
                MailClass::AutoReply,
                "A message disposition notification (read receipt, RFC 8098).".into(),
            ));
        }
        if report_type == "delivery-status" {
            return Some((MailClass::Bounce, dsn_reason(msg)));
        }
    }
    let null_return_path = raw_header(msg, "Return-Path").is_some_and(|rp| {
        let compact: String = rp.chars().filter(|c| !c.is_whitespace()).collect();
        compact == "<>"
    });
    let daemon = from.is_some_and(|f| {
        matches!(
            local_part(f),
            "mailer-daemon" | "postmaster" | "mail-daemon" | "mailerdaemon"
        )
    });
    if null_return_path && daemon {
        let detail = if has_dsn_part(msg) {
            dsn_reason(msg)
        } else {
            "A bounce: null Return-Path and a mailer-daemon/postmaster sender.".into()
        };
        return Some((MailClass::Bounce, detail));
    }
    None
}

pub(super) fn has_dsn_part(msg: &Message<'_>) -> bool {
    dsn_part(msg).is_some()
}

/// The per-recipient fields of a `message/delivery-status` body (RFC 3464).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    pub final_recipient: Option<String>,
    pub action: Option<String>,
    pub status: Option<String>,
    pub diagnostic: Option<String>,
}

/// Parses a delivery-status body: blocks of `Name: value` lines separated by blank lines;
/// the first block is per-message, the following blocks are per-recipient.
pub fn parse_delivery_status(text: &str) -> Vec<DsnRecipient> {
    let mut out = Vec::new();
    let mut cur = DsnRecipient::default();
    let mut last: Option<&'static str> = None;
    let flush = |cur: &mut DsnRecipient, out: &mut Vec<DsnRecipient>| {
        if cur.final_recipient.is_some() || cur.action.is_some() || cur.status.is_some() {
            out.push(std::mem::take(cur));
        } else {
            *cur = DsnRecipient::default();
        }
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut cur, &mut out);
            last = None;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if last == Some("diagnostic")
                && let Some(d) = cur.diagnostic.as_mut()
            {
                d.push(' ');
                d.push_str(line.trim());
            }
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim().to_string();
        last = None;
        match k.trim().to_ascii_lowercase().as_str() {
            "final-recipient" => {
                // "rfc822; user@example" → the address
                let addr = v.split_once(';').map_or(v.as_str(), |(_, a)| a).trim();
                cur.final_recipient = Some(addr.to_string());
            }
            "original-recipient" if cur.final_recipient.is_none() => {}
            "action" => cur.action = Some(v.to_ascii_lowercase()),
            "status" => cur.status = Some(v),
            "diagnostic-code" => {
                cur.diagnostic = Some(v);
                last = Some("diagnostic");
            }
            _ => {}
        }
    }
    flush(&mut cur, &mut out);
    out
}

fn dsn_part<'a>(msg: &'a Message<'_>) -> Option<&'a MessagePart<'a>> {
    msg.parts.iter().find(|p| {
        matches!(
            ct_string(p).as_deref(),
            Some("message/delivery-status" | "message/global-delivery-status")
        )
    })
}

/// The failed recipient (or the first one) and the bounced Message-ID of a bounce.
pub(super) fn bounce_info(msg: &Message<'_>) -> BounceInfo {
    let recipients = dsn_part(msg)
        .map(|p| parse_delivery_status(&String::from_utf8_lossy(p.contents())))
        .unwrap_or_default();
    let chosen = recipients
        .iter()
        .find(|r| r.action.as_deref() == Some("failed"))
        .or(recipients.first())
        .cloned()
        .unwrap_or_default();
    let original_message_id = msg.parts.iter().find_map(|p| match &p.body {
        PartType::Message(inner) => inner.message_id().map(str::to_string),
        _ if ct_string(p).as_deref() == Some("text/rfc822-headers") => MessageParser::default()
            .parse_headers(p.contents())
            .and_then(|h| h.message_id().map(str::to_string)),
        _ => None,
    });
    BounceInfo {
        original_message_id,
        recipient: chosen.final_recipient.map(|r| r.to_lowercase()),
        action: chosen.action,
        status: chosen.status,
        diagnostic: chosen.diagnostic,
    }
}

fn dsn_reason(msg: &Message<'_>) -> String {
    let Some(part) = dsn_part(msg) else {
        return "A delivery status notification (multipart/report) without a readable \
                delivery-status part."
            .into();
    };
    let text = String::from_utf8_lossy(part.contents());
    let recipients = parse_delivery_status(&text);
    if recipients.is_empty() {
        return "A delivery status notification with no per-recipient fields.".into();
    }
    let parts: Vec<String> = recipients
        .iter()
        .map(|r| {
            let mut s = format!(
                "{} for {} (status {})",
                r.action.as_deref().unwrap_or("unknown action"),
                r.final_recipient.as_deref().unwrap_or("unknown recipient"),
                r.status.as_deref().unwrap_or("?")
            );
            if let Some(d) = &r.diagnostic {
                let d: String = d.chars().take(200).collect();
                s.push_str(&format!(": {d}"));
            }
            s
        })
        .collect();
    format!("A delivery status notification: {}.", parts.join("; "))
}

// ---------------------------------------------------------------------------------------
// Auto-replies (RFC 3834) and mailing lists
