//! Scheduler runs (`job_runs`) and the read queries the jobs need.
//!
//! A run is claimed by inserting `(job, due_at)`; the UNIQUE constraint makes a second
//! scheduler (another process on the same PostgreSQL database) lose the insert. A run left
//! unfinished by a crash is taken over with a compare-and-swap on its lease once the lease
//! has expired. The first scheduler tick records the schedule's epoch: slots before it are
//! not missed work.

use chrono::{DateTime, Duration, Utc};

use super::rows::{col, col_opt_ts};
use super::{Store, StoreError, parse_ts, q, ts};

/// One row of `job_runs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRun {
    pub id: i64,
    pub job: String,
    pub due_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub owner: String,
    pub lease_until: DateTime<Utc>,
    pub attempts: i64,
}

/// The result of trying to claim a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This caller runs it (a fresh run, or a takeover after an expired lease).
    Claimed(JobRun),
    /// Finished already, or another scheduler holds a live lease.
    Taken,
}

/// Outbox rows of one kind: how many are sent, pending (incl. failed/sending), dead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxKindStats {
    pub sent: i64,
    pub pending: i64,
    pub dead: i64,
}

const RUN_COLS: &str =
    "id, job, due_at, started_at, finished_at, outcome, owner, lease_until, attempts";

fn run_from(r: &sqlx::any::AnyRow) -> Result<JobRun, StoreError> {
    Ok(JobRun {
        id: col(r, "id")?,
        job: col(r, "job")?,
        due_at: parse_ts("due_at", &col::<String>(r, "due_at")?)?,
        started_at: parse_ts("started_at", &col::<String>(r, "started_at")?)?,
        finished_at: col_opt_ts(r, "finished_at")?,
        outcome: col(r, "outcome")?,
        owner: col(r, "owner")?,
        lease_until: parse_ts("lease_until", &col::<String>(r, "lease_until")?)?,
        attempts: col(r, "attempts")?,
    })
}

impl Store {
    /// The schedule's epoch: recorded once, at the first tick (`now`); later calls return
    /// the recorded value.
    pub async fn scheduler_epoch(&self, now: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
        sqlx::query(
            "INSERT INTO daemon_state (key, value) VALUES ('scheduler_epoch', $1) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(ts(now))
        .execute(&self.pool)
        .await
        .map_err(q("record the scheduler epoch"))?;
        let row = sqlx::query("SELECT value FROM daemon_state WHERE key = 'scheduler_epoch'")
            .fetch_one(&self.pool)
            .await
            .map_err(q("read the scheduler epoch"))?;
        parse_ts("scheduler_epoch", &col::<String>(&row, "value")?)
    }

    /// Claim the run of `job` for `due_at` (see the module docs).
    pub async fn claim_run(
        &self,
        job: &str,
        due_at: DateTime<Utc>,
        owner: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let ins = sqlx::query(
            "INSERT INTO job_runs (job, due_at, started_at, owner, lease_until, attempts) \
             VALUES ($1, $2, $3, $4, $5, 1) ON CONFLICT (job, due_at) DO NOTHING",
        )
        .bind(job)
        .bind(ts(due_at))
        .bind(ts(now))
        .bind(owner)
        .bind(ts(now + lease))
        .execute(&self.pool)
        .await
        .map_err(q("insert a job run"))?;
        if ins.rows_affected() == 1 {
            return Ok(Claim::Claimed(self.run_of(job, due_at).await?));
        }
        let cur = self.run_of(job, due_at).await?;
        if cur.finished_at.is_some() || cur.lease_until > now {
            return Ok(Claim::Taken);
        }
        let upd = sqlx::query(
            "UPDATE job_runs SET owner = $1, lease_until = $2, started_at = $3, \
             attempts = attempts + 1 \
             WHERE id = $4 AND finished_at IS NULL AND lease_until = $5",
        )
        .bind(owner)
        .bind(ts(now + lease))
        .bind(ts(now))
        .bind(cur.id)
        .bind(ts(cur.lease_until))
        .execute(&self.pool)
        .await
        .map_err(q("take over a job run"))?;
        if upd.rows_affected() == 1 {
            Ok(Claim::Claimed(self.run_of(job, due_at).await?))
        } else {
            Ok(Claim::Taken)
        }
    }

    async fn run_of(&self, job: &str, due_at: DateTime<Utc>) -> Result<JobRun, StoreError> {
        let sql = format!("SELECT {RUN_COLS} FROM job_runs WHERE job = $1 AND due_at = $2");
        let row = sqlx::query(&sql)
            .bind(job)
            .bind(ts(due_at))
            .fetch_one(&self.pool)
            .await
            .map_err(q("read a job run"))?;
        run_from(&row)
    }

    /// Record the outcome of a claimed run.
    pub async fn finish_run(
        &self,
        id: i64,
        owner: &str,
        now: DateTime<Utc>,
        outcome: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE job_runs SET finished_at = $1, outcome = $2 \
             WHERE id = $3 AND owner = $4 AND finished_at IS NULL",
        )
        .bind(ts(now))
        .bind(outcome)
        .bind(id)
        .bind(owner)
        .execute(&self.pool)
        .await
        .map_err(q("finish a job run"))?;
        Ok(done.rows_affected() == 1)
    }

