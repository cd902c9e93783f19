//! The daemon loop: fetch from the mailbox, ingest each message, move it only after the
//! ledger committed, wake the sender; then wait (IDLE or poll) until there is more. Stops
//! between messages when the shutdown token is cancelled, so the message in hand is always
//! finished. Connection trouble is retried with backoff and reported in `status`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::ingest::{Outcome, Pipeline};
use super::outbox::{self, SendOptions, SendReport};
use crate::jobs::Scheduler;
use crate::ports::{MailSource, SourceError, Transport, Wait};

type Drained = Arc<std::sync::Mutex<Option<chrono::DateTime<chrono::Utc>>>>;

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Process everything pending, send what is due, then return.
    pub once: bool,
    /// Messages fetched per round.
    pub batch: usize,
    /// Longest wait for new mail before looking again (IDLE refresh or poll interval).
    pub max_wait: Duration,
    /// How replies are sent (envelope, copy to self, grace, retries).
    pub send: SendOptions,
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct RunSummary {
    pub processed: usize,
    pub already_recorded: usize,
    pub failed: usize,
    pub by_class: BTreeMap<String, usize>,
    pub replies_queued: usize,
    pub sent: SendReport,
    /// Scheduled job runs made by this process (`--once`: the single tick).
    pub scheduled_runs: usize,
}

pub async fn run<S, T>(
    pipeline: Arc<Pipeline>,
    source: S,
    transport: Arc<T>,
    opts: RunOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<RunSummary>
where
    S: MailSource,
    T: Transport + 'static,
{
    run_with_scheduler(pipeline, source, transport, opts, None, shutdown).await
}

/// [`run`] with the scheduler as a third task beside intake and sender (under the same
/// cancellation token); with `once`, one tick after the mailbox pass, before sending.
pub async fn run_with_scheduler<S, T>(
    pipeline: Arc<Pipeline>,
    mut source: S,
    transport: Arc<T>,
    opts: RunOptions,
    scheduler: Option<Arc<Scheduler>>,
    shutdown: CancellationToken,
) -> anyhow::Result<RunSummary>
where
    S: MailSource,
    T: Transport + 'static,
{
    let store = pipeline.store.clone();
    let wake = Arc::new(Notify::new());
    let ticker = match (&scheduler, opts.once) {
        (Some(sch), false) => Some(tokio::spawn(scheduler_loop(
            sch.clone(),
            pipeline.clone(),
            wake.clone(),
            shutdown.clone(),
        ))),
        _ => None,
    };
    // When the latest fetch that found the mailbox empty started (see outbox::send_due).
    let drained: Drained = Arc::new(std::sync::Mutex::new(None));
    let sender = if opts.once {
        None
    } else {
        Some(tokio::spawn(sender_loop(
            pipeline.clone(),
            transport.clone(),
            opts.clone(),
            wake.clone(),
            drained.clone(),
            shutdown.clone(),
        )))
    };
    let mut summary = RunSummary::default();
    let mut backoff = Duration::from_secs(1);
    let desc = source.describe();
    'outer: loop {
        if shutdown.is_cancelled() {
            break;
        }
        let now = pipeline.clock.now();
        let (batch, drain_mark) = match source.fetch(opts.batch).await {
            Ok(b) => {
                backoff = Duration::from_secs(1);
                // A batch smaller than asked for holds everything that was there when the
                // fetch started; once it is processed, the mailbox has been drained as of then.
                let mark = (b.len() < opts.batch).then_some(now);
                state(&pipeline, "connection_state", "connected").await;
                state(&pipeline, "last_poll_at", &now.to_rfc3339()).await;
                (b, mark)
            }
            Err(e) => {
                warn!(source = %desc, "{e}");
                state(&pipeline, "connection_state", "disconnected").await;
                state(
                    &pipeline,
                    "last_error",
                    &format!("{} {e}", now.to_rfc3339()),
                )
                .await;
                if opts.once {
                    return Err(e.into());
                }
                let wait = if matches!(e, SourceError::Auth(_)) {
                    Duration::from_secs(300)
                } else {
                    backoff
                };
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(60));
                continue;
            }
        };
        let full = batch.len() >= opts.batch;
        let mut batch_failed = false;
        for f in &batch {
            if shutdown.is_cancelled() {
                break 'outer;
            }
            match pipeline.ingest_one(f).await {
                Ok(outcome) => {
                    let outcome_was_recorded_before = outcome == Outcome::AlreadyRecorded;
                    match outcome {
                        Outcome::Recorded { class, reply, .. } => {
                            summary.processed += 1;
                            *summary.by_class.entry(class.to_string()).or_default() += 1;
                            if reply {
                                summary.replies_queued += 1;
                                wake.notify_one();
                            }
                        }
                        Outcome::AlreadyRecorded => summary.already_recorded += 1,
                    }
                    // Only after the commit: move the message out of the watched folder.
                    let moved = match outcome_was_recorded_before {
                        true => source.mark_processed_again(f).await,
                        false => source.mark_processed(f).await,
                    };
                    if let Err(e) = moved {
                        warn!(key = %f.source_key, "cannot move processed message (will retry): {e}");
                    }
                }
                Err(e) => {
                    batch_failed = true;
                    summary.failed += 1;
                    error!(key = %f.source_key, "cannot ingest message (left in the mailbox, will retry): {e}");
                }
            }
        }
        if let (Some(mark), false) = (drain_mark, batch_failed) {
            *drained.lock().expect("drained lock") = Some(mark);
            wake.notify_one();
        }
        if full && !shutdown.is_cancelled() {
            continue;
        }
        if opts.once {
            break;
        }
        match source.wait(opts.max_wait, &shutdown).await {
            Ok(Wait::Shutdown) => break,
            Ok(_) => {}
            Err(e) => {
                // The connection broke while waiting (server restart): say so in `status`;
                // the next fetch reconnects.
                warn!(source = %desc, "wait failed: {e}");
                let now = pipeline.clock.now();
                state(&pipeline, "connection_state", "disconnected").await;
                state(
                    &pipeline,
                    "last_error",
                    &format!("{} {e}", now.to_rfc3339()),
                )
                .await;
            }
        }
    }
    if opts.once {
        if let Some(sch) = &scheduler {
            summary.scheduled_runs = sch.tick(pipeline.clock.now()).await?.runs.len();
        }
        let drained_at = *drained.lock().expect("drained lock");
        summary.sent = outbox::send_due(
            &store,
            transport.as_ref(),
            &opts.send,
            drained_at,
            pipeline.clock.as_ref(),
        )
        .await?;
    } else {
        shutdown.cancel();
        if let Some(h) = sender {
            summary.sent = h.await.unwrap_or_default();
        }
        if let Some(h) = ticker {
            summary.scheduled_runs = h.await.unwrap_or_default();
        }
    }
    info!(processed = summary.processed, "stopped");
    Ok(summary)
}

