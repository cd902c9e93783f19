//! IMAP mail source (async-imap 0.12 over tokio, TLS with tokio-rustls/ring).
//!
//! - Connects lazily and reconnects after any connection error ([`connect`]).
//! - Every command's tagged status is checked ([`protocol`]): a failed `UID SEARCH` is an
//!   error, never "no new mail". After any `NO`/`BAD` the session selects the watched folder
//!   again before the next command, so a failed `EXAMINE` cannot leave it deaf.
//! - Folder names follow the server's personal NAMESPACE prefix and delimiter and are sent
//!   as modified UTF-7 ([`folders`], [`utf7`]); the processed folder is created when missing,
//!   also when `COPY`/`MOVE` answers `[TRYCREATE]` (someone renamed or deleted it).
//! - Fetches are bounded by bytes: sizes first (`RFC822.SIZE`), then bodies in groups under
//!   `batch_bytes` ([`fetch`]). Reads with `BODY.PEEK[]`, so nothing gets `\Seen` before the
//!   ledger commits. A message above `max_message_bytes` comes as its header, and whole in a
//!   spool file filled piece by piece ([`spool`]).
//! - [`MailSource::mark_processed`] uses `UID MOVE` when the server has MOVE, otherwise
//!   `UID COPY` + `UID STORE +FLAGS (\Deleted)` + `UID EXPUNGE` (only with UIDPLUS; without it
//!   the message stays flagged `\Deleted` and is skipped by `UID SEARCH UNDELETED`). A plain
//!   `EXPUNGE` is never sent.
//! - [`MailSource::wait`] uses IDLE when offered, else sleeps ([`idle`]).
//! - Passwords and tokens never appear in logs, errors or `Debug` output.

mod config;
mod connect;
mod fetch;
pub mod folders;
mod idle;
mod protocol;
mod spool;
pub mod utf7;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::ClientConfig;
use tokio_util::sync::CancellationToken;

pub use config::{DEFAULT_BATCH_BYTES, ImapAuth, ImapConfig, MAX_IDLE_REFRESH};
pub use fetch::plan_batch;
pub use folders::FolderCase;
use protocol::{CmdError, Counter};

use super::tls::{self, TlsMode};
use crate::ports::{Fetched, MailSource, SourceError, Wait};

/// What `status` shows about the IMAP connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnState {
    pub connected: bool,
    pub last_error: Option<String>,
    pub idle_supported: bool,
}

/// A cheap, clonable view of a source's [`ConnState`] for a status task.
#[derive(Debug, Clone, Default)]
pub struct ConnStateHandle(Arc<Mutex<ConnState>>);

impl ConnStateHandle {
    pub fn get(&self) -> ConnState {
        self.0.lock().map(|g| g.clone()).unwrap_or_default()
    }
    fn update(&self, f: impl FnOnce(&mut ConnState)) {
        if let Ok(mut g) = self.0.lock() {
            f(&mut g)
        }
    }
}

/// Any stream async-imap can run over (plain TCP or TLS).
pub trait ImapIo: AsyncRead + AsyncWrite + Unpin + Send + Sync + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync + fmt::Debug> ImapIo for T {}

type Session = async_imap::Session<Box<dyn ImapIo>>;

#[derive(Debug, Clone, Copy, Default)]
struct Caps {
    idle: bool,
    mv: bool,
    uidplus: bool,
}

/// The folder names as this server spells them.
#[derive(Debug, Clone)]
struct Names {
    watched: String,
    processed: String,
    quarantine: String,
    case: FolderCase,
    ns: folders::Namespace,
}

struct Connected {
    session: Session,
    uidvalidity: u32,
    caps: Caps,
    /// The server reported a growing EXISTS outside IDLE since the last search, or the last
    /// fetch left messages behind.
    pending_new: bool,
    /// The selected folder's message count as last reported.
    counter: Counter,
    /// The watched folder is selected. False after any NO/BAD: the next command selects it
    /// again first.
    selected: bool,
    names: Names,
}

impl Connected {
    /// `SELECT` the watched folder; returns its UIDVALIDITY.
    async fn select_watched(&mut self, t: Duration) -> Result<u32, SourceError> {
        let folder = self.names.watched.clone();
        let sel = protocol::timed(
            t,
            protocol::select(&mut self.session, &mut self.counter, &folder, false),
        )
        .await
        .map_err(|e| match e {
            CmdError::Lost(m) => SourceError::Connection(format!("SELECT {folder}: {m}")),
            other => SourceError::Other(format!("SELECT {folder}: {other}")),
        })?;
        let v = sel.uidvalidity.ok_or_else(|| {
            SourceError::Other(format!("server sent no UIDVALIDITY for {folder}"))
        })?;
        self.selected = true;
        Ok(v)
    }
}

