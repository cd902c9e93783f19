//! `vardval payouts preview|run|show|list|reclaims` and `vardval payouts reclaim
//! accept|reject`: what is due, a payout run now (or at `--now`), the sealed batches, and the
//! reviewers' decisions on reclaim proposals (audited). See docs/payouts.md.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::app;
use crate::config::Settings;
use crate::domain::money::Ore;
use crate::jobs::mail::JobMail;
use crate::jobs::payouts::{self, Payouts};
use crate::ports::{Clock, SystemClock};
use crate::store::Store;

struct Ctx {
    store: Store,
    payouts: Payouts,
    mail: JobMail,
}

async fn ctx(config: &Path) -> anyhow::Result<Ctx> {
    let s = Settings::load(config)?;
    let rulebook = app::load_rulebook(&s)?;
    let store = app::open_store(&s).await?;
    let from: lettre::message::Mailbox = s.smtp.from.parse().context("[smtp] from")?;
    Ok(Ctx {
        payouts: app::build_payouts(&s, &rulebook)?,
        mail: JobMail::load(None, from)?,
        store,
    })
}

fn when(now: Option<DateTime<Utc>>) -> DateTime<Utc> {
    now.unwrap_or_else(|| SystemClock.now())
}

/// `payouts preview`: the lines due now and the blocked clinics; nothing is written.
pub async fn preview(config: &Path, json_out: bool) -> anyhow::Result<()> {
    let c = ctx(config).await?;
    let plan = payouts::preview(&c.store, &c.payouts).await?;
    if json_out {
        let lines: Vec<_> = plan
            .lines
            .iter()
            .map(|l| {
                json!({
                    "clinic_id": l.clinic_id,
                    "instalment": l.instalment,
                    "kind": l.kind.as_str(),
                    "amount_ore": l.amount_ore,
                    "payee": l.payee,
                })
            })
            .collect();
        let blocked: Vec<_> = plan
            .blocked
            .iter()
            .map(|b| json!({"clinic_id": b.clinic_id, "reason": b.reason.text()}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "lines": lines,
                "blocked": blocked,
                "total_ore": plan.total_ore(),
            }))?
        );
        return Ok(());
    }
    for l in &plan.lines {
        println!(
            "{:<20} {} del {} {:<12} {:>18}  {}",
            l.clinic_id,
            l.year,
            l.instalment,
            l.kind.swedish(),
            Ore(l.amount_ore).to_string(),
            l.payee
        );
    }
    for b in &plan.blocked {
        println!("STOPPAD {:<20} {}", b.clinic_id, b.reason.text());
    }
    println!(
        "{} rader, summa {}, {} stoppade",
        plan.lines.len(),
        Ore(plan.total_ore()),
        plan.blocked.len()
    );
    Ok(())
}

/// `payouts run`: seal (or find) the batch of the due date, deliver its files.
pub async fn run(config: &Path, now: Option<DateTime<Utc>>, json_out: bool) -> anyhow::Result<()> {
    let c = ctx(config).await?;
    let r = payouts::run(&c.store, &c.payouts, &c.mail, when(now)).await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("{}", r.outcome());
    }
    Ok(())
}

/// `payouts list`: every sealed batch.
pub async fn list(config: &Path, json_out: bool) -> anyhow::Result<()> {
    let c = ctx(config).await?;
    let rows = c.store.payout_batches().await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for b in rows {
        println!(
            "nr {:>4}  {}  {:>3} rader  summa {:>18}  överfört {:>18}  {} stoppade  {}",
            b.number,
            b.due_date,
            b.line_count,
            Ore(b.total_ore).to_string(),
            Ore(b.transfer_ore).to_string(),
            b.blocked,
            &b.sha256[..16]
        );
    }
    Ok(())
}

/// `payouts show NUMBER`: a sealed batch's lines, blocked clinics and files.
pub async fn show(config: &Path, number: i64, json_out: bool) -> anyhow::Result<()> {
    let c = ctx(config).await?;
    let id = c
        .store
        .payout_batch_id(number)
        .await?
        .with_context(|| format!("no payout batch number {number}"))?;
    let (row, batch, files) = c.store.payout_batch(id).await?.context("batch vanished")?;
    if json_out {
        let files: Vec<_> = files
            .iter()
            .map(|(n, b)| json!({"name": n, "bytes": b.len()}))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "batch": row,
                "lines": batch.lines,
                "blocked": batch.blocked,
                "files": files,
            }))?
        );
        return Ok(());
    }
    println!(
        "Utbetalning nr {} för {} (förseglad {}), SHA-256 {}",
        row.number, row.due_date, row.sealed_at, row.sha256
    );
    for l in &batch.lines {
        println!(
            "{:>3} {:<20} {} del {} {:<12} {:>18}  {}",
            l.seq,
            l.clinic_id,
            l.year,
            l.instalment,
            l.kind.swedish(),
            Ore(l.amount_ore).to_string(),
            l.payee
        );
    }
    for b in &batch.blocked {
        println!("STOPPAD {:<20} {}", b.clinic_id, b.reason);
    }
    for (n, b) in &files {
        println!("fil {n} ({} byte)", b.len());
    }
    Ok(())
}

/// `payouts reclaims`: the reclaim proposals and decisions.
pub async fn reclaims(config: &Path, json_out: bool) -> anyhow::Result<()> {
    let c = ctx(config).await?;
    let rows = c.store.reclaims().await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for r in rows {
        println!(
            "{:<20} {} {:>18} {:?} {}",
            r.clinic_id,
            r.year,
            Ore(r.amount_ore).to_string(),
            r.state,
            r.reason.unwrap_or_default()
        );
    }
    Ok(())
}

/// `payouts reclaim accept|reject`: a reviewer decides a proposal, with a reason (audited as
/// `cli:USER`). Fails when there is no open proposal.
pub async fn decide(
    config: &Path,
    accept: bool,
    clinic: &str,
    year: i32,
    by: &str,
    reason: &str,
    now: Option<DateTime<Utc>>,
) -> anyhow::Result<()> {
    if reason.trim().is_empty() {
        anyhow::bail!("a reason is required (--reason)");
    }
    let c = ctx(config).await?;
    let actor = format!("cli:{by}");
    if !c
        .store
        .decide_reclaim(clinic, year, accept, &actor, reason.trim(), when(now))
        .await?
    {
        anyhow::bail!("no open reclaim proposal for {clinic} {year} (none, or decided already)");
    }
    println!(
        "återkrav för {clinic} {year}: {}",
        if accept {
            "godkänt (dras tillbaka i nästa utbetalning)"
        } else {
            "avslaget"
        }
    );
    Ok(())
}
