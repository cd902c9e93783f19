//! Builds the running parts from [`Settings`]: the pipeline (store, archive, registry,
//! rulebook, templates), the configured mail source and the configured transport. The only
//! place that names concrete adapters.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::adapters::archive::Archive;
use crate::adapters::imap::{ImapAuth, ImapConfig, ImapSource};
use crate::adapters::maildir::MaildirSource;
use crate::adapters::smtp::{FileTransport, SmtpConfig, SmtpTransport};
use crate::config::{MailboxKind, Secret, Settings, SmtpKind};
use crate::domain::rulebook::Rulebook;
use crate::mail::registry::Registry;
use crate::pipeline::daemon::RunOptions;
use crate::pipeline::ingest::Pipeline;
use crate::pipeline::outbox::SendOptions;
use crate::pipeline::poison::{Guards, TEST_FAULTS_ENV};
use crate::ports::{Clock, Fetched, MailSource, SendError, SourceError, Transport, Wait};
use crate::reply::{Composer, Templates};
use crate::store::{RetryPolicy, Store};

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
        std::sync::Arc::new(crate::adapters::filedrop::DirDrop { dir: s.resolve(d) })
            as std::sync::Arc<dyn crate::ports::FileDrop>
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
    super::clinics::ensure_first_import(s, store, year, now).await?;
    super::clinics::registry_from_records(&store.clinics().await?, year)
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
    let registry = load_registry(s, &store, rulebook.year, clock.now()).await?;
    let from: lettre::message::Mailbox = s.smtp.from.parse().context("[smtp] from")?;
    let own = vec![from.email.to_string().to_lowercase()];
    let composer = Composer {
        templates: Templates::load(None)?,
        rulebook: rulebook.clone(),
        from,
    };
    Ok(Pipeline {
        store,
        archive: Archive::new(s.resolve(&s.archive.dir)),
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

pub fn imap_config(s: &Settings) -> anyhow::Result<ImapConfig> {
    let m = &s.mailbox;
    // Commands run again at every connect (tokens expire); an environment variable is read
    // once.
    let auth = match (&m.password_command, &m.oauth2_token_command) {
        (Some(c), _) => ImapAuth::Command {
            command: c.clone(),
            oauth2: false,
        },
        (None, Some(c)) => ImapAuth::Command {
            command: c.clone(),
            oauth2: true,
        },
        (None, None) => match s.mailbox_secret()? {
            Secret::Password(p) => ImapAuth::Password(p),
            Secret::OAuth2Token(t) => ImapAuth::OAuth2Token(t),
        },
    };
    let host = m.host.clone().context("[mailbox] host")?;
    let port = m.port.unwrap_or(match m.tls {
        crate::config::TlsMode::Tls => 993,
        _ => 143,
    });
    let mut c = ImapConfig::new(
        host,
        port,
        m.tls,
        m.username.clone().unwrap_or_default(),
        auth,
    );
    c.ca_file = m.ca_file.as_ref().map(|p| s.resolve(p));
    c.folder = m.folder.clone();
    c.processed_folder = m.processed_folder.clone();
    c.quarantine_folder = m.quarantine_folder.clone();
    c.poll_interval = s.poll_interval();
    c.idle_refresh = Duration::from_secs(m.idle_refresh_secs);
    c.batch_bytes = s.limits.batch_bytes();
    c.folder_case = m.folder_case;
    Ok(c)
}

pub fn smtp_config(s: &Settings) -> anyhow::Result<SmtpConfig> {
    let t = &s.smtp;
    let host = t.host.clone().context("[smtp] host")?;
    let port = t.port.unwrap_or(match t.tls {
        crate::config::TlsMode::Tls => 465,
        crate::config::TlsMode::Starttls => 587,
        crate::config::TlsMode::None => 25,
    });
    let mut c = SmtpConfig::new(host, port, t.tls);
    c.ca_file = t.ca_file.as_ref().map(|p| s.resolve(p));
    c.username = t.username.clone();
    if let Some(command) = &t.oauth2_token_command {
        // Run for every connection by the transport (tokens expire), never sent as a password.
        c.oauth2_token_command = Some(command.clone());
        return Ok(c);
    }
    c.password = match s.smtp_secret()? {
        Some(Secret::Password(p)) => Some(p),
        Some(Secret::OAuth2Token(_)) => unreachable!("oauth2_token_command handled above"),
        None => None,
    };
    Ok(c)
}

/// The configured mailbox.
pub enum AnySource {
    Maildir(MaildirSource),
    Imap(Box<ImapSource>),
}

pub fn build_source(s: &Settings) -> anyhow::Result<AnySource> {
    Ok(match s.mailbox.kind {
        MailboxKind::Maildir => {
            let path = s.resolve(s.mailbox.path.as_ref().context("[mailbox] path")?);
            let m = MaildirSource::new(path, &s.mailbox.processed_folder, s.poll_interval())
                .with_quarantine(&s.mailbox.quarantine_folder)
                .with_batch_bytes(s.limits.batch_bytes());
            m.create_dirs().context("cannot create the Maildir")?;
            AnySource::Maildir(m)
        }
        MailboxKind::Imap => AnySource::Imap(Box::new(
            ImapSource::new(imap_config(s)?).map_err(|e| anyhow::anyhow!("{e}"))?,
        )),
    })
}

impl MailSource for AnySource {
    async fn fetch(&mut self, max: usize) -> Result<Vec<Fetched>, SourceError> {
        match self {
            AnySource::Maildir(m) => m.fetch(max).await,
            AnySource::Imap(i) => i.fetch(max).await,
        }
    }
    fn more_pending(&self) -> bool {
        match self {
            AnySource::Maildir(m) => m.more_pending(),
            AnySource::Imap(i) => i.more_pending(),
        }
    }
    async fn mark_processed(&mut self, msg: &Fetched) -> Result<(), SourceError> {
        match self {
            AnySource::Maildir(m) => m.mark_processed(msg).await,
            AnySource::Imap(i) => i.mark_processed(msg).await,
        }
    }
    async fn mark_processed_again(&mut self, msg: &Fetched) -> Result<(), SourceError> {
        match self {
            AnySource::Maildir(m) => m.mark_processed_again(msg).await,
            AnySource::Imap(i) => i.mark_processed_again(msg).await,
        }
    }
    async fn quarantine(&mut self, msg: &Fetched) -> Result<(), SourceError> {
        match self {
            AnySource::Maildir(m) => m.quarantine(msg).await,
            AnySource::Imap(i) => i.quarantine(msg).await,
        }
    }
    async fn wait(
        &mut self,
        max: Duration,
        shutdown: &CancellationToken,
    ) -> Result<Wait, SourceError> {
        match self {
            AnySource::Maildir(m) => m.wait(max, shutdown).await,
            AnySource::Imap(i) => i.wait(max, shutdown).await,
        }
    }
    fn describe(&self) -> String {
        match self {
            AnySource::Maildir(m) => m.describe(),
            AnySource::Imap(i) => i.describe(),
        }
    }
}

/// The configured transport.
pub enum AnyTransport {
    File(FileTransport),
    Smtp(Box<SmtpTransport>),
}

pub fn build_transport(s: &Settings) -> anyhow::Result<AnyTransport> {
    Ok(match s.smtp.kind {
        SmtpKind::File => {
            let dir = s.resolve(s.smtp.dir.as_ref().context("[smtp] dir")?);
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            AnyTransport::File(FileTransport::new(dir))
        }
        SmtpKind::Smtp => AnyTransport::Smtp(Box::new(
            SmtpTransport::new(smtp_config(s)?).map_err(|e| anyhow::anyhow!("{}", e.0))?,
        )),
    })
}

impl Transport for AnyTransport {
    async fn send(&self, from: &str, to: &[String], raw: &[u8]) -> Result<(), SendError> {
        match self {
            AnyTransport::File(f) => f.send(from, to, raw).await,
            AnyTransport::Smtp(t) => t.send(from, to, raw).await,
        }
    }
    fn describe(&self) -> String {
        match self {
            AnyTransport::File(f) => f.describe(),
            AnyTransport::Smtp(t) => t.describe(),
        }
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
