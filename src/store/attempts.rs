//! The attempt ledger of the poison-mail mechanism: before a message is parsed, its source
//! key, raw SHA-256 and attempt count are committed here. A message that fails, panics, hangs
//! or takes the process down is retried at most `max_attempts` times and then quarantined
//! without being parsed again. A row still `running` at the next attempt means the process
//! died while it held that message. See docs/architecture.md, "Poison mail".

use chrono::{DateTime, Utc};

use super::clean::{MAX_KEY, MAX_REASON, storable_text};
use super::rows::col;
use super::{Store, StoreError, parse_ts, q, ts};

/// Where a message's processing stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptState {
    /// Committed before parsing; still so after a crash.
    Running,
    /// The last attempt ended with an error.
    Failed,
    /// Recorded in the ledger.
    Done,
    /// Given up: recorded as quarantined, moved to the quarantine folder.
    Quarantined,
}

impl AttemptState {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Running => "running",
            AttemptState::Failed => "failed",
            AttemptState::Done => "done",
            AttemptState::Quarantined => "quarantined",
        }
    }

    fn parse(s: &str) -> Result<AttemptState, StoreError> {
        Ok(match s {
            "running" => AttemptState::Running,
            "failed" => AttemptState::Failed,
            "done" => AttemptState::Done,
            "quarantined" => AttemptState::Quarantined,
            other => {
                return Err(StoreError::Decode {
                    column: "state",
                    detail: format!("unknown attempt state {other:?}"),
                });
            }
        })
    }
}

