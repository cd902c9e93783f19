//! Outgoing mail: [`SmtpTransport`] (lettre over tokio, rustls/ring) and [`FileTransport`]
//! (a directory of `.eml` files for the demo and dry runs). AUTH with OAuth2 tokens lives in
//! [`super::smtp_auth`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::authentication::Mechanism;
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use sha2::{Digest, Sha256};
use std::time::Instant;
use tokio::net::TcpStream;

use super::smtp_auth;
use super::tls::{self, TlsMode};
use crate::ports::{SendError, Transport};

/// Where and how to send.
#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    /// `Tls` = implicit TLS (465), `Starttls` = STARTTLS required (587), `None` = plain
    /// (loopback only).
    pub tls: TlsMode,
    /// Extra CA certificate(s) (PEM) to trust besides the webpki roots.
    pub ca_file: Option<PathBuf>,
    /// AUTH PLAIN/LOGIN only when both username and password are set.
    pub username: Option<String>,
    pub password: Option<String>,
    /// OAuth2 (Exchange Online): a command that prints a fresh bearer token, run for every
    /// new connection; AUTH XOAUTH2 (or OAUTHBEARER) as `username`. Excludes `password`.
    pub oauth2_token_command: Option<String>,
    /// Per SMTP command (connect included).
    pub timeout: Duration,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("oauth2_token_command", &self.oauth2_token_command)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl SmtpConfig {
    /// No AUTH, 60 s timeout, no extra CA.
    pub fn new(host: impl Into<String>, port: u16, tls: TlsMode) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port,
            tls,
            ca_file: None,
            username: None,
            password: None,
            oauth2_token_command: None,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Sends through an SMTP server (submission with AUTH, or a local relay), over one kept-open
/// connection that is re-opened when it broke or idled.
///
/// The protocol is lettre's (`AsyncSmtpConnection`); the TCP connection is ours, opened with
/// `TCP_NODELAY`. lettre 0.11.23 connects without it and writes the message body and the
/// final `.` in two writes, so Nagle's algorithm held the terminator back until the server's
/// delayed ACK: about 42 ms per receipt, most of a 1,000-mail backlog's time
/// (measured: `bench/smtp_nagle_check.py`, `docs/performance.md`).
pub struct SmtpTransport {
    cfg: SmtpConfig,
    /// TLS for STARTTLS (lettre upgrades the stream).
    starttls: Option<TlsParameters>,
    /// TLS for implicit TLS (we wrap the stream before the greeting).
    implicit: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
    credentials: Option<Credentials>,
    hello: ClientId,
    conn: tokio::sync::Mutex<Option<(AsyncSmtpConnection, Instant)>>,
}

impl fmt::Debug for SmtpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpTransport")
            .field("cfg", &self.cfg)
            .finish()
    }
}

/// The configuration is unusable (plain text to a remote host, a bad CA file, half credentials).
#[derive(Debug, thiserror::Error)]
#[error("smtp config: {0}")]
pub struct SmtpConfigError(pub String);