async fn state(p: &Pipeline, k: &str, v: &str) {
    if let Err(e) = p.store.set_daemon_state(k, v).await {
        warn!("cannot record daemon state {k}: {e}");
    }
}

/// Sends whenever woken, and at least when the next row falls due.
async fn sender_loop<T: Transport>(
    pipeline: Arc<Pipeline>,
    transport: Arc<T>,
    opts: RunOptions,
    wake: Arc<Notify>,
    drained: Drained,
    shutdown: CancellationToken,
) -> SendReport {
    let mut total = SendReport::default();
    loop {
        let clock = pipeline.clock.as_ref();
        let drained_at = *drained.lock().expect("drained lock");
        match outbox::send_due(
            &pipeline.store,
            transport.as_ref(),
            &opts.send,
            drained_at,
            clock,
        )
        .await
        {
            Ok(r) => {
                total.sent += r.sent;
                total.retried += r.retried;
                total.dead += r.dead;
            }
            Err(e) => warn!("outbox pass failed: {e}"),
        }
        let until_due = match outbox::next_due(&pipeline.store).await {
            Ok(Some(t)) => (t - clock.now()).to_std().unwrap_or(Duration::ZERO),
            _ => Duration::from_secs(30),
        }
        .clamp(Duration::from_millis(50), Duration::from_secs(30));
        tokio::select! {
            _ = shutdown.cancelled() => return total,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(until_due) => {}
        }
    }
}

/// Ticks the scheduler at each job's next slot (at least every `tick_every`), wakes the
/// sender after a tick that queued mail. Returns the number of runs made.
async fn scheduler_loop(
    scheduler: Arc<Scheduler>,
    pipeline: Arc<Pipeline>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> usize {
    let mut runs = 0;
    loop {
        let now = pipeline.clock.now();
        match scheduler.tick(now).await {
            Ok(r) => {
                if !r.runs.is_empty() {
                    runs += r.runs.len();
                    wake.notify_one();
                }
            }
            Err(e) => warn!("scheduler tick failed: {e:#}"),
        }
        let next = scheduler
            .jobs
            .iter()
            .filter_map(|j| j.cron.next_after(now))
            .min()
            .map(|t| {
                (t - pipeline.clock.now())
                    .to_std()
                    .unwrap_or(Duration::ZERO)
            })
            .unwrap_or(scheduler.tick_every)
            .clamp(Duration::from_millis(100), scheduler.tick_every);
        tokio::select! {
            _ = shutdown.cancelled() => return runs,
            _ = tokio::time::sleep(next) => {}
        }
    }
}
