//! Payout batches, their lines and files, and reclaim proposals (`migrations/*/0009_payouts.sql`).
//!
//! [`Store::seal_payout_batch`] is the exactly-once step of a payout run: in one transaction
//! it looks for the batch of the due date (found: nothing new is written), takes the next
//! batch number, lets the caller build the batch, its files and the finance mail from that
//! number, and inserts the batch, its lines, its files and the outbox rows. UNIQUE(due_date)
//! and UNIQUE(number) make a concurrent second run lose. Sealed rows are never updated (only
//! `files_written_at`).

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use super::audit::append_tx;
use super::intake::{NewOutbox, insert_outbox};
use super::rows::{col, col_opt_ts};
use super::{Backend, NewAudit, Store, StoreError, parse_ts, q, ts};
use crate::domain::payout::{LineKind, PaidLine, Reclaim};
use crate::payfiles::{Batch, BlockedLine, Header, Line};

/// A batch as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BatchRow {
    pub id: i64,
    pub number: i64,
    pub due_date: NaiveDate,
    pub sealed_at: DateTime<Utc>,
    pub line_count: i64,
    pub total_ore: i64,
    pub transfer_ore: i64,
    pub sha256: String,
    pub blocked: i64,
    pub files_written_at: Option<DateTime<Utc>>,
}

/// What sealing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    /// A new batch with this id.
    New(i64),
    /// The due date already had this batch; nothing was written.
    Existing(i64),
}

impl Sealed {
    pub fn id(self) -> i64 {
        match self {
            Sealed::New(i) | Sealed::Existing(i) => i,
        }
    }
}

/// A reclaim proposal and its decision.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReclaimRow {
    pub id: i64,
    pub clinic_id: String,
    pub year: i32,
    pub state: Reclaim,
    pub amount_ore: i64,
    pub proposed_at: DateTime<Utc>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

/// A sealed line of one clinic, with the batch it is in (the desk's payment status).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClinicLineRow {
    pub batch_number: i64,
    pub due_date: NaiveDate,
    pub year: i32,
    pub instalment: u8,
    pub kind: LineKind,
    pub amount_ore: i64,
}

/// What the caller builds inside the sealing transaction from the batch number.
pub type Built = (Batch, Vec<(String, Vec<u8>)>, Vec<NewOutbox>);

fn decode(column: &'static str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Decode {
        column,
        detail: detail.to_string(),
    }
}

fn batch_row(r: &sqlx::any::AnyRow) -> Result<BatchRow, StoreError> {
    let due: String = col(r, "due_date")?;
    let blocked: String = col(r, "blocked_json")?;
    let blocked: Vec<BlockedLine> =
        serde_json::from_str(&blocked).map_err(|e| decode("blocked_json", e))?;
    Ok(BatchRow {
        id: col(r, "id")?,
        number: col(r, "number")?,
        due_date: NaiveDate::parse_from_str(&due, "%Y-%m-%d").map_err(|e| decode("due_date", e))?,
        sealed_at: parse_ts("sealed_at", &col::<String>(r, "sealed_at")?)?,
        line_count: col(r, "line_count")?,
        total_ore: col(r, "total_ore")?,
        transfer_ore: col(r, "transfer_ore")?,
        sha256: col(r, "sha256")?,
        blocked: blocked.len() as i64,
        files_written_at: col_opt_ts(r, "files_written_at")?,
    })
}

const BATCH_COLS: &str = "id, number, due_date, sealed_at, line_count, total_ore, transfer_ore, \
                          sha256, blocked_json, files_written_at";

fn reclaim_state(s: &str) -> Result<Reclaim, StoreError> {
    match s {
        "proposed" => Ok(Reclaim::Proposed),
        "accepted" => Ok(Reclaim::Accepted),
        "rejected" => Ok(Reclaim::Rejected),
        other => Err(decode("state", format!("unknown reclaim state {other:?}"))),
    }
}

