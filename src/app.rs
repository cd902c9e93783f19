//! The composition root: builds the running application from [`Settings`] (store, archive,
//! registry, rulebook, templates, mail source, transport, scheduler, systemd notifier) and
//! runs its tasks (intake, outbox sender, scheduler; later the web desk) under one
//! cancellation token. With its submodule `app/mailio.rs` (the configured mail source and
//! transport) the only place that names concrete adapters (`tests/architecture.rs` keeps
//! that rule); everything else talks to the traits in [`crate::ports`].
//!
//! - [`App::build`] / [`App::builder`] (with overrides for tests: another transport or
//!   source), [`App::run_until_stopped`] (the daemon), [`App::run_once`] (`run --once`).
//! - The outbox [`Bell`]: anything that queues mail rings it; the sender wakes up.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::adapters::archive::Archive;
use crate::adapters::sdnotify::Notifier;
use crate::config::{MailboxKind, Settings, SmtpKind};
use crate::domain::rulebook::Rulebook;

use crate::jobs::Scheduler;
use crate::mail::registry::Registry;
use crate::pipeline::daemon::{self, Monitor, Parts, RunOptions, RunSummary};
use crate::pipeline::ingest::Pipeline;
use crate::pipeline::outbox::{Bell, SendOptions};
use crate::pipeline::poison::{Guards, TEST_FAULTS_ENV};
use crate::pipeline::registry::SharedRegistry;
use crate::ports::{Clock, MailSource, ServiceNotifier, Transport};
use crate::reply::{Composer, Templates};
use crate::store::{RetryPolicy, Store};

mod desk;
mod mailio;
pub use desk::{oidc_provider, reingest_triage};
pub use mailio::{
    AnySource, AnyTransport, Deliver, build_source, build_transport, imap_config, maildir_delivery,
    smtp_config,
};

pub fn load_rulebook(s: &Settings) -> anyhow::Result<Rulebook> {
    let p = s.resolve(&s.cycle.rulebook);
    let text = std::fs::read_to_string(&p)
        .with_context(|| format!("cannot read rulebook {}", p.display()))?;
    Rulebook::from_toml(&text).with_context(|| format!("invalid rulebook {}", p.display()))
}

/// The payout settings with every paid cycle year's rulebook and the pickup directory.
pub fn build_payouts(
    s: &Settings,
    rulebook: &Rulebook,
) -> anyhow::Result<crate::jobs::payouts::Payouts> {
    let mut rulebooks = std::collections::BTreeMap::new();
    rulebooks.insert(rulebook.year, rulebook.clone());
    for path in &s.payouts.rulebooks {
        let p = s.resolve(path);
        let text = std::fs::read_to_string(&p)
            .with_context(|| format!("cannot read rulebook {}", p.display()))?;
        let rb = Rulebook::from_toml(&text)
            .with_context(|| format!("invalid rulebook {}", p.display()))?;
        rulebooks.entry(rb.year).or_insert(rb);
    }
    let drop = s.payouts.dir.as_ref().map(|d| {
        Arc::new(crate::adapters::filedrop::DirDrop { dir: s.resolve(d) })
            as Arc<dyn crate::ports::FileDrop>
    });
    Ok(crate::jobs::payouts::Payouts {
        settings: s.payouts.clone(),
        finance: s.finance.emails.clone(),
        rulebooks,
        drop,
        tz: rulebook.tz(),
    })
}

