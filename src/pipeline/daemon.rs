//! The daemon loop: fetch from the mailbox, ingest each message, move it only after the
//! ledger committed, wake the sender; then wait (IDLE or poll) until there is more. Stops
//! between messages when the shutdown token is cancelled, so the message in hand is always
//! finished. Connection trouble is retried with backoff and reported in `status`; liveness,
//! progress and systemd's watchdog go through [`super::health`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::health::Health;
use super::ingest::{Outcome, Pipeline, set_apart};
use super::outbox::{self, Bell, SendOptions, SendReport};
use crate::jobs::Scheduler;
use crate::ports::{MailSource, NoNotifier, ServiceNotifier, SourceError, Transport, Wait};

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
    /// Moved to the quarantine folder: attempts used up, or recorded but set apart
    /// ([`set_apart`]: unparseable, or read from its header only; also counted in
    /// `processed`).
    pub quarantined: usize,
    pub failed: usize,
    pub by_class: BTreeMap<String, usize>,
    pub replies_queued: usize,
    pub sent: SendReport,
    /// Scheduled job runs made by this process (`--once`: the single tick).
    pub scheduled_runs: usize,
}

/// How the daemon reports that it is alive.
#[derive(Debug)]
pub struct Monitor {
    /// How often the heartbeat is written into the ledger (`[monitoring] heartbeat_secs`).
    pub heartbeat: Duration,
    /// The service manager (systemd's notification socket, or nobody).
    pub notifier: Arc<dyn ServiceNotifier>,
}

impl Default for Monitor {
    /// The default heartbeat; no service manager (the application passes systemd's).
    fn default() -> Self {
        Monitor {
            heartbeat: Duration::from_secs(
                crate::config::MonitoringSettings::default().heartbeat_secs,
            ),
            notifier: Arc::new(NoNotifier),
        }
    }
}

/// [`run_monitored`] with the default [`Monitor`].
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
    run_monitored(
        pipeline,
        source,
        transport,
        opts,
        None,
        shutdown,
        Monitor::default(),
    )
    .await
}

/// [`run`] with the scheduler as a third task beside intake and sender (under the same
/// cancellation token); with `once`, one tick after the mailbox pass, before sending.
pub async fn run_with_scheduler<S, T>(
    pipeline: Arc<Pipeline>,
    source: S,
    transport: Arc<T>,
    opts: RunOptions,
    scheduler: Option<Arc<Scheduler>>,
    shutdown: CancellationToken,
) -> anyhow::Result<RunSummary>
where
    S: MailSource,
    T: Transport + 'static,
{
    run_monitored(
        pipeline,
        source,
        transport,
        opts,
        scheduler,
        shutdown,
        Monitor::default(),
    )
    .await
}

/// The daemon (or, with `opts.once`, one pass): intake, sender and (when given) the scheduler
/// under one cancellation token. A daemon records its liveness (pid, host, heartbeat) and
/// tells systemd READY / WATCHDOG / STOPPING; a one-off pass records only what it saw of the
/// mailbox and the outbox.
pub async fn run_monitored<S, T>(
    pipeline: Arc<Pipeline>,
    source: S,
    transport: Arc<T>,
    opts: RunOptions,
    scheduler: Option<Arc<Scheduler>>,
    shutdown: CancellationToken,
    monitor: Monitor,
) -> anyhow::Result<RunSummary>
where
    S: MailSource,
    T: Transport + 'static,
{
    let parts = Parts {
        pipeline,
        scheduler,
        opts,
        monitor,
        bell: Bell::new(),
    };
    run_parts(parts, source, transport, shutdown).await
}

/// What the daemon's tasks share (see [`run_parts`]).
pub struct Parts {
    pub pipeline: Arc<Pipeline>,
    pub scheduler: Option<Arc<Scheduler>>,
    pub opts: RunOptions,
    pub monitor: Monitor,
    /// Rung by intake and scheduler after queueing mail; others (the web desk) may hold
    /// clones and ring it too.
    pub bell: Bell,
}

