//! `vardval run --config F [--once]`: the daemon, or one pass over everything pending.

use std::path::Path;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::app::{self, App};
use crate::config::Settings;
use crate::pipeline::daemon::RunSummary;
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
    let app = App::build(s, clock).await?;
    if once {
        return app.run_once().await;
    }
    let token = CancellationToken::new();
    app::cancel_on_signals(token.clone());
    app.run_until_stopped(token).await
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