/// The intake's registry, read from the ledger. While the ledger has no clinics, the
/// `[clinics] path` CSV is imported first (by `config`), so existing configurations work.
pub async fn load_registry(
    s: &Settings,
    store: &Store,
    year: i32,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<Registry> {
    crate::commands::clinics::ensure_first_import(s, store, year, now).await?;
    crate::commands::clinics::registry_from_records(&store.clinics().await?, year)
}

pub async fn open_store(s: &Settings) -> anyhow::Result<Store> {
    if let Some(path) = s.database_url().strip_prefix("sqlite://") {
        let file = path.split('?').next().unwrap_or(path);
        if let Some(dir) = std::path::Path::new(file).parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
    }
    Store::connect(&s.database_url())
        .await
        .context("cannot open the database")
}

/// Build the pipeline from settings.
pub async fn build_pipeline(s: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Pipeline> {
    let rulebook = load_rulebook(s)?;
    let store = open_store(s).await?;
    // The stamp before the read: a change in between is seen (and reloaded) at once.
    let stamp = store.registry_stamp().await?;
    let registry = load_registry(s, &store, rulebook.year, clock.now()).await?;
    let stamp = match store.registry_stamp().await? {
        after if after == stamp => stamp,
        _ => String::new(),
    };
    let registry = SharedRegistry::from_ledger(registry, rulebook.year, stamp);
    let from: lettre::message::Mailbox = s.smtp.from.parse().context("[smtp] from")?;
    let own = vec![from.email.to_string().to_lowercase()];
    let composer = Composer {
        templates: Templates::load(None)?,
        rulebook: rulebook.clone(),
        from,
    };
    Ok(Pipeline {
        store,
        archive: Arc::new(Archive::new(s.resolve(&s.archive.dir))),
        registry,
        rulebook,
        composer,
        limits: s.limits.document.clone(),
        max_message_bytes: s.limits.max_message_bytes(),
        max_replies_per_hour: s.replies.max_per_recipient_per_hour,
        max_replies_per_day: s.replies.max_per_recipient_per_day,
        own_addresses: own,
        precheck: s.precheck.clone(),
        mail_policy: s.mailbox.mail_policy(),
        clock,
        guards: Guards {
            max_attempts: s.limits.max_attempts(),
            message_budget: s.limits.message_budget(),
            max_replies_per_clinic_per_hour: s.replies.max_per_clinic_per_hour,
            max_replies_per_clinic_per_day: s.replies.max_per_clinic_per_day,
            // Fault injection for the poison tests; ignored by release builds.
            test_faults: cfg!(debug_assertions)
                && std::env::var(TEST_FAULTS_ENV).as_deref() == Ok("1"),
            // A mail a process died holding is parsed again in a probe of this binary.
            probe: std::env::current_exe().ok(),
        },
    })
}

pub fn run_options(s: &Settings, once: bool) -> RunOptions {
    let from: lettre::message::Mailbox = s.smtp.from.parse().expect("validated");
    let own = from.email.to_string();
    let copy = s.smtp.copy_to_self.unwrap_or(s.smtp.kind == SmtpKind::Smtp);
    RunOptions {
        once,
        batch: 50,
        max_wait: match s.mailbox.kind {
            MailboxKind::Imap => Duration::from_secs(s.mailbox.idle_refresh_secs),
            MailboxKind::Maildir => s.poll_interval(),
        },
        send: SendOptions {
            from: own.clone(),
            copy_to: copy.then_some(own),
            sending_grace: Duration::from_secs(s.smtp.sending_grace_secs),
            retry: RetryPolicy {
                base: chrono::Duration::seconds(s.smtp.backoff_secs as i64),
                max: chrono::Duration::seconds(s.smtp.max_backoff_secs as i64),
                max_attempts: i64::from(s.smtp.max_attempts),
            },
        },
    }
}

/// Cancel the token on SIGTERM or SIGINT.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested: finishing the message in hand");
        token.cancel();
    });
}

/// The scheduler for these settings over the pipeline's ledger, registry and rulebook, or
/// `None` when `[schedule] enabled = false`.
pub fn build_scheduler(
    s: &Settings,
    p: &Pipeline,
) -> anyhow::Result<Option<crate::jobs::Scheduler>> {
    use std::hash::{BuildHasher, Hasher};
    if !s.schedule.enabled {
        return Ok(None);
    }
    let ctx = crate::jobs::JobContext {
        store: p.store.clone(),
        registry: p.registry.clone(),
        rulebook: p.rulebook.clone(),
        mail: crate::jobs::mail::JobMail::load(None, p.composer.from.clone())?,
        reminders: s.reminders.clone(),
        reviewers: s.reviewers.emails.clone(),
        max_per_hour: s.replies.max_per_recipient_per_hour,
        max_per_day: s.replies.max_per_recipient_per_day,
        payouts: Some(build_payouts(s, &p.rulebook)?),
    };
    let jobs = crate::jobs::Scheduler::standard_jobs(&ctx, &s.digest.schedule)?;
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Ok(Some(crate::jobs::Scheduler {
        ctx,
        jobs,
        owner: format!("pid{}-{random:016x}", std::process::id()),
        lease: chrono::Duration::seconds(s.schedule.lease_seconds as i64),
        tick_every: Duration::from_secs(s.schedule.tick_seconds.max(1)),
    }))
}

// ---------------------------------------------------------------------------------------------
// The application

type Factory<X> = Box<dyn FnOnce(&Settings) -> anyhow::Result<X> + Send>;

/// Builds an [`App`]; tests replace the transport or the mail source.
pub struct AppBuilder<S, T> {
    settings: Settings,
    clock: Arc<dyn Clock>,
    source: Factory<S>,
    transport: Factory<Arc<T>>,
    notifier: Option<Arc<dyn ServiceNotifier>>,
}

impl AppBuilder<AnySource, AnyTransport> {
    /// Everything as the settings say.
    pub fn new(settings: &Settings, clock: Arc<dyn Clock>) -> Self {
        AppBuilder {
            settings: settings.clone(),
            clock,
            source: Box::new(build_source),
            transport: Box::new(|s| build_transport(s).map(Arc::new)),
            notifier: None,
        }
    }
}

