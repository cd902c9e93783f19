//! Payout runs: gather the facts from the ledger (registry, reviewers' confirmed decisions,
//! presentations, reclaim decisions, sealed lines), compute what is due
//! ([`crate::domain::payout::plan`]), seal the batch of the due date with its files and the
//! finance mail in one transaction, then deliver the sealed files to the pickup directory.
//!
//! A run is idempotent: the batch of a due date is sealed once (UNIQUE(due_date)); a rerun,
//! or a run resumed after a crash, finds it and only (re)delivers the sealed files, which
//! are stored bytes and so identical. Reclaim proposals are created by [`propose_reclaims`]
//! (the scheduled check, and at the start of each run), never decided here.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use minijinja::context;
use serde::Serialize;

use super::mail::{Attachment, JobMail, reference};
use crate::config::PayoutSettings;
use crate::domain::cycle::{due_end_utc, swedish_date};
use crate::domain::grading::Grade;
use crate::domain::money::Ore;
use crate::domain::payout::{self, ClinicYear, Facts, Listed, Plan, YearRules};
use crate::domain::rulebook::Rulebook;
use crate::payfiles::{Batch, BlockedLine, Header, Line};
use crate::ports::FileDrop;
use crate::store::{NewOutbox, Sealed, Store};

/// What payout runs need beside the ledger.
#[derive(Debug, Clone)]
pub struct Payouts {
    pub settings: PayoutSettings,
    /// `[finance] emails`.
    pub finance: Vec<String>,
    /// The rulebook of every cycle year that is still paid, by year.
    pub rulebooks: BTreeMap<i32, Rulebook>,
    /// The pickup directory, when configured.
    pub drop: Option<Arc<dyn FileDrop>>,
    pub tz: Tz,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub batch_id: i64,
    pub number: i64,
    pub due_date: NaiveDate,
    /// False: the due date's batch was sealed before; nothing new was sent.
    pub new: bool,
    pub lines: usize,
    pub total_ore: i64,
    pub transfer_ore: i64,
    pub blocked: usize,
    pub files_written: usize,
    pub reclaims_proposed: usize,
}

impl RunReport {
    pub fn outcome(&self) -> String {
        format!(
            "ok: batch {} for {} {} ({} lines, {} transferred, {} blocked, {} files written)",
            self.number,
            self.due_date,
            if self.new { "sealed" } else { "already sealed" },
            self.lines,
            Ore(self.transfer_ore),
            self.blocked,
            self.files_written
        )
    }
}

impl Payouts {
    /// The money rules and the report deadline of each year.
    pub fn year_rules(&self) -> BTreeMap<i32, YearRules> {
        self.rulebooks
            .iter()
            .map(|(y, rb)| {
                let tz = rb.tz();
                let report_due_end = rb
                    .milestone(2)
                    .map(|m| due_end_utc(m.due, tz))
                    .unwrap_or(DateTime::<Utc>::MAX_UTC);
                (
                    *y,
                    YearRules {
                        money: rb.money.clone(),
                        report_due_end,
                    },
                )
            })
            .collect()
    }

    /// The local date a run at `now` pays on.
    pub fn due_date(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.tz).date_naive()
    }
}

/// The facts for every clinic and paid cycle year, read from the ledger.
pub async fn facts(store: &Store, p: &Payouts) -> anyhow::Result<Facts> {
    let clinics = store.clinics().await?;
    let reclaims = store.reclaims().await?;
    let mut out = Facts {
        clinics: vec![],
        paid: store.paid_lines().await?,
        rules: p.year_rules(),
    };
    for &year in p.rulebooks.keys() {
        let decisions = store.current_decisions(year).await?;
        let presented = store.presentations(year).await?;
        let green = |clinic: &str, m: u8| {
            decisions
                .iter()
                .any(|d| d.clinic_id == clinic && d.milestone == m && d.grade == Grade::Green)
        };
        for c in &clinics {
            let plan_approved = green(&c.id, 1);
            let is_presented = presented.iter().any(|x| x.clinic_id == c.id);
            let reclaim = reclaims
                .iter()
                .find(|r| r.clinic_id == c.id && r.year == year)
                .map(|r| r.state);
            let has_paid = out
                .paid
                .iter()
                .any(|l| l.clinic_id == c.id && l.year == year);
            if !c.active && !plan_approved && !is_presented && !has_paid {
                continue;
            }
            out.clinics.push(ClinicYear {
                clinic_id: c.id.clone(),
                year,
                name: c.name.clone(),
                org_nr: c.org_nr.clone(),
                payee: c.payee.clone(),
                listed: c.inhabitants.get(&year).map(|i| Listed {
                    count: i.count,
                    reference_date: i.reference_date,
                }),
                plan_approved,
                report_approved: green(&c.id, 2),
                presented: is_presented,
                reclaim,
            });
        }
    }
    Ok(out)
}

