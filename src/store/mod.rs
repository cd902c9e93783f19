//! The ledger: every inbound message, submission, triage item and outgoing mail, in one
//! database (SQLite file or PostgreSQL) reached through sqlx's `Any` driver.
//!
//! # Portability rules (sqlx 0.8 `Any`)
//! - Every statement uses `$N` placeholders (works on both backends; `?` breaks PG).
//! - Ids, counters and flags are `BIGINT`/`INTEGER` (flags 0/1); there are no `BOOLEAN` or
//!   `TIMESTAMPTZ` columns because `Any` cannot decode them.
//! - Time is `TEXT` in RFC 3339 UTC with milliseconds and `Z` (see [`ts`]), so text order is
//!   time order. The store never reads the clock: callers pass `now`.
//!
//! # Exactly-once
//! [`Store::commit_intake`] records a message, its submission (with the next version number),
//! its triage item and its outbox rows in one transaction, keyed by the message's unique
//! `source_key`; a second commit for the same key writes nothing. The outbox is drained by
//! [`Store::claim_due`] / [`Store::mark_sent`] / [`Store::mark_retry`]. See `docs/storage.md`.

mod attempts;
pub mod audit;
mod clean;
mod clinics;
mod intake;
mod jobs;
mod oidc;
mod outbox;
mod payouts;
mod pending;
mod reviews;
mod rows;
mod schedule;
mod state;
mod users;
pub use users::{SessionRow, UserRow};
mod desk;
mod triage;
pub use triage::Assignment;

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::future::BoxFuture;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

pub use attempts::{AttemptRow, AttemptStart, AttemptState, INTERRUPTED};
pub use audit::{AuditCheck, AuditFilter, AuditRow, NewAudit};
pub use clean::{storable_text, storable_text_changes};
pub use clinics::ClinicChangeRow;
pub use intake::{Assigned, Intake, IntakeIds, NewMessage, NewOutbox, NewSubmission};
pub use jobs::{Claim, JobRun, OutboxKindStats};
pub use oidc::{OIDC_ACCOUNT, OidcAccount, OidcPending};
pub use outbox::RetryPolicy;
pub use payouts::{BatchRow, ClinicLineRow, ReclaimRow, Sealed};
pub use pending::{Countersigned, Proposed};
pub use reviews::{NewDecision, RecordedDecision};
pub use rows::{MailboxState, MessageRow, OutboxRow, OutboxStatus, SubmissionRow, TriageRow};
pub use schedule::{REMINDERS_PAUSED_KEY, ReminderLogRow};

pub use crate::domain::grading::Grade;

/// Which database the pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Errors from the ledger. Messages start with "cannot …".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use database URL {url}: expected sqlite:… or postgres://…")]
    UnsupportedUrl { url: String },
    #[error("cannot connect to the database {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot migrate the {backend} database: {source}")]
    Migrate {
        backend: &'static str,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("cannot {op}: {source}")]
    Query {
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot read {column} from the database: {detail}")]
    Decode {
        column: &'static str,
        detail: String,
    },
    #[error("cannot record message {source_key}: already recorded as message row {message_row_id}")]
    AlreadyRecorded {
        source_key: String,
        message_row_id: i64,
    },
    #[error(
        "cannot assign a version for clinic {clinic_id} milestone {milestone} after {attempts} attempts"
    )]
    VersionContention {
        clinic_id: String,
        milestone: i64,
        attempts: u32,
    },
    #[error("cannot render the outbox rows for message {source_key}: {detail}")]
    Render { source_key: String, detail: String },
    #[error("cannot find outbox row {id}")]
    OutboxNotFound { id: i64 },
    #[error("cannot update outbox row {id}: it is {status}, not sending")]
    NotClaimed { id: i64, status: String },
    #[error("cannot find triage item {id} (or it is already resolved)")]
    TriageNotFound { id: i64 },
    #[error("cannot find submission {id}")]
    SubmissionNotFound { id: i64 },
    #[error(
        "cannot decide on submission {submission_id}: it was superseded by version {newer_version} (submission {newer_id})"
    )]
    Superseded {
        submission_id: i64,
        newer_id: i64,
        newer_version: i64,
    },
    #[error(
        "cannot decide on submission {submission_id}: decision {latest} was recorded since the reviewer looked (expected {expected})"
    )]
    DecidedMeanwhile {
        submission_id: i64,
        expected: i64,
        latest: i64,
    },
    #[error("cannot find pending decision {id}")]
    PendingNotFound { id: i64 },
    #[error(
        "cannot propose a decision on submission {submission_id}: {proposed_by}'s decision (pending {pending_id}) already waits for a second reviewer; countersign or reject it first"
    )]
    PendingExists {
        submission_id: i64,
        pending_id: i64,
        proposed_by: String,
    },
    #[error(transparent)]
    Countersign(#[from] crate::domain::countersign::CountersignError),
}

