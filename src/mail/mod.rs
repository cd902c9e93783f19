//! Inbound mail understanding: parse raw RFC 5322 bytes (mail-parser), find the documents
//! (also inside forwarded message/rfc822 parts and TNEF winmail.dat), recognise the sender
//! clinic from the registry, and classify the message for the intake (RFC 3834 auto-replies,
//! DSN bounces, mailing lists, unknown senders, failed DMARC/DKIM). Pure: bytes in, values out.
//! Hostile input is bounded before the parser sees it ([`scan`]), the sender identity is read
//! from the raw header lines ([`identity`]), and sender text is cleaned for replies ([`clean`]).

pub mod bounce;
pub mod clean;
pub mod identity;
pub mod parse;
pub mod parts;
pub mod registry;
pub mod scan;
pub mod tnef;

/// What the intake tolerates and trusts in inbound mail (the `[mailbox]` settings
/// `trusted_authserv_ids` and `max_mime_depth`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailPolicy {
    /// authserv-ids whose `Authentication-Results` headers are read; empty = read only the
    /// top-most header (the one the receiving server added last).
    pub trusted_authserv_ids: Vec<String>,
    /// Deepest MIME nesting (multiparts and forwarded messages open at once) accepted.
    pub max_mime_depth: usize,
}

impl Default for MailPolicy {
    fn default() -> Self {
        MailPolicy {
            trusted_authserv_ids: Vec::new(),
            max_mime_depth: scan::DEFAULT_MAX_DEPTH,
        }
    }
}

use chrono::{DateTime, Utc};

/// What kind of message this is, before the ledger refines it (duplicate, supplement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailClass {
    /// A known clinic sent one or more documents.
    Submission,
    /// A known clinic wrote, but attached no usable document (no attachment, only images...).
    NoDocument,
    /// RFC 3834 auto-reply (Auto-Submitted, X-Autoreply, out-of-office).
    AutoReply,
    /// A delivery status notification (multipart/report; report-type=delivery-status, or
    /// null Return-Path from a mailer daemon).
    Bounce,
    /// Mailing list or bulk mail (List-Id, List-Unsubscribe, Precedence: list/bulk/junk).
    MailingList,
    /// The sender is not a known clinic address: triage, no reply.
    UnknownSender,
    /// Known clinic address, but Authentication-Results says DMARC or DKIM failed: a reviewer
    /// must look before we trust the From header; no automatic reply.
    NeedsReview,
    /// Not parseable as a message at all: quarantined whole.
    Unparseable,
}

/// A file attached to the message (or found in a forwarded message or TNEF container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
    /// Lower-case hex SHA-256 of `bytes`.
    pub sha256: String,
    /// True for inline images and other parts that are not candidate documents.
    pub inline: bool,
}

/// One inbound message, parsed and classified.
#[derive(Debug, Clone)]
pub struct Inbound {
    pub class: MailClass,
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub subject: String,
    /// The From address, lower case.
    pub from: Option<String>,
    pub from_name: Option<String>,
    /// The addresses the mail was sent to (To, Cc, Delivered-To, X-Original-To), lower case:
    /// which of our addresses it reached (e.g. a pre-check plus address).
    pub recipients: Vec<String>,
    /// The Date header as sent (informational only: the time of record is the server's).
    pub date_header: Option<DateTime<Utc>>,
    /// Registry id of the sending clinic, when recognised.
    pub clinic_id: Option<String>,
    /// Candidate documents (DOCX/PDF/ODT/DOC/RTF or unknown binary files), in message order.
    pub documents: Vec<Attachment>,
    /// Candidate documents that are appendices to the plan (a file named "Bilaga ..." next
    /// to another document): kept, but not the document to analyse.
    pub appendices: Vec<Attachment>,
    /// Other parts (inline images, signatures), kept for the record.
    pub other_parts: Vec<Attachment>,
    /// Plain-text body (first text part), trimmed to a sane length.
    pub text: String,
    /// Why the class was chosen, in English, for logs and the triage queue.
    pub reason: String,
    /// Lower-case hex SHA-256 of the raw message bytes (deduplication, audit).
    pub sha256: String,
    /// For [`MailClass::Bounce`]: what failed, so the ledger can mark the receipt undelivered.
    pub bounce: Option<BounceInfo>,
    /// Set on a registered clinic's mail with a document that also carries list, bulk or
    /// Auto-Submitted headers: record the submission, send no automatic reply, and tell the
    /// reviewers why (the reason, in English).
    pub suppress_reply: Option<String>,
}

/// The essentials of a delivery status notification (RFC 3464).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BounceInfo {
    /// Message-ID (no angle brackets) of the message that bounced, from the returned
    /// message or headers part.
    pub original_message_id: Option<String>,
    /// The Final-Recipient address, lower case.
    pub recipient: Option<String>,
    /// The Action field (failed, delayed, delivered, relayed, expanded), lower case.
    pub action: Option<String>,
    /// The Status code, e.g. "5.1.1".
    pub status: Option<String>,
    pub diagnostic: Option<String>,
}
