//! Row types and their hand-written mapping from `AnyRow` (no sqlx derive).

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Grade, MessageClass, StoreError, SubmissionKind, parse_ts};

fn get<T>(row: &AnyRow, column: &'static str) -> Result<T, StoreError>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get::<T, _>(column).map_err(|e| StoreError::Decode {
        column,
        detail: e.to_string(),
    })
}

fn get_ts(row: &AnyRow, column: &'static str) -> Result<DateTime<Utc>, StoreError> {
    let s: String = get(row, column)?;
    parse_ts(column, &s)
}

fn get_opt_ts(row: &AnyRow, column: &'static str) -> Result<Option<DateTime<Utc>>, StoreError> {
    let s: Option<String> = get(row, column)?;
    s.map(|s| parse_ts(column, &s)).transpose()
}

/// One recorded inbound message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    pub id: i64,
    pub source_key: String,
    pub sha256: String,
    pub archive_path: String,
    pub received_at: DateTime<Utc>,
    /// RFC 5322 Message-ID, without angle brackets.
    pub mail_message_id: Option<String>,
    pub from_addr: Option<String>,
    pub subject: String,
    pub class: MessageClass,
    pub clinic_id: Option<String>,
    pub reason: String,
    pub processed_at: DateTime<Utc>,
}

pub(crate) const MESSAGE_COLS: &str = "id, source_key, sha256, archive_path, received_at, \
     mail_message_id, from_addr, subject, class, clinic_id, reason, processed_at";

impl MessageRow {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let class: String = get(row, "class")?;
        Ok(MessageRow {
            id: get(row, "id")?,
            source_key: get(row, "source_key")?,
            sha256: get(row, "sha256")?,
            archive_path: get(row, "archive_path")?,
            received_at: get_ts(row, "received_at")?,
            mail_message_id: get(row, "mail_message_id")?,
            from_addr: get(row, "from_addr")?,
            subject: get(row, "subject")?,
            class: class.parse().map_err(|detail| StoreError::Decode {
                column: "class",
                detail,
            })?,
            clinic_id: get(row, "clinic_id")?,
            reason: get(row, "reason")?,
            processed_at: get_ts(row, "processed_at")?,
        })
    }
}

/// One submitted (or supplemented) document version.
#[derive(Debug, Clone, PartialEq)]
pub struct SubmissionRow {
    pub id: i64,
    pub message_row_id: i64,
    pub clinic_id: String,
    pub milestone: i64,
    pub version: i64,
    pub kind: SubmissionKind,
    pub received_at: DateTime<Utc>,
    pub on_time: bool,
    /// `None` when the document could not be read.
    pub pre_grade: Option<Grade>,
    pub doc_sha256: String,
    pub doc_name: String,
    pub doc_format: Option<String>,
    pub analysis_json: String,
    pub error_kind: Option<String>,
    /// The inbound message's RFC Message-ID.
    pub mail_message_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the receipt for this submission was sent (only filled by [`super::Store::submissions`]).
    pub receipt_sent_at: Option<DateTime<Utc>>,
}

pub(crate) const SUBMISSION_COLS: &str = "s.id, s.message_row_id, s.clinic_id, s.milestone, \
     s.version, s.kind, s.received_at, s.on_time, s.pre_grade, s.doc_sha256, s.doc_name, \
     s.doc_format, s.analysis_json, s.error_kind, s.mail_message_id, s.created_at";

impl SubmissionRow {
    pub(crate) fn from_row(row: &AnyRow, with_receipt: bool) -> Result<Self, StoreError> {
        let kind: String = get(row, "kind")?;
        let grade: Option<String> = get(row, "pre_grade")?;
        let on_time: i64 = get(row, "on_time")?;
        Ok(SubmissionRow {
            id: get(row, "id")?,
            message_row_id: get(row, "message_row_id")?,
            clinic_id: get(row, "clinic_id")?,
            milestone: get(row, "milestone")?,
            version: get(row, "version")?,
            kind: SubmissionKind::parse(&kind).ok_or_else(|| StoreError::Decode {
                column: "kind",
                detail: format!("unknown submission kind {kind:?}"),
            })?,
            received_at: get_ts(row, "received_at")?,
            on_time: on_time != 0,
            pre_grade: grade
                .map(|g| {
                    Grade::parse(&g).ok_or_else(|| StoreError::Decode {
                        column: "pre_grade",
                        detail: format!("unknown grade {g:?}"),
                    })
                })
                .transpose()?,
            doc_sha256: get(row, "doc_sha256")?,
            doc_name: get(row, "doc_name")?,
            doc_format: get(row, "doc_format")?,
            analysis_json: get(row, "analysis_json")?,
            error_kind: get(row, "error_kind")?,
            mail_message_id: get(row, "mail_message_id")?,
            created_at: get_ts(row, "created_at")?,
            receipt_sent_at: if with_receipt {
                get_opt_ts(row, "receipt_sent_at")?
            } else {
                None
            },
        })
    }
}

