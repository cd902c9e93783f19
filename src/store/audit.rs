//! The append-only, hash-chained audit log: who did what to which subject, when.
//!
//! Every row carries `prev_hash` (the previous row's `hash`, or [`GENESIS`] for the first
//! row) and `hash` = SHA-256 (lower-case hex) over the canonical serialisation of the row:
//! the JSON array `[id, at, actor, action, subject, detail, prev_hash]` with `detail` as the
//! exact stored JSON text (see [`row_hash`]). Changing, deleting or reordering any row but the
//! last breaks the chain at that row or the next one, which [`Store::audit_verify`] names.
//!
//! # Concurrency
//! A row is appended inside the caller's write transaction with [`append_tx`]: the previous
//! row is read there and the new id is the previous id + 1. On PostgreSQL the transaction
//! first takes `pg_advisory_xact_lock` on one key, so two writers append one after the other;
//! on SQLite the caller's transaction must come from `Store::begin_write` (`BEGIN IMMEDIATE`),
//! which already serialises writers. `prev_hash` is UNIQUE as a last guard: a fork cannot be
//! committed. Append the audit row as the transaction's LAST statement before commit: the
//! audit lock is then always the last lock taken (after e.g. the version lock of a decision),
//! so lock order is the same everywhere and no deadlock can form, and the lock is held only
//! for the insert.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use super::rows::col;
use super::{Backend, Store, StoreError, q, ts};

/// `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How many rows `audit_verify` reads per query.
const VERIFY_PAGE: i64 = 1000;

/// A row to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAudit {
    /// Who: `cli:<name>`, `web:<user>`, `system`, `import:<name>`, …
    pub actor: String,
    /// What, dotted: `decision.record`, `presentation.register`, `clinic.add`, `clinic.change`.
    pub action: String,
    /// To what: `submission:12`, `clinic:vc-ekdalen`, `decision:3`, …
    pub subject: String,
    /// Details as JSON (serialised once, as stored and hashed).
    pub detail: serde_json::Value,
}

impl NewAudit {
    pub fn new(
        actor: impl Into<String>,
        action: impl Into<String>,
        subject: impl Into<String>,
        detail: serde_json::Value,
    ) -> NewAudit {
        NewAudit {
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            detail,
        }
    }
}

/// One stored row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// The stored JSON text of the details.
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

/// Filters for [`Store::audit_list`] (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// An exact subject (`clinic:vc-ekdalen`), or a prefix ending in `:` (`clinic:`).
    pub subject: Option<String>,
}

/// The result of checking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditCheck {
    /// Rows checked (all rows when the chain is intact; up to the first bad one otherwise).
    pub rows: u64,
    /// The id of the first row that does not verify.
    pub first_bad: Option<i64>,
    /// Why that row does not verify (English).
    pub reason: Option<String>,
}

