//! The scheduler: a single-shot [`Scheduler::tick`] that runs every job whose slot is due
//! at `now`. Each run is a `job_runs` row claimed with UNIQUE(job, due_at) plus a lease, so
//! a due time runs at most once even with two schedulers on one database; a run left
//! unfinished by a crash is taken over after its lease and continues idempotently (the
//! units are exactly-once through outbox dedupe keys). After downtime a job runs once, for
//! its latest missed slot. The first tick on a fresh ledger records the epoch: slots before
//! it are not missed work.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::{JobContext, digest, payouts, reminders};
use crate::domain::schedule::LocalCron;

/// The jobs the scheduler knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Reminders,
    Digest,
    Payouts,
    Reclaims,
}

impl JobKind {
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Reminders => "reminders",
            JobKind::Digest => "digest",
            JobKind::Payouts => "payouts",
            JobKind::Reclaims => "reclaims",
        }
    }
}

/// One job: what and when.
#[derive(Debug, Clone)]
pub struct Job {
    pub kind: JobKind,
    pub cron: LocalCron,
}

/// One run made by a tick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunDone {
    pub job: String,
    pub due_at: DateTime<Utc>,
    pub outcome: String,
    pub takeover: bool,
}

/// What a tick did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct TickReport {
    pub runs: Vec<RunDone>,
}

/// A line of `vardval schedule`.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub job: String,
    pub schedule: String,
    pub last_due_at: Option<DateTime<Utc>>,
    pub last_finished_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<String>,
    pub next_at: Option<DateTime<Utc>>,
}

/// The scheduler of one process.
#[derive(Debug)]
pub struct Scheduler {
    pub ctx: JobContext,
    pub jobs: Vec<Job>,
    /// Identifies this scheduler in `job_runs.owner` (host, pid, a random part).
    pub owner: String,
    pub lease: Duration,
    /// The daemon ticks at least this often.
    pub tick_every: std::time::Duration,
}

impl Scheduler {
    /// The standard jobs: reminders daily at the configured hour, the digest on its cron
    /// (only when reviewers are configured).
    pub fn standard_jobs(ctx: &JobContext, digest_cron: &str) -> anyhow::Result<Vec<Job>> {
        let tz = ctx.rulebook.tz();
        let hour = ctx.reminders.hour;
        if hour > 23 {
            anyhow::bail!("[reminders] hour = {hour}: expected 0–23");
        }
        let mut jobs = vec![Job {
            kind: JobKind::Reminders,
            cron: LocalCron::parse(&format!("0 0 {hour} * * *"), tz).map_err(anyhow::Error::msg)?,
        }];
        if !ctx.reviewers.is_empty() {
            jobs.push(Job {
                kind: JobKind::Digest,
                cron: LocalCron::parse(digest_cron, tz)
                    .map_err(|e| anyhow::anyhow!("[digest] schedule: {e}"))?,
            });
        }
        // payouts run on the schedule once the payer is configured
        if let Some(p) = &ctx.payouts
            && p.settings.enabled
            && !p.settings.debtor.name.trim().is_empty()
        {
            jobs.push(Job {
                kind: JobKind::Payouts,
                cron: LocalCron::parse(&p.settings.schedule, tz)
                    .map_err(|e| anyhow::anyhow!("[payouts] schedule: {e}"))?,
            });
            jobs.push(Job {
                kind: JobKind::Reclaims,
                cron: LocalCron::parse(&p.settings.reclaim_check, tz)
                    .map_err(|e| anyhow::anyhow!("[payouts] reclaim_check: {e}"))?,
            });
        }
        Ok(jobs)
    }