/// [`run_monitored`] with the application's own [`Bell`]: intake in this task, the sender
/// and the scheduler as tasks, all under `shutdown`.
pub async fn run_parts<S, T>(
    parts: Parts,
    mut source: S,
    transport: Arc<T>,
    shutdown: CancellationToken,
) -> anyhow::Result<RunSummary>
where
    S: MailSource,
    T: Transport + 'static,
{
    let Parts {
        pipeline,
        scheduler,
        opts,
        monitor,
        bell: wake,
    } = parts;
    let store = pipeline.store.clone();
    let notifier: Arc<dyn ServiceNotifier> = if opts.once {
        Arc::new(NoNotifier)
    } else {
        monitor.notifier
    };
    let health = Arc::new(Health::new(store.clone(), pipeline.clock.clone(), notifier));
    let heartbeat_stop = CancellationToken::new();
    if !opts.once {
        health.started(monitor.heartbeat, opts.max_wait).await;
        tokio::spawn(
            health
                .clone()
                .heartbeat_loop(monitor.heartbeat, heartbeat_stop.clone()),
        );
    }
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
            health.clone(),
            shutdown.clone(),
        )))
    };
    let mut summary = RunSummary::default();
    let mut backoff = Duration::from_secs(1);
    let mut failed_rounds = 0u32;
    let desc = source.describe();
    'outer: loop {
        if shutdown.is_cancelled() {
            break;
        }
        let now = pipeline.clock.now();
        // `clinics import` in another process: this batch sees the new registry.
        if let Err(e) = pipeline.registry.refresh(&store).await {
            warn!("cannot reload the clinic registry (keeping the previous one): {e:#}");
        }
        let (batch, drain_mark) = match source.fetch(opts.batch).await {
            Ok(b) => {
                backoff = Duration::from_secs(1);
                // A batch smaller than asked for (and not cut by the source's byte budget)
                // holds everything that was there when the fetch started; once it is
                // processed, the mailbox has been drained as of then.
                let mark = (b.len() < opts.batch && !source.more_pending()).then_some(now);
                health.poll_ok(now).await;
                (b, mark)
            }
            Err(e) => {
                warn!(source = %desc, "{e}");
                health.mail_failed(&e.to_string()).await;
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
        let full = batch.len() >= opts.batch || source.more_pending();
        let mut batch_failed = false;
        let mut progressed = false;
        // By value: each message's bytes are dropped as soon as it is handled.
        for f in batch {
            let f = &f;
            if shutdown.is_cancelled() {
                break 'outer;
            }
            match pipeline.ingest_one(f).await {
                Ok(outcome) => {
                    // Only after the commit: move the message out of the watched folder.
                    let moved = match outcome {
                        Outcome::Recorded { class, reply, .. } => {
                            summary.processed += 1;
                            *summary.by_class.entry(class.to_string()).or_default() += 1;
                            if reply {
                                summary.replies_queued += 1;
                                wake.ring();
                            }
                            if set_apart(class, f) {
                                summary.quarantined += 1;
                                source.quarantine(f).await
                            } else {
                                source.mark_processed(f).await
                            }
                        }
                        Outcome::AlreadyRecorded => {
                            summary.already_recorded += 1;
                            source.mark_processed_again(f).await
                        }
                        Outcome::Quarantined { .. } => {
                            summary.quarantined += 1;
                            source.quarantine(f).await
                        }
                    };
                    progressed = true;
                    if let Err(e) = moved {
                        warn!(key = %f.source_key, "cannot move processed message (will retry): {e}");
                    }
                }
                Err(e) => {
                    // Skipped for the rest of this batch; the attempt ledger quarantines it
                    // once its attempts are used up.
                    batch_failed = true;
                    summary.failed += 1;
                    error!(key = %f.source_key, "cannot ingest message (left in the mailbox, will retry): {e}");
                }
            }
        }
        if let (Some(mark), false) = (drain_mark, batch_failed) {
            *drained.lock().expect("drained lock") = Some(mark);
            wake.ring();
        }
        if shutdown.is_cancelled() {
            break;
        }
        if full && progressed {
            failed_rounds = 0;
            continue;
        }
        if opts.once {
            break;
        }
        if batch_failed || full {
            // Something is left to retry (a message failed; the attempt ledger quarantines it
            // once its attempts are used up), or nothing at all could be done (the database
            // is down, say): look again soon rather than waiting for new mail, but never spin.
            failed_rounds = if progressed { 0 } else { failed_rounds + 1 };
            let pause = Duration::from_millis(250) * 2u32.saturating_pow(failed_rounds.min(8));
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(pause.min(Duration::from_secs(60))) => {}
            }
            continue;
        }
        match source.wait(opts.max_wait, &shutdown).await {
            Ok(Wait::Shutdown) => break,
            Ok(_) => health.wait_ok().await,
            Err(e) => {
                // The connection broke while waiting (server restart): say so in `status`;
                // the next fetch reconnects.
                warn!(source = %desc, "wait failed: {e}");
                health.mail_failed(&e.to_string()).await;
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
        let t = summary.sent.trouble.as_ref();
        health
            .sender_pass(
                summary.sent.sent,
                t.map(|t| (t.credentials, t.message.as_str())),
            )
            .await;
    } else {
        shutdown.cancel();
        if let Some(h) = sender {
            summary.sent = h.await.unwrap_or_default();
        }
        if let Some(h) = ticker {
            summary.scheduled_runs = h.await.unwrap_or_default();
        }
        heartbeat_stop.cancel();
        health.stopping().await;
    }
    info!(processed = summary.processed, "stopped");
    Ok(summary)
}

/// Sends whenever woken, and at least when the next row falls due.
async fn sender_loop<T: Transport>(
    pipeline: Arc<Pipeline>,
    transport: Arc<T>,
    opts: RunOptions,
    wake: Bell,
    drained: Drained,
    health: Arc<Health>,
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
                health
                    .sender_pass(
                        r.sent,
                        r.trouble
                            .as_ref()
                            .map(|t| (t.credentials, t.message.as_str())),
                    )
                    .await;
                total.sent += r.sent;
                total.retried += r.retried;
                total.dead += r.dead;
                total.trouble = r.trouble.or(total.trouble);
            }
            Err(e) => warn!("outbox pass failed: {e}"),
        }
        let until_due = match outbox::next_due(&pipeline.store).await {
            Ok(Some(t)) => (t - clock.now()).to_std().unwrap_or(Duration::ZERO),
            _ => Duration::from_secs(30),
        }
        .clamp(Duration::from_millis(50), health.sender_max_sleep());
        tokio::select! {
            _ = shutdown.cancelled() => return total,
            _ = wake.rung() => {}
            _ = tokio::time::sleep(until_due) => {}
        }
    }
}

/// Ticks the scheduler at each job's next slot (at least every `tick_every`), wakes the
/// sender after a tick that queued mail. Returns the number of runs made.
async fn scheduler_loop(
    scheduler: Arc<Scheduler>,
    pipeline: Arc<Pipeline>,
    wake: Bell,
    shutdown: CancellationToken,
) -> usize {
    let mut runs = 0;
    loop {
        let now = pipeline.clock.now();
        match scheduler.tick(now).await {
            Ok(r) => {
                if !r.runs.is_empty() {
                    runs += r.runs.len();
                    wake.ring();
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
