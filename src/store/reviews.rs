//! Reviewer decisions and presentations in the ledger, each written with its audit row (and a
//! decision's email outbox row) in ONE transaction. See `docs/review.md`.
//!
//! A decision is refused for a submission that a newer version of the same clinic and
//! milestone has superseded (on PostgreSQL the check takes the same advisory lock as the
//! intake's version assignment, so a version arriving at the same moment is serialised).
//! Recording the same decision again (same grade, sections and comment as the submission's
//! latest decision) writes nothing and returns the existing decision; with a mail, the mail is
//! attached to it once (`dedupe_key` `decision:<id>`): `confirm --send` twice sends one mail.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::any::AnyRow;

use super::audit::append_tx;
use super::intake::insert_outbox;
use super::rows::{SUBMISSION_COLS, col};
use super::{
    Backend, Grade, NewAudit, NewOutbox, Store, StoreError, SubmissionRow, parse_ts, q, ts,
};
use crate::domain::review::{Decision, Presentation, SectionVerdict};

/// A decision to record; clinic and milestone are read from the submission.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDecision {
    pub submission_id: i64,
    /// The cycle year.
    pub year: i32,
    pub grade: Grade,
    /// The full section verdicts A–I after the decision.
    pub sections: BTreeMap<char, SectionVerdict>,
    pub pre_grade: Option<Grade>,
    pub agreed_with_pregrade: bool,
    pub comment: Option<String>,
    /// `cli:<name>`, `web:<user>`.
    pub decided_by: String,
}

/// What [`Store::record_decision_detail`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordedDecision {
    pub id: i64,
    /// False when the same decision was already the submission's latest (nothing new written
    /// except, possibly, its mail).
    pub created: bool,
    pub mail_outbox_id: Option<i64>,
    /// True when this call queued the mail.
    pub mail_queued: bool,
}

const DECISION_COLS: &str = "id, submission_id, clinic_id, year, milestone, grade, \
     sections_json, pre_grade, agreed_with_pregrade, comment, decided_by, decided_at, \
     mail_outbox_id";

pub(super) fn grade_col(r: &AnyRow, column: &'static str) -> Result<Option<Grade>, StoreError> {
    let g: Option<String> = col(r, column)?;
    g.map(|g| {
        Grade::parse(&g).ok_or_else(|| StoreError::Decode {
            column,
            detail: format!("unknown grade {g:?}"),
        })
    })
    .transpose()
}

pub(super) fn sections_json(s: &BTreeMap<char, SectionVerdict>) -> String {
    serde_json::to_string(s).expect("a map of chars to verdicts serialises")
}

/// The `grade` column of a decision row, which is never NULL.
pub(super) fn required_grade(r: &AnyRow) -> Result<Grade, StoreError> {
    grade_col(r, "grade")?.ok_or_else(|| StoreError::Decode {
        column: "grade",
        detail: "NULL".into(),
    })
}

/// The per-section verdicts stored as `sections_json`.
pub(super) fn sections_of(json: &str) -> Result<BTreeMap<char, SectionVerdict>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Decode {
        column: "sections_json",
        detail: e.to_string(),
    })
}

pub(super) fn decision_row(r: &AnyRow) -> Result<Decision, StoreError> {
    let sections: String = col(r, "sections_json")?;
    let at: String = col(r, "decided_at")?;
    Ok(Decision {
        id: col(r, "id")?,
        submission_id: col(r, "submission_id")?,
        clinic_id: col(r, "clinic_id")?,
        year: col::<i64>(r, "year")? as i32,
        milestone: col::<i64>(r, "milestone")? as u8,
        grade: required_grade(r)?,
        sections: sections_of(&sections)?,
        pre_grade: grade_col(r, "pre_grade")?,
        agreed_with_pregrade: col::<i64>(r, "agreed_with_pregrade")? != 0,
        comment: col(r, "comment")?,
        decided_by: col(r, "decided_by")?,
        decided_at: parse_ts("decided_at", &at)?,
        mail_outbox_id: col(r, "mail_outbox_id")?,
    })
}

fn presentation_row(r: &AnyRow) -> Result<Presentation, StoreError> {
    let at: String = col(r, "registered_at")?;
    Ok(Presentation {
        clinic_id: col(r, "clinic_id")?,
        year: col::<i64>(r, "year")? as i32,
        registered_by: col(r, "registered_by")?,
        registered_at: parse_ts("registered_at", &at)?,
        note: col(r, "note")?,
    })
}