impl SmtpTransport {
    /// Validates the config and prepares TLS and credentials; connects lazily. Must run inside
    /// a Tokio runtime (kept from the pooled design; cheap to keep as a guard).
    pub fn new(cfg: SmtpConfig) -> Result<SmtpTransport, SmtpConfigError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SmtpConfigError(
                "SmtpTransport::new must be called inside a Tokio runtime".into(),
            ));
        }
        let bad = |e: &dyn fmt::Display| SmtpConfigError(e.to_string());
        if cfg.host.trim().is_empty() || cfg.port == 0 {
            return Err(SmtpConfigError("host and port are required".into()));
        }
        tls::check_plain_allowed(cfg.tls, &cfg.host).map_err(|e| bad(&e))?;
        if cfg.oauth2_token_command.is_some() {
            if cfg.username.is_none() || cfg.password.is_some() {
                return Err(SmtpConfigError(
                    "oauth2_token_command needs username and no password".into(),
                ));
            }
        } else if cfg.username.is_some() != cfg.password.is_some() {
            return Err(SmtpConfigError("username and password go together".into()));
        }
        let tls_params = || -> Result<TlsParameters, SmtpConfigError> {
            let mut b = TlsParameters::builder(cfg.host.clone());
            if let Some(path) = &cfg.ca_file {
                // Parse with the shared helper (clear errors), hand the DER to lettre.
                for der in tls::load_pem_certs(path).map_err(|e| bad(&e))? {
                    let c = Certificate::from_der(der.as_ref().to_vec()).map_err(|e| bad(&e))?;
                    b = b.add_root_certificate(c);
                }
            }
            b.build_rustls().map_err(|e| bad(&e))
        };
        let (starttls, implicit) = match cfg.tls {
            TlsMode::Tls => (
                None,
                Some(tls::client_config(cfg.ca_file.as_deref()).map_err(|e| bad(&e))?),
            ),
            TlsMode::Starttls => (Some(tls_params()?), None),
            TlsMode::None => (None, None),
        };
        let credentials = match (&cfg.username, &cfg.password) {
            (Some(u), Some(p)) => Some(Credentials::new(u.clone(), p.clone())),
            _ => None,
        };
        Ok(SmtpTransport {
            starttls,
            implicit,
            credentials,
            hello: ClientId::default(),
            conn: tokio::sync::Mutex::new(None),
            cfg,
        })
    }

    /// Open a connection: TCP with `TCP_NODELAY`, TLS as configured, EHLO, AUTH.
    async fn open(&self) -> Result<AsyncSmtpConnection, SendError> {
        let cfg = &self.cfg;
        let within = |what: &'static str| {
            move |_| SendError::Transient(format!("{what}: timed out after {:?}", cfg.timeout))
        };
        let tcp = tokio::time::timeout(
            cfg.timeout,
            TcpStream::connect((cfg.host.as_str(), cfg.port)),
        )
        .await
        .map_err(within("connect"))?
        .map_err(|e| {
            SendError::Transient(format!(
                "Connection error: connect to {}:{}: {e}",
                cfg.host, cfg.port
            ))
        })?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn AsyncTokioStream> = match &self.implicit {
            Some(config) => {
                let name =
                    tls::server_name(&cfg.host).map_err(|e| SendError::Transient(e.to_string()))?;
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let t = tokio::time::timeout(cfg.timeout, connector.connect(name, tcp))
                    .await
                    .map_err(within("TLS handshake"))?
                    .map_err(|e| SendError::Transient(format!("TLS handshake: {e}")))?;
                Box::new(TlsIo(t))
            }
            None => Box::new(tcp),
        };
        let mut conn = tokio::time::timeout(
            cfg.timeout,
            AsyncSmtpConnection::connect_with_transport(stream, &self.hello),
        )
        .await
        .map_err(within("greeting"))?
        .map_err(smtp_auth::send_error)?;
        if let Some(params) = &self.starttls {
            tokio::time::timeout(cfg.timeout, conn.starttls(params.clone(), &self.hello))
                .await
                .map_err(within("STARTTLS"))?
                .map_err(smtp_auth::send_error)?;
        }
        if let Some(command) = &cfg.oauth2_token_command {
            // A fresh token for every connection: tokens expire.
            let token = smtp_auth::run_token_command(command, cfg.timeout).await?;
            let user = cfg.username.as_deref().unwrap_or_default();
            tokio::time::timeout(
                cfg.timeout,
                smtp_auth::oauth_login(&mut conn, &self.hello, &cfg.host, cfg.port, user, &token),
            )
            .await
            .map_err(within("AUTH"))??;
        } else if let Some(c) = &self.credentials {
            let user = cfg.username.as_deref().unwrap_or_default();
            tokio::time::timeout(
                cfg.timeout,
                conn.auth(&[Mechanism::Plain, Mechanism::Login], c),
            )
            .await
            .map_err(within("AUTH"))?
            .map_err(|e| smtp_auth::auth_error(&cfg.host, user, e))?;
        }
        Ok(conn)
    }

    /// The kept connection if it still works, else a new one. A connection idle for a while
    /// is checked with NOOP first: servers drop idle clients, and a send must not fail (and
    /// be retried later) just because of that.
    async fn connection(
        &self,
        kept: Option<(AsyncSmtpConnection, Instant)>,
    ) -> Result<AsyncSmtpConnection, SendError> {
        if let Some((mut c, last)) = kept
            && !c.has_broken()
        {
            if last.elapsed() < Duration::from_secs(5) {
                return Ok(c);
            }
            let alive = tokio::time::timeout(self.cfg.timeout, c.test_connected())
                .await
                .unwrap_or(false);
            if alive {
                return Ok(c);
            }
        }
        self.open().await
    }
}