/// Shorthand for wrapping a sqlx error with what we were doing.
pub(crate) fn q(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { op, source }
}

/// The canonical text form of a time in the ledger: `2025-03-03T08:12:34.000Z`.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn parse_ts(column: &'static str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Decode {
            column,
            detail: format!("{s:?} is not an RFC 3339 time: {e}"),
        })
}

/// How the ledger classifies a message (the mail classifier's classes, refined by the intake
/// with `supplement`, `duplicate` and `unreadable_document`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageClass {
    Submission,
    NoDocument,
    Supplement,
    Duplicate,
    AutoReply,
    Bounce,
    MailingList,
    UnknownSender,
    NeedsReview,
    UnreadableDocument,
    Unparseable,
    /// Förhandskontroll: a clinic asked for its draft to be checked; answered, not submitted.
    Precheck,
}

impl MessageClass {
    pub const ALL: [MessageClass; 12] = [
        MessageClass::Submission,
        MessageClass::NoDocument,
        MessageClass::Supplement,
        MessageClass::Duplicate,
        MessageClass::AutoReply,
        MessageClass::Bounce,
        MessageClass::MailingList,
        MessageClass::UnknownSender,
        MessageClass::NeedsReview,
        MessageClass::UnreadableDocument,
        MessageClass::Unparseable,
        MessageClass::Precheck,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageClass::Submission => "submission",
            MessageClass::NoDocument => "no_document",
            MessageClass::Supplement => "supplement",
            MessageClass::Duplicate => "duplicate",
            MessageClass::AutoReply => "auto_reply",
            MessageClass::Bounce => "bounce",
            MessageClass::MailingList => "mailing_list",
            MessageClass::UnknownSender => "unknown_sender",
            MessageClass::NeedsReview => "needs_review",
            MessageClass::UnreadableDocument => "unreadable_document",
            MessageClass::Unparseable => "unparseable",
            MessageClass::Precheck => "precheck",
        }
    }
}

impl FromStr for MessageClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        MessageClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown message class {s:?}"))
    }
}

impl std::fmt::Display for MessageClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A first submission of a milestone's document, or a supplement to an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmissionKind {
    Submission,
    Supplement,
}

impl SubmissionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionKind::Submission => "submission",
            SubmissionKind::Supplement => "supplement",
        }
    }

    pub fn parse(s: &str) -> Option<SubmissionKind> {
        match s {
            "submission" => Some(SubmissionKind::Submission),
            "supplement" => Some(SubmissionKind::Supplement),
            _ => None,
        }
    }
}

/// The schema migrations, embedded at compile time: (version, description, SQL). The same
/// version, description and checksum (SHA-384 of the SQL) that `sqlx::migrate!` would
/// produce for `migrations/<backend>/<version>_<description>.sql` (that macro needs sqlx's
/// `macros` feature, which this crate does not enable).
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "intake_attempts",
        include_str!("../../migrations/sqlite/0002_intake_attempts.sql"),
    ),
    (
        3,
        "precheck_class",
        include_str!("../../migrations/sqlite/0003_precheck_class.sql"),
    ),
    (
        4,
        "clinics",
        include_str!("../../migrations/sqlite/0004_clinics.sql"),
    ),
    (
        5,
        "jobs",
        include_str!("../../migrations/sqlite/0005_jobs.sql"),
    ),
    (
        6,
        "outbox_cc",
        include_str!("../../migrations/sqlite/0006_outbox_cc.sql"),
    ),
    (
        7,
        "reviews",
        include_str!("../../migrations/sqlite/0007_reviews.sql"),
    ),
    (
        8,
        "web",
        include_str!("../../migrations/sqlite/0008_web.sql"),
    ),
    (
        9,
        "payouts",
        include_str!("../../migrations/sqlite/0009_payouts.sql"),
    ),
    (
        10,
        "pending_decisions",
        include_str!("../../migrations/sqlite/0010_pending_decisions.sql"),
    ),
    (
        11,
        "oidc",
        include_str!("../../migrations/sqlite/0011_oidc.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "intake_attempts",
        include_str!("../../migrations/postgres/0002_intake_attempts.sql"),
    ),
    (
        3,
        "precheck_class",
        include_str!("../../migrations/postgres/0003_precheck_class.sql"),
    ),
    (
        4,
        "clinics",
        include_str!("../../migrations/postgres/0004_clinics.sql"),
    ),
    (
        5,
        "jobs",
        include_str!("../../migrations/postgres/0005_jobs.sql"),
    ),
    (
        6,
        "outbox_cc",
        include_str!("../../migrations/postgres/0006_outbox_cc.sql"),
    ),
    (
        7,
        "reviews",
        include_str!("../../migrations/postgres/0007_reviews.sql"),
    ),
    (
        8,
        "web",
        include_str!("../../migrations/postgres/0008_web.sql"),
    ),
    (
        9,
        "payouts",
        include_str!("../../migrations/postgres/0009_payouts.sql"),
    ),
    (
        10,
        "pending_decisions",
        include_str!("../../migrations/postgres/0010_pending_decisions.sql"),
    ),
    (
        11,
        "oidc",
        include_str!("../../migrations/postgres/0011_oidc.sql"),
    ),
];