    /// Run every job that is due at `now` (see the module docs).
    pub async fn tick(&self, now: DateTime<Utc>) -> anyhow::Result<TickReport> {
        let store = &self.ctx.store;
        // `clinics import` in another process: this tick sees the new registry.
        if let Err(e) = self.ctx.registry.refresh(store).await {
            tracing::warn!("cannot reload the clinic registry (keeping the previous one): {e:#}");
        }
        let epoch = store.scheduler_epoch(now).await?;
        let mut report = TickReport::default();
        for job in &self.jobs {
            let name = job.kind.name();
            for stale in store.stale_runs(name, now).await? {
                if let Some(done) = self.run_slot(job, epoch, stale.due_at, now, true).await? {
                    report.runs.push(done);
                }
            }
            let after = store
                .last_run(name)
                .await?
                .map(|r| r.due_at)
                .unwrap_or(epoch - Duration::seconds(1))
                .max(epoch - Duration::seconds(1));
            if let Some(slot) = job.cron.latest_in(after, now)
                && let Some(done) = self.run_slot(job, epoch, slot, now, false).await?
            {
                report.runs.push(done);
            }
        }
        Ok(report)
    }

    async fn run_slot(
        &self,
        job: &Job,
        epoch: DateTime<Utc>,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
        takeover: bool,
    ) -> anyhow::Result<Option<RunDone>> {
        let store = &self.ctx.store;
        let name = job.kind.name();
        let run = match store
            .claim_run(name, slot, &self.owner, now, self.lease)
            .await?
        {
            crate::store::Claim::Claimed(r) => r,
            crate::store::Claim::Taken => return Ok(None),
        };
        let outcome = match job.kind {
            JobKind::Reminders => match reminders::run(&self.ctx, epoch, slot, now).await {
                // Paused in the configuration or on the desk: every unit was skipped.
                Ok(r) if r.paused > 0 && r.paused == r.units => {
                    format!("paused: {} reminders skipped", r.paused)
                }
                Ok(r) => r.outcome(),
                Err(e) => format!("error: {e:#}"),
            },
            JobKind::Digest => match digest::run(&self.ctx, slot, now).await {
                Ok(r) => format!(
                    "ok: {} digests queued, {} already queued",
                    r.queued, r.already
                ),
                Err(e) => format!("error: {e:#}"),
            },
            JobKind::Payouts => match &self.ctx.payouts {
                Some(p) => {
                    match payouts::run_for(store, p, &self.ctx.mail, p.due_date(slot), now).await {
                        Ok(r) => r.outcome(),
                        Err(e) => format!("error: {e:#}"),
                    }
                }
                None => "skipped: payouts not configured".into(),
            },
            JobKind::Reclaims => match &self.ctx.payouts {
                Some(p) => match payouts::propose_reclaims(store, p, now).await {
                    Ok(n) => format!("ok: {n} reclaim proposals"),
                    Err(e) => format!("error: {e:#}"),
                },
                None => "skipped: payouts not configured".into(),
            },
        };
        if outcome.starts_with("error") {
            tracing::warn!(job = name, due = %slot, "{outcome}");
        } else {
            tracing::info!(job = name, due = %slot, "{outcome}");
        }
        // A failed payout run is left unfinished: its lease expires and a later tick takes it
        // over and tries again (the run is idempotent), so a payout date is never silently
        // skipped until the next slot.
        let retry = job.kind == JobKind::Payouts && outcome.starts_with("error");
        if !retry {
            store.finish_run(run.id, &self.owner, now, &outcome).await?;
        }
        Ok(Some(RunDone {
            job: name.to_string(),
            due_at: slot,
            outcome,
            takeover,
        }))
    }

    /// Each job's last and next run, like `systemctl list-timers`.
    pub async fn status(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<JobStatus>> {
        let mut out = Vec::new();
        for job in &self.jobs {
            let last = self.ctx.store.last_run(job.kind.name()).await?;
            out.push(JobStatus {
                job: job.kind.name().to_string(),
                schedule: job.cron.expr().to_string(),
                last_due_at: last.as_ref().map(|r| r.due_at),
                last_finished_at: last.as_ref().and_then(|r| r.finished_at),
                last_outcome: last.and_then(|r| r.outcome),
                next_at: job.cron.next_after(now),
            });
        }
        Ok(out)
    }
}
