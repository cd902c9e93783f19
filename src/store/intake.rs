//! The intake transaction and the look-ups the intake uses to detect repeats.

use chrono::{DateTime, Utc};
use sqlx::Any;
use sqlx::Transaction;
use sqlx::error::ErrorKind;

use super::clean::{MAX_ADDRESS, MAX_HEADER, MAX_KEY, storable_intake, storable_text};
use super::rows::{MESSAGE_COLS, SUBMISSION_COLS, col};
use super::{
    Backend, Grade, MessageClass, MessageRow, Store, StoreError, SubmissionKind, SubmissionRow, q,
    ts,
};

/// How often a commit is retried when two intakes raced for the same version number (PG
/// takes an advisory lock first, so this is only a safety net).
const VERSION_ATTEMPTS: u32 = 5;

/// The message row to record.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Idempotency key: `imap:<uidvalidity>:<uid>` or `maildir:<unique-name>`. UNIQUE.
    pub source_key: String,
    /// SHA-256 (lower-case hex) of the raw message bytes, as archived.
    pub sha256: String,
    pub archive_path: String,
    /// The server's receive time (IMAP INTERNALDATE / maildir delivery), the time of record.
    pub received_at: DateTime<Utc>,
    /// RFC Message-ID without angle brackets.
    pub mail_message_id: Option<String>,
    pub from_addr: Option<String>,
    pub subject: String,
    pub class: MessageClass,
    pub clinic_id: Option<String>,
    /// Why this class, in English.
    pub reason: String,
}

/// The submission row to record; its `version` is assigned inside the transaction.
#[derive(Debug, Clone)]
pub struct NewSubmission {
    pub clinic_id: String,
    pub milestone: i64,
    pub kind: SubmissionKind,
    pub received_at: DateTime<Utc>,
    pub on_time: bool,
    pub pre_grade: Option<Grade>,
    pub doc_sha256: String,
    pub doc_name: String,
    pub doc_format: Option<String>,
    /// The whole analysis as JSON.
    pub analysis_json: String,
    pub error_kind: Option<String>,
    /// The inbound message's RFC Message-ID.
    pub mail_message_id: Option<String>,
}

/// An outgoing mail to queue.
#[derive(Debug, Clone, Default)]
pub struct NewOutbox {
    /// `receipt`, `triage_notice`, …
    pub kind: String,
    /// UNIQUE. When `None` inside an intake it defaults to `<kind>:<submission id>` when the
    /// intake records a submission, else `<kind>:msg:<message row id>`.
    pub dedupe_key: Option<String>,
    /// The (first) envelope recipient.
    pub recipient: String,
    /// Further envelope recipients (the mail's other To or Cc addresses), in order: the
    /// sender hands the same bytes to all of them in one SMTP transaction. No commas.
    pub cc: Vec<String>,
    pub subject: String,
    /// The complete RFC 5322 message to send.
    pub raw: Vec<u8>,
    /// The outgoing message's own Message-ID.
    pub mail_message_id: String,
    /// First attempt not before this time; `None` means the intake's / call's `now`.
    pub not_before: Option<DateTime<Utc>>,
}

/// Everything one inbound message produces, written in one transaction.
#[derive(Debug, Clone)]
pub struct Intake {
    pub message: NewMessage,
    pub submission: Option<NewSubmission>,
    /// Open a triage item with this reason.
    pub triage_reason: Option<String>,
    /// Outgoing mail that does not depend on the ids assigned in the transaction (for mail
    /// that quotes the version number, use [`Store::commit_intake_with`]).
    pub outbox: Vec<NewOutbox>,
    /// Processing time: `processed_at`, `created_at` of the new rows.
    pub now: DateTime<Utc>,
}

/// What the transaction has assigned so far; passed to the renderer of
/// [`Store::commit_intake_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assigned {
    pub message_row_id: i64,
    pub submission_id: Option<i64>,
    pub version: Option<i64>,
}

/// The ids written by [`Store::commit_intake`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeIds {
    pub message_row_id: i64,
    pub submission_id: Option<i64>,
    pub version: Option<i64>,
    pub triage_id: Option<i64>,
    pub outbox_ids: Vec<i64>,
}

enum Failure {
    Already(i64),
    Db(&'static str, sqlx::Error),
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

fn db(op: &'static str) -> impl FnOnce(sqlx::Error) -> Failure {
    move |e| Failure::Db(op, e)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.kind() == ErrorKind::UniqueViolation)
}

fn is_version_conflict(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.constraint() == Some("submissions_version_unique")
                || d.message().contains("submissions.version")
        }
        _ => false,
    }
}