impl Store {
    /// Seal the batch of `due_date` (see the module docs). `build` gets the batch number and
    /// returns the batch, its files and the outbox rows (each with its dedupe key set).
    ///
    /// `paid_lines` is how many sealed lines the caller's facts saw: when another batch was
    /// sealed in between, the facts are stale and the seal is refused (the caller reruns).
    /// The seal's audit row (`payout.seal`, actor `system`) is written in the same
    /// transaction.
    pub async fn seal_payout_batch(
        &self,
        due_date: NaiveDate,
        now: DateTime<Utc>,
        paid_lines: i64,
        build: impl FnOnce(i64) -> Result<Built, String>,
    ) -> Result<Result<Sealed, String>, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin the payout seal"))?;
        if self.backend == Backend::Postgres {
            // one sealer at a time (SQLite's BEGIN IMMEDIATE already is)
            sqlx::query("SELECT 1 AS locked FROM pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind("vardval:payout_seal")
                .fetch_one(&mut *tx)
                .await
                .map_err(q("lock the payout seal"))?;
        }
        let existing = sqlx::query("SELECT id FROM payout_batches WHERE due_date = $1")
            .bind(due_date.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(q("look for the batch of a due date"))?;
        if let Some(r) = existing {
            return Ok(Ok(Sealed::Existing(col(&r, "id")?)));
        }
        let seen: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payout_lines")
            .fetch_one(&mut *tx)
            .await
            .map_err(q("count sealed lines"))?;
        if seen != paid_lines {
            return Ok(Err(format!(
                "another batch was sealed while this run read the facts ({paid_lines} lines then, {seen} now); run again"
            )));
        }
        let number: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(number), 0) + 1 FROM payout_batches")
                .fetch_one(&mut *tx)
                .await
                .map_err(q("take the next batch number"))?;
        let (batch, files, mails) = match build(number) {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        let transfer: i64 = batch.transfers().iter().map(|t| t.amount_ore).sum();
        let header = serde_json::to_string(&batch.header).map_err(|e| decode("header_json", e))?;
        let blocked =
            serde_json::to_string(&batch.blocked).map_err(|e| decode("blocked_json", e))?;
        let ins = sqlx::query(
            "INSERT INTO payout_batches (number, due_date, sealed_at, header_json, blocked_json, \
             line_count, total_ore, transfer_ore, sha256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(number)
        .bind(due_date.to_string())
        .bind(ts(batch.header.sealed_at))
        .bind(header)
        .bind(blocked)
        .bind(batch.lines.len() as i64)
        .bind(batch.total_ore())
        .bind(transfer)
        .bind(batch.digest())
        .fetch_one(&mut *tx)
        .await;
        let id: i64 = match ins {
            Ok(r) => col(&r, "id")?,
            Err(e) if is_unique_violation(&e) => {
                drop(tx);
                let row = self.payout_batch_for_date(due_date).await?;
                return match row {
                    Some(b) => Ok(Ok(Sealed::Existing(b.id))),
                    None => Err(StoreError::Query {
                        op: "insert a payout batch",
                        source: e,
                    }),
                };
            }
            Err(e) => return Err(q("insert a payout batch")(e)),
        };
        for l in &batch.lines {
            sqlx::query(
                "INSERT INTO payout_lines (batch_id, seq, clinic_id, year, instalment, kind, \
                 amount_ore, payee, name, org_nr, reference) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(id)
            .bind(i64::from(l.seq))
            .bind(&l.clinic_id)
            .bind(i64::from(l.year))
            .bind(i64::from(l.instalment))
            .bind(l.kind.as_str())
            .bind(l.amount_ore)
            .bind(&l.payee)
            .bind(&l.name)
            .bind(l.org_nr.clone())
            .bind(&l.reference)
            .execute(&mut *tx)
            .await
            .map_err(q("insert a payout line"))?;
        }
        for (name, bytes) in &files {
            let text = String::from_utf8(bytes.clone()).map_err(|e| decode("content", e))?;
            sqlx::query(
                "INSERT INTO payout_files (batch_id, name, sha256, content) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(name)
            .bind(hex::encode(Sha256::digest(bytes)))
            .bind(text)
            .execute(&mut *tx)
            .await
            .map_err(q("insert a payout file"))?;
        }
        for m in &mails {
            let key = m
                .dedupe_key
                .clone()
                .unwrap_or_else(|| format!("payouts:{id}:{}", m.recipient));
            insert_outbox(&mut tx, m, &key, now, None, None)
                .await
                .map_err(q("insert a payout mail"))?;
        }
        let audit = NewAudit::new(
            "system",
            "payout.seal",
            format!("payout_batch:{id}"),
            serde_json::json!({
                "number": number,
                "due_date": due_date.to_string(),
                "lines": batch.lines.len(),
                "total_ore": batch.total_ore(),
                "sha256": batch.digest(),
                "blocked": batch.blocked.len(),
            }),
        );
        append_tx(&mut tx, self.backend, &audit, now).await?;
        tx.commit().await.map_err(q("commit the payout seal"))?;
        Ok(Ok(Sealed::New(id)))
    }

    /// Every batch, oldest first.
    pub async fn payout_batches(&self) -> Result<Vec<BatchRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {BATCH_COLS} FROM payout_batches ORDER BY number"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(q("list payout batches"))?;
        rows.iter().map(batch_row).collect()
    }

    /// The batch of a due date.
    pub async fn payout_batch_for_date(
        &self,
        due: NaiveDate,
    ) -> Result<Option<BatchRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {BATCH_COLS} FROM payout_batches WHERE due_date = $1"
        ))
        .bind(due.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read a payout batch"))?;
        row.as_ref().map(batch_row).transpose()
    }

    /// A sealed batch by id, rebuilt from its rows, and its files as sealed (name, bytes).
    pub async fn payout_batch(
        &self,
        id: i64,
    ) -> Result<Option<(BatchRow, Batch, Vec<(String, Vec<u8>)>)>, StoreError> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {BATCH_COLS}, header_json FROM payout_batches WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read a payout batch"))?
        else {
            return Ok(None);
        };
        let info = batch_row(&row)?;
        let header: Header = serde_json::from_str(&col::<String>(&row, "header_json")?)
            .map_err(|e| decode("header_json", e))?;
        let blocked: Vec<BlockedLine> = serde_json::from_str(&col::<String>(&row, "blocked_json")?)
            .map_err(|e| decode("blocked_json", e))?;
        let rows = sqlx::query(
            "SELECT seq, clinic_id, year, instalment, kind, amount_ore, payee, name, org_nr, \
             reference FROM payout_lines WHERE batch_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(q("read payout lines"))?;
        let mut lines = Vec::with_capacity(rows.len());
        for r in &rows {
            let kind: String = col(r, "kind")?;
            lines.push(Line {
                seq: col::<i64>(r, "seq")? as u32,
                clinic_id: col(r, "clinic_id")?,
                name: col(r, "name")?,
                org_nr: col(r, "org_nr")?,
                payee: col(r, "payee")?,
                year: col::<i64>(r, "year")? as i32,
                instalment: col::<i64>(r, "instalment")? as u8,
                kind: LineKind::parse(&kind).ok_or_else(|| decode("kind", &kind))?,
                amount_ore: col(r, "amount_ore")?,
                reference: col(r, "reference")?,
            });
        }
        let files =
            sqlx::query("SELECT name, content FROM payout_files WHERE batch_id = $1 ORDER BY name")
                .bind(id)
                .fetch_all(&self.pool)
                .await
                .map_err(q("read payout files"))?
                .iter()
                .map(|r| {
                    Ok((
                        col::<String>(r, "name")?,
                        col::<String>(r, "content")?.into_bytes(),
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some((
            info,
            Batch {
                header,
                lines,
                blocked,
            },
            files,
        )))
    }

    /// The batch with this number.
    pub async fn payout_batch_id(&self, number: i64) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT id FROM payout_batches WHERE number = $1")
            .bind(number)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("find a payout batch"))
    }

    /// Record that the batch's files are in the pickup directory.
    pub async fn mark_payout_files_written(
        &self,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE payout_batches SET files_written_at = $1 WHERE id = $2 AND files_written_at IS NULL")
            .bind(ts(now))
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(q("mark payout files written"))?;
        Ok(())
    }

    /// Every sealed line, as what has been paid (or taken back).
    pub async fn paid_lines(&self) -> Result<Vec<PaidLine>, StoreError> {
        let rows = sqlx::query(
            "SELECT clinic_id, year, instalment, kind, amount_ore FROM payout_lines ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(q("read paid lines"))?;
        rows.iter()
            .map(|r| {
                let kind: String = col(r, "kind")?;
                Ok(PaidLine {
                    clinic_id: col(r, "clinic_id")?,
                    year: col::<i64>(r, "year")? as i32,
                    instalment: col::<i64>(r, "instalment")? as u8,
                    kind: LineKind::parse(&kind).ok_or_else(|| decode("kind", &kind))?,
                    amount_ore: col(r, "amount_ore")?,
                })
            })
            .collect()
    }

    /// The sealed lines of one clinic and cycle year, oldest batch first.
    pub async fn clinic_payout_lines(
        &self,
        clinic_id: &str,
        year: i32,
    ) -> Result<Vec<ClinicLineRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.number, b.due_date, l.year, l.instalment, l.kind, l.amount_ore \
             FROM payout_lines l JOIN payout_batches b ON b.id = l.batch_id \
             WHERE l.clinic_id = $1 AND l.year = $2 ORDER BY b.number, l.seq",
        )
        .bind(clinic_id)
        .bind(i64::from(year))
        .fetch_all(&self.pool)
        .await
        .map_err(q("read a clinic's payout lines"))?;
        rows.iter()
            .map(|r| {
                let kind: String = col(r, "kind")?;
                let due: String = col(r, "due_date")?;
                Ok(ClinicLineRow {
                    batch_number: col(r, "number")?,
                    due_date: NaiveDate::parse_from_str(&due, "%Y-%m-%d")
                        .map_err(|e| decode("due_date", e))?,
                    year: col::<i64>(r, "year")? as i32,
                    instalment: col::<i64>(r, "instalment")? as u8,
                    kind: LineKind::parse(&kind).ok_or_else(|| decode("kind", &kind))?,
                    amount_ore: col(r, "amount_ore")?,
                })
            })
            .collect()
    }

    /// The reclaim proposal of one clinic and cycle year, if any.
    pub async fn reclaim_for(
        &self,
        clinic_id: &str,
        year: i32,
    ) -> Result<Option<ReclaimRow>, StoreError> {
        Ok(self
            .reclaims()
            .await?
            .into_iter()
            .find(|r| r.clinic_id == clinic_id && r.year == year))
    }

    /// Every reclaim proposal, by clinic and year.
    pub async fn reclaims(&self) -> Result<Vec<ReclaimRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, clinic_id, year, state, amount_ore, proposed_at, decided_by, decided_at, \
             reason FROM payout_reclaims ORDER BY clinic_id, year",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(q("read reclaims"))?;
        rows.iter()
            .map(|r| {
                Ok(ReclaimRow {
                    id: col(r, "id")?,
                    clinic_id: col(r, "clinic_id")?,
                    year: col::<i64>(r, "year")? as i32,
                    state: reclaim_state(&col::<String>(r, "state")?)?,
                    amount_ore: col(r, "amount_ore")?,
                    proposed_at: parse_ts("proposed_at", &col::<String>(r, "proposed_at")?)?,
                    decided_by: col(r, "decided_by")?,
                    decided_at: col_opt_ts(r, "decided_at")?,
                    reason: col(r, "reason")?,
                })
            })
            .collect()
    }

