//! `spawn_app`: the real application ([`vardval::app::App`]) booted with one call over a
//! fresh test database (the URL `both!`/`with_db` gives: SQLite or PostgreSQL), a Maildir in
//! a temp directory (or, with [`Overrides::toml_mailbox`], the lab's IMAP mailbox), a
//! [`Recorder`] as the transport and a [`ManualClock`]. The config file is written like an
//! operator's (`vardval.toml`, `clinics.csv`), so the composition root is what is tested.
//!
//! The handle runs one pass (`run --once`), or the daemon in the background
//! ([`TestApp::start`]) with [`TestApp::wait_until`] / [`TestApp::wait_until_idle`] and
//! [`TestApp::shutdown`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vardval::adapters::maildir::MaildirSource;
use vardval::app::App;
use vardval::config::Settings;
use vardval::jobs::Scheduler;
use vardval::jobs::scheduler::{Job, JobKind};
use vardval::pipeline::daemon::{self, Monitor, Parts, RunSummary};
use vardval::pipeline::ingest::Pipeline;
use vardval::pipeline::outbox::Bell;
use vardval::ports::ManualClock;
use vardval::store::Store;

use super::{Recorder, Sent};

/// What differs from the defaults.
#[derive(Debug, Clone)]
pub struct Overrides {
    /// The `[clinics] path` CSV (the first import). Default: `fixtures/mail/clinics.csv`.
    pub clinics_csv: Option<String>,
    /// The manual clock's start.
    pub now: DateTime<Utc>,
    /// Extra TOML appended to the config (more sections: `[reminders]`, `[digest]`, …).
    pub extra_toml: String,
    /// Replaces the `[mailbox]` section (e.g. the lab's IMAP mailbox).
    pub toml_mailbox: Option<String>,
    /// `[reviewers] emails`.
    pub reviewers: Vec<String>,
}

impl Default for Overrides {
    fn default() -> Self {
        Overrides {
            clinics_csv: None,
            now: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            extra_toml: String::new(),
            toml_mailbox: None,
            reviewers: vec!["granskare@rjl.test".into()],
        }
    }
}

/// A booted application and what the test looks at.
pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub settings: Settings,
    /// A connection to the application's ledger.
    pub store: Store,
    pub clock: Arc<ManualClock>,
    /// The watched Maildir (when the mailbox is a Maildir).
    pub maildir: PathBuf,
    /// Everything the application sent.
    pub transport: Arc<Recorder>,
    /// Cancels the running daemon ([`TestApp::start`]).
    pub token: CancellationToken,
    daemon: Option<JoinHandle<anyhow::Result<RunSummary>>>,
    /// The running daemon's outbox bell ([`TestApp::start`]).
    pub bell: Option<Bell>,
    /// The application's pipeline and scheduler as built at boot, for [`TestApp::pass`].
    pub pipeline: Arc<Pipeline>,
    pub scheduler: Option<Arc<Scheduler>>,
}

/// Boot the application over the database at `url`.
pub async fn spawn_app(url: &str, o: Overrides) -> TestApp {
    let dir = tempfile::Builder::new()
        .prefix("vardval-app-")
        .tempdir()
        .expect("tempdir");
    let d = dir.path();
    let csv = match &o.clinics_csv {
        Some(c) => c.clone(),
        None => std::fs::read_to_string(super::root().join("fixtures/mail/clinics.csv"))
            .expect("fixture clinics"),
    };
    std::fs::write(d.join("clinics.csv"), csv).expect("write clinics.csv");
    let mailbox = o.toml_mailbox.clone().unwrap_or_else(|| {
        "[mailbox]\nkind = \"maildir\"\npath = \"Maildir\"\nprocessed_folder = \".Behandlat\"\n\
         poll_interval_secs = 1\n"
            .to_string()
    });
    let reviewers: Vec<String> = o.reviewers.iter().map(|r| format!("\"{r}\"")).collect();
    let toml = format!(
        "# written by tests/common/app.rs\n{mailbox}\n\
         [smtp]\nkind = \"file\"\ndir = \"sent\"\nfrom = \"Vårdval <vardval@rjl.test>\"\n\
         sending_grace_secs = 120\n\n\
         [database]\nurl = \"{url}\"\n\n[archive]\ndir = \"archive\"\n\n\
         [cycle]\nrulebook = \"{rulebook}\"\n\n[clinics]\npath = \"clinics.csv\"\n\n\
         [replies]\nmax_per_recipient_per_hour = 5\nmax_per_recipient_per_day = 20\n\n\
         [precheck]\naddresses = [\"vardval+forhandskontroll@rjl.test\"]\n\n\
         [reviewers]\nemails = [{reviewers}]\n\n\
         # Parallel tests must not all bind the desk's port.\n[web]\nenabled = false\n\n{extra}\n",
        rulebook = super::root().join("config/rulebook-2026.toml").display(),
        reviewers = reviewers.join(", "),
        extra = o.extra_toml,
    );
    let config = d.join("vardval.toml");
    std::fs::write(&config, toml).expect("write vardval.toml");
    let settings = Settings::load(&config).expect("the test config is valid");
    let maildir = d.join("Maildir");
    let clock = Arc::new(ManualClock::new(o.now));
    let transport = Arc::new(Recorder::default());
    // Build once: the ledger is migrated and the clinics imported before the test looks.
    let app = App::builder(&settings, clock.clone())
        .with_transport(transport.clone())
        .build()
        .await
        .expect("the application builds");
    let store = app.pipeline.store.clone();
    let (pipeline, scheduler) = (app.pipeline.clone(), app.scheduler.clone());
    drop(app);
    TestApp {
        dir,
        config,
        settings,
        store,
        clock,
        maildir,
        transport,
        token: CancellationToken::new(),
        daemon: None,
        bell: None,
        pipeline,
        scheduler,
    }
}