impl Store {
    /// The message recorded under this source key, if any (crash between commit and move).
    pub async fn seen_source(&self, source_key: &str) -> Result<Option<MessageRow>, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLS} FROM messages WHERE source_key = $1");
        sqlx::query(&sql)
            .bind(storable_text(source_key, MAX_KEY).as_ref())
            .fetch_optional(&self.pool)
            .await
            .map_err(q("look up a message by source key"))?
            .map(|r| MessageRow::from_row(&r))
            .transpose()
    }

    /// The first message recorded with this RFC Message-ID, if any.
    pub async fn find_by_message_id(&self, mid: &str) -> Result<Option<MessageRow>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE mail_message_id = $1 ORDER BY id LIMIT 1"
        );
        sqlx::query(&sql)
            .bind(storable_text(mid, MAX_HEADER).as_ref())
            .fetch_optional(&self.pool)
            .await
            .map_err(q("look up a message by Message-ID"))?
            .map(|r| MessageRow::from_row(&r))
            .transpose()
    }

    /// The first submission recorded from this sender (case-insensitive) under this RFC
    /// Message-ID with one of these document hashes: the same genuine plan delivered again.
    /// Mail from another sender, or a copy that was not recorded as a submission (failed
    /// DMARC, unknown sender), never matches.
    pub async fn find_submission_by_sender_mid(
        &self,
        from: &str,
        mid: &str,
        doc_sha256: &[String],
    ) -> Result<Option<SubmissionRow>, StoreError> {
        let sql = format!(
            "SELECT {SUBMISSION_COLS} FROM submissions s JOIN messages m ON m.id = s.message_row_id \
             WHERE m.mail_message_id = $1 AND lower(m.from_addr) = lower($2) ORDER BY s.id"
        );
        let rows = sqlx::query(&sql)
            .bind(storable_text(mid, MAX_HEADER).as_ref())
            .bind(storable_text(from, MAX_ADDRESS).as_ref())
            .fetch_all(&self.pool)
            .await
            .map_err(q("look up a submission by sender and Message-ID"))?;
        for r in &rows {
            let s = SubmissionRow::from_row(r, false)?;
            if doc_sha256.contains(&s.doc_sha256) {
                return Ok(Some(s));
            }
        }
        Ok(None)
    }

    /// The first earlier message of `class` that is this same mail again: the same raw bytes,
    /// or the same sender (case-insensitive) and RFC Message-ID. Used to answer a repeated
    /// mail once.
    pub async fn find_repeat(
        &self,
        class: MessageClass,
        sha256: &str,
        from: Option<&str>,
        mid: Option<&str>,
    ) -> Result<Option<MessageRow>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE class = $1 AND (sha256 = $2 \
             OR (mail_message_id = $3 AND lower(from_addr) = lower($4))) ORDER BY id LIMIT 1"
        );
        sqlx::query(&sql)
            .bind(class.as_str())
            .bind(sha256)
            .bind(mid.map(|m| storable_text(m, MAX_HEADER).into_owned()))
            .bind(from.map(|f| storable_text(f, MAX_ADDRESS).into_owned()))
            .fetch_optional(&self.pool)
            .await
            .map_err(q("look up an earlier copy of a message"))?
            .map(|r| MessageRow::from_row(&r))
            .transpose()
    }

    /// The first message with these exact raw bytes (SHA-256 of the archived message), if
    /// any: the same message delivered again under another source key.
    pub async fn find_by_sha256(&self, sha256: &str) -> Result<Option<MessageRow>, StoreError> {
        let sql =
            format!("SELECT {MESSAGE_COLS} FROM messages WHERE sha256 = $1 ORDER BY id LIMIT 1");
        sqlx::query(&sql)
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("look up a message by content hash"))?
            .map(|r| MessageRow::from_row(&r))
            .transpose()
    }

    /// The first submission of this exact document (by SHA-256) from this clinic, if any.
    pub async fn find_submission_by_doc(
        &self,
        clinic_id: &str,
        sha256: &str,
    ) -> Result<Option<SubmissionRow>, StoreError> {
        let sql = format!(
            "SELECT {SUBMISSION_COLS} FROM submissions s \
             WHERE s.clinic_id = $1 AND s.doc_sha256 = $2 ORDER BY s.id LIMIT 1"
        );
        sqlx::query(&sql)
            .bind(clinic_id)
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("look up a submission by document hash"))?
            .map(|r| SubmissionRow::from_row(&r, false))
            .transpose()
    }

    /// The highest version recorded for this clinic and milestone, if any.
    pub async fn latest_submission(
        &self,
        clinic_id: &str,
        milestone: i64,
    ) -> Result<Option<SubmissionRow>, StoreError> {
        let sql = format!(
            "SELECT {SUBMISSION_COLS} FROM submissions s \
             WHERE s.clinic_id = $1 AND s.milestone = $2 ORDER BY s.version DESC LIMIT 1"
        );
        sqlx::query(&sql)
            .bind(clinic_id)
            .bind(milestone)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("look up the latest submission"))?
            .map(|r| SubmissionRow::from_row(&r, false))
            .transpose()
    }

    /// Record one processed message in ONE transaction: the message row, the optional
    /// submission (version = max + 1 for its clinic and milestone), the optional triage item
    /// and the outbox rows. If the source key is already recorded, nothing is written and
    /// the result is [`StoreError::AlreadyRecorded`].
    pub async fn commit_intake(&self, intake: &Intake) -> Result<IntakeIds, StoreError> {
        self.commit_intake_with(intake, |_| Ok(Vec::new())).await
    }

    /// Like [`Store::commit_intake`], and also queues the outbox rows `render` builds from
    /// the ids and version assigned inside the transaction (a receipt that quotes "version 3").
    /// `render` may run more than once if the transaction is retried; an `Err` from it rolls
    /// everything back.
    pub async fn commit_intake_with<F>(
        &self,
        intake: &Intake,
        mut render: F,
    ) -> Result<IntakeIds, StoreError>
    where
        F: FnMut(&Assigned) -> Result<Vec<NewOutbox>, String>,
    {
        // Text PostgreSQL cannot store (NUL) or absurdly long text is cleaned here, and the
        // intake says so in a triage item: the mail is recorded, never rolled back over it.
        let cleaned = storable_intake(intake);
        let intake = cleaned.as_ref().unwrap_or(intake);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match self.try_commit(intake, &mut render).await {
                Ok(ids) => return Ok(ids),
                Err(Failure::Already(id)) => {
                    return Err(StoreError::AlreadyRecorded {
                        source_key: intake.message.source_key.clone(),
                        message_row_id: id,
                    });
                }
                Err(Failure::Store(e)) => return Err(e),
                Err(Failure::Db(op, e)) => (op, e),
            };
            let (op, e) = err;
            if !is_unique_violation(&e) {
                return Err(StoreError::Query { op, source: e });
            }
            // A concurrent intake of the same source key won the race: report it as recorded.
            if let Some(row) = self.seen_source(&intake.message.source_key).await? {
                return Err(StoreError::AlreadyRecorded {
                    source_key: intake.message.source_key.clone(),
                    message_row_id: row.id,
                });
            }
            if is_version_conflict(&e) {
                if attempt < VERSION_ATTEMPTS {
                    continue;
                }
                let s = intake.submission.as_ref();
                return Err(StoreError::VersionContention {
                    clinic_id: s.map(|s| s.clinic_id.clone()).unwrap_or_default(),
                    milestone: s.map(|s| s.milestone).unwrap_or_default(),
                    attempts: attempt,
                });
            }
            return Err(StoreError::Query { op, source: e });
        }
    }

    async fn try_commit<F>(&self, intake: &Intake, render: &mut F) -> Result<IntakeIds, Failure>
    where
        F: FnMut(&Assigned) -> Result<Vec<NewOutbox>, String>,
    {
        let m = &intake.message;
        let now = ts(intake.now);
        let mut tx = self
            .begin_write()
            .await
            .map_err(db("begin the intake transaction"))?;

        let existing = sqlx::query("SELECT id FROM messages WHERE source_key = $1")
            .bind(&m.source_key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db("check the source key"))?;
        if let Some(row) = existing {
            let id: i64 = col(&row, "id")?;
            tx.rollback()
                .await
                .map_err(db("roll back the intake transaction"))?;
            return Err(Failure::Already(id));
        }

        let row = sqlx::query(
            "INSERT INTO messages (source_key, sha256, archive_path, received_at, \
             mail_message_id, from_addr, subject, class, clinic_id, reason, processed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(&m.source_key)
        .bind(&m.sha256)
        .bind(&m.archive_path)
        .bind(ts(m.received_at))
        .bind(m.mail_message_id.as_deref())
        .bind(m.from_addr.as_deref())
        .bind(&m.subject)
        .bind(m.class.as_str())
        .bind(m.clinic_id.as_deref())
        .bind(&m.reason)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await
        .map_err(db("insert the message row"))?;
        let message_row_id: i64 = col(&row, "id")?;

        let mut assigned = Assigned {
            message_row_id,
            submission_id: None,
            version: None,
        };
        if let Some(s) = &intake.submission {
            let (id, version) = self
                .insert_submission(&mut tx, message_row_id, s, &now)
                .await?;
            assigned.submission_id = Some(id);
            assigned.version = Some(version);
        }

        let mut triage_id = None;
        if let Some(reason) = &intake.triage_reason {
            let row = sqlx::query(
                "INSERT INTO triage (message_row_id, reason, created_at) VALUES ($1, $2, $3) \
                 RETURNING id",
            )
            .bind(message_row_id)
            .bind(reason)
            .bind(&now)
            .fetch_one(&mut *tx)
            .await
            .map_err(db("insert the triage item"))?;
            triage_id = Some(col(&row, "id")?);
        }

        let rendered = render(&assigned).map_err(|detail| StoreError::Render {
            source_key: m.source_key.clone(),
            detail,
        })?;
        let mut outbox_ids = Vec::new();
        for o in intake.outbox.iter().chain(rendered.iter()) {
            let dedupe_key = o
                .dedupe_key
                .clone()
                .unwrap_or_else(|| match assigned.submission_id {
                    Some(sid) => format!("{}:{sid}", o.kind),
                    None => format!("{}:msg:{message_row_id}", o.kind),
                });
            let id = insert_outbox(
                &mut tx,
                o,
                &dedupe_key,
                intake.now,
                assigned.submission_id,
                Some(message_row_id),
            )
            .await
            .map_err(db("insert an outbox row"))?;
            outbox_ids.push(id);
        }

        tx.commit()
            .await
            .map_err(db("commit the intake transaction"))?;
        Ok(IntakeIds {
            message_row_id,
            submission_id: assigned.submission_id,
            version: assigned.version,
            triage_id,
            outbox_ids,
        })
    }

    async fn insert_submission(
        &self,
        tx: &mut Transaction<'static, Any>,
        message_row_id: i64,
        s: &NewSubmission,
        now: &str,
    ) -> Result<(i64, i64), Failure> {
        if self.backend == Backend::Postgres {
            // Serialise version assignment per clinic + milestone until commit. (SQLite is
            // already serialised by BEGIN IMMEDIATE.)
            sqlx::query("SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(format!("vardval:version:{}:{}", s.clinic_id, s.milestone))
                .fetch_one(&mut **tx)
                .await
                .map_err(db("lock the version counter"))?;
        }
        let row = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) AS v FROM submissions \
             WHERE clinic_id = $1 AND milestone = $2",
        )
        .bind(&s.clinic_id)
        .bind(s.milestone)
        .fetch_one(&mut **tx)
        .await
        .map_err(db("read the latest version"))?;
        let version: i64 = col::<i64>(&row, "v")? + 1;
        let row = sqlx::query(
            "INSERT INTO submissions (message_row_id, clinic_id, milestone, version, kind, \
             received_at, on_time, pre_grade, doc_sha256, doc_name, doc_format, analysis_json, \
             error_kind, mail_message_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             RETURNING id",
        )
        .bind(message_row_id)
        .bind(&s.clinic_id)
        .bind(s.milestone)
        .bind(version)
        .bind(s.kind.as_str())
        .bind(ts(s.received_at))
        .bind(i64::from(s.on_time))
        .bind(s.pre_grade.map(|g| g.as_str()))
        .bind(&s.doc_sha256)
        .bind(&s.doc_name)
        .bind(s.doc_format.as_deref())
        .bind(&s.analysis_json)
        .bind(s.error_kind.as_deref())
        .bind(s.mail_message_id.as_deref())
        .bind(now)
        .fetch_one(&mut **tx)
        .await
        .map_err(db("insert the submission row"))?;
        Ok((col(&row, "id")?, version))
    }
}