/// What a run at `now` would pay (nothing is written).
pub async fn preview(store: &Store, p: &Payouts) -> anyhow::Result<Plan> {
    Ok(payout::plan(&facts(store, p).await?))
}

/// Propose a reclaim of instalment 1 for every clinic whose milestone 2 is not confirmed
/// after its deadline (audited as `system`). Returns how many were new.
pub async fn propose_reclaims(
    store: &Store,
    p: &Payouts,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let f = facts(store, p).await?;
    let mut n = 0;
    for (clinic, year) in payout::reclaim_candidates(&f, now) {
        let paid1: i64 = f
            .paid
            .iter()
            .filter(|l| l.clinic_id == clinic && l.year == year && l.instalment == 1)
            .map(|l| l.amount_ore)
            .sum();
        if store.propose_reclaim(&clinic, year, paid1, now).await? {
            n += 1;
        }
    }
    Ok(n)
}

/// The Content-Type of a sealed payout file, by its name (mail attachments and the desk).
pub fn mime_of(name: &str) -> &'static str {
    if name.ends_with(".csv") {
        "text/csv; charset=utf-8"
    } else if name.ends_with(".xml") {
        "application/xml"
    } else {
        "text/html; charset=utf-8"
    }
}

/// Build the batch of `plan` with number `number` (pure).
pub fn build_batch(
    p: &Payouts,
    plan: &Plan,
    number: i64,
    due_date: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Batch, String> {
    let header = Header {
        number,
        due_date,
        sealed_at: now,
        debtor: p.settings.debtor.clone(),
        csv: p.settings.csv()?,
        stem: format!("{}-{number:04}", p.settings.file_prefix),
        timezone: p.tz.name().to_string(),
    };
    let lines = plan
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| Line {
            seq: i as u32 + 1,
            clinic_id: l.clinic_id.clone(),
            name: l.name.clone(),
            org_nr: l.org_nr.clone(),
            payee: l.payee.clone(),
            year: l.year,
            instalment: l.instalment,
            kind: l.kind,
            amount_ore: l.amount_ore,
            reference: crate::payfiles::reference(
                &p.settings.reference,
                &l.clinic_id,
                l.year,
                l.instalment,
                l.kind,
            ),
        })
        .collect();
    let blocked = plan
        .blocked
        .iter()
        .map(|b| BlockedLine {
            clinic_id: b.clinic_id.clone(),
            reason: b.reason.text(),
        })
        .collect();
    Ok(Batch {
        header,
        lines,
        blocked,
    })
}

/// The finance mails of a sealed batch: one per address, files attached; one line when the
/// batch is empty.
fn mails(
    p: &Payouts,
    mail: &JobMail,
    batch: &Batch,
    files: &[(String, Vec<u8>)],
    now: DateTime<Utc>,
) -> Result<Vec<NewOutbox>, String> {
    let h = &batch.header;
    let transfers = batch.transfers();
    let ctx = context! {
        number => h.number,
        due_date => swedish_date(h.due_date),
        transfer_total => Ore(transfers.iter().map(|t| t.amount_ore).sum()).to_string(),
        transfers => transfers.len(),
        invoice_total => {
            let i: i64 = batch.invoices().iter().map(|i| i.2).sum();
            if i > 0 { Some(Ore(i).to_string()) } else { None }
        },
        lines => batch.lines.len(),
        blocked => &batch.blocked,
        files => files.iter().map(|f| f.0.clone()).collect::<Vec<_>>(),
        dir => p.drop.as_ref().map(|d| d.describe()),
        digest => batch.digest(),
        reference => format!("utbetalning {}", h.number),
    };
    let attachments: Vec<Attachment> = files
        .iter()
        .map(|(n, b)| (n.clone(), b.clone(), mime_of(n)))
        .collect();
    let kind = if batch.lines.is_empty() {
        "payouts_empty"
    } else {
        "payouts"
    };
    let mut out = vec![];
    for to in &p.finance {
        let r = reference(&[
            "payouts",
            &h.due_date.to_string(),
            &h.number.to_string(),
            to,
        ]);
        let m = if attachments.is_empty() {
            mail.build(kind, &ctx, std::slice::from_ref(to), &r, now)
        } else {
            mail.build_with_attachments(kind, &ctx, to, &r, now, &attachments)
        }
        .map_err(|e| format!("the finance mail to {to}: {e:#}"))?;
        out.push(NewOutbox {
            kind: "payouts".into(),
            dedupe_key: Some(format!("payouts:{}:{to}", h.due_date)),
            recipient: to.clone(),
            cc: vec![],
            subject: m.subject,
            raw: m.raw,
            mail_message_id: m.message_id,
            not_before: None,
        });
    }
    Ok(out)
}

