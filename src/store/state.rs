//! Listings for `vardval status` / reports, and the poller's and daemon's small state.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::rows::{SUBMISSION_COLS, col};
use super::{MailboxState, Store, StoreError, SubmissionRow, TriageRow, q, ts};

impl Store {
    /// All submissions, ordered by `received_at, id`, each with its receipt's `sent_at`.
    pub async fn submissions(&self) -> Result<Vec<SubmissionRow>, StoreError> {
        let sql = format!(
            "SELECT {SUBMISSION_COLS}, \
             (SELECT MAX(o.sent_at) FROM outbox o \
              WHERE o.related_submission_id = s.id AND o.kind = 'receipt') AS receipt_sent_at \
             FROM submissions s ORDER BY s.received_at, s.id"
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(q("list submissions"))?;
        rows.iter()
            .map(|r| SubmissionRow::from_row(r, true))
            .collect()
    }

    /// How many messages of each class, by class name.
    pub async fn class_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows =
            sqlx::query("SELECT class, COUNT(*) AS n FROM messages GROUP BY class ORDER BY class")
                .fetch_all(&self.pool)
                .await
                .map_err(q("count messages by class"))?;
        rows.iter()
            .map(|r| Ok((col(r, "class")?, col(r, "n")?)))
            .collect()
    }

    /// Unresolved triage items, oldest first.
    pub async fn triage_open(&self) -> Result<Vec<TriageRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, message_row_id, reason, created_at, resolved_at FROM triage \
             WHERE resolved_at IS NULL ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(q("list open triage items"))?;
        rows.iter().map(TriageRow::from_row).collect()
    }

    /// Close a triage item.
    pub async fn resolve_triage(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let done =
            sqlx::query("UPDATE triage SET resolved_at = $2 WHERE id = $1 AND resolved_at IS NULL")
                .bind(id)
                .bind(ts(now))
                .execute(&self.pool)
                .await
                .map_err(q("resolve a triage item"))?;
        if done.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::TriageNotFound { id })
        }
    }

    /// The poller's position in a folder (`imap:host:user:folder`).
    pub async fn get_mailbox_state(&self, key: &str) -> Result<Option<MailboxState>, StoreError> {
        sqlx::query(
            "SELECT key, uidvalidity, last_uid, updated_at FROM mailbox_state WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read the mailbox state"))?
        .map(|r| MailboxState::from_row(&r))
        .transpose()
    }

    /// Record the poller's position in a folder (insert or replace).
    pub async fn set_mailbox_state(
        &self,
        key: &str,
        uidvalidity: i64,
        last_uid: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO mailbox_state (key, uidvalidity, last_uid, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET \
             uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid, \
             updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(uidvalidity)
        .bind(last_uid)
        .bind(ts(now))
        .execute(&self.pool)
        .await
        .map_err(q("write the mailbox state"))?;
        Ok(())
    }

    /// Set one daemon status value (`last_poll_at`, `connection_state`, `last_error`, …).
    pub async fn set_daemon_state(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO daemon_state (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(q("write the daemon state"))?;
        Ok(())
    }

    /// Remove daemon status values (a "current" error once the trouble is over).
    pub async fn clear_daemon_state(&self, keys: &[&str]) -> Result<(), StoreError> {
        for key in keys {
            sqlx::query("DELETE FROM daemon_state WHERE key = $1")
                .bind(*key)
                .execute(&self.pool)
                .await
                .map_err(q("clear a daemon state value"))?;
        }
        Ok(())
    }

    /// All daemon status values.
    pub async fn daemon_state(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let rows = sqlx::query("SELECT key, value FROM daemon_state")
            .fetch_all(&self.pool)
            .await
            .map_err(q("read the daemon state"))?;
        rows.iter()
            .map(|r| Ok((col(r, "key")?, col(r, "value")?)))
            .collect()
    }
}
