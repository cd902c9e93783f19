//! What the desk's schedule page reads and sets: the reviewers' pause switch for reminders
//! (a `daemon_state` value, changed with its audit row in one transaction; the reminders job
//! reads it at every run beside `[reminders] paused`) and the reminders queued or skipped per
//! clinic (the outbox's `reminder` rows and `job_skips`, by their unit keys).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::rows::col;
use super::{NewAudit, Store, StoreError, parse_ts, q};

/// The `daemon_state` key of the desk's pause switch ("1" paused).
pub const REMINDERS_PAUSED_KEY: &str = "desk.reminders_paused";

/// One reminder unit: queued (with its delivery status) or skipped while paused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderLogRow {
    pub clinic_id: String,
    pub milestone: u8,
    /// `d14`, `d3`, `after` (days before the deadline, or after it) or `incomplete`.
    pub step: String,
    /// The outbox status (`pending`, `sent`, `dead`, …), or `skipped` (paused).
    pub status: String,
    pub recipient: Option<String>,
    pub at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// `reminder:{year}:m{n}:{step}:{clinic}[:address]` → (milestone, step, clinic).
fn parse_key(key: &str) -> Option<(u8, String, String)> {
    let mut p = key.split(':');
    if p.next()? != "reminder" {
        return None;
    }
    let _year = p.next()?;
    let milestone = p.next()?.strip_prefix('m')?.parse().ok()?;
    let step = p.next()?.to_string();
    let clinic = p.next()?.to_string();
    Some((milestone, step, clinic))
}

impl Store {
    /// Has a reviewer paused the reminders from the desk?
    pub async fn reminders_paused(&self) -> Result<bool, StoreError> {
        let v: Option<String> = sqlx::query_scalar("SELECT value FROM daemon_state WHERE key = $1")
            .bind(REMINDERS_PAUSED_KEY)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("read the reminders' pause switch"))?;
        Ok(v.as_deref() == Some("1"))
    }

    /// Pause or resume the reminders, audited as `reminders.pause` / `reminders.resume` by
    /// `actor`. `Ok(false)` when the switch was already so (nothing written).
    pub async fn set_reminders_paused(
        &self,
        paused: bool,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin a pause change"))?;
        let current: Option<String> =
            sqlx::query_scalar("SELECT value FROM daemon_state WHERE key = $1")
                .bind(REMINDERS_PAUSED_KEY)
                .fetch_optional(&mut *tx)
                .await
                .map_err(q("read the reminders' pause switch"))?;
        if (current.as_deref() == Some("1")) == paused {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO daemon_state (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(REMINDERS_PAUSED_KEY)
        .bind(if paused { "1" } else { "0" })
        .execute(&mut *tx)
        .await
        .map_err(q("set the reminders' pause switch"))?;
        let action = if paused {
            "reminders.pause"
        } else {
            "reminders.resume"
        };
        let row = NewAudit::new(actor, action, "job:reminders", json!({}));
        super::audit::append_tx(&mut tx, self.backend, &row, now).await?;
        tx.commit().await.map_err(q("commit a pause change"))?;
        Ok(true)
    }

    /// The reminders of cycle `year`, queued or skipped, newest first (at most `limit`).
    pub async fn reminder_log(
        &self,
        year: i32,
        limit: i64,
    ) -> Result<Vec<ReminderLogRow>, StoreError> {
        let prefix = format!("reminder:{year}:%");
        let rows = sqlx::query(
            "SELECT dedupe_key AS k, status, recipient, created_at AS at, sent_at FROM outbox \
             WHERE kind = 'reminder' AND dedupe_key LIKE $1 \
             UNION ALL \
             SELECT unit_key AS k, 'skipped' AS status, NULL AS recipient, created_at AS at, \
             NULL AS sent_at FROM job_skips WHERE job = 'reminders' AND unit_key LIKE $1 \
             ORDER BY at DESC LIMIT $2",
        )
        .bind(&prefix)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(q("list reminders"))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let key: String = col(r, "k")?;
            let Some((milestone, step, clinic_id)) = parse_key(&key) else {
                continue;
            };
            let sent: Option<String> = col(r, "sent_at")?;
            out.push(ReminderLogRow {
                clinic_id,
                milestone,
                step,
                status: col(r, "status")?,
                recipient: col(r, "recipient")?,
                at: parse_ts("at", &col::<String>(r, "at")?)?,
                sent_at: sent.map(|s| parse_ts("sent_at", &s)).transpose()?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_keys_name_the_clinic() {
        assert_eq!(
            parse_key("reminder:2026:m1:d14:bjorkdalen"),
            Some((1, "d14".into(), "bjorkdalen".into()))
        );
        assert_eq!(
            parse_key("reminder:2026:m2:incomplete:sjoudden:a@vc.test"),
            Some((2, "incomplete".into(), "sjoudden".into()))
        );
        assert_eq!(parse_key("digest:2026-W07"), None);
        assert_eq!(parse_key("reminder:2026:mx:d3:a"), None);
    }
}
