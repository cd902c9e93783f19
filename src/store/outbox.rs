//! The outbox: queued outgoing mail, claimed and marked by the sender worker.

use chrono::{DateTime, Duration, Utc};

use super::intake::insert_outbox;
use super::rows::{OUTBOX_COLS, col, col_opt_ts};
use super::{Backend, NewOutbox, OutboxRow, Store, StoreError, q, ts};

/// Exponential backoff for outbox retries: `base · 2^(attempts-1)`, capped at `max`; after
/// `max_attempts` attempts the row is given up (`dead`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
    pub max_attempts: i64,
}

impl Default for RetryPolicy {
    /// 1 min, 2, 4, 8 … capped at 4 h; 10 attempts (about 17 h in all).
    fn default() -> Self {
        RetryPolicy {
            base: Duration::minutes(1),
            max: Duration::hours(4),
            max_attempts: 10,
        }
    }
}

impl RetryPolicy {
    /// When to try again after `attempts` failed attempts (the row's `attempts` after the
    /// claim), or `None` when it is time to give up.
    pub fn next_attempt(&self, attempts: i64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if attempts >= self.max_attempts {
            return None;
        }
        let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
        let delay = self
            .base
            .checked_mul(2i32.saturating_pow(exp))
            .unwrap_or(self.max)
            .min(self.max);
        Some(now + delay)
    }
}

impl Store {
    /// Queue one outgoing mail outside an intake (a later notice, a report). Returns
    /// `None` without writing if a row with the same dedupe key exists.
    pub async fn enqueue(
        &self,
        o: &NewOutbox,
        dedupe_key: &str,
        now: DateTime<Utc>,
        related_submission_id: Option<i64>,
        related_message_id: Option<i64>,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin the enqueue transaction"))?;
        let exists = sqlx::query("SELECT id FROM outbox WHERE dedupe_key = $1")
            .bind(dedupe_key)
            .fetch_optional(&mut *tx)
            .await
            .map_err(q("check the outbox dedupe key"))?;
        if exists.is_some() {
            return Ok(None);
        }
        let id = insert_outbox(
            &mut tx,
            o,
            dedupe_key,
            now,
            related_submission_id,
            related_message_id,
        )
        .await
        .map_err(q("insert an outbox row"))?;
        tx.commit().await.map_err(q("commit the outbox row"))?;
        Ok(Some(id))
    }