/// The IMAP [`MailSource`].
pub struct ImapSource {
    cfg: ImapConfig,
    tls: Arc<ClientConfig>,
    conn: Option<Connected>,
    state: ConnStateHandle,
    last_uidvalidity: Option<u32>,
    /// The last fetch stopped at the byte or count bound with messages left.
    more: bool,
}

impl fmt::Debug for ImapSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapSource")
            .field("cfg", &self.cfg)
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

/// Compact UID set: "1:3,7,9:10".
fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// `imap:<uidvalidity>:<uid>` → (uidvalidity, uid).
fn parse_source_key(key: &str) -> Option<(u32, u32)> {
    let rest = key.strip_prefix("imap:")?;
    let (v, u) = rest.split_once(':')?;
    Some((v.parse().ok()?, u.parse().ok()?))
}

impl ImapSource {
    /// Validates the config and builds the TLS setup (reads `ca_file`); does not connect.
    pub fn new(cfg: ImapConfig) -> Result<ImapSource, SourceError> {
        cfg.validate()
            .map_err(|e| SourceError::Other(format!("imap config: {e}")))?;
        let tls = tls::client_config(cfg.ca_file.as_deref())
            .map_err(|e| SourceError::Other(format!("imap config: {e}")))?;
        Ok(ImapSource {
            cfg,
            tls,
            conn: None,
            state: ConnStateHandle::default(),
            last_uidvalidity: None,
            more: false,
        })
    }

    pub fn config(&self) -> &ImapConfig {
        &self.cfg
    }

    /// Connection state for `status`.
    pub fn state(&self) -> ConnState {
        self.state.get()
    }

    /// A handle that keeps reporting this source's state after the source moved into a task.
    pub fn state_handle(&self) -> ConnStateHandle {
        self.state.clone()
    }

    /// UIDVALIDITY of the watched folder as seen at the last SELECT.
    pub fn uidvalidity(&self) -> Option<u32> {
        self.last_uidvalidity
    }

    /// The watched and processed folder names as sent to the server (after NAMESPACE and
    /// modified UTF-7), once connected.
    pub fn server_folders(&self) -> Option<(String, String)> {
        self.conn
            .as_ref()
            .map(|c| (c.names.watched.clone(), c.names.processed.clone()))
    }

    /// Closes the connection politely (LOGOUT), if there is one.
    pub async fn disconnect(&mut self) {
        if let Some(mut c) = self.conn.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), c.session.logout()).await;
        }
        self.state.update(|s| s.connected = false);
    }

    /// `APPEND` a message to `folder` (a configured name; the watched folder when `None`),
    /// with an optional INTERNALDATE. For filing copies and for tests.
    pub async fn append(
        &mut self,
        folder: Option<&str>,
        raw: &[u8],
        internal_date: Option<DateTime<FixedOffset>>,
    ) -> Result<(), SourceError> {
        let date = internal_date.map(|d| format!("\"{}\"", d.format("%d-%b-%Y %H:%M:%S %z")));
        let t = self.cfg.command_timeout;
        self.ready().await?;
        let conn = self.conn.as_mut().expect("connected");
        let folder = match folder {
            None => conn.names.watched.clone(),
            Some(f) => folders::server_name(f, &conn.names.ns, conn.names.case),
        };
        let r = protocol::timed(t, async {
            conn.session
                .append(&folder, None, date.as_deref(), raw)
                .await
                .map_err(protocol::plain)
        })
        .await;
        self.check(&format!("APPEND {folder}"), r)
    }

    /// Records an error; drops the session when it is unusable.
    fn fail(&mut self, e: SourceError, drop_session: bool) -> SourceError {
        if drop_session {
            if self.conn.take().is_some() {
                tracing::warn!(source = %self.describe(), error = %e, "IMAP connection dropped");
            }
            self.state.update(|s| s.connected = false);
        }
        let msg = e.to_string();
        self.state.update(|s| s.last_error = Some(msg));
        e
    }

    /// The result of one command: new mail seen on the way is remembered; a NO/BAD makes the
    /// next step select the watched folder again; a lost connection drops the session.
    fn check<T>(&mut self, what: &str, r: Result<T, CmdError>) -> Result<T, SourceError> {
        match r {
            Ok(v) => {
                if let Some(c) = self.conn.as_mut()
                    && std::mem::take(&mut c.counter.grew)
                {
                    c.pending_new = true;
                }
                Ok(v)
            }
            Err(CmdError::Lost(m)) => {
                Err(self.fail(SourceError::Connection(format!("{what}: {m}")), true))
            }
            Err(e) => {
                if let Some(c) = self.conn.as_mut() {
                    c.selected = false;
                }
                Err(self.fail(SourceError::Other(format!("{what}: {e}")), false))
            }
        }
    }

    /// Connected, with the watched folder selected.
    async fn ready(&mut self) -> Result<(), SourceError> {
        self.ensure_connected().await?;
        let t = self.cfg.command_timeout;
        let conn = self.conn.as_mut().expect("connected");
        if conn.selected {
            return Ok(());
        }
        match conn.select_watched(t).await {
            Ok(v) => {
                let old = conn.uidvalidity;
                conn.uidvalidity = v;
                if old != v {
                    tracing::warn!(source = %self.describe(), old, new = v,
                        "UIDVALIDITY changed: every message gets a new source key");
                }
                self.last_uidvalidity = Some(v);
                tracing::info!(source = %self.describe(), "watched folder selected again after an error");
                Ok(())
            }
            // Cannot get back to the watched folder: start over with a fresh connection.
            Err(e) => Err(self.fail(e, true)),
        }
    }

    async fn ensure_connected(&mut self) -> Result<(), SourceError> {
        if self.conn.is_some() {
            return Ok(());
        }
        let d = self.cfg.connect_timeout;
        let r = match tokio::time::timeout(d, connect::connect(&self.cfg, &self.tls)).await {
            Ok(r) => r,
            Err(_) => Err(SourceError::Connection(format!(
                "connect to {}:{} timed out after {d:?}",
                self.cfg.host, self.cfg.port
            ))),
        };
        match r {
            Ok(c) => {
                if let Some(old) = self.last_uidvalidity
                    && old != c.uidvalidity
                {
                    tracing::warn!(source = %self.describe(), old, new = c.uidvalidity,
                        "UIDVALIDITY changed: every message gets a new source key");
                }
                self.last_uidvalidity = Some(c.uidvalidity);
                let idle = c.caps.idle;
                self.conn = Some(c);
                self.state.update(|s| {
                    s.connected = true;
                    s.idle_supported = idle;
                    s.last_error = None;
                });
                tracing::info!(source = %self.describe(), idle, "IMAP connected");
                Ok(())
            }
            Err(e) => Err(self.fail(e, true)),
        }
    }
}