/// One message's attempt row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    pub source_key: String,
    pub sha256: String,
    pub attempts: i64,
    /// Processes that died holding this message.
    pub deaths: i64,
    pub state: AttemptState,
    pub last_error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What [`Store::begin_attempt`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptStart {
    /// Go ahead: this is attempt number `attempt` (1-based), committed as running. `deaths`
    /// processes died holding this message so far (then parse it in a probe process).
    Go { attempt: i64, deaths: i64 },
    /// `attempts` tries are used up: quarantine without parsing. `last_error` says why the
    /// last one failed (a process death is named as such).
    Quarantine { attempts: i64, last_error: String },
}

/// The error recorded for an attempt that never finished.
pub const INTERRUPTED: &str = "processing never finished: the process stopped while it held this message (killed, crashed, stack overflow or out of memory)";

impl Store {
    /// Record, and commit, that processing of a message starts, BEFORE it is parsed. An
    /// earlier attempt still `running` died with the process: `deaths` goes up and its error
    /// becomes [`INTERRUPTED`]; it counts as an attempt only if `count_deaths` (without a
    /// probe process, a death cannot be told apart from an outside kill). When `max_attempts`
    /// attempts were already made, nothing is started and the message is to be quarantined.
    pub async fn begin_attempt(
        &self,
        source_key: &str,
        sha256: &str,
        max_attempts: u32,
        count_deaths: bool,
        now: DateTime<Utc>,
    ) -> Result<AttemptStart, StoreError> {
        let key = storable_text(source_key, MAX_KEY);
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin an intake attempt"))?;
        let row = sqlx::query(
            "SELECT attempts, deaths, state, last_error FROM intake_attempts WHERE source_key = $1",
        )
        .bind(key.as_ref())
        .fetch_optional(&mut *tx)
        .await
        .map_err(q("read an intake attempt"))?;
        let (done, deaths, last_error) = match &row {
            None => (0, 0, None),
            Some(r) => {
                let mut n: i64 = col(r, "attempts")?;
                let mut deaths: i64 = col(r, "deaths")?;
                let state = AttemptState::parse(&col::<String>(r, "state")?)?;
                let err: Option<String> = col(r, "last_error")?;
                let err = if state == AttemptState::Running {
                    deaths += 1;
                    if !count_deaths {
                        n = (n - 1).max(0);
                    }
                    Some(INTERRUPTED.to_string())
                } else {
                    err
                };
                (n, deaths, err)
            }
        };
        if done >= i64::from(max_attempts.max(1)) {
            // Keep what we learnt: a process death is recorded as the last error.
            sqlx::query(
                "UPDATE intake_attempts SET state = 'failed', last_error = $2, updated_at = $3, \
                 attempts = $4, deaths = $5 WHERE source_key = $1",
            )
            .bind(key.as_ref())
            .bind(last_error.as_deref())
            .bind(ts(now))
            .bind(done)
            .bind(deaths)
            .execute(&mut *tx)
            .await
            .map_err(q("update an intake attempt"))?;
            tx.commit().await.map_err(q("commit an intake attempt"))?;
            return Ok(AttemptStart::Quarantine {
                attempts: done,
                last_error: last_error.unwrap_or_else(|| "unknown error".into()),
            });
        }
        let attempt = done + 1;
        if row.is_none() {
            sqlx::query(
                "INSERT INTO intake_attempts (source_key, sha256, attempts, state, last_error, \
                 started_at, updated_at) VALUES ($1, $2, $3, 'running', NULL, $4, $4)",
            )
            .bind(key.as_ref())
            .bind(sha256)
            .bind(attempt)
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(q("insert an intake attempt"))?;
        } else {
            sqlx::query(
                "UPDATE intake_attempts SET attempts = $2, state = 'running', last_error = $3, \
                 started_at = $4, updated_at = $4, deaths = $5 WHERE source_key = $1",
            )
            .bind(key.as_ref())
            .bind(attempt)
            .bind(last_error.as_deref())
            .bind(ts(now))
            .bind(deaths)
            .execute(&mut *tx)
            .await
            .map_err(q("update an intake attempt"))?;
        }
        tx.commit().await.map_err(q("commit an intake attempt"))?;
        Ok(AttemptStart::Go { attempt, deaths })
    }

    /// Record how an attempt ended. `counts = false` gives the attempt back (an error of the
    /// infrastructure, such as the database being unreachable, says nothing about the mail).
    pub async fn end_attempt(
        &self,
        source_key: &str,
        state: AttemptState,
        error: Option<&str>,
        counts: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let give_back = i64::from(!counts);
        sqlx::query(
            "UPDATE intake_attempts SET state = $2, \
             last_error = COALESCE($3, last_error), \
             attempts = CASE WHEN attempts >= $4 THEN attempts - $4 ELSE attempts END, \
             updated_at = $5 WHERE source_key = $1",
        )
        .bind(storable_text(source_key, MAX_KEY).as_ref())
        .bind(state.as_str())
        .bind(error.map(|e| storable_text(e, MAX_REASON).into_owned()))
        .bind(give_back)
        .bind(ts(now))
        .execute(&self.pool)
        .await
        .map_err(q("finish an intake attempt"))?;
        Ok(())
    }

    /// The attempt row of a message, if processing ever started.
    pub async fn attempt(&self, source_key: &str) -> Result<Option<AttemptRow>, StoreError> {
        sqlx::query(
            "SELECT source_key, sha256, attempts, deaths, state, last_error, started_at, updated_at \
             FROM intake_attempts WHERE source_key = $1",
        )
        .bind(storable_text(source_key, MAX_KEY).as_ref())
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read an intake attempt"))?
        .map(|r| {
            Ok(AttemptRow {
                source_key: col(&r, "source_key")?,
                sha256: col(&r, "sha256")?,
                attempts: col(&r, "attempts")?,
                deaths: col(&r, "deaths")?,
                state: AttemptState::parse(&col::<String>(&r, "state")?)?,
                last_error: col(&r, "last_error")?,
                started_at: parse_ts("started_at", &col::<String>(&r, "started_at")?)?,
                updated_at: parse_ts("updated_at", &col::<String>(&r, "updated_at")?)?,
            })
        })
        .transpose()
    }
}