impl TestApp {
    /// The application as `vardval run` builds it, with the recorder and the manual clock.
    pub async fn app(&self) -> App<vardval::app::AnySource, Recorder> {
        App::builder(&self.settings, self.clock.clone())
            .with_transport(self.transport.clone())
            .build()
            .await
            .expect("the application builds")
    }

    /// One pass: `vardval run --once` at the manual clock's time.
    pub async fn run_once(&self) -> RunSummary {
        self.app().await.run_once().await.expect("run once")
    }

    /// One pass like `run --once` (mailbox, due jobs, outbox) at the manual clock's time, over
    /// the application built at boot (no rebuild: fast enough for a pass per simulated
    /// hour). Maildir only.
    pub async fn pass(&self) -> RunSummary {
        let parts = Parts {
            pipeline: self.pipeline.clone(),
            scheduler: self.scheduler.clone(),
            opts: vardval::app::run_options(&self.settings, true),
            monitor: Monitor::default(),
            bell: Bell::new(),
        };
        daemon::run_parts(
            parts,
            self.maildir_source(),
            self.transport.clone(),
            CancellationToken::new(),
        )
        .await
        .expect("one pass")
    }

    /// The daemon in the background, under [`TestApp::token`].
    pub async fn start(&mut self) {
        assert!(self.daemon.is_none(), "started twice");
        let app = self.app().await;
        self.bell = Some(app.bell());
        let token = self.token.clone();
        self.daemon = Some(tokio::spawn(app.run_until_stopped(token)));
    }

    /// Cancel the token and wait for the daemon to finish the unit in hand.
    pub async fn shutdown(&mut self) -> RunSummary {
        self.token.cancel();
        let h = self.daemon.take().expect("the daemon was started");
        tokio::time::timeout(Duration::from_secs(60), h)
            .await
            .expect("the daemon stops within a minute")
            .expect("the daemon task did not panic")
            .expect("the daemon ran without error")
    }

    /// Poll `cond` (every 50 ms, at most `limit`); panics with `what` when it never holds.
    pub async fn wait_until<F, Fut>(&self, what: &str, limit: Duration, mut cond: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let start = std::time::Instant::now();
        loop {
            if cond().await {
                return;
            }
            assert!(start.elapsed() < limit, "timed out waiting until {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the Maildir's `new/` and `cur/` are empty and the outbox has nothing due.
    pub async fn wait_until_idle(&self) {
        let md = self.maildir.clone();
        let store = self.store.clone();
        self.wait_until(
            "the mailbox is drained and the outbox sent",
            Duration::from_secs(60),
            || {
                let md = md.clone();
                let store = store.clone();
                async move {
                    let waiting = ["new", "cur"]
                        .iter()
                        .map(|s| std::fs::read_dir(md.join(s)).map_or(0, |r| r.count()))
                        .sum::<usize>();
                    let (backlog, _) = store.outbox_backlog().await.expect("backlog");
                    waiting == 0 && backlog == 0
                }
            },
        )
        .await;
    }

    /// The watched Maildir as a source (to deliver into and to look at its folders).
    pub fn maildir_source(&self) -> MaildirSource {
        MaildirSource::new(
            &self.maildir,
            &self.settings.mailbox.processed_folder,
            Duration::from_secs(1),
        )
        .with_quarantine(&self.settings.mailbox.quarantine_folder)
        .with_max_message_bytes(self.settings.limits.max_message_bytes())
    }

    /// Deliver a message into the watched Maildir, received at `at` (default: now).
    pub fn deliver(&self, name: &str, bytes: &[u8], at: Option<DateTime<Utc>>) {
        self.maildir_source()
            .deliver(name, bytes, at)
            .expect("deliver into the Maildir");
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<Sent> {
        self.transport.sent.lock().unwrap().clone()
    }

    /// The application's scheduler, built as `vardval run` builds it, with these jobs
    /// instead of the configured ones (each call: a new scheduler with its own owner id).
    pub async fn scheduler(&self, jobs: &[(JobKind, &str)]) -> Scheduler {
        let app = self.app().await;
        let mut s = vardval::app::build_scheduler(&self.settings, &app.pipeline)
            .expect("build the scheduler")
            .expect("the scheduler is enabled");
        let tz = app.pipeline.rulebook.tz();
        s.jobs = jobs
            .iter()
            .map(|(kind, expr)| Job {
                kind: *kind,
                cron: vardval::domain::schedule::LocalCron::parse(expr, tz).expect("cron"),
            })
            .collect();
        s
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}