impl<S: MailSource + 'static, T: Transport + 'static> AppBuilder<S, T> {
    /// Send through `t` instead of the configured transport (tests: a recorder).
    pub fn with_transport<T2: Transport + 'static>(self, t: Arc<T2>) -> AppBuilder<S, T2> {
        AppBuilder {
            settings: self.settings,
            clock: self.clock,
            source: self.source,
            transport: Box::new(move |_| Ok(t)),
            notifier: self.notifier,
        }
    }

    /// Read mail from `src` instead of the configured mailbox.
    pub fn with_source<S2: MailSource + 'static>(self, src: S2) -> AppBuilder<S2, T> {
        AppBuilder {
            settings: self.settings,
            clock: self.clock,
            source: Box::new(move |_| Ok(src)),
            transport: self.transport,
            notifier: self.notifier,
        }
    }

    /// Tell this notifier (instead of systemd's, from the environment) about readiness.
    pub fn with_notifier(mut self, n: Arc<dyn ServiceNotifier>) -> Self {
        self.notifier = Some(n);
        self
    }

    pub async fn build(self) -> anyhow::Result<App<S, T>> {
        let s = self.settings;
        let pipeline = Arc::new(build_pipeline(&s, self.clock).await?);
        let scheduler = build_scheduler(&s, &pipeline)?.map(Arc::new);
        let source = (self.source)(&s)?;
        let transport = (self.transport)(&s)?;
        let notifier = self
            .notifier
            .unwrap_or_else(|| Arc::new(Notifier::from_env()));
        Ok(App {
            pipeline,
            scheduler,
            source,
            transport,
            notifier,
            bell: Bell::new(),
            settings: s,
        })
    }
}

/// The running application: the pipeline and the scheduler over one ledger, the mail
/// source, the transport and the outbox's bell.
pub struct App<S = AnySource, T = AnyTransport> {
    pub settings: Settings,
    pub pipeline: Arc<Pipeline>,
    pub scheduler: Option<Arc<Scheduler>>,
    pub source: S,
    pub transport: Arc<T>,
    notifier: Arc<dyn ServiceNotifier>,
    bell: Bell,
}

impl App {
    /// The application as the settings say.
    pub async fn build(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
        AppBuilder::new(settings, clock).build().await
    }

    /// A builder, for overrides.
    pub fn builder(
        settings: &Settings,
        clock: Arc<dyn Clock>,
    ) -> AppBuilder<AnySource, AnyTransport> {
        AppBuilder::new(settings, clock)
    }
}

impl<S: MailSource + 'static, T: Transport + 'static> App<S, T> {
    /// The outbox's bell: ring it after queueing mail outside intake and scheduler.
    pub fn bell(&self) -> Bell {
        self.bell.clone()
    }

    /// The daemon: intake, the outbox sender and the scheduler (and later the web desk) as
    /// tasks under `token`, until it is cancelled (SIGTERM/SIGINT; see
    /// [`cancel_on_signals`]). Each task finishes the unit in hand.
    pub async fn run_until_stopped(self, token: CancellationToken) -> anyhow::Result<RunSummary> {
        self.run(false, token).await
    }

    /// `run --once`: everything pending in the mailbox, the jobs due now, then what the
    /// outbox has due; then return.
    pub async fn run_once(self) -> anyhow::Result<RunSummary> {
        self.run(true, CancellationToken::new()).await
    }

    async fn run(self, once: bool, token: CancellationToken) -> anyhow::Result<RunSummary> {
        let s = &self.settings;
        tracing::info!(source = %self.source.describe(), transport = %self.transport.describe(), once, "starting");
        let mut tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>> = Vec::new();
        if !once && s.web.enabled {
            // The reviewers' web desk, under the same token (a busy port fails the start).
            let p = &self.pipeline;
            tasks.push(
                desk::spawn(
                    s,
                    p.store.clone(),
                    p.rulebook.clone(),
                    p.clock.clone(),
                    self.scheduler.clone(),
                    token.clone(),
                )
                .await?,
            );
        }
        let parts = Parts {
            pipeline: self.pipeline,
            scheduler: self.scheduler,
            opts: run_options(s, once),
            monitor: Monitor {
                heartbeat: Duration::from_secs(s.monitoring.heartbeat_secs),
                notifier: self.notifier,
            },
            bell: self.bell,
        };
        let summary = daemon::run_parts(parts, self.source, self.transport, token.clone()).await;
        // Intake stopped (cancelled, or `--once` done): stop the rest and wait for them.
        token.cancel();
        for t in tasks.drain(..) {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("task ended with an error: {e:#}"),
                Err(e) => tracing::warn!("task panicked: {e}"),
            }
        }
        summary
    }
}