/// Delivery state of an outbox row.
///
/// `pending` → (claim) `sending` → `sent`; or `sending` → `failed` (retry later, claimable
/// again once `next_attempt_at` has passed) → … → `dead` (gave up; needs a human).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxStatus {
    Pending,
    Sending,
    Sent,
    Failed,
    Dead,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Sending => "sending",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
            OutboxStatus::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxStatus> {
        match s {
            "pending" => Some(OutboxStatus::Pending),
            "sending" => Some(OutboxStatus::Sending),
            "sent" => Some(OutboxStatus::Sent),
            "failed" => Some(OutboxStatus::Failed),
            "dead" => Some(OutboxStatus::Dead),
            _ => None,
        }
    }
}

/// One outgoing mail (a receipt, a notice…), complete as RFC 5322 bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub dedupe_key: String,
    /// The (first) envelope recipient.
    pub recipient: String,
    /// Further envelope recipients, in order (migration 0006).
    pub cc: Vec<String>,
    pub subject: String,
    pub raw: Vec<u8>,
    /// The outgoing message's own Message-ID (stable across retries).
    pub mail_message_id: String,
    pub status: OutboxStatus,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub claimed_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub sent_at: Option<DateTime<Utc>>,
    pub related_submission_id: Option<i64>,
    pub related_message_id: Option<i64>,
}

pub(crate) const OUTBOX_COLS: &str = "id, kind, dedupe_key, recipient, subject, raw, \
     mail_message_id, status, attempts, next_attempt_at, last_error, created_at, claimed_at, \
     last_attempt_at, sent_at, related_submission_id, related_message_id, cc";

impl OutboxRow {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        let status: String = get(row, "status")?;
        Ok(OutboxRow {
            id: get(row, "id")?,
            kind: get(row, "kind")?,
            dedupe_key: get(row, "dedupe_key")?,
            recipient: get(row, "recipient")?,
            cc: get::<String>(row, "cc")?
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
            subject: get(row, "subject")?,
            raw: get(row, "raw")?,
            mail_message_id: get(row, "mail_message_id")?,
            status: OutboxStatus::parse(&status).ok_or_else(|| StoreError::Decode {
                column: "status",
                detail: format!("unknown outbox status {status:?}"),
            })?,
            attempts: get(row, "attempts")?,
            next_attempt_at: get_ts(row, "next_attempt_at")?,
            last_error: get(row, "last_error")?,
            created_at: get_ts(row, "created_at")?,
            claimed_at: get_opt_ts(row, "claimed_at")?,
            last_attempt_at: get_opt_ts(row, "last_attempt_at")?,
            sent_at: get_opt_ts(row, "sent_at")?,
            related_submission_id: get(row, "related_submission_id")?,
            related_message_id: get(row, "related_message_id")?,
        })
    }
}

/// A message waiting for a human.
#[derive(Debug, Clone, PartialEq)]
pub struct TriageRow {
    pub id: i64,
    pub message_row_id: i64,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl TriageRow {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(TriageRow {
            id: get(row, "id")?,
            message_row_id: get(row, "message_row_id")?,
            reason: get(row, "reason")?,
            created_at: get_ts(row, "created_at")?,
            resolved_at: get_opt_ts(row, "resolved_at")?,
        })
    }
}

/// Where the IMAP poller is in a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxState {
    pub key: String,
    pub uidvalidity: i64,
    pub last_uid: i64,
    pub updated_at: DateTime<Utc>,
}

impl MailboxState {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self, StoreError> {
        Ok(MailboxState {
            key: get(row, "key")?,
            uidvalidity: get(row, "uidvalidity")?,
            last_uid: get(row, "last_uid")?,
            updated_at: get_ts(row, "updated_at")?,
        })
    }
}

/// Read a column from a row (for the other store modules).
pub(crate) fn col<T>(row: &AnyRow, column: &'static str) -> Result<T, StoreError>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    get(row, column)
}

pub(crate) fn col_opt_ts(
    row: &AnyRow,
    column: &'static str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    get_opt_ts(row, column)
}