#[derive(Debug)]
struct Embedded(&'static [(i64, &'static str, &'static str)]);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        let migrations = self
            .0
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// The ledger. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// Hide the password of a URL before it goes into an error message or a log.
fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.split_once('@')
        && let Some((user, _password)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
}

/// Normalise a SQLite URL: create the file if missing (`mode=rwc`) unless a mode is given.
fn sqlite_url(url: &str) -> String {
    if url.contains(":memory:") || url.contains("mode=") {
        return url.to_string();
    }
    if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// SQLite migrations rebuild tables to change constraints, which the documented procedure
/// does with foreign keys off (a `DROP TABLE` of a referenced table would otherwise fail):
/// run them on one connection with foreign keys off, check the keys, and turn them on again.
async fn migrate_sqlite(
    pool: &AnyPool,
    migrator: &Migrator,
) -> Result<(), sqlx::migrate::MigrateError> {
    use sqlx::Executor;
    let mut conn = pool.acquire().await?;
    conn.execute("PRAGMA foreign_keys = OFF").await?;
    let ran = migrator.run_direct(&mut *conn).await;
    let broken = match &ran {
        Ok(()) => sqlx::query("PRAGMA foreign_key_check")
            .fetch_optional(&mut *conn)
            .await?
            .is_some(),
        Err(_) => false,
    };
    conn.execute("PRAGMA foreign_keys = ON").await?;
    ran?;
    if broken {
        return Err(sqlx::migrate::MigrateError::Execute(sqlx::Error::Protocol(
            "foreign key check failed after the migration".into(),
        )));
    }
    Ok(())
}

impl Store {
    /// Open the ledger at `url` (`sqlite:path/to/file.db`, `sqlite://…`, or `postgres://…`)
    /// and bring its schema up to date with the embedded migrations for that backend.
    ///
    /// SQLite files are created when missing and run in WAL mode with a 5 s busy timeout and
    /// foreign keys on.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let shown = redact(url);
        let (backend, url) = if url.starts_with("sqlite:") {
            (Backend::Sqlite, sqlite_url(url))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::UnsupportedUrl { url: shown });
        };
        let options = match backend {
            Backend::Sqlite => AnyPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(30))
                .after_connect(|conn, _meta| {
                    Box::pin(async move {
                        use sqlx::Executor;
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; \
                             PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                             PRAGMA cache_size = -512;",
                        )
                        .await?;
                        Ok(())
                    })
                }),
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(30)),
        };
        let pool = options
            .connect(&url)
            .await
            .map_err(|source| StoreError::Connect {
                url: shown.clone(),
                source,
            })?;
        let migrate_err = |source| StoreError::Migrate {
            backend: backend.as_str(),
            source,
        };
        let source = match backend {
            Backend::Sqlite => Embedded(SQLITE_MIGRATIONS),
            Backend::Postgres => Embedded(POSTGRES_MIGRATIONS),
        };
        let migrator = Migrator::new(source).await.map_err(migrate_err)?;
        match backend {
            Backend::Sqlite => migrate_sqlite(&pool, &migrator)
                .await
                .map_err(migrate_err)?,
            Backend::Postgres => migrator.run(&pool).await.map_err(migrate_err)?,
        }
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool (for health checks and tests).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Close the pool, waiting for connections to finish (call before dropping a test
    /// database or at shutdown so SQLite checkpoints the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Begin a write transaction. On SQLite this is `BEGIN IMMEDIATE`, which takes the
    /// database write lock up front (waiting up to the busy timeout), so read-then-write
    /// sequences such as "max(version) + 1" are serialised and never fail with
    /// `SQLITE_BUSY_SNAPSHOT` half way.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite:/tmp/x.db"), "sqlite:/tmp/x.db");
    }

    #[test]
    fn sqlite_url_gets_rwc() {
        assert_eq!(sqlite_url("sqlite:a.db"), "sqlite:a.db?mode=rwc");
        assert_eq!(
            sqlite_url("sqlite:a.db?cache=shared"),
            "sqlite:a.db?cache=shared&mode=rwc"
        );
        assert_eq!(sqlite_url("sqlite:a.db?mode=ro"), "sqlite:a.db?mode=ro");
    }

    #[test]
    fn time_text_is_fixed_width_utc() {
        let t = DateTime::parse_from_rfc3339("2025-03-03T09:12:34.5+01:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(ts(t), "2025-03-03T08:12:34.500Z");
        assert_eq!(parse_ts("t", &ts(t)).unwrap(), t);
    }

    #[test]
    fn classes_round_trip() {
        for c in MessageClass::ALL {
            assert_eq!(c.as_str().parse::<MessageClass>().unwrap(), c);
        }
    }
}