/// Deliver a sealed batch's files to the pickup directory (idempotent).
pub async fn deliver(
    store: &Store,
    p: &Payouts,
    batch_id: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let Some(drop) = &p.drop else { return Ok(0) };
    let (row, _, files) = store
        .payout_batch(batch_id)
        .await?
        .context("the sealed batch disappeared")?;
    let mut n = 0;
    for (name, bytes) in &files {
        if drop
            .put(name, bytes)
            .with_context(|| format!("cannot deliver {name} to {}", drop.describe()))?
        {
            n += 1;
        }
    }
    if row.files_written_at.is_none() {
        store.mark_payout_files_written(batch_id, now).await?;
    }
    Ok(n)
}

/// A payout run at `now` for the due date of `now` (see the module docs).
pub async fn run(
    store: &Store,
    p: &Payouts,
    mail: &JobMail,
    now: DateTime<Utc>,
) -> anyhow::Result<RunReport> {
    run_for(store, p, mail, p.due_date(now), now).await
}

/// A payout run at `now` for `due` (the scheduler passes its slot's date, so a run resumed
/// on a later day still completes the slot's batch).
pub async fn run_for(
    store: &Store,
    p: &Payouts,
    mail: &JobMail,
    due: NaiveDate,
    now: DateTime<Utc>,
) -> anyhow::Result<RunReport> {
    let mut proposed = 0;
    if store.payout_batch_for_date(due).await?.is_none() {
        p.settings.check_debtor().map_err(anyhow::Error::msg)?;
        proposed = propose_reclaims(store, p, now).await?;
    }
    let f = facts(store, p).await?;
    let paid_count = f.paid.len() as i64;
    let plan = payout::plan(&f);
    let sealed = store
        .seal_payout_batch(due, now, paid_count, |number| {
            let batch = build_batch(p, &plan, number, due, now)?;
            let files = batch.files()?;
            let mails = mails(p, mail, &batch, &files, now)?;
            Ok((batch, files, mails))
        })
        .await?
        .map_err(anyhow::Error::msg)?;
    let written = deliver(store, p, sealed.id(), now).await?;
    let (row, _, _) = store
        .payout_batch(sealed.id())
        .await?
        .context("the sealed batch disappeared")?;
    Ok(RunReport {
        batch_id: row.id,
        number: row.number,
        due_date: due,
        new: matches!(sealed, Sealed::New(_)),
        lines: row.line_count as usize,
        total_ore: row.total_ore,
        transfer_ore: row.transfer_ore,
        blocked: row.blocked as usize,
        files_written: written,
        reclaims_proposed: proposed,
    })
}

/// The instalment sentence for a green decision on `submission_id` (milestone 1:
/// instalment 1, milestone 2: instalment 2), from the registry's listed inhabitants of the
/// rulebook's year; `None` when unknown. Used by the decision mails (`review confirm|override`
/// and the desk).
pub async fn instalment_line(
    store: &Store,
    rulebook: &Rulebook,
    submission_id: i64,
) -> anyhow::Result<Option<String>> {
    let Some(sub) = store.submission(submission_id).await? else {
        return Ok(None);
    };
    let listed = store
        .clinics()
        .await?
        .into_iter()
        .find(|c| c.id == sub.clinic_id)
        .and_then(|c| c.inhabitants.get(&rulebook.year).map(|i| i.count));
    let instalment = if sub.milestone == 1 { 1 } else { 2 };
    Ok(payout::instalment_text(&rulebook.money, instalment, listed))
}
