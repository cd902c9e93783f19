//! Read queries of the reviewers' desk: the latest submission per clinic and milestone, one
//! submission and its versions, the cycle years present, one message, one triage item. Handlers stay thin; the SQL
//! lives here.

use chrono::{DateTime, Utc};

use super::rows::{MESSAGE_COLS, SUBMISSION_COLS};
use super::{MessageRow, Store, StoreError, SubmissionRow, TriageRow, q, ts};

impl Store {
    /// The highest version of every clinic's submission for `milestone`, received in
    /// `[from, to)`, ordered by clinic; with whether any version in the window came on time
    /// (a plan sent on time and supplemented after the deadline was on time).
    pub async fn latest_submissions(
        &self,
        milestone: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(SubmissionRow, bool)>, StoreError> {
        let sql = format!(
            "SELECT {SUBMISSION_COLS}, \
             (SELECT COUNT(*) FROM submissions f WHERE f.clinic_id = s.clinic_id \
               AND f.milestone = s.milestone AND f.on_time = 1 \
               AND f.received_at >= $2 AND f.received_at < $3) AS on_time_versions \
             FROM submissions s \
             WHERE s.milestone = $1 AND s.received_at >= $2 AND s.received_at < $3 \
             AND NOT EXISTS (SELECT 1 FROM submissions n WHERE n.clinic_id = s.clinic_id \
               AND n.milestone = s.milestone AND n.version > s.version \
               AND n.received_at >= $2 AND n.received_at < $3) \
             ORDER BY s.clinic_id"
        );
        let rows = sqlx::query(&sql)
            .bind(milestone)
            .bind(ts(from))
            .bind(ts(to))
            .fetch_all(&self.pool)
            .await
            .map_err(q("list the latest submissions"))?;
        rows.iter()
            .map(|r| {
                let n: i64 = super::rows::col(r, "on_time_versions")?;
                Ok((SubmissionRow::from_row(r, false)?, n > 0))
            })
            .collect()
    }

    /// Every submission's milestone and receive time (which cycle years the ledger holds).
    pub async fn submission_times(&self) -> Result<Vec<(i64, DateTime<Utc>)>, StoreError> {
        let rows = sqlx::query("SELECT milestone, received_at FROM submissions")
            .fetch_all(&self.pool)
            .await
            .map_err(q("list the submissions' receive times"))?;
        rows.iter()
            .map(|r| {
                let at: String = super::rows::col(r, "received_at")?;
                Ok((
                    super::rows::col(r, "milestone")?,
                    super::parse_ts("received_at", &at)?,
                ))
            })
            .collect()
    }

    /// The cycle years the decisions carry.
    pub async fn decision_years(&self) -> Result<Vec<i32>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT year FROM decisions")
            .fetch_all(&self.pool)
            .await
            .map_err(q("list the decisions' years"))?;
        rows.iter()
            .map(|r| Ok(super::rows::col::<i64>(r, "year")? as i32))
            .collect()
    }

    /// Every version of a clinic's milestone, newest first.
    pub async fn submission_versions(
        &self,
        clinic_id: &str,
        milestone: i64,
    ) -> Result<Vec<SubmissionRow>, StoreError> {
        let sql = format!(
            "SELECT {SUBMISSION_COLS} FROM submissions s \
             WHERE s.clinic_id = $1 AND s.milestone = $2 ORDER BY s.version DESC"
        );
        let rows = sqlx::query(&sql)
            .bind(clinic_id)
            .bind(milestone)
            .fetch_all(&self.pool)
            .await
            .map_err(q("list a submission's versions"))?;
        rows.iter()
            .map(|r| SubmissionRow::from_row(r, false))
            .collect()
    }

    /// One recorded message by row id.
    pub async fn message(&self, id: i64) -> Result<Option<MessageRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {MESSAGE_COLS} FROM messages WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read a message"))?
        .map(|r| MessageRow::from_row(&r))
        .transpose()
    }

    /// One triage item (open or resolved).
    pub async fn triage_item(&self, id: i64) -> Result<Option<TriageRow>, StoreError> {
        sqlx::query(
            "SELECT id, message_row_id, reason, created_at, resolved_at FROM triage WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read a triage item"))?
        .map(|r| TriageRow::from_row(&r))
        .transpose()
    }
}