    /// Claim up to `limit` rows that are due (`pending` or `failed` with
    /// `next_attempt_at <= now`): they become `sending`, `attempts` goes up by one and
    /// `claimed_at` is `now`. Two concurrent claimers never get the same row (PG:
    /// `FOR UPDATE SKIP LOCKED`; SQLite: one writer at a time). Oldest due first.
    pub async fn claim_due(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, claimed_at = $1 \
             WHERE id IN (SELECT id FROM outbox \
                 WHERE status IN ('pending', 'failed') AND next_attempt_at <= $1 \
                 ORDER BY next_attempt_at, id LIMIT $2{lock}) \
             RETURNING {OUTBOX_COLS}"
        );
        let rows = sqlx::query(&sql)
            .bind(ts(now))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(q("claim due outbox rows"))?;
        let mut out = rows
            .iter()
            .map(OutboxRow::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|a| (a.next_attempt_at, a.id));
        Ok(out)
    }

    /// Update a row that must be `sending`; error if it is missing or in another state.
    async fn finish(
        &self,
        op: &'static str,
        id: i64,
        sql: &str,
        binds: Vec<Option<String>>,
    ) -> Result<(), StoreError> {
        let mut query = sqlx::query(sql).bind(id);
        for b in binds {
            query = query.bind(b);
        }
        let done = query.execute(&self.pool).await.map_err(q(op))?;
        if done.rows_affected() == 1 {
            return Ok(());
        }
        let row = sqlx::query("SELECT status FROM outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("read an outbox row's status"))?;
        match row {
            None => Err(StoreError::OutboxNotFound { id }),
            Some(r) => Err(StoreError::NotClaimed {
                id,
                status: col(&r, "status")?,
            }),
        }
    }

    /// The mail was handed to the SMTP server.
    pub async fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.finish(
            "mark an outbox row sent",
            id,
            "UPDATE outbox SET status = 'sent', sent_at = $2, last_attempt_at = $2 \
             WHERE id = $1 AND status = 'sending'",
            vec![Some(ts(now))],
        )
        .await
    }

    /// The attempt failed; try again at `next_attempt_at` (see [`RetryPolicy`]).
    pub async fn mark_retry(
        &self,
        id: i64,
        now: DateTime<Utc>,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.finish(
            "schedule an outbox retry",
            id,
            "UPDATE outbox SET status = 'failed', last_attempt_at = $2, last_error = $3, \
             next_attempt_at = $4 WHERE id = $1 AND status = 'sending'",
            vec![
                Some(ts(now)),
                Some(error.to_string()),
                Some(ts(next_attempt_at)),
            ],
        )
        .await
    }

    /// Give up on the row (permanent SMTP error, or too many attempts): status `dead`.
    pub async fn mark_dead(
        &self,
        id: i64,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.finish(
            "give up an outbox row",
            id,
            "UPDATE outbox SET status = 'dead', last_attempt_at = $2, last_error = $3 \
             WHERE id = $1 AND status = 'sending'",
            vec![Some(ts(now)), Some(error.to_string())],
        )
        .await
    }

    /// Rows left in `sending` (the process died between claim and mark). Call at start-up,
    /// before any worker runs; the caller decides (resend with the same Message-ID via
    /// [`Store::reset_sending_to_pending`], or [`Store::mark_dead`]).
    pub async fn recover_sending(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let sql = format!("SELECT {OUTBOX_COLS} FROM outbox WHERE status = 'sending' ORDER BY id");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(q("list outbox rows left sending"))?;
        rows.iter().map(OutboxRow::from_row).collect()
    }

    /// Put a row left in `sending` back to `pending` (its attempts count is kept).
    pub async fn reset_sending_to_pending(&self, id: i64) -> Result<(), StoreError> {
        self.finish(
            "reset an outbox row to pending",
            id,
            "UPDATE outbox SET status = 'pending' WHERE id = $1 AND status = 'sending'",
            vec![],
        )
        .await
    }

    /// The outbox row whose outgoing mail carries this Message-ID (without angle brackets).
    pub async fn outbox_by_mail_message_id(
        &self,
        mid: &str,
    ) -> Result<Option<OutboxRow>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLS} FROM outbox WHERE mail_message_id = $1 ORDER BY id LIMIT 1"
        );
        sqlx::query(&sql)
            .bind(mid)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("find an outbox row by Message-ID"))?
            .map(|r| OutboxRow::from_row(&r))
            .transpose()
    }

    /// Proof of delivery arrived (our own envelope copy came back through the mailbox): the
    /// row is sent, whatever state a crash or a lost server reply left it in. Returns whether
    /// anything changed.
    pub async fn confirm_sent(&self, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at = $2, last_error = NULL              WHERE id = $1 AND status <> 'sent'",
        )
        .bind(id)
        .bind(ts(now))
        .execute(&self.pool)
        .await
        .map_err(q("confirm an outbox row sent"))?;
        Ok(done.rows_affected() == 1)
    }

    /// When the next `pending`/`failed` row falls due, if any.
    pub async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(next_attempt_at) AS t FROM outbox WHERE status IN ('pending', 'failed')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(q("find the next due outbox row"))?;
        col_opt_ts(&row, "t")
    }

    /// One outbox row by id.
    pub async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>, StoreError> {
        let sql = format!("SELECT {OUTBOX_COLS} FROM outbox WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("read an outbox row"))?
            .map(|r| OutboxRow::from_row(&r))
            .transpose()
    }

    /// Rows not yet delivered nor given up (`pending`, `sending`, `failed`): how many, and
    /// the oldest one's `created_at`.
    pub async fn outbox_backlog(&self) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox \
             WHERE status IN ('pending', 'sending', 'failed')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(q("measure the outbox backlog"))?;
        Ok((col(&row, "n")?, col_opt_ts(&row, "oldest")?))
    }

    /// Rows given up (`dead`): replies that need a person.
    pub async fn outbox_dead(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE status = 'dead'")
            .fetch_one(&self.pool)
            .await
            .map_err(q("count dead outbox rows"))?;
        col(&row, "n")
    }

    /// Outbox rows to `recipient` (ASCII case-insensitive; as first recipient or in `cc`)
    /// created at or after `since`, whatever their status: the input of the per-recipient
    /// rate limit.
    pub async fn replies_to_since(
        &self,
        recipient: &str,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM outbox WHERE created_at >= $2 \
             AND (lower(recipient) = lower($1) \
                  OR (cc <> '' AND ',' || lower(cc) || ',' LIKE $3 ESCAPE '\\'))",
        )
        .bind(recipient)
        .bind(ts(since))
        .bind(format!("%,{},%", like_escape(&recipient.to_lowercase())))
        .fetch_one(&self.pool)
        .await
        .map_err(q("count replies to a recipient"))?;
        col(&row, "n")
    }

    /// How many outbox rows answer messages of this clinic (any of its addresses) created
    /// since `since`: the per-clinic loop guard.
    pub async fn replies_to_clinic_since(
        &self,
        clinic_id: &str,
        since: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM outbox o JOIN messages m ON m.id = o.related_message_id \
             WHERE m.clinic_id = $1 AND o.created_at >= $2",
        )
        .bind(clinic_id)
        .bind(ts(since))
        .fetch_one(&self.pool)
        .await
        .map_err(q("count replies to a clinic"))?;
        col(&row, "n")
    }
}

/// `s` as a literal inside a LIKE pattern with `ESCAPE '\'`.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            base: Duration::minutes(1),
            max: Duration::minutes(10),
            max_attempts: 6,
        };
        let now = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let delays: Vec<i64> = (1..=5)
            .map(|a| (p.next_attempt(a, now).unwrap() - now).num_minutes())
            .collect();
        assert_eq!(delays, vec![1, 2, 4, 8, 10]);
        assert_eq!(p.next_attempt(6, now), None);
        assert!(RetryPolicy::default().next_attempt(9, now).is_some());
    }
}