    /// The latest run of `job` (by due time), finished or not.
    pub async fn last_run(&self, job: &str) -> Result<Option<JobRun>, StoreError> {
        let sql =
            format!("SELECT {RUN_COLS} FROM job_runs WHERE job = $1 ORDER BY due_at DESC LIMIT 1");
        sqlx::query(&sql)
            .bind(job)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("read the last job run"))?
            .map(|r| run_from(&r))
            .transpose()
    }

    /// Unfinished runs of `job` whose lease has expired at `now` (crashed mid-way).
    pub async fn stale_runs(
        &self,
        job: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<JobRun>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLS} FROM job_runs WHERE job = $1 AND finished_at IS NULL \
             AND lease_until <= $2 ORDER BY due_at"
        );
        let rows = sqlx::query(&sql)
            .bind(job)
            .bind(ts(now))
            .fetch_all(&self.pool)
            .await
            .map_err(q("list stale job runs"))?;
        rows.iter().map(run_from).collect()
    }

    /// Every run, oldest first (for tests and reports).
    pub async fn job_runs(&self) -> Result<Vec<JobRun>, StoreError> {
        let sql = format!("SELECT {RUN_COLS} FROM job_runs ORDER BY due_at, job");
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(q("list job runs"))?;
        rows.iter().map(run_from).collect()
    }

    /// Messages per class received in `[from, to)` (class strings as stored, so classes
    /// other branches add, such as `precheck`, are counted too).
    pub async fn class_counts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT class, COUNT(*) AS n FROM messages WHERE received_at >= $1 \
             AND received_at < $2 GROUP BY class ORDER BY class",
        )
        .bind(ts(from))
        .bind(ts(to))
        .fetch_all(&self.pool)
        .await
        .map_err(q("count messages per class in a window"))?;
        rows.iter()
            .map(|r| Ok((col(r, "class")?, col(r, "n")?)))
            .collect()
    }

    /// Outbox rows whose kind is `kind` and that were created in `[from, to)`, by status.
    pub async fn outbox_kind_stats(
        &self,
        kind: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<OutboxKindStats, StoreError> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM outbox WHERE kind = $1 AND created_at >= $2 \
             AND created_at < $3 GROUP BY status",
        )
        .bind(kind)
        .bind(ts(from))
        .bind(ts(to))
        .fetch_all(&self.pool)
        .await
        .map_err(q("count outbox rows of a kind"))?;
        let mut s = OutboxKindStats::default();
        for r in &rows {
            let status: String = col(r, "status")?;
            let n: i64 = col(r, "n")?;
            match status.as_str() {
                "sent" => s.sent += n,
                "dead" => s.dead += n,
                _ => s.pending += n,
            }
        }
        Ok(s)
    }

    /// Whether an outbox row with this dedupe key exists.
    pub async fn outbox_has_key(&self, key: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE dedupe_key = $1")
            .bind(key)
            .fetch_one(&self.pool)
            .await
            .map_err(q("look up an outbox dedupe key"))?;
        Ok(col::<i64>(&row, "n")? > 0)
    }
}

impl Store {
    /// Record that a unit of work was deliberately skipped (paused reminders).
    pub async fn record_skip(
        &self,
        unit_key: &str,
        job: &str,
        due_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO job_skips (unit_key, job, due_at, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (unit_key) DO NOTHING",
        )
        .bind(unit_key)
        .bind(job)
        .bind(ts(due_at))
        .bind(ts(now))
        .execute(&self.pool)
        .await
        .map_err(q("record a skipped unit"))?;
        Ok(())
    }

    /// Whether a unit was skipped earlier.
    pub async fn was_skipped(&self, unit_key: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM job_skips WHERE unit_key = $1")
            .bind(unit_key)
            .fetch_one(&self.pool)
            .await
            .map_err(q("look up a skipped unit"))?;
        Ok(col::<i64>(&row, "n")? > 0)
    }
}
