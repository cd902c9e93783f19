//! Settings: one TOML file (`config/demo.toml` for the demo), validated once at start-up.
//!
//! Owns parsing, defaults, validation and secret resolution. Secrets are never in the file:
//! only where to get them (`password_env`, `password_command`, `oauth2_token_command`).
//! Relative paths are resolved against the directory of the config file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::extract::Limits;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("cannot parse config file {0}: {1}")]
    Parse(PathBuf, toml::de::Error),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("cannot get secret: {0}")]
    Secret(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailboxKind {
    Imap,
    Maildir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpKind {
    Smtp,
    File,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub mailbox: MailboxSettings,
    pub smtp: SmtpSettings,
    pub database: DatabaseSettings,
    #[serde(default)]
    pub archive: ArchiveSettings,
    pub cycle: CycleSettings,
    #[serde(default)]
    pub clinics: ClinicsSettings,
    #[serde(default)]
    pub limits: LimitSettings,
    #[serde(default)]
    pub replies: ReplySettings,
    /// Förhandskontroll: which mails ask for a check of a draft instead of submitting.
    #[serde(default)]
    pub precheck: crate::domain::precheck::PrecheckRule,
    #[serde(default)]
    pub monitoring: MonitoringSettings,
    #[serde(default)]
    pub schedule: ScheduleSettings,
    #[serde(default)]
    pub reminders: ReminderSettings,
    #[serde(default)]
    pub digest: DigestSettings,
    #[serde(default)]
    pub reviewers: ReviewerSettings,
    #[serde(default)]
    pub web: WebSettings,
    /// Payout runs: schedule, pickup directory, payer, file formats.
    #[serde(default)]
    pub payouts: PayoutSettings,
    /// Who gets the payout files by mail.
    #[serde(default)]
    pub finance: FinanceSettings,
    /// Directory the config file lives in; relative paths are resolved against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxSettings {
    pub kind: MailboxKind,
    /// Maildir: the Maildir directory (with cur/ new/ tmp/).
    pub path: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<u16>,
    #[serde(default = "default_imap_tls")]
    pub tls: TlsMode,
    /// Extra CA certificate (PEM) to trust, e.g. an on-premise server's own CA.
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_command: Option<String>,
    pub oauth2_token_command: Option<String>,
    #[serde(default = "default_folder")]
    pub folder: String,
    /// Where processed mail is moved (IMAP folder, or a Maildir++ subfolder such as
    /// ".Behandlat").
    #[serde(default = "default_processed")]
    pub processed_folder: String,
    /// Where poison mail is moved once its `[limits] max_attempts` are used up (IMAP folder,
    /// or a Maildir++ subfolder).
    #[serde(default = "default_quarantine")]
    pub quarantine_folder: String,
    #[serde(default = "default_poll")]
    pub poll_interval_secs: u64,
    #[serde(default = "default_idle_refresh")]
    pub idle_refresh_secs: u64,
    /// How the IMAP server compares folder names: "auto" (case-insensitive for Microsoft
    /// Exchange, recognised by its greeting), "sensitive" or "insensitive".
    #[serde(default)]
    pub folder_case: FolderCase,
    /// authserv-ids (RFC 8601) whose `Authentication-Results` headers are read, e.g. the
    /// receiving MX; empty = read only the top-most header.
    #[serde(default)]
    pub trusted_authserv_ids: Vec<String>,
    /// Deepest MIME nesting (multiparts and forwarded messages open at once) accepted;
    /// deeper mail is quarantined unread.
    #[serde(default = "default_max_mime_depth")]
    pub max_mime_depth: usize,
}

impl MailboxSettings {
    /// What the mail reader trusts and tolerates.
    pub fn mail_policy(&self) -> crate::mail::MailPolicy {
        crate::mail::MailPolicy {
            trusted_authserv_ids: self
                .trusted_authserv_ids
                .iter()
                .map(|s| s.trim().to_ascii_lowercase())
                .collect(),
            max_mime_depth: self.max_mime_depth,
        }
    }

    pub fn kind_name(&self) -> String {
        match self.kind {
            MailboxKind::Maildir => format!(
                "maildir:{}",
                self.path
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            MailboxKind::Imap => format!(
                "imap://{}@{}:{}/{}",
                self.username.as_deref().unwrap_or(""),
                self.host.as_deref().unwrap_or(""),
                self.port.unwrap_or(0),
                self.folder
            ),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    pub kind: SmtpKind,
    /// The address receipts come from, e.g. "Vårdval <vardval@rjl.test>".
    pub from: String,
    /// File transport: directory for .eml files.
    pub dir: Option<PathBuf>,
    pub host: Option<String>,
    pub port: Option<u16>,
    #[serde(default = "default_smtp_tls")]
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_command: Option<String>,
    pub oauth2_token_command: Option<String>,
    /// Send every reply with an extra envelope recipient: the mailbox's own address (the
    /// `from` address). The copy comes back through the watched mailbox and proves the send,
    /// which makes receipts exactly-once across crashes. Default: on for `kind = "smtp"`.
    pub copy_to_self: Option<bool>,
    /// A reply left half-sent by a crash is re-sent only after this many seconds without
    /// proof of delivery.
    #[serde(default = "default_sending_grace")]
    pub sending_grace_secs: u64,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt up to `max_backoff_secs`.
    #[serde(default = "default_backoff")]
    pub backoff_secs: u64,
    #[serde(default = "default_max_backoff")]
    pub max_backoff_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` (embedded default) or `postgres://user@host/db`.
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSettings {
    /// Raw messages, content-addressed by SHA-256.
    pub dir: PathBuf,
}

impl Default for ArchiveSettings {
    fn default() -> Self {
        ArchiveSettings {
            dir: PathBuf::from("archive"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CycleSettings {
    /// The rulebook of the cycle year (dates, sections, sources, money).
    pub rulebook: PathBuf,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClinicsSettings {
    /// CSV (`id,name,emails,listed_inhabitants`, optional columns in docs/configuration.md),
    /// imported into the ledger by `config` at start-up while the ledger has no clinics.
    #[serde(default)]
    pub path: Option<PathBuf>,
}

/// `[limits]`: `max_message_bytes`, the poison-mail limits (`max_attempts`,
/// `message_budget_secs`) plus the document limits of [`Limits`], in one table.
/// Unknown keys are refused, as in every other section.
#[derive(Debug, Clone, Default)]
pub struct LimitSettings {
    /// Largest raw message processed; larger ones are archived and sent to triage.
    pub max_message_bytes: Option<u64>,
    /// Attempts (failed, panicked, hung or killed the process) before a message is
    /// quarantined without being parsed again. Default 3.
    pub max_attempts: Option<u32>,
    /// Time budget for parsing and reading one message, in seconds. Default 120.
    pub message_budget_secs: Option<u64>,
    /// Most message bytes one fetch holds in memory (a single larger message comes alone).
    pub batch_bytes: Option<u64>,
    /// Document limits (size, zip ratio, pages, time).
    pub document: Limits,
}

impl<'de> Deserialize<'de> for LimitSettings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(d)?;
        let max_message_bytes = match table.remove("max_message_bytes") {
            None => None,
            Some(v) => Some(
                v.as_integer()
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| {
                        D::Error::custom("max_message_bytes must be a positive integer")
                    })?,
            ),
        };
        let mut positive = |key: &str| -> Result<Option<u64>, D::Error> {
            match table.remove(key) {
                None => Ok(None),
                Some(v) => v
                    .as_integer()
                    .and_then(|n| u64::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .map(Some)
                    .ok_or_else(|| D::Error::custom(format!("{key} must be a positive integer"))),
            }
        };
        let max_attempts = positive("max_attempts")?
            .map(|n| u32::try_from(n).map_err(|_| D::Error::custom("max_attempts is too large")))
            .transpose()?;
        let message_budget_secs = positive("message_budget_secs")?;
        let batch_bytes = positive("batch_bytes")?;
        let document = Limits::deserialize(toml::Value::Table(table)).map_err(D::Error::custom)?;
        Ok(LimitSettings {
            max_message_bytes,
            max_attempts,
            message_budget_secs,
            batch_bytes,
            document,
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplySettings {
    /// At most this many automatic replies to one recipient per rolling hour.
    pub max_per_recipient_per_hour: u32,
    /// At most this many per rolling day.
    pub max_per_recipient_per_day: u32,
    /// At most this many automatic replies to all addresses of one clinic per rolling hour
    /// (an autoresponder rotating addresses at a domain-registered clinic).
    pub max_per_clinic_per_hour: u32,
    /// At most this many per clinic and rolling day.
    pub max_per_clinic_per_day: u32,
}

impl Default for ReplySettings {
    fn default() -> Self {
        ReplySettings {
            max_per_recipient_per_hour: 5,
            max_per_recipient_per_day: 20,
            max_per_clinic_per_hour: 10,
            max_per_clinic_per_day: 40,
        }
    }
}

/// `[monitoring]`: the daemon's heartbeat and the thresholds of `vardval status --check`
/// (docs/production.md, "Monitoring").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitoringSettings {
    /// How often the running daemon writes its heartbeat into the ledger. `status` calls the
    /// daemon stopped when the heartbeat is older than three of these (or, on the same host,
    /// at once when its process is gone).
    pub heartbeat_secs: u64,
    /// WARNING when this many replies wait to be sent …
    pub backlog_warning: i64,
    /// … CRITICAL from this many.
    pub backlog_critical: i64,
    /// WARNING when the oldest unsent reply is older than this …
    pub oldest_unsent_warning_secs: u64,
    /// … CRITICAL when older than this.
    pub oldest_unsent_critical_secs: u64,
    /// CRITICAL from this many replies given up (`dead`, they need a person).
    pub dead_critical: i64,
}

impl Default for MonitoringSettings {
    fn default() -> Self {
        MonitoringSettings {
            heartbeat_secs: 15,
            backlog_warning: 25,
            backlog_critical: 200,
            oldest_unsent_warning_secs: 30 * 60,
            oldest_unsent_critical_secs: 4 * 3600,
            dead_critical: 1,
        }
    }
}

fn default_folder() -> String {
    "INBOX".into()
}
fn default_processed() -> String {
    "Behandlat".into()
}
fn default_quarantine() -> String {
    "Karantan".into()
}
fn default_poll() -> u64 {
    60
}
fn default_idle_refresh() -> u64 {
    25 * 60
}
fn default_max_mime_depth() -> usize {
    crate::mail::scan::DEFAULT_MAX_DEPTH
}
/// Highest accepted `max_mime_depth`: the parser's tree is walked recursively up to it.
const MAX_MIME_DEPTH_LIMIT: usize = 64;
fn default_imap_tls() -> TlsMode {
    TlsMode::Tls
}
fn default_smtp_tls() -> TlsMode {
    TlsMode::Starttls
}
fn default_sending_grace() -> u64 {
    120
}
fn default_max_attempts() -> u32 {
    12
}
fn default_backoff() -> u64 {
    30
}
fn default_max_backoff() -> u64 {
    3600
}

impl LimitSettings {
    pub fn max_message_bytes(&self) -> u64 {
        self.max_message_bytes.unwrap_or(80 * 1024 * 1024)
    }
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts.unwrap_or(3)
    }
    pub fn message_budget(&self) -> Duration {
        Duration::from_secs(self.message_budget_secs.unwrap_or(120))
    }
    /// `batch_bytes`, default 64 MiB.
    pub fn batch_bytes(&self) -> u64 {
        self.batch_bytes.unwrap_or(DEFAULT_BATCH_BYTES)
    }
}

impl Settings {
    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_path_buf(), e))?;
        let mut s: Settings =
            toml::from_str(&text).map_err(|e| ConfigError::Parse(path.to_path_buf(), e))?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        s.base_dir = std::fs::canonicalize(&parent).map_err(|e| ConfigError::Read(parent, e))?;
        s.validate()?;
        Ok(s)
    }

    /// Resolve a configured path against the config file's directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            return p.to_path_buf();
        }
        // Fold "a/../b" lexically so paths read well in logs (no symlinks are involved: the
        // base is canonical).
        let mut out = self.base_dir.clone();
        for c in p.components() {
            match c {
                std::path::Component::ParentDir => {
                    out.pop();
                }
                std::path::Component::CurDir => {}
                other => out.push(other),
            }
        }
        out
    }

    /// The database URL with a relative SQLite path resolved against the config directory.
    pub fn database_url(&self) -> String {
        let url = &self.database.url;
        if let Some(rest) = url.strip_prefix("sqlite://") {
            let (path, query) = rest
                .split_once('?')
                .map_or((rest, None), |(p, q)| (p, Some(q)));
            if !path.starts_with('/') && path != ":memory:" {
                let abs = self.resolve(Path::new(path));
                return match query {
                    Some(q) => format!("sqlite://{}?{q}", abs.display()),
                    None => format!("sqlite://{}", abs.display()),
                };
            }
        }
        url.clone()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        self.web.validate().map_err(ConfigError::Invalid)?;
        self.payouts.csv().map_err(ConfigError::Invalid)?;
        match self.mailbox.kind {
            MailboxKind::Maildir if self.mailbox.path.is_none() => {
                return bad("[mailbox] kind = \"maildir\" needs path");
            }
            MailboxKind::Imap => {
                if self.mailbox.host.is_none() || self.mailbox.username.is_none() {
                    return bad("[mailbox] kind = \"imap\" needs host and username");
                }
                let sources = [
                    &self.mailbox.password_env,
                    &self.mailbox.password_command,
                    &self.mailbox.oauth2_token_command,
                ]
                .iter()
                .filter(|s| s.is_some())
                .count();
                if sources != 1 {
                    return bad(
                        "[mailbox] needs exactly one of password_env, password_command, oauth2_token_command",
                    );
                }
                if self.mailbox.tls == TlsMode::None
                    && !is_loopback(self.mailbox.host.as_deref().unwrap_or(""))
                {
                    return bad("[mailbox] tls = \"none\" is only allowed for a loopback host");
                }
                if self.mailbox.idle_refresh_secs == 0 || self.mailbox.idle_refresh_secs >= 29 * 60
                {
                    return bad(
                        "[mailbox] idle_refresh_secs must be between 1 and 1739 (RFC 2177: re-IDLE before 29 minutes)",
                    );
                }
            }
            MailboxKind::Maildir => {}
        }
        if self.mailbox.poll_interval_secs == 0 {
            return bad("[mailbox] poll_interval_secs must be at least 1");
        }
        if !(1..=MAX_MIME_DEPTH_LIMIT).contains(&self.mailbox.max_mime_depth) {
            return bad("[mailbox] max_mime_depth must be between 1 and 64");
        }
        if self
            .mailbox
            .trusted_authserv_ids
            .iter()
            .any(|id| id.trim().is_empty() || id.contains([';', ' ', '(']))
        {
            return bad(
                "[mailbox] trusted_authserv_ids must be host names such as \"mx.rjl.test\"",
            );
        }
        match self.smtp.kind {
            SmtpKind::File if self.smtp.dir.is_none() => {
                return bad("[smtp] kind = \"file\" needs dir");
            }
            SmtpKind::Smtp => {
                if self.smtp.host.is_none() {
                    return bad("[smtp] kind = \"smtp\" needs host");
                }
                if self.smtp.tls == TlsMode::None
                    && !is_loopback(self.smtp.host.as_deref().unwrap_or(""))
                {
                    return bad("[smtp] tls = \"none\" is only allowed for a loopback host");
                }
                let t = &self.smtp;
                let sources = [
                    &t.password_env,
                    &t.password_command,
                    &t.oauth2_token_command,
                ]
                .iter()
                .filter(|s| s.is_some())
                .count();
                if sources > 1 {
                    return bad(
                        "[smtp] takes at most one of password_env, password_command, oauth2_token_command",
                    );
                }
                if t.oauth2_token_command.is_some() && t.username.is_none() {
                    return bad("[smtp] oauth2_token_command needs username");
                }
            }
            SmtpKind::File => {}
        }
        if self.smtp.from.parse::<lettre::message::Mailbox>().is_err() {
            return bad("[smtp] from is not a valid address");
        }
        for c in &self.reviewers.coach_emails {
            if c.contains(',') || c.parse::<lettre::Address>().is_err() {
                return bad("[reviewers] coach_emails must be plain e-mail addresses");
            }
        }
        for (who, ids) in &self.reviewers.coach_clinics {
            if who.trim().is_empty() || ids.iter().any(|i| i.trim().is_empty()) {
                return bad("[reviewers] coach_clinics maps a username to a list of clinic ids");
            }
        }
        if !(self.database.url.starts_with("sqlite:")
            || self.database.url.starts_with("postgres://")
            || self.database.url.starts_with("postgresql://"))
        {
            return bad("[database] url must start with sqlite:// or postgres://");
        }
        if self.monitoring.heartbeat_secs == 0 {
            return bad("[monitoring] heartbeat_secs must be at least 1");
        }
        if self.smtp.max_attempts == 0 {
            return bad("[smtp] max_attempts must be at least 1");
        }
        Ok(())
    }

    /// The mailbox secret (password or OAuth2 token), from the environment or a command.
    pub fn mailbox_secret(&self) -> Result<Secret, ConfigError> {
        let m = &self.mailbox;
        resolve_secret(
            &m.password_env,
            &m.password_command,
            &m.oauth2_token_command,
        )
    }

    /// The SMTP secret, if any.
    pub fn smtp_secret(&self) -> Result<Option<Secret>, ConfigError> {
        let s = &self.smtp;
        if s.password_env.is_none()
            && s.password_command.is_none()
            && s.oauth2_token_command.is_none()
        {
            return Ok(None);
        }
        resolve_secret(
            &s.password_env,
            &s.password_command,
            &s.oauth2_token_command,
        )
        .map(Some)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.mailbox.poll_interval_secs)
    }
}

/// A resolved secret. Debug never prints the value.
#[derive(Clone)]
pub enum Secret {
    Password(String),
    OAuth2Token(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Password(_) => f.write_str("Password(***)"),
            Secret::OAuth2Token(_) => f.write_str("OAuth2Token(***)"),
        }
    }
}

fn resolve_secret(
    env: &Option<String>,
    cmd: &Option<String>,
    oauth_cmd: &Option<String>,
) -> Result<Secret, ConfigError> {
    if let Some(var) = env {
        return std::env::var(var)
            .map(Secret::Password)
            .map_err(|_| ConfigError::Secret(format!("environment variable {var} is not set")));
    }
    if let Some(c) = cmd {
        return run_secret_command(c).map(Secret::Password);
    }
    if let Some(c) = oauth_cmd {
        return run_secret_command(c).map(Secret::OAuth2Token);
    }
    Err(ConfigError::Secret("no secret source configured".into()))
}

/// Run a command through `sh -c` and take the first line of its output as the secret.
fn run_secret_command(cmd: &str) -> Result<String, ConfigError> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map_err(|e| ConfigError::Secret(format!("cannot run secret command: {e}")))?;
    if !out.status.success() {
        return Err(ConfigError::Secret(format!(
            "secret command exited with {}",
            out.status
        )));
    }
    let s = String::from_utf8_lossy(&out.stdout);
    let line = s.lines().next().unwrap_or("").trim().to_string();
    if line.is_empty() {
        return Err(ConfigError::Secret("secret command printed nothing".into()));
    }
    Ok(line)
}

pub fn is_loopback(host: &str) -> bool {
    is_loopback_host(host)
}

mod jobs;
mod net;
mod payouts;
mod web;
pub use jobs::{DigestSettings, ReminderSettings, ReviewerSettings, ScheduleSettings};
pub use net::{DEFAULT_BATCH_BYTES, FolderCase, TlsMode, is_loopback_host};
pub use payouts::{FinanceSettings, PayoutSettings};
pub use web::{OidcSettings, TokenAuth, WebSettings};

#[cfg(test)]
mod tests;