    /// Propose a reclaim of instalment 1 (idempotent: false when one exists already).
    pub async fn propose_reclaim(
        &self,
        clinic_id: &str,
        year: i32,
        amount_ore: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin a reclaim proposal"))?;
        let r = sqlx::query(
            "INSERT INTO payout_reclaims (clinic_id, year, state, amount_ore, proposed_at) \
             VALUES ($1, $2, 'proposed', $3, $4) ON CONFLICT (clinic_id, year) DO NOTHING",
        )
        .bind(clinic_id)
        .bind(i64::from(year))
        .bind(amount_ore)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(q("propose a reclaim"))?;
        let new = r.rows_affected() == 1;
        if new {
            let audit = NewAudit::new(
                "system",
                "reclaim.propose",
                format!("clinic:{clinic_id}"),
                serde_json::json!({"clinic_id": clinic_id, "year": year, "amount_ore": amount_ore}),
            );
            append_tx(&mut tx, self.backend, &audit, now).await?;
        }
        tx.commit().await.map_err(q("commit a reclaim proposal"))?;
        Ok(new)
    }

    /// Decide a proposed reclaim. Returns false when there is no open proposal for the
    /// clinic and year (none, or decided already: a decision is never changed here).
    pub async fn decide_reclaim(
        &self,
        clinic_id: &str,
        year: i32,
        accept: bool,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin a reclaim decision"))?;
        let r = sqlx::query(
            "UPDATE payout_reclaims SET state = $1, decided_by = $2, decided_at = $3, reason = $4 \
             WHERE clinic_id = $5 AND year = $6 AND state = 'proposed'",
        )
        .bind(if accept { "accepted" } else { "rejected" })
        .bind(by)
        .bind(ts(now))
        .bind(reason)
        .bind(clinic_id)
        .bind(i64::from(year))
        .execute(&mut *tx)
        .await
        .map_err(q("decide a reclaim"))?;
        let done = r.rows_affected() == 1;
        if done {
            let audit = NewAudit::new(
                by,
                if accept {
                    "reclaim.accept"
                } else {
                    "reclaim.reject"
                },
                format!("clinic:{clinic_id}"),
                serde_json::json!({"clinic_id": clinic_id, "year": year, "reason": reason}),
            );
            append_tx(&mut tx, self.backend, &audit, now).await?;
        }
        tx.commit().await.map_err(q("commit a reclaim decision"))?;
        Ok(done)
    }
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation() || d.message().to_ascii_lowercase().contains("unique")
        }
        _ => false,
    }
}