/// Insert one outbox row (status pending, 0 attempts) and return its id.
pub(crate) async fn insert_outbox(
    conn: &mut sqlx::AnyConnection,
    o: &NewOutbox,
    dedupe_key: &str,
    now: DateTime<Utc>,
    related_submission_id: Option<i64>,
    related_message_id: Option<i64>,
) -> Result<i64, sqlx::Error> {
    if let Some(bad) = o.cc.iter().find(|a| a.contains(',')) {
        return Err(sqlx::Error::Protocol(format!(
            "outbox recipient {bad:?}: an address with a comma cannot be stored"
        )));
    }
    let row = sqlx::query(
        "INSERT INTO outbox (kind, dedupe_key, recipient, subject, raw, mail_message_id, \
         status, attempts, next_attempt_at, created_at, related_submission_id, \
         related_message_id, cc) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8, $9, $10, $11) RETURNING id",
    )
    .bind(&o.kind)
    .bind(dedupe_key)
    .bind(storable_text(&o.recipient, MAX_ADDRESS).as_ref())
    .bind(storable_text(&o.subject, MAX_HEADER).as_ref())
    .bind(o.raw.clone())
    .bind(&o.mail_message_id)
    .bind(ts(o.not_before.unwrap_or(now)))
    .bind(ts(now))
    .bind(related_submission_id)
    .bind(related_message_id)
    .bind(o.cc.join(","))
    .fetch_one(&mut *conn)
    .await?;
    sqlx::Row::try_get::<i64, _>(&row, "id")
}
