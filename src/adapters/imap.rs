//! IMAP mail source (async-imap 0.12 over tokio, TLS with tokio-rustls/ring).
//!
//! - Connects lazily in [`MailSource::fetch`] and reconnects after any connection error.
//! - Reads with `BODY.PEEK[]`, so nothing gets `\Seen` before the ledger commits.
//! - [`MailSource::mark_processed`] uses `UID MOVE` when the server has MOVE, otherwise
//!   `UID COPY` + `UID STORE +FLAGS (\Deleted)` + `UID EXPUNGE` (only with UIDPLUS; without it
//!   the message stays flagged `\Deleted` and is skipped by `UID SEARCH UNDELETED`). A plain
//!   `EXPUNGE` is never sent.
//! - [`MailSource::wait`] uses IDLE when offered, else sleeps.
//! - Passwords and tokens never appear in logs, errors or `Debug` output.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_imap::imap_proto;
use async_imap::types::UnsolicitedResponse;
use chrono::{DateTime, FixedOffset, Utc};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::ClientConfig;
use tokio_util::sync::CancellationToken;

use super::tls::{self, TlsMode};
use crate::ports::{Fetched, MailSource, SourceError, Wait};

/// The longest IDLE the server is guaranteed to tolerate is 30 minutes (RFC 2177 says re-issue
/// at least every 29).
pub const MAX_IDLE_REFRESH: Duration = Duration::from_secs(29 * 60);

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

/// Read a response stream to its end, failing on the first error in it.
async fn read_all<T, E>(stream: impl futures::Stream<Item = Result<T, E>>) -> Result<(), E> {
    let items: Vec<_> = stream.collect().await;
    items.into_iter().try_for_each(|x| x.map(drop))
}

/// The Message-ID header of a raw message, with its angle brackets.
fn message_id_of(raw: &[u8]) -> Option<String> {
    let m = mail_parser::MessageParser::default().parse_headers(raw)?;
    m.message_id().map(|id| format!("<{id}>"))
}

/// An IMAP quoted string.
fn imap_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Run a secret command (`sh -c`) and take the first line of its output.
async fn run_secret_command(command: &str) -> Result<String, SourceError> {
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| SourceError::Auth(format!("cannot run the secret command: {e}")))?;
    if !out.status.success() {
        return Err(SourceError::Auth(format!(
            "the secret command exited with {}",
            out.status
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if line.is_empty() {
        return Err(SourceError::Auth(
            "the secret command printed nothing".into(),
        ));
    }
    Ok(line)
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
}

impl ImapConfig {
    /// A config with the defaults: folder `INBOX`, processed folder `Processed`, poll every
    /// 60 s, IDLE refresh 25 min, connect timeout 30 s, command timeout 120 s.
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
            poll_interval: Duration::from_secs(60),
            idle_refresh: Duration::from_secs(25 * 60),
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(120),
            use_idle: true,
            use_move: true,
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
        if self.folder.is_empty() || self.processed_folder.is_empty() {
            return Err("folder names must not be empty".into());
        }
        if self.folder == self.processed_folder {
            return Err("processed_folder must differ from folder".into());
        }
        for s in [&self.username, &self.folder, &self.processed_folder] {
            if s.contains(['\r', '\n', '\0']) {
                return Err("username and folder names must not contain CR, LF or NUL".into());
            }
        }
        Ok(())
    }
}

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

struct Connected {
    session: Session,
    uidvalidity: u32,
    caps: Caps,
    /// The server reported a growing EXISTS outside IDLE since the last search.
    pending_new: bool,
    /// The folder's message count as last reported (SELECT, EXISTS, EXPUNGE).
    exists: u32,
}

/// The IMAP [`MailSource`].
pub struct ImapSource {
    cfg: ImapConfig,
    tls: Arc<ClientConfig>,
    conn: Option<Connected>,
    state: ConnStateHandle,
    last_uidvalidity: Option<u32>,
}

impl fmt::Debug for ImapSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapSource")
            .field("cfg", &self.cfg)
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

/// XOAUTH2 initial response; answers any further challenge (the server's JSON error) with an
/// empty line so the server finishes with a tagged NO.
struct XOAuth2 {
    user: String,
    token: String,
    sent: bool,
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        if self.sent {
            return String::new();
        }
        self.sent = true;
        format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token)
    }
}

