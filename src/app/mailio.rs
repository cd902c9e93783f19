//! The configured mail source and transport (IMAP or Maildir; SMTP or a directory of .eml
//! files), built from [`Settings`]. Part of the composition root: it names the adapters.

use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::adapters::imap::{ImapAuth, ImapConfig, ImapSource};
use crate::adapters::maildir::MaildirSource;
use crate::adapters::smtp::{FileTransport, SmtpConfig, SmtpTransport};
use crate::config::{MailboxKind, Secret, Settings, SmtpKind};
use crate::ports::{Fetched, MailSource, SendError, SourceError, Transport, Wait};

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
    c.max_message_bytes = s.limits.max_message_bytes();
    c.spool_dir = Some(s.resolve(&s.archive.dir).join(".spool"));
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

/// A function that delivers a message into the configured Maildir (name, bytes, delivery
/// time), for `demo`.
pub type Deliver =
    Box<dyn Fn(&str, &[u8], Option<chrono::DateTime<chrono::Utc>>) -> std::io::Result<()>>;

/// Delivery into the configured Maildir (`demo` fills it with the fixtures).
pub fn maildir_delivery(s: &Settings) -> anyhow::Result<Deliver> {
    let path = s.resolve(s.mailbox.path.as_ref().context("a Maildir is needed")?);
    let md = MaildirSource::new(path, &s.mailbox.processed_folder, s.poll_interval());
    Ok(Box::new(move |name, bytes, at| {
        md.deliver(name, bytes, at).map(|_| ())
    }))
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
                .with_batch_bytes(s.limits.batch_bytes())
                .with_max_message_bytes(s.limits.max_message_bytes());
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