impl AuditCheck {
    pub fn ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// The canonical hash of a row: SHA-256 over the JSON array
/// `[id, at, actor, action, subject, detail, prev_hash]` (all strings except `id`).
pub fn row_hash(
    id: i64,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
    prev_hash: &str,
) -> String {
    let canonical = serde_json::json!([id, at, actor, action, subject, detail, prev_hash]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Append one row inside the caller's write transaction (see the module docs for the
/// locking); returns its id. Call it from every store module whose change must be audited,
/// in the same transaction as the change.
pub async fn append_tx(
    conn: &mut AnyConnection,
    backend: Backend,
    row: &NewAudit,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind("vardval:audit_log")
            .fetch_one(&mut *conn)
            .await
            .map_err(q("lock the audit log"))?;
    }
    let last = sqlx::query("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await
        .map_err(q("read the last audit row"))?;
    let (id, prev_hash) = match last {
        Some(r) => (col::<i64>(&r, "id")? + 1, col::<String>(&r, "hash")?),
        None => (1, GENESIS.to_string()),
    };
    let at = ts(now);
    let detail = row.detail.to_string();
    let hash = row_hash(
        id,
        &at,
        &row.actor,
        &row.action,
        &row.subject,
        &detail,
        &prev_hash,
    );
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor, action, subject, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id)
    .bind(&at)
    .bind(&row.actor)
    .bind(&row.action)
    .bind(&row.subject)
    .bind(&detail)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await
    .map_err(q("append an audit row"))?;
    Ok(id)
}

const AUDIT_COLS: &str = "id, at, actor, action, subject, detail, prev_hash, hash";

fn audit_row(r: &sqlx::any::AnyRow) -> Result<AuditRow, StoreError> {
    Ok(AuditRow {
        id: col(r, "id")?,
        at: col(r, "at")?,
        actor: col(r, "actor")?,
        action: col(r, "action")?,
        subject: col(r, "subject")?,
        detail: col(r, "detail")?,
        prev_hash: col(r, "prev_hash")?,
        hash: col(r, "hash")?,
    })
}

/// Why `row` does not follow a row with `expected_prev` at `expected_id`, if it does not.
fn check_row(row: &AuditRow, expected_id: i64, expected_prev: &str) -> Option<String> {
    if row.id != expected_id {
        return Some(format!(
            "expected row {expected_id} next, found row {} (rows missing)",
            row.id
        ));
    }
    if row.prev_hash != expected_prev {
        return Some(
            "prev_hash does not match the previous row's hash (a row before it was changed \
             or removed)"
                .to_string(),
        );
    }
    let hash = row_hash(
        row.id,
        &row.at,
        &row.actor,
        &row.action,
        &row.subject,
        &row.detail,
        &row.prev_hash,
    );
    if hash != row.hash {
        return Some("hash does not match the row's content (the row was changed)".to_string());
    }
    None
}

impl Store {
    /// Append one audit row in its own transaction.
    pub async fn audit_append(
        &self,
        row: &NewAudit,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin an audit append"))?;
        let id = append_tx(&mut tx, self.backend, row, now).await?;
        tx.commit().await.map_err(q("commit an audit append"))?;
        Ok(id)
    }

    /// Check the whole chain from the first row: ids consecutive from 1, each `prev_hash`
    /// equal to the previous row's `hash`, each `hash` recomputed from the row. Stops at the
    /// first bad row.
    pub async fn audit_verify(&self) -> Result<AuditCheck, StoreError> {
        let sql = format!("SELECT {AUDIT_COLS} FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2");
        let mut rows_seen = 0u64;
        let mut expected_id = 1i64;
        let mut prev = GENESIS.to_string();
        let mut after = i64::MIN;
        loop {
            let page = sqlx::query(&sql)
                .bind(after)
                .bind(VERIFY_PAGE)
                .fetch_all(&self.pool)
                .await
                .map_err(q("read the audit log"))?;
            if page.is_empty() {
                return Ok(AuditCheck {
                    rows: rows_seen,
                    first_bad: None,
                    reason: None,
                });
            }
            for r in &page {
                let row = audit_row(r)?;
                if let Some(reason) = check_row(&row, expected_id, &prev) {
                    return Ok(AuditCheck {
                        rows: rows_seen,
                        first_bad: Some(row.id),
                        reason: Some(reason),
                    });
                }
                rows_seen += 1;
                expected_id = row.id + 1;
                after = row.id;
                prev = row.hash;
            }
        }
    }

    /// The newest `limit` rows matching `filter`, newest first.
    pub async fn audit_list(
        &self,
        limit: i64,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let sql = format!(
            "SELECT {AUDIT_COLS} FROM audit_log \
             WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR action = $2) \
             AND ($3 = '' OR subject = $3 OR (substr($3, length($3), 1) = ':' \
                  AND substr(subject, 1, length($3)) = $3)) \
             ORDER BY id DESC LIMIT $4"
        );
        // A subject filter matches exactly; one ending in ':' (`clinic:`) is a prefix.
        let subject = filter.subject.clone().unwrap_or_default();
        let rows = sqlx::query(&sql)
            .bind(filter.actor.clone().unwrap_or_default())
            .bind(filter.action.clone().unwrap_or_default())
            .bind(subject)
            .bind(limit.max(0))
            .fetch_all(&self.pool)
            .await
            .map_err(q("list the audit log"))?;
        rows.iter().map(audit_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_covers_every_field() {
        let base = row_hash(1, "t", "a", "x", "s", "{}", GENESIS);
        assert_eq!(base.len(), 64);
        assert_ne!(base, row_hash(2, "t", "a", "x", "s", "{}", GENESIS));
        assert_ne!(base, row_hash(1, "u", "a", "x", "s", "{}", GENESIS));
        assert_ne!(base, row_hash(1, "t", "b", "x", "s", "{}", GENESIS));
        assert_ne!(base, row_hash(1, "t", "a", "y", "s", "{}", GENESIS));
        assert_ne!(base, row_hash(1, "t", "a", "x", "z", "{}", GENESIS));
        assert_ne!(base, row_hash(1, "t", "a", "x", "s", "[]", GENESIS));
        assert_ne!(base, row_hash(1, "t", "a", "x", "s", "{}", &base));
        // Field boundaries cannot be shifted: ("ab","c") differs from ("a","bc").
        assert_ne!(
            row_hash(1, "t", "ab", "c", "s", "{}", GENESIS),
            row_hash(1, "t", "a", "bc", "s", "{}", GENESIS)
        );
    }

    #[test]
    fn check_row_names_the_problem() {
        let h = row_hash(1, "t", "a", "x", "s", "{}", GENESIS);
        let mut row = AuditRow {
            id: 1,
            at: "t".into(),
            actor: "a".into(),
            action: "x".into(),
            subject: "s".into(),
            detail: "{}".into(),
            prev_hash: GENESIS.into(),
            hash: h,
        };
        assert_eq!(check_row(&row, 1, GENESIS), None);
        assert!(check_row(&row, 2, GENESIS).unwrap().contains("missing"));
        row.actor = "b".into();
        assert!(check_row(&row, 1, GENESIS).unwrap().contains("changed"));
    }
}
