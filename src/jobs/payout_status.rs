//! What the desk shows about payouts beside the sealed batches: one clinic's payment status
//! for a cycle year (paid per instalment from the sealed lines, what the next run would pay,
//! why it is stopped, the reclaim) and when the next scheduled payout run is. Read-only: the
//! preview is [`super::payouts::preview`], the same computation `vardval payouts preview`
//! prints, and nothing is written.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::payouts::{Payouts, preview};
use crate::domain::payout::{LineKind, Plan};
use crate::domain::schedule::LocalCron;
use crate::store::{ClinicLineRow, ReclaimRow, Store};

/// One instalment of a clinic-year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstalmentStatus {
    pub instalment: u8,
    /// The sum of the sealed lines (payments, corrections and reclaims).
    pub paid_ore: i64,
    /// What the next run would pay (negative: take back); 0 when nothing is due.
    pub due_ore: i64,
    /// The sealed lines, oldest batch first.
    pub lines: Vec<ClinicLineRow>,
    /// The lines the next run would seal.
    pub due_kinds: Vec<LineKind>,
}

/// A clinic's payment status for one cycle year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClinicStatus {
    pub clinic_id: String,
    pub year: i32,
    /// Instalments 1 and 2.
    pub instalments: Vec<InstalmentStatus>,
    /// Why the next run would stop this clinic (Swedish), if it would.
    pub blocked: Option<String>,
    pub reclaim: Option<ReclaimRow>,
}

/// The status of `clinic_id` for `year` given the current preview `plan` (pass the result
/// of [`preview`]; `None` when the payout settings are not available: nothing is shown as due).
pub async fn clinic_status(
    store: &Store,
    plan: Option<&Plan>,
    clinic_id: &str,
    year: i32,
) -> anyhow::Result<ClinicStatus> {
    let sealed = store.clinic_payout_lines(clinic_id, year).await?;
    let instalments = [1u8, 2]
        .into_iter()
        .map(|n| {
            let lines: Vec<ClinicLineRow> = sealed
                .iter()
                .filter(|l| l.instalment == n)
                .cloned()
                .collect();
            let due: Vec<_> = plan
                .iter()
                .flat_map(|p| p.lines.iter())
                .filter(|l| l.clinic_id == clinic_id && l.year == year && l.instalment == n)
                .collect();
            InstalmentStatus {
                instalment: n,
                paid_ore: lines.iter().map(|l| l.amount_ore).sum(),
                due_ore: due.iter().map(|l| l.amount_ore).sum(),
                due_kinds: due.iter().map(|l| l.kind).collect(),
                lines,
            }
        })
        .collect();
    let blocked = plan
        .iter()
        .flat_map(|p| p.blocked.iter())
        .find(|b| b.clinic_id == clinic_id)
        .map(|b| b.reason.text());
    Ok(ClinicStatus {
        clinic_id: clinic_id.to_string(),
        year,
        instalments,
        blocked,
        reclaim: store.reclaim_for(clinic_id, year).await?,
    })
}

/// What is due next: the preview and the time of the next scheduled run.
#[derive(Debug, Clone)]
pub struct DueNext {
    pub plan: Plan,
    /// `None`: payouts do not run on a schedule (`[payouts] enabled = false`, or no payer
    /// configured yet), or the cron has no later slot.
    pub next_run: Option<DateTime<Utc>>,
}

/// The preview of the next run and when the scheduler would make it (read-only).
pub async fn due_next(store: &Store, p: &Payouts, now: DateTime<Utc>) -> anyhow::Result<DueNext> {
    Ok(DueNext {
        plan: preview(store, p).await?,
        next_run: next_run(p, now),
    })
}

/// The next slot of `[payouts] schedule` after `now`, when the scheduler runs payouts (the
/// same condition as [`super::Scheduler::standard_jobs`]).
pub fn next_run(p: &Payouts, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if !p.settings.enabled || p.settings.debtor.name.trim().is_empty() {
        return None;
    }
    LocalCron::parse(&p.settings.schedule, p.tz)
        .ok()?
        .next_after(now)
}
