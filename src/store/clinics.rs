//! The clinic registry in the ledger: current state in `clinics` + `clinic_inhabitants`, every
//! change of a field in `clinic_changes` (who, when, old, new), and one audit row per clinic
//! written, in the import's transaction. See `docs/storage.md`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::audit::append_tx;
use super::rows::col;
use super::{NewAudit, Store, StoreError, q, ts};
use crate::domain::clinics::{ClinicPlan, ClinicRecord, Inhabitants, Outcome};

/// One recorded change of one field of one clinic.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClinicChangeRow {
    pub id: i64,
    pub clinic_id: String,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub changed_by: String,
    pub changed_at: String,
}

impl Store {
    /// Every clinic in the ledger (active or not), ordered by id.
    pub async fn clinics(&self) -> Result<Vec<ClinicRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, emails, hsa_id, org_nr, payee, active FROM clinics ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(q("list clinics"))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let emails: String = col(r, "emails")?;
            out.push(ClinicRecord {
                id: col(r, "id")?,
                name: col(r, "name")?,
                addresses: emails
                    .split(';')
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect(),
                hsa_id: col(r, "hsa_id")?,
                org_nr: col(r, "org_nr")?,
                payee: col(r, "payee")?,
                active: col::<i64>(r, "active")? == 1,
                inhabitants: BTreeMap::new(),
            });
        }
        let rows = sqlx::query(
            "SELECT clinic_id, year, listed, reference_date FROM clinic_inhabitants \
             ORDER BY clinic_id, year",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(q("list listed inhabitants"))?;
        for r in &rows {
            let id: String = col(r, "clinic_id")?;
            let date: String = col(r, "reference_date")?;
            let reference_date =
                NaiveDate::parse_from_str(&date, "%Y-%m-%d").map_err(|e| StoreError::Decode {
                    column: "reference_date",
                    detail: format!("{date:?}: {e}"),
                })?;
            let listed: i64 = col(r, "listed")?;
            if let Some(c) = out.iter_mut().find(|c| c.id == id) {
                c.inhabitants.insert(
                    col::<i64>(r, "year")? as i32,
                    Inhabitants {
                        count: listed as u64,
                        reference_date,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Whether the ledger has any clinic (cheap).
    pub async fn has_clinics(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clinics")
            .fetch_one(&self.pool)
            .await
            .map_err(q("count clinics"))?;
        Ok(n > 0)
    }

    /// Writes the added and changed clinics of an import plan and their field changes in one
    /// transaction. Returns how many clinics were written (0: nothing changed).
    pub async fn apply_clinic_plan(
        &self,
        plan: &[ClinicPlan],
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let todo: Vec<&ClinicPlan> = plan
            .iter()
            .filter(|p| matches!(p.outcome, Outcome::Added | Outcome::Changed))
            .collect();
        if todo.is_empty() {
            return Ok(0);
        }
        let at = ts(now);
        let mut tx = self.begin_write().await.map_err(q("begin clinic import"))?;
        let mut audits = Vec::with_capacity(todo.len());
        for p in &todo {
            let r = &p.record;
            let emails = r.addresses.join(";");
            let active = i64::from(r.active);
            // The same columns and binds for a new clinic and for a changed one.
            let (sql, what) = if p.outcome == Outcome::Added {
                (
                    "INSERT INTO clinics (id, name, emails, hsa_id, org_nr, payee, active, \
                     updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    "insert clinic",
                )
            } else {
                (
                    "UPDATE clinics SET name = $2, emails = $3, hsa_id = $4, org_nr = $5, \
                     payee = $6, active = $7, updated_at = $8, updated_by = $9 WHERE id = $1",
                    "update clinic",
                )
            };
            sqlx::query(sql)
                .bind(&r.id)
                .bind(&r.name)
                .bind(&emails)
                .bind(r.hsa_id.clone())
                .bind(r.org_nr.clone())
                .bind(r.payee.clone())
                .bind(active)
                .bind(&at)
                .bind(by)
                .execute(&mut *tx)
                .await
                .map_err(q(what))?;
            sqlx::query("DELETE FROM clinic_inhabitants WHERE clinic_id = $1")
                .bind(&r.id)
                .execute(&mut *tx)
                .await
                .map_err(q("replace listed inhabitants"))?;
            for (year, i) in &r.inhabitants {
                sqlx::query(
                    "INSERT INTO clinic_inhabitants (clinic_id, year, listed, reference_date) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(&r.id)
                .bind(i64::from(*year))
                .bind(i.count as i64)
                .bind(i.reference_date.to_string())
                .execute(&mut *tx)
                .await
                .map_err(q("insert listed inhabitants"))?;
            }
            for c in &p.changes {
                sqlx::query(
                    "INSERT INTO clinic_changes (clinic_id, field, old_value, new_value, \
                     changed_by, changed_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&r.id)
                .bind(&c.field)
                .bind(c.old.clone())
                .bind(c.new.clone())
                .bind(by)
                .bind(&at)
                .execute(&mut *tx)
                .await
                .map_err(q("record clinic change"))?;
            }
            let changes: Vec<serde_json::Value> = p
                .changes
                .iter()
                .map(|c| serde_json::json!({"field": c.field, "old": c.old, "new": c.new}))
                .collect();
            let action = if p.outcome == Outcome::Added {
                "clinic.add"
            } else {
                "clinic.change"
            };
            audits.push(NewAudit::new(
                by,
                action,
                format!("clinic:{}", r.id),
                serde_json::json!({"clinic_id": r.id, "changes": changes}),
            ));
        }
        // The audit rows last (the audit lock is always the last lock a transaction takes).
        for audit in &audits {
            append_tx(&mut tx, self.backend, audit, now).await?;
        }
        tx.commit().await.map_err(q("commit clinic import"))?;
        Ok(todo.len())
    }

    /// The change history, oldest first; of one clinic when `clinic` is given.
    pub async fn clinic_history(
        &self,
        clinic: Option<&str>,
    ) -> Result<Vec<ClinicChangeRow>, StoreError> {
        let sql = "SELECT id, clinic_id, field, old_value, new_value, changed_by, changed_at \
                   FROM clinic_changes WHERE ($1 = '' OR clinic_id = $1) ORDER BY id";
        let rows = sqlx::query(sql)
            .bind(clinic.unwrap_or("").to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(q("read clinic history"))?;
        rows.iter()
            .map(|r| {
                Ok(ClinicChangeRow {
                    id: col(r, "id")?,
                    clinic_id: col(r, "clinic_id")?,
                    field: col(r, "field")?,
                    old_value: col(r, "old_value")?,
                    new_value: col(r, "new_value")?,
                    changed_by: col(r, "changed_by")?,
                    changed_at: col(r, "changed_at")?,
                })
            })
            .collect()
    }
}