fn conn_err(e: impl fmt::Display) -> SourceError {
    SourceError::Connection(e.to_string())
}

/// IMAP quoted string (for LIST patterns, which async-imap sends as given).
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Maps a command error: I/O and protocol trouble drop the session (`Connection`); a tagged NO
/// is `Other` and the session stays usable.
fn cmd_err(what: &str, e: async_imap::error::Error) -> (SourceError, bool) {
    use async_imap::error::Error as E;
    match e {
        E::No(m) => (
            SourceError::Other(format!("{what}: server said NO: {m}")),
            false,
        ),
        E::Bad(m) => (
            SourceError::Other(format!("{what}: server said BAD: {m}")),
            true,
        ),
        E::Validate(v) => (SourceError::Other(format!("{what}: {v}")), false),
        other => (SourceError::Connection(format!("{what}: {other}")), true),
    }
}

async fn bounded<T>(
    d: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, (SourceError, bool)> {
    match tokio::time::timeout(d, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(cmd_err(what, e)),
        Err(_) => Err((
            SourceError::Connection(format!("{what}: timed out after {d:?}")),
            true,
        )),
    }
}

/// Empties the unsolicited-response channel (it silently drops responses once 100 are
/// queued) and keeps the message count; true when the count grew (new mail).
fn drain(session: &mut Session, exists: &mut u32) -> bool {
    let mut new_mail = false;
    while let Ok(r) = session.unsolicited_responses.try_recv() {
        match r {
            UnsolicitedResponse::Exists(n) => {
                if n > *exists {
                    new_mail = true;
                }
                *exists = n;
            }
            UnsolicitedResponse::Expunge(_) => *exists = exists.saturating_sub(1),
            _ => {}
        }
    }
    new_mail
}

/// What a response pushed during IDLE means for the watched folder.
enum IdleEvent {
    NewMail,
    /// Flag changes, RECENT, expunges: keep idling.
    Ignore,
}

fn idle_event(resp: &imap_proto::Response<'_>, exists: &mut u32) -> IdleEvent {
    use imap_proto::{MailboxDatum, Response};
    match resp {
        Response::MailboxData(MailboxDatum::Exists(n)) => {
            let grew = *n > *exists;
            *exists = *n;
            if grew {
                IdleEvent::NewMail
            } else {
                IdleEvent::Ignore
            }
        }
        Response::MailboxData(MailboxDatum::Recent(_)) | Response::Fetch(..) => IdleEvent::Ignore,
        Response::Expunge(_) => {
            *exists = exists.saturating_sub(1);
            IdleEvent::Ignore
        }
        Response::Vanished { uids, .. } => {
            let n: usize = uids.iter().map(|r| r.clone().count()).sum();
            *exists = exists.saturating_sub(u32::try_from(n).unwrap_or(u32::MAX));
            IdleEvent::Ignore
        }
        // BYE and anything unknown: end the IDLE; DONE then shows whether the session lives.
        _ => IdleEvent::NewMail,
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

    /// Closes the connection politely (LOGOUT), if there is one.
    pub async fn disconnect(&mut self) {
        if let Some(mut c) = self.conn.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), c.session.logout()).await;
        }
        self.state.update(|s| s.connected = false);
    }

    /// `APPEND` a message to `folder` (the watched folder when `None`), with an optional
    /// INTERNALDATE. For filing copies and for tests.
    pub async fn append(
        &mut self,
        folder: Option<&str>,
        raw: &[u8],
        internal_date: Option<DateTime<FixedOffset>>,
    ) -> Result<(), SourceError> {
        let folder = folder.unwrap_or(&self.cfg.folder).to_string();
        let date = internal_date.map(|d| format!("\"{}\"", d.format("%d-%b-%Y %H:%M:%S %z")));
        let t = self.cfg.command_timeout;
        self.ensure_connected().await?;
        let conn = self.conn.as_mut().expect("connected");
        let r = bounded(
            t,
            "APPEND",
            conn.session.append(&folder, None, date.as_deref(), raw),
        )
        .await;
        self.after(r)
    }

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

    fn after<T>(&mut self, r: Result<T, (SourceError, bool)>) -> Result<T, SourceError> {
        match r {
            Ok(v) => {
                if let Some(c) = self.conn.as_mut()
                    && drain(&mut c.session, &mut c.exists)
                {
                    c.pending_new = true;
                }
                Ok(v)
            }
            Err((e, drop_session)) => Err(self.fail(e, drop_session)),
        }
    }

    async fn ensure_connected(&mut self) -> Result<(), SourceError> {
        if self.conn.is_some() {
            return Ok(());
        }
        let d = self.cfg.connect_timeout;
        let r = match tokio::time::timeout(d, self.connect()).await {
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

    async fn tls_wrap(&self, tcp: TcpStream) -> Result<Box<dyn ImapIo>, SourceError> {
        let name = tls::server_name(&self.cfg.host).map_err(conn_err)?;
        let tls = TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| {
                SourceError::Connection(format!("TLS handshake with {}: {e}", self.cfg.host))
            })?;
        Ok(Box::new(tls))
    }

    async fn connect(&self) -> Result<Connected, SourceError> {
        let cfg = &self.cfg;
        let tcp = TcpStream::connect((cfg.host.as_str(), cfg.port))
            .await
            .map_err(|e| {
                SourceError::Connection(format!("connect to {}:{}: {e}", cfg.host, cfg.port))
            })?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn ImapIo> = match cfg.tls {
            TlsMode::None => Box::new(tcp),
            TlsMode::Tls => self.tls_wrap(tcp).await?,
            TlsMode::Starttls => {
                let mut plain = async_imap::Client::new(tcp);
                read_greeting(&mut plain).await?;
                plain
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|e| SourceError::Connection(format!("STARTTLS refused: {e}")))?;
                self.tls_wrap(plain.into_inner()).await?
            }
        };
        let mut client = async_imap::Client::new(stream);
        if cfg.tls != TlsMode::Starttls {
            read_greeting(&mut client).await?;
        }
        let auth = match &cfg.auth {
            ImapAuth::Command { command, oauth2 } => {
                let secret = run_secret_command(command).await?;
                if *oauth2 {
                    ImapAuth::OAuth2Token(secret)
                } else {
                    ImapAuth::Password(secret)
                }
            }
            other => other.clone(),
        };
        let login = match &auth {
            ImapAuth::Command { .. } => unreachable!("resolved above"),
            ImapAuth::Password(p) => client.login(&cfg.username, p).await,
            ImapAuth::OAuth2Token(t) => {
                let auth = XOAuth2 {
                    user: cfg.username.clone(),
                    token: t.clone(),
                    sent: false,
                };
                client.authenticate("XOAUTH2", auth).await
            }
        };
        let mut session = login.map_err(|(e, _)| {
            use async_imap::error::Error as E;
            match e {
                E::No(m) | E::Bad(m) => SourceError::Auth(format!(
                    "{} refused the login of {}: {m}",
                    cfg.host, cfg.username
                )),
                E::Validate(v) => {
                    SourceError::Auth(format!("username or password not sendable: {v}"))
                }
                other => SourceError::Connection(format!("login: {other}")),
            }
        })?;
        let caps = session
            .capabilities()
            .await
            .map_err(|e| cmd_err("CAPABILITY", e).0)?;
        let caps = Caps {
            idle: cfg.use_idle && caps.has_str("IDLE"),
            mv: cfg.use_move && caps.has_str("MOVE"),
            uidplus: caps.has_str("UIDPLUS"),
        };
        // The processed folder: create when missing.
        let exists = {
            let names: Vec<_> = session
                .list(Some(""), Some(&quote(&cfg.processed_folder)))
                .await
                .map_err(|e| cmd_err("LIST", e).0)?
                .collect()
                .await;
            let mut found = false;
            for n in names {
                let n = n.map_err(|e| cmd_err("LIST", e).0)?;
                if n.name() == cfg.processed_folder {
                    found = true;
                }
            }
            found
        };
        if !exists {
            session
                .create(&cfg.processed_folder)
                .await
                .map_err(|e| cmd_err(&format!("CREATE {}", cfg.processed_folder), e).0)?;
            tracing::info!(folder = %cfg.processed_folder, "created the processed folder");
        }
        let mb = session
            .select(&cfg.folder)
            .await
            .map_err(|e| cmd_err(&format!("SELECT {}", cfg.folder), e).0)?;
        let uidvalidity = mb.uid_validity.ok_or_else(|| {
            SourceError::Other(format!("server sent no UIDVALIDITY for {}", cfg.folder))
        })?;
        let mut exists = mb.exists;
        drain(&mut session, &mut exists);
        Ok(Connected {
            session,
            uidvalidity,
            caps,
            pending_new: false,
            exists,
        })
    }

    async fn fetch_inner(&mut self, max: usize) -> Result<Vec<Fetched>, SourceError> {
        self.ensure_connected().await?;
        let t = self.cfg.command_timeout;
        let conn = self.conn.as_mut().expect("connected");
        let uidvalidity = conn.uidvalidity;
        let r = bounded(t, "UID SEARCH", conn.session.uid_search("UNDELETED")).await;
        let found = self.after(r)?;
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        // EXISTS seen up to here is covered by the search result; if the batch is cut at
        // `max`, the next wait must not sleep on the rest.
        let more = uids.len() > max;
        uids.truncate(max);
        if let Some(c) = self.conn.as_mut() {
            c.pending_new = more;
        }
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uid_set(&uids);
        let conn = self.conn.as_mut().expect("connected");
        let r = bounded(t, "UID FETCH", async {
            let stream = conn
                .session
                .uid_fetch(&set, "(UID INTERNALDATE BODY.PEEK[])")
                .await?;
            let items: Vec<_> = stream.collect().await;
            let mut out = Vec::with_capacity(items.len());
            for f in items {
                out.push(f?);
            }
            Ok(out)
        })
        .await;
        let fetches = self.after(r)?;
        let mut out = Vec::with_capacity(fetches.len());
        for f in fetches {
            // Unsolicited FETCH (flag changes) can carry no UID or body: skip them.
            let (Some(uid), Some(body)) = (f.uid, f.body()) else {
                continue;
            };
            if !uids.contains(&uid) {
                continue;
            }
            let Some(date) = f.internal_date() else {
                return Err(self.fail(
                    SourceError::Other(format!("no INTERNALDATE for UID {uid}")),
                    false,
                ));
            };
            out.push(Fetched {
                source_key: format!("imap:{uidvalidity}:{uid}"),
                bytes: body.to_vec(),
                received_at: date.with_timezone(&Utc),
                handle: uid.to_string(),
            });
        }
        out.sort_by_key(|f| f.handle.parse::<u32>().unwrap_or(u32::MAX));
        out.dedup_by(|a, b| a.handle == b.handle);
        Ok(out)
    }

    async fn mark_inner(&mut self, msg: &Fetched) -> Result<(), SourceError> {
        let uid: u32 = msg
            .handle
            .parse()
            .map_err(|_| SourceError::Other(format!("not an IMAP UID: {:?}", msg.handle)))?;
        self.ensure_connected().await?;
        let t = self.cfg.command_timeout;
        let processed = self.cfg.processed_folder.clone();
        let conn = self.conn.as_mut().expect("connected");
        let current = conn.uidvalidity;
        if let Some((v, _)) = parse_source_key(&msg.source_key)
            && v != current
        {
            return Err(self.fail(
                SourceError::Other(format!(
                    "{}: UIDVALIDITY is now {current}, not moving UID {uid} (it may be another message)",
                    msg.source_key
                )),
                false,
            ));
        }
        let set = uid.to_string();
        let caps = conn.caps;
        if caps.mv {
            // A UID that is gone already matches nothing: the server answers OK.
            let r = bounded(t, "UID MOVE", conn.session.uid_mv(&set, &processed)).await;
            return self.after(r);
        }
        let r = bounded(t, "UID COPY", conn.session.uid_copy(&set, &processed)).await;
        self.after(r)?;
        self.remove_original(&set).await
    }

    /// After the copy is safely in the processed folder: flag the original \Deleted and, with
    /// UIDPLUS, expunge exactly that UID (never a plain EXPUNGE). Without UIDPLUS the flag
    /// stays; fetches skip \Deleted messages.
    async fn remove_original(&mut self, set: &str) -> Result<(), SourceError> {
        let t = self.cfg.command_timeout;
        let caps = self.conn.as_ref().expect("connected").caps;
        let conn = self.conn.as_mut().expect("connected");
        let r = bounded(t, "UID STORE", async {
            read_all(
                conn.session
                    .uid_store(set, "+FLAGS.SILENT (\\Deleted)")
                    .await?,
            )
            .await
        })
        .await;
        self.after(r)?;
        if caps.uidplus {
            let conn = self.conn.as_mut().expect("connected");
            let r = bounded(t, "UID EXPUNGE", async {
                read_all(conn.session.uid_expunge(set).await?).await
            })
            .await;
            self.after(r)?;
        }
        Ok(())
    }

    /// For a message the ledger already had: if an identical copy (same Message-ID, size and
    /// INTERNALDATE) is already in the processed folder, a move was interrupted after the copy
    /// (Dovecot copies, then expunges): remove only the original. Otherwise move it.
    async fn mark_again_inner(&mut self, msg: &Fetched) -> Result<(), SourceError> {
        let Some(mid) = message_id_of(&msg.bytes) else {
            return self.mark_inner(msg).await;
        };
        self.ensure_connected().await?;
        let t = self.cfg.command_timeout;
        let processed = self.cfg.processed_folder.clone();
        let folder = self.cfg.folder.clone();
        let conn = self.conn.as_mut().expect("connected");
        let r = bounded(t, "EXAMINE", conn.session.examine(&processed)).await;
        self.after(r)?;
        let conn = self.conn.as_mut().expect("connected");
        let query = format!("HEADER Message-ID {}", imap_quote(&mid));
        let r = bounded(t, "UID SEARCH", conn.session.uid_search(&query)).await;
        let found = self.after(r);
        let copies = match found {
            Ok(uids) if !uids.is_empty() => {
                let set = uid_set(&uids.into_iter().collect::<Vec<_>>());
                let conn = self.conn.as_mut().expect("connected");
                let r = bounded(t, "UID FETCH", async {
                    let stream = conn
                        .session
                        .uid_fetch(&set, "(UID INTERNALDATE RFC822.SIZE)")
                        .await?;
                    let items: Vec<_> = stream.collect().await;
                    let mut out = Vec::new();
                    for f in items {
                        let f = f?;
                        out.push((f.size, f.internal_date().map(|d| d.with_timezone(&Utc))));
                    }
                    Ok(out)
                })
                .await;
                self.after(r)?
            }
            Ok(_) => Vec::new(),
            Err(e) => return Err(e),
        };
        // Back to the watched folder, where the original is.
        let conn = self.conn.as_mut().expect("connected");
        let r = bounded(t, "SELECT", conn.session.select(&folder)).await;
        let mailbox = self.after(r)?;
        let conn = self.conn.as_mut().expect("connected");
        if mailbox.uid_validity != Some(conn.uidvalidity) {
            return Err(self.fail(
                SourceError::Connection(
                    "UIDVALIDITY changed while checking the processed folder".into(),
                ),
                true,
            ));
        }
        let size = u32::try_from(msg.bytes.len()).ok();
        let same = copies
            .iter()
            .any(|(s, d)| *s == size && *d == Some(msg.received_at));
        if !same {
            return self.mark_inner(msg).await;
        }
        tracing::info!(key = %msg.source_key, "already filed by an interrupted move: removing the original only");
        self.remove_original(&msg.handle).await
    }

    async fn wait_inner(
        &mut self,
        max: Duration,
        shutdown: &CancellationToken,
    ) -> Result<Wait, SourceError> {
        if shutdown.is_cancelled() {
            return Ok(Wait::Shutdown);
        }
        let idle = self.conn.as_ref().map(|c| c.caps.idle).unwrap_or(false);
        if !idle {
            let d = max.min(self.cfg.poll_interval);
            return Ok(tokio::select! {
                _ = tokio::time::sleep(d) => Wait::Timeout,
                _ = shutdown.cancelled() => Wait::Shutdown,
            });
        }
        let mut conn = self.conn.take().expect("connected");
        if std::mem::take(&mut conn.pending_new) {
            self.conn = Some(conn);
            return Ok(Wait::NewMail);
        }
        let t = self.cfg.command_timeout;
        let d = max.min(self.cfg.idle_refresh);
        let Connected {
            session,
            uidvalidity,
            caps,
            mut exists,
            ..
        } = conn;
        let mut handle = session.idle();
        if let Err(e) = bounded(t, "IDLE", handle.init()).await {
            return Err(self.fail(e.0, true));
        }
        use async_imap::extensions::idle::IdleResponse;
        let deadline = tokio::time::Instant::now() + d;
        let result = loop {
            enum Out {
                Idle(Result<IdleResponse, async_imap::error::Error>),
                Timeout,
                Shutdown,
            }
            let out = {
                // The crate's own timeout restarts on every keepalive, so bound it here too.
                let (fut, _stop) = handle.wait_with_timeout(d);
                tokio::select! {
                    r = fut => Out::Idle(r),
                    _ = tokio::time::sleep_until(deadline) => Out::Timeout,
                    _ = shutdown.cancelled() => Out::Shutdown,
                }
                // `_stop` and the wait future drop here; the handle is free again.
            };
            match out {
                Out::Idle(Ok(IdleResponse::NewData(resp))) => {
                    match idle_event(resp.parsed(), &mut exists) {
                        IdleEvent::NewMail => break Wait::NewMail,
                        IdleEvent::Ignore => continue,
                    }
                }
                Out::Idle(Ok(IdleResponse::Timeout)) | Out::Timeout => break Wait::Timeout,
                // The stream ended without our stop: the server went away; DONE below tells.
                Out::Idle(Ok(IdleResponse::ManualInterrupt)) => break Wait::NewMail,
                Out::Idle(Err(e)) => return Err(self.fail(cmd_err("IDLE", e).0, true)),
                Out::Shutdown => break Wait::Shutdown,
            }
        };
        let done_timeout = if result == Wait::Shutdown {
            Duration::from_secs(2).min(t)
        } else {
            t
        };
        match bounded(done_timeout, "IDLE DONE", handle.done()).await {
            Ok(mut session) => {
                let new_mail = drain(&mut session, &mut exists);
                self.conn = Some(Connected {
                    session,
                    uidvalidity,
                    caps,
                    pending_new: false,
                    exists,
                });
                if new_mail && result == Wait::Timeout {
                    return Ok(Wait::NewMail);
                }
                Ok(result)
            }
            Err((e, _)) => {
                let e = self.fail(e, true);
                if result == Wait::Shutdown {
                    Ok(Wait::Shutdown)
                } else {
                    Err(e)
                }
            }
        }
    }
}

async fn read_greeting<T>(client: &mut async_imap::Client<T>) -> Result<(), SourceError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug,
{
    match client.read_response().await {
        Ok(Some(r)) => {
            if let imap_proto::Response::Data {
                status: imap_proto::Status::Bye,
                outcome,
                ..
            } = r.parsed()
            {
                return Err(SourceError::Connection(format!(
                    "server said BYE: {}",
                    outcome.information.as_deref().unwrap_or("")
                )));
            }
            Ok(())
        }
        Ok(None) => Err(SourceError::Connection(
            "connection closed before the greeting".into(),
        )),
        Err(e) => Err(conn_err(format_args!("reading the greeting: {e}"))),
    }
}

impl MailSource for ImapSource {
    fn fetch(
        &mut self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<Fetched>, SourceError>> + Send {
        self.fetch_inner(max.max(1))
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
