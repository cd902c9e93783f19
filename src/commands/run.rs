//! `vardval run --config F [--once]`: the daemon, or one pass over everything pending.

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::app;
use crate::config::Settings;
use crate::pipeline::daemon::{self, RunSummary};
use crate::ports::{Clock, ManualClock, SystemClock};

pub async fn run(config: &Path, once: bool) -> anyhow::Result<RunSummary> {
    let s = Settings::load(config)?;
    run_settings(&s, once).await
}

/// `run --once --now T`: the whole process sees the fixed time `now` (for replays and tests).
pub async fn run_at(
    config: &Path,
    once: bool,
    now: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<RunSummary> {
    let s = Settings::load(config)?;
    let clock: Arc<dyn Clock> = match now {
        Some(t) => Arc::new(ManualClock::new(t)),
        None => Arc::new(SystemClock),
    };
    run_with_clock(&s, once, clock).await
}

pub async fn run_settings(s: &Settings, once: bool) -> anyhow::Result<RunSummary> {
    run_with_clock(s, once, Arc::new(SystemClock)).await
}

async fn run_with_clock(
    s: &Settings,
    once: bool,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<RunSummary> {
    let pipeline = Arc::new(app::build_pipeline(s, clock).await?);
    let scheduler = app::build_scheduler(s, &pipeline)?.map(Arc::new);
    let source = app::build_source(s)?;
    let transport = Arc::new(app::build_transport(s)?);
    let token = CancellationToken::new();
    app::cancel_on_signals(token.clone());
    tracing::info!(source = %crate::ports::MailSource::describe(&source), transport = %crate::ports::Transport::describe(transport.as_ref()), once, "starting");
    let desk = if s.web.enabled && !once {
        let (store, rulebook) = (pipeline.store.clone(), pipeline.rulebook.clone());
        Some(super::web::spawn(s, store, rulebook, pipeline.clock.clone(), token.clone()).await?)
    } else {
        None
    };
    let monitor = daemon::Monitor {
        heartbeat: std::time::Duration::from_secs(s.monitoring.heartbeat_secs),
        notifier: crate::adapters::sdnotify::Notifier::from_env(),
    };
    let stop = token.clone();
    let summary = daemon::run_monitored(
        pipeline,
        source,
        transport,
        app::run_options(s, once),
        scheduler,
        token,
        monitor,
    )
    .await;
    if let Some(desk) = desk {
        stop.cancel();
        desk.await??;
    }
    summary
}

/// A short human summary of a run.
pub fn print_summary(s: &RunSummary) {
    println!("Behandlade meddelanden: {}", s.processed);
    for (class, n) in &s.by_class {
        println!("  {class:<20} {n}");
    }
    if s.already_recorded > 0 {
        println!("Redan registrerade (flyttade nu): {}", s.already_recorded);
    }
    if s.failed > 0 {
        println!("Misslyckade (ligger kvar, försöks igen): {}", s.failed);
    }
    println!(
        "Svar köade: {}; skickade: {}; nya försök senare: {}; gav upp: {}",
        s.replies_queued, s.sent.sent, s.sent.retried, s.sent.dead
    );
    if s.scheduled_runs > 0 {
        println!("Schemalagda körningar: {}", s.scheduled_runs);
    }
}
