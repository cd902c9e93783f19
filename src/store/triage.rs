//! What reviewers do with a triage item on the desk: assign the message to a clinic (the
//! registry learns the sender's address, recorded in the clinic's history), reject it, or
//! answer it by hand (the reply queued in the outbox). Each is one transaction with the
//! item's resolution and its audit row.

use chrono::{DateTime, Utc};

use serde_json::json;

use super::{NewAudit, NewOutbox, Store, StoreError, q, ts};

/// What an assignment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The address was new for the clinic (false: it was already registered).
    pub learned: bool,
}

impl Store {
    /// Assign triage item `id` to `clinic_id`: add `address` to the clinic's addresses (with a
    /// `clinic_changes` row naming `by`) and resolve the item, in one transaction.
    /// [`StoreError::TriageNotFound`] when the item is unknown or already resolved.
    pub async fn assign_triage(
        &self,
        id: i64,
        clinic_id: &str,
        address: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Assignment, StoreError> {
        let at = ts(now);
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin a triage assignment"))?;
        let done =
            sqlx::query("UPDATE triage SET resolved_at = $2 WHERE id = $1 AND resolved_at IS NULL")
                .bind(id)
                .bind(&at)
                .execute(&mut *tx)
                .await
                .map_err(q("resolve a triage item"))?;
        if done.rows_affected() != 1 {
            return Err(StoreError::TriageNotFound { id });
        }
        let emails: Option<String> = sqlx::query_scalar("SELECT emails FROM clinics WHERE id = $1")
            .bind(clinic_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(q("read a clinic's addresses"))?;
        let Some(emails) = emails else {
            return Err(StoreError::Decode {
                column: "clinic_id",
                detail: format!("no clinic {clinic_id:?} in the registry"),
            });
        };
        let address = address.trim().to_lowercase();
        let mut list: Vec<String> = emails
            .split(';')
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        let learned = !address.is_empty() && !list.iter().any(|a| a.eq_ignore_ascii_case(&address));
        if learned {
            list.push(address.clone());
            let new = list.join(";");
            sqlx::query(
                "UPDATE clinics SET emails = $2, updated_at = $3, updated_by = $4 WHERE id = $1",
            )
            .bind(clinic_id)
            .bind(&new)
            .bind(&at)
            .bind(by)
            .execute(&mut *tx)
            .await
            .map_err(q("add an address to a clinic"))?;
            sqlx::query(
                "INSERT INTO clinic_changes (clinic_id, field, old_value, new_value, changed_by, \
                 changed_at) VALUES ($1, 'emails', $2, $3, $4, $5)",
            )
            .bind(clinic_id)
            .bind(&emails)
            .bind(&new)
            .bind(by)
            .bind(&at)
            .execute(&mut *tx)
            .await
            .map_err(q("record a learned address"))?;
        }
        let row = NewAudit::new(
            by,
            "triage.assign",
            format!("triage:{id}"),
            json!({ "clinic_id": clinic_id, "address": address, "learned": learned }),
        );
        super::audit::append_tx(&mut tx, self.backend, &row, now).await?;
        tx.commit().await.map_err(q("commit a triage assignment"))?;
        Ok(Assignment { learned })
    }

    /// Reject triage item `id` (nothing is recorded for any clinic), audited as `by`.
    pub async fn reject_triage(
        &self,
        id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin a triage rejection"))?;
        resolve_open(&mut tx, id, now).await?;
        let row = NewAudit::new(by, "triage.reject", format!("triage:{id}"), json!({}));
        super::audit::append_tx(&mut tx, self.backend, &row, now).await?;
        tx.commit().await.map_err(q("commit a triage rejection"))
    }

    /// Answer triage item `id` by hand: queue `mail` (a reviewer's own text) in the outbox
    /// under the key `triage-answer:<id>`, resolve the item and audit it as `by`, in one
    /// transaction; the sender delivers it like every other mail. An item already handled
    /// is [`StoreError::TriageNotFound`] (nothing queued).
    pub async fn answer_triage(
        &self,
        id: i64,
        mail: &NewOutbox,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin a triage answer"))?;
        resolve_open(&mut tx, id, now).await?;
        let key = format!("triage-answer:{id}");
        let outbox_id = super::intake::insert_outbox(&mut tx, mail, &key, now, None, None)
            .await
            .map_err(q("queue a triage answer"))?;
        let row = NewAudit::new(
            by,
            "triage.answer",
            format!("triage:{id}"),
            json!({ "to": mail.recipient, "subject": mail.subject, "outbox_id": outbox_id }),
        );
        super::audit::append_tx(&mut tx, self.backend, &row, now).await?;
        tx.commit().await.map_err(q("commit a triage answer"))?;
        Ok(outbox_id)
    }
}

/// Resolve item `id` inside the caller's transaction, if it is still open; an item already
/// handled (or unknown) is [`StoreError::TriageNotFound`].
async fn resolve_open(
    conn: &mut sqlx::AnyConnection,
    id: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let done =
        sqlx::query("UPDATE triage SET resolved_at = $2 WHERE id = $1 AND resolved_at IS NULL")
            .bind(id)
            .bind(ts(now))
            .execute(&mut *conn)
            .await
            .map_err(q("resolve a triage item"))?;
    if done.rows_affected() != 1 {
        return Err(StoreError::TriageNotFound { id });
    }
    Ok(())
}