/// The clinic, milestone and version of a submission about to be decided, read inside the
/// decision's transaction. On PostgreSQL the intake's version lock for that clinic and
/// milestone is taken first, so no new version can commit meanwhile; refused with
/// [`StoreError::Superseded`] when a newer version exists.
pub(super) struct DecidedVersion {
    pub clinic_id: String,
    pub milestone: i64,
    pub version: i64,
}

pub(super) async fn lock_latest_version(
    tx: &mut sqlx::AnyConnection,
    backend: Backend,
    submission_id: i64,
) -> Result<DecidedVersion, StoreError> {
    let sub = sqlx::query("SELECT clinic_id, milestone, version FROM submissions WHERE id = $1")
        .bind(submission_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q("read the decided submission"))?
        .ok_or(StoreError::SubmissionNotFound { id: submission_id })?;
    let at = DecidedVersion {
        clinic_id: col(&sub, "clinic_id")?,
        milestone: col(&sub, "milestone")?,
        version: col(&sub, "version")?,
    };
    if backend == Backend::Postgres {
        // The intake's version lock: no new version can commit while we decide.
        sqlx::query("SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("vardval:version:{}:{}", at.clinic_id, at.milestone))
            .fetch_one(&mut *tx)
            .await
            .map_err(q("lock the version counter"))?;
    }
    let newer = sqlx::query(
        "SELECT id, version FROM submissions WHERE clinic_id = $1 AND milestone = $2 \
         AND version > $3 ORDER BY version DESC LIMIT 1",
    )
    .bind(&at.clinic_id)
    .bind(at.milestone)
    .bind(at.version)
    .fetch_optional(&mut *tx)
    .await
    .map_err(q("look for a newer version"))?;
    if let Some(n) = newer {
        return Err(StoreError::Superseded {
            submission_id,
            newer_id: col(&n, "id")?,
            newer_version: col(&n, "version")?,
        });
    }
    Ok(at)
}

/// The id of the submission's latest decision inside `tx` (0: none), with the decision.
pub(super) async fn latest_decision_tx(
    tx: &mut sqlx::AnyConnection,
    submission_id: i64,
) -> Result<Option<Decision>, StoreError> {
    let sql = format!(
        "SELECT {DECISION_COLS} FROM decisions WHERE submission_id = $1 ORDER BY id DESC LIMIT 1"
    );
    sqlx::query(&sql)
        .bind(submission_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q("read the latest decision"))?
        .map(|r| decision_row(&r))
        .transpose()
}

/// Write the decision (unless it repeats the latest one) and queue its mail once, inside the
/// caller's transaction, after [`lock_latest_version`]. Returns what was written and the audit
/// detail; the caller appends the audit row (last, before the commit).
pub(super) async fn write_decision(
    tx: &mut sqlx::AnyConnection,
    d: &NewDecision,
    mail: Option<&NewOutbox>,
    now: DateTime<Utc>,
    follows: Option<i64>,
    at: &DecidedVersion,
) -> Result<(RecordedDecision, serde_json::Value), StoreError> {
    let sections = sections_json(&d.sections);
    let latest = latest_decision_tx(tx, d.submission_id).await?;
    if let Some(expected) = follows {
        let current = latest.as_ref().map_or(0, |l| l.id);
        if current != expected {
            return Err(StoreError::DecidedMeanwhile {
                submission_id: d.submission_id,
                expected,
                latest: current,
            });
        }
    }
    let repeat =
        latest.filter(|l| l.grade == d.grade && l.sections == d.sections && l.comment == d.comment);
    let (id, created, mut mail_outbox_id) = match repeat {
        Some(l) => (l.id, false, l.mail_outbox_id),
        None => {
            let row = sqlx::query(
                "INSERT INTO decisions (submission_id, clinic_id, year, milestone, grade, \
                 sections_json, pre_grade, agreed_with_pregrade, comment, decided_by, \
                 decided_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 RETURNING id",
            )
            .bind(d.submission_id)
            .bind(&at.clinic_id)
            .bind(i64::from(d.year))
            .bind(at.milestone)
            .bind(d.grade.as_str())
            .bind(&sections)
            .bind(d.pre_grade.map(|g| g.as_str()))
            .bind(i64::from(d.agreed_with_pregrade))
            .bind(d.comment.as_deref())
            .bind(&d.decided_by)
            .bind(ts(now))
            .fetch_one(&mut *tx)
            .await
            .map_err(q("insert a decision"))?;
            (col::<i64>(&row, "id")?, true, None)
        }
    };
    let mut mail_queued = false;
    if let (Some(m), None) = (mail, mail_outbox_id) {
        let key = m
            .dedupe_key
            .clone()
            .unwrap_or_else(|| format!("decision:{id}"));
        let exists = sqlx::query("SELECT id FROM outbox WHERE dedupe_key = $1")
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(q("check the decision mail's dedupe key"))?;
        let outbox_id = match exists {
            Some(r) => col::<i64>(&r, "id")?,
            None => {
                mail_queued = true;
                insert_outbox(tx, m, &key, now, Some(d.submission_id), None)
                    .await
                    .map_err(q("queue the decision mail"))?
            }
        };
        sqlx::query("UPDATE decisions SET mail_outbox_id = $1 WHERE id = $2")
            .bind(outbox_id)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(q("link the decision mail"))?;
        mail_outbox_id = Some(outbox_id);
    }
    let detail = json!({
        "decision_id": id,
        "clinic_id": at.clinic_id,
        "year": d.year,
        "milestone": at.milestone,
        "version": at.version,
        "grade": d.grade,
        "pre_grade": d.pre_grade,
        "agreed_with_pregrade": d.agreed_with_pregrade,
        "sections": d.sections,
        "comment": d.comment,
        "mail_outbox_id": mail_outbox_id,
        "mail_recipient": mail.filter(|_| mail_queued).map(|m| m.recipient.clone()),
    });
    Ok((
        RecordedDecision {
            id,
            created,
            mail_outbox_id,
            mail_queued,
        },
        detail,
    ))
}

impl Store {
    /// One submission by id.
    pub async fn submission(&self, id: i64) -> Result<Option<SubmissionRow>, StoreError> {
        let sql = format!("SELECT {SUBMISSION_COLS} FROM submissions s WHERE s.id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("look up a submission"))?
            .map(|r| SubmissionRow::from_row(&r, false))
            .transpose()
    }

    /// The sender address of the message a submission came in (the decision email's
    /// recipient).
    pub async fn submission_sender(&self, id: i64) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT m.from_addr FROM submissions s JOIN messages m ON m.id = s.message_row_id \
             WHERE s.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("look up a submission's sender"))?;
        match row {
            Some(r) => col(&r, "from_addr"),
            None => Ok(None),
        }
    }

    /// Record a decision, the decision email's outbox row (when given) and an audit row in
    /// one transaction; returns the decision's id. See [`Store::record_decision_detail`].
    pub async fn record_decision(
        &self,
        d: &NewDecision,
        mail: Option<NewOutbox>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        Ok(self.record_decision_detail(d, mail, now).await?.id)
    }

    /// [`Store::record_decision`], saying whether anything new was written.
    ///
    /// Refused with [`StoreError::Superseded`] when a newer version of the submission's clinic
    /// and milestone exists, and [`StoreError::SubmissionNotFound`] for an unknown id. The
    /// mail's `dedupe_key` defaults to `decision:<id>`.
    pub async fn record_decision_detail(
        &self,
        d: &NewDecision,
        mail: Option<NewOutbox>,
        now: DateTime<Utc>,
    ) -> Result<RecordedDecision, StoreError> {
        self.record_decision_following(d, mail, now, None).await
    }

    /// [`Store::record_decision_detail`] for a reviewer who saw the submission when `follows`
    /// was its latest decision (0: none): refused with [`StoreError::DecidedMeanwhile`] when
    /// another decision was recorded since, checked inside the decision's transaction, so two
    /// reviewers sending at the same moment cannot both send a decision mail.
    pub async fn record_decision_following(
        &self,
        d: &NewDecision,
        mail: Option<NewOutbox>,
        now: DateTime<Utc>,
        follows: Option<i64>,
    ) -> Result<RecordedDecision, StoreError> {
        let mut tx = self.begin_write().await.map_err(q("begin a decision"))?;
        let at = lock_latest_version(&mut tx, self.backend, d.submission_id).await?;
        let (recorded, detail) =
            write_decision(&mut tx, d, mail.as_ref(), now, follows, &at).await?;
        if recorded.created || recorded.mail_queued {
            let action = if recorded.created {
                "decision.record"
            } else {
                "decision.mail"
            };
            let audit = NewAudit::new(
                &d.decided_by,
                action,
                format!("submission:{}", d.submission_id),
                detail,
            );
            append_tx(&mut tx, self.backend, &audit, now).await?;
        }
        tx.commit().await.map_err(q("commit a decision"))?;
        Ok(recorded)
    }

    /// Every decision of a cycle year, oldest first (history: none is ever overwritten).
    pub async fn decisions(&self, year: i32) -> Result<Vec<Decision>, StoreError> {
        let sql = format!("SELECT {DECISION_COLS} FROM decisions WHERE year = $1 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(i64::from(year))
            .fetch_all(&self.pool)
            .await
            .map_err(q("list decisions"))?;
        rows.iter().map(decision_row).collect()
    }

    /// The decision that counts per clinic and milestone of a cycle year (the latest one),
    /// ordered by clinic and milestone.
    pub async fn current_decisions(&self, year: i32) -> Result<Vec<Decision>, StoreError> {
        let sql = format!(
            "SELECT {DECISION_COLS} FROM decisions d WHERE year = $1 AND id = \
             (SELECT MAX(id) FROM decisions e WHERE e.year = d.year \
              AND e.clinic_id = d.clinic_id AND e.milestone = d.milestone) \
             ORDER BY clinic_id, milestone"
        );
        let rows = sqlx::query(&sql)
            .bind(i64::from(year))
            .fetch_all(&self.pool)
            .await
            .map_err(q("list current decisions"))?;
        rows.iter().map(decision_row).collect()
    }

    /// Every decision on one submitted version, oldest first (the desk's history).
    pub async fn decisions_for_submission(
        &self,
        submission_id: i64,
    ) -> Result<Vec<Decision>, StoreError> {
        let sql =
            format!("SELECT {DECISION_COLS} FROM decisions WHERE submission_id = $1 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(submission_id)
            .fetch_all(&self.pool)
            .await
            .map_err(q("list a submission's decisions"))?;
        rows.iter().map(decision_row).collect()
    }

    /// The latest decision on one submitted version, if any.
    pub async fn decision_for_submission(
        &self,
        submission_id: i64,
    ) -> Result<Option<Decision>, StoreError> {
        let sql = format!(
            "SELECT {DECISION_COLS} FROM decisions WHERE submission_id = $1 ORDER BY id DESC LIMIT 1"
        );
        sqlx::query(&sql)
            .bind(submission_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("look up a submission's decision"))?
            .map(|r| decision_row(&r))
            .transpose()
    }

    /// Register a clinic's presentation at Utvecklingskraft for a cycle year, with its audit
    /// row, in one transaction. Idempotent: returns false (and writes nothing) when it is
    /// already registered.
    pub async fn record_presentation(
        &self,
        clinic_id: &str,
        year: i32,
        by: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin a presentation"))?;
        let done = sqlx::query(
            "INSERT INTO presentations (clinic_id, year, registered_by, registered_at, note) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (clinic_id, year) DO NOTHING",
        )
        .bind(clinic_id)
        .bind(i64::from(year))
        .bind(by)
        .bind(ts(now))
        .bind(note)
        .execute(&mut *tx)
        .await
        .map_err(q("insert a presentation"))?;
        let new = done.rows_affected() == 1;
        if new {
            let audit = NewAudit::new(
                by,
                "presentation.register",
                format!("clinic:{clinic_id}"),
                json!({"clinic_id": clinic_id, "year": year, "note": note}),
            );
            append_tx(&mut tx, self.backend, &audit, now).await?;
        }
        tx.commit().await.map_err(q("commit a presentation"))?;
        Ok(new)
    }

    /// The registered presentations of a cycle year, by clinic.
    pub async fn presentations(&self, year: i32) -> Result<Vec<Presentation>, StoreError> {
        let rows = sqlx::query(
            "SELECT clinic_id, year, registered_by, registered_at, note FROM presentations \
             WHERE year = $1 ORDER BY clinic_id",
        )
        .bind(i64::from(year))
        .fetch_all(&self.pool)
        .await
        .map_err(q("list presentations"))?;
        rows.iter().map(presentation_row).collect()
    }
}
