//! The IMAP source's settings and the rules they must meet.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::folders::{self, FolderCase};
use crate::adapters::tls::{self, TlsMode};

/// The longest IDLE the server is guaranteed to tolerate is 30 minutes (RFC 2177 says re-issue
/// at least every 29).
pub const MAX_IDLE_REFRESH: Duration = Duration::from_secs(29 * 60);

pub use crate::config::DEFAULT_BATCH_BYTES;

/// How the source logs in.
#[derive(Clone, PartialEq, Eq)]
pub enum ImapAuth {
    /// `LOGIN user password`.
    Password(String),
    /// `AUTHENTICATE XOAUTH2` with a bearer token.
    OAuth2Token(String),
    /// Run this shell command at every connect and use the first line of its output: a
    /// password (`oauth2 = false`) or an OAuth2 bearer token (`oauth2 = true`). Tokens expire
    /// (Microsoft 365: about an hour), so a reconnect must fetch a fresh one.
    Command { command: String, oauth2: bool },
}

impl fmt::Debug for ImapAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImapAuth::Password(_) => f.write_str("Password(<redacted>)"),
            ImapAuth::OAuth2Token(_) => f.write_str("OAuth2Token(<redacted>)"),
            ImapAuth::Command { command, oauth2 } => {
                write!(f, "Command({command:?}, oauth2: {oauth2})")
            }
        }
    }
}

/// Where and how to read mail.
#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Extra CA certificate(s) (PEM) to trust besides the webpki roots.
    pub ca_file: Option<PathBuf>,
    pub username: String,
    pub auth: ImapAuth,
    /// The watched folder.
    pub folder: String,
    /// Where handled messages go; created when missing.
    pub processed_folder: String,
    /// Where poison messages go (see [`ImapSource::move_to_quarantine`]); created on first
    /// use.
    ///
    /// [`ImapSource::move_to_quarantine`]: super::ImapSource::move_to_quarantine
    pub quarantine_folder: String,
    /// Sleep between polls when the server has no IDLE.
    pub poll_interval: Duration,
    /// Re-issue IDLE at least this often; must be below 29 minutes.
    pub idle_refresh: Duration,
    /// Bound on TCP connect + TLS + login + SELECT.
    pub connect_timeout: Duration,
    /// Bound on each later command (SEARCH, FETCH batch, MOVE, IDLE start/stop).
    pub command_timeout: Duration,
    /// Use IDLE when the server offers it (default true); false polls every `poll_interval`.
    pub use_idle: bool,
    /// Use UID MOVE when the server offers it (default true); false forces
    /// COPY + STORE \Deleted + UID EXPUNGE (for servers with a broken MOVE).
    pub use_move: bool,
    /// Upper bound on the message bytes one fetch holds (sizes come from RFC822.SIZE first);
    /// a single larger message is fetched alone.
    pub batch_bytes: u64,
    /// A message larger than this (RFC822.SIZE) is not fetched whole: only the start of its
    /// header (see [`crate::ports::Fetched::only_header_of`]). Default: no limit.
    pub max_message_bytes: u64,
    /// Where such a message is copied whole, in pieces, for the archive (see
    /// [`crate::ports::Fetched::whole_file`]); `None`: only its header is kept.
    pub spool_dir: Option<std::path::PathBuf>,
    /// How the server compares folder names (INBOX is always case-insensitive).
    pub folder_case: FolderCase,
}

impl ImapConfig {
    /// A config with the defaults: folder `INBOX`, processed folder `Processed`, poll every
    /// 60 s, IDLE refresh 25 min, connect timeout 30 s, command timeout 120 s, 64 MiB per
    /// batch, folder-name case detected.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        tls: TlsMode,
        username: impl Into<String>,
        auth: ImapAuth,
    ) -> Self {
        ImapConfig {
            host: host.into(),
            port,
            tls,
            ca_file: None,
            username: username.into(),
            auth,
            folder: "INBOX".into(),
            processed_folder: "Processed".into(),
            quarantine_folder: "Karantan".into(),
            poll_interval: Duration::from_secs(60),
            idle_refresh: Duration::from_secs(25 * 60),
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(120),
            use_idle: true,
            use_move: true,
            batch_bytes: DEFAULT_BATCH_BYTES,
            max_message_bytes: u64::MAX,
            spool_dir: None,
            folder_case: FolderCase::Auto,
        }
    }

    /// Checks the rules that do not need the network.
    pub fn validate(&self) -> Result<(), String> {
        if self.host.trim().is_empty() {
            return Err("imap host is empty".into());
        }
        if self.port == 0 {
            return Err("imap port is 0".into());
        }
        tls::check_plain_allowed(self.tls, &self.host).map_err(|e| e.to_string())?;
        if self.idle_refresh.is_zero() || self.idle_refresh >= MAX_IDLE_REFRESH {
            return Err(format!(
                "idle_refresh must be between 0 and 29 minutes (got {:?})",
                self.idle_refresh
            ));
        }
        if self.poll_interval.is_zero() {
            return Err("poll_interval must be > 0".into());
        }
        if self.connect_timeout.is_zero() || self.command_timeout.is_zero() {
            return Err("timeouts must be > 0".into());
        }
        if self.folder.is_empty()
            || self.processed_folder.is_empty()
            || self.quarantine_folder.is_empty()
        {
            return Err("folder names must not be empty".into());
        }
        if self.batch_bytes == 0 {
            return Err("batch_bytes must be > 0".into());
        }
        let (a, b) = (
            self.folder.trim_matches('/'),
            self.processed_folder.trim_matches('/'),
        );
        let same = a == b
            || (folders::is_inbox(a) && folders::is_inbox(b))
            || (self.folder_case == FolderCase::Insensitive
                && a.to_lowercase() == b.to_lowercase());
        if same {
            return Err("processed_folder must differ from folder".into());
        }
        for s in [
            &self.username,
            &self.folder,
            &self.processed_folder,
            &self.quarantine_folder,
        ] {
            if s.contains(['\r', '\n', '\0']) {
                return Err("username and folder names must not contain CR, LF or NUL".into());
            }
        }
        Ok(())
    }
}