impl MailSource for ImapSource {
    fn fetch(
        &mut self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<Fetched>, SourceError>> + Send {
        self.fetch_inner(max.max(1))
    }

    fn more_pending(&self) -> bool {
        self.more
    }

    fn mark_processed(
        &mut self,
        msg: &Fetched,
    ) -> impl Future<Output = Result<(), SourceError>> + Send {
        self.mark_inner(msg)
    }

    fn mark_processed_again(
        &mut self,
        msg: &Fetched,
    ) -> impl Future<Output = Result<(), SourceError>> + Send {
        self.mark_again_inner(msg)
    }

    fn quarantine(
        &mut self,
        msg: &Fetched,
    ) -> impl Future<Output = Result<(), SourceError>> + Send {
        self.move_to_quarantine(msg)
    }

    fn wait(
        &mut self,
        max: Duration,
        shutdown: &CancellationToken,
    ) -> impl Future<Output = Result<Wait, SourceError>> + Send {
        self.wait_inner(max, shutdown)
    }

    fn describe(&self) -> String {
        let scheme = match self.cfg.tls {
            TlsMode::Tls => "imaps",
            TlsMode::Starttls => "imap+starttls",
            TlsMode::None => "imap",
        };
        format!(
            "{scheme}://{}:{}/{} as {}",
            self.cfg.host, self.cfg.port, self.cfg.folder, self.cfg.username
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ImapConfig {
        ImapConfig::new(
            "127.0.0.1",
            143,
            TlsMode::None,
            "u",
            ImapAuth::Password("secret-pw".into()),
        )
    }

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[1, 2, 3, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn source_keys_parse() {
        assert_eq!(parse_source_key("imap:17:42"), Some((17, 42)));
        assert_eq!(parse_source_key("maildir:x"), None);
    }

    #[test]
    fn config_rules() {
        assert!(cfg().validate().is_ok());
        let mut c = cfg();
        c.host = "imap.example.org".into();
        assert!(c.validate().unwrap_err().contains("loopback"));
        c.tls = TlsMode::Tls;
        assert!(c.validate().is_ok());
        c.idle_refresh = Duration::from_secs(29 * 60);
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.processed_folder = "INBOX".into();
        assert!(c.validate().is_err());
        assert!(ImapSource::new(cfg()).is_ok());
    }

    #[test]
    fn secrets_do_not_leak_into_debug() {
        let s = ImapSource::new(cfg()).unwrap();
        let d = format!("{s:?} {:?}", ImapAuth::OAuth2Token("tok-123".into()));
        assert!(!d.contains("secret-pw") && !d.contains("tok-123"), "{d}");
        assert_eq!(s.describe(), "imap://127.0.0.1:143/INBOX as u");
    }
}