/// An implicit-TLS stream in the shape lettre wants.
#[derive(Debug)]
struct TlsIo(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncTokioStream for TlsIo {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

impl tokio::io::AsyncRead for TlsIo {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for TlsIo {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The SMTP envelope; an empty `from` is the null reverse-path `<>`.
fn envelope(from: &str, to: &[String]) -> Result<Envelope, SendError> {
    let from = if from.trim().is_empty() || from.trim() == "<>" {
        None
    } else {
        Some(
            from.trim()
                .parse::<Address>()
                .map_err(|e| SendError::Permanent(format!("invalid sender {from:?}: {e}")))?,
        )
    };
    let to = to
        .iter()
        .map(|t| {
            t.trim()
                .parse::<Address>()
                .map_err(|e| SendError::Permanent(format!("invalid recipient {t:?}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Envelope::new(from, to).map_err(|e| SendError::Permanent(format!("envelope: {e}")))
}

impl Transport for SmtpTransport {
    async fn send(&self, from: &str, to: &[String], raw: &[u8]) -> Result<(), SendError> {
        let env = envelope(from, to)?;
        let mut slot = self.conn.lock().await;
        let result = async {
            let mut conn = self.connection(slot.take()).await?;
            let sent = tokio::time::timeout(self.cfg.timeout, conn.send(&env, raw))
                .await
                .map_err(|_| {
                    SendError::Transient(format!("send: timed out after {:?}", self.cfg.timeout))
                })?
                .map_err(smtp_auth::send_error)?;
            let _ = sent;
            // Keep the connection for the next reply (dropped on any error above).
            *slot = Some((conn, Instant::now()));
            Ok(())
        }
        .await;
        if let Err(e) = &result {
            tracing::warn!(transport = %self.describe(), error = %e, "SMTP send failed");
        }
        result
    }

    fn describe(&self) -> String {
        let scheme = match self.cfg.tls {
            TlsMode::Tls => "smtps",
            TlsMode::Starttls => "smtp+starttls",
            TlsMode::None => "smtp",
        };
        match &self.cfg.username {
            Some(u) if self.cfg.oauth2_token_command.is_some() => format!(
                "{scheme}://{}:{} as {u} (OAuth2)",
                self.cfg.host, self.cfg.port
            ),
            Some(u) => format!("{scheme}://{}:{} as {u}", self.cfg.host, self.cfg.port),
            None => format!("{scheme}://{}:{}", self.cfg.host, self.cfg.port),
        }
    }
}

/// Writes each message as `<message-id>.eml` (or `<sha256>.eml` without one) into `dir`.
/// Atomic (temporary file + rename) and idempotent (the same bytes again → Ok).
#[derive(Debug, Clone)]
pub struct FileTransport {
    pub dir: PathBuf,
}

impl FileTransport {
    pub fn new(dir: impl Into<PathBuf>) -> FileTransport {
        FileTransport { dir: dir.into() }
    }

    /// The file name this message gets (without directory).
    pub fn file_name(raw: &[u8]) -> String {
        match message_id(raw)
            .map(|id| sanitise(&id))
            .filter(|s| !s.is_empty())
        {
            Some(stem) => format!("{stem}.eml"),
            None => format!("{}.eml", hex::encode(Sha256::digest(raw))),
        }
    }
}

fn message_id(raw: &[u8]) -> Option<String> {
    let msg = mail_parser::MessageParser::default().parse_headers(raw)?;
    msg.message_id().map(|s| s.to_string())
}

/// Keeps `[A-Za-z0-9._@+-]`, maps the rest to `_`, strips leading dots, at most 150 bytes.
fn sanitise(id: &str) -> String {
    let s: String = id
        .trim()
        .trim_matches(['<', '>'])
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '+' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.');
    s.chars().take(150).collect()
}

impl Transport for FileTransport {
    async fn send(&self, from: &str, to: &[String], raw: &[u8]) -> Result<(), SendError> {
        envelope(from, to)?;
        let io = |what: &str, e: std::io::Error| {
            SendError::Transient(format!("{what} {}: {e}", self.dir.display()))
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| io("create", e))?;
        let mut name = FileTransport::file_name(raw);
        let mut path = self.dir.join(&name);
        if let Ok(existing) = tokio::fs::read(&path).await {
            if existing == raw {
                return Ok(());
            }
            // Same Message-ID, other bytes: keep both, named by content.
            let stem = name.trim_end_matches(".eml").to_string();
            let h = hex::encode(Sha256::digest(raw));
            name = format!("{stem}-{}.eml", &h[..16]);
            path = self.dir.join(&name);
            if let Ok(existing) = tokio::fs::read(&path).await
                && existing == raw
            {
                return Ok(());
            }
        }
        let tmp = self.dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let write = async {
            use tokio::io::AsyncWriteExt;
            let mut f = tokio::fs::File::create(&tmp).await?;
            f.write_all(raw).await?;
            f.sync_all().await?;
            drop(f);
            tokio::fs::rename(&tmp, &path).await
        };
        if let Err(e) = write.await {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(io("write into", e));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("file://{}", self.dir.display())
    }
}

impl SmtpTransport {
    /// Close the kept connection (QUIT); the next send opens a new one.
    pub async fn close(&self) {
        if let Some((mut c, _)) = self.conn.lock().await.take() {
            let _ = tokio::time::timeout(self.cfg.timeout, c.quit()).await;
        }
    }

    /// Connect, STARTTLS/TLS and log in without sending anything (for `vardval doctor`).
    pub async fn test_connection(&self) -> Result<(), SendError> {
        let mut conn = self.open().await?;
        let _ = conn.quit().await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_rules() {
        assert!(envelope("a@b.test", &["c@d.test".into()]).is_ok());
        assert!(envelope("", &["c@d.test".into()]).is_ok());
        assert!(matches!(
            envelope("a@b.test", &[]),
            Err(SendError::Permanent(_))
        ));
        assert!(matches!(
            envelope("not an address", &["c@d.test".into()]),
            Err(SendError::Permanent(_))
        ));
    }

    #[test]
    fn file_names() {
        assert_eq!(
            FileTransport::file_name(b"Message-ID: <abc/../x y@host.test>\r\n\r\nbody"),
            "abc_.._x_y@host.test.eml"
        );
        let n = FileTransport::file_name(b"Subject: x\r\n\r\nbody");
        assert_eq!(n.len(), 64 + 4);
        assert_eq!(sanitise("<...hidden@x>"), "hidden@x");
    }

    #[test]
    fn outside_a_runtime_is_an_error_not_a_panic() {
        assert!(SmtpTransport::new(SmtpConfig::new("127.0.0.1", 25, TlsMode::None)).is_err());
    }

    #[tokio::test]
    async fn config_rules_and_redaction() {
        let mut c = SmtpConfig::new("smtp.example.org", 25, TlsMode::None);
        assert!(SmtpTransport::new(c.clone()).is_err());
        c.tls = TlsMode::Starttls;
        c.username = Some("u".into());
        assert!(SmtpTransport::new(c.clone()).is_err());
        c.password = Some("hunter2".into());
        let t = SmtpTransport::new(c).unwrap();
        let d = format!("{t:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert_eq!(t.describe(), "smtp+starttls://smtp.example.org:25 as u");
    }
}
