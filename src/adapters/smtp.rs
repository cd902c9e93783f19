//! Outgoing mail: [`SmtpTransport`] (lettre over tokio, rustls/ring) and [`FileTransport`]
//! (a directory of `.eml` files for the demo and dry runs).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sha2::{Digest, Sha256};

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
    /// AUTH only when both username and password are set.
    pub username: Option<String>,
    pub password: Option<String>,
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
            timeout: Duration::from_secs(60),
        }
    }
}

/// Sends through an SMTP server (submission with AUTH, or a local relay).
#[derive(Clone)]
pub struct SmtpTransport {
    cfg: SmtpConfig,
    inner: AsyncSmtpTransport<Tokio1Executor>,
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
    /// Validates the config and builds the (pooled) lettre transport. Must run inside a Tokio
    /// runtime: lettre's connection pool spawns its cleanup task here.
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
        if cfg.username.is_some() != cfg.password.is_some() {
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
        let tls = match cfg.tls {
            TlsMode::Tls => Tls::Wrapper(tls_params()?),
            TlsMode::Starttls => Tls::Required(tls_params()?),
            TlsMode::None => Tls::None,
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .tls(tls)
            .timeout(Some(cfg.timeout));
        if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(SmtpTransport {
            inner: b.build(),
            cfg,
        })
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

/// 4xx, connection, timeout and TLS trouble are transient; 5xx is permanent, except the
/// authentication replies (530, 534, 535, 538), which are a configuration problem that a fixed
/// password cures, so they must not kill the message.
fn map_err(e: lettre::transport::smtp::Error) -> SendError {
    let msg = e.to_string();
    if e.is_permanent() {
        let code = e.status().map(|c| c.to_string()).unwrap_or_default();
        if matches!(code.as_str(), "530" | "534" | "535" | "538") {
            return SendError::Transient(format!("authentication failed: {msg}"));
        }
        return SendError::Permanent(msg);
    }
    SendError::Transient(msg)
}

impl Transport for SmtpTransport {
    async fn send(&self, from: &str, to: &[String], raw: &[u8]) -> Result<(), SendError> {
        let env = envelope(from, to)?;
        match self.inner.send_raw(&env, raw).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = map_err(e);
                tracing::warn!(transport = %self.describe(), error = %e, "SMTP send failed");
                Err(e)
            }
        }
    }

    fn describe(&self) -> String {
        let scheme = match self.cfg.tls {
            TlsMode::Tls => "smtps",
            TlsMode::Starttls => "smtp+starttls",
            TlsMode::None => "smtp",
        };
        match &self.cfg.username {
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
    /// Connect, STARTTLS/TLS and log in without sending anything (for `vardval doctor`).
    pub async fn test_connection(&self) -> Result<(), SendError> {
        match self.inner.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(SendError::Transient(
                "the server did not answer NOOP".into(),
            )),
            Err(e) => Err(map_err(e)),
        }
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
