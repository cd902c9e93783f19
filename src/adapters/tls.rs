//! TLS client configuration shared by the IMAP and SMTP adapters: rustls with the ring
//! provider, the Mozilla roots from `webpki-roots`, plus optional extra CA certificates from a
//! PEM file (the lab's CA, an on-prem server's private CA).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, pki_types::CertificateDer};

pub use crate::config::TlsMode;

#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("cannot read CA file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("CA file {0} holds no certificate")]
    Empty(PathBuf),
    #[error("CA file {path}: {msg}")]
    Invalid { path: PathBuf, msg: String },
    #[error("TLS setup: {0}")]
    Rustls(String),
    #[error(
        "TLS is off (tls = none) but host {0:?} is not a loopback address; refusing to send credentials in clear"
    )]
    PlainNotLoopback(String),
}

pub use crate::config::is_loopback_host;

/// Refuse [`TlsMode::None`] towards anything but loopback.
pub fn check_plain_allowed(mode: TlsMode, host: &str) -> Result<(), TlsConfigError> {
    if mode == TlsMode::None && !is_loopback_host(host) {
        return Err(TlsConfigError::PlainNotLoopback(host.to_string()));
    }
    Ok(())
}

/// Reads every certificate of a PEM file (with rustls-pemfile).
pub fn load_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let bytes = std::fs::read(path).map_err(|source| TlsConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut rd = std::io::BufReader::new(bytes.as_slice());
    let certs = rustls_pemfile::certs(&mut rd)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsConfigError::Invalid {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsConfigError::Empty(path.to_path_buf()));
    }
    Ok(certs)
}

/// A rustls client config: ring provider, TLS 1.2+, webpki roots plus the certificates of
/// `ca_file` when given.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        for cert in load_pem_certs(path)? {
            roots.add(cert).map_err(|e| TlsConfigError::Invalid {
                path: path.to_path_buf(),
                msg: e.to_string(),
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsConfigError::Rustls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// The name the server certificate must match: a DNS name or an IP address.
pub fn server_name(host: &str) -> Result<rustls::pki_types::ServerName<'static>, TlsConfigError> {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    rustls::pki_types::ServerName::try_from(h.to_string())
        .map_err(|e| TlsConfigError::Rustls(format!("invalid server name {h:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for h in [
            "localhost",
            "127.0.0.1",
            "127.3.4.5",
            "::1",
            "[::1]",
            "LOCALHOST",
            "a.localhost",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["mail.rjl.test", "10.0.0.1", "localhost.evil.com", "", "::2"] {
            assert!(!is_loopback_host(h), "{h}");
        }
        assert!(check_plain_allowed(TlsMode::None, "imap.example.org").is_err());
        assert!(check_plain_allowed(TlsMode::Starttls, "imap.example.org").is_ok());
        assert!(check_plain_allowed(TlsMode::None, "127.0.0.1").is_ok());
    }

    #[test]
    fn config_without_extra_ca_builds() {
        client_config(None).expect("config");
        assert!(server_name("127.0.0.1").is_ok());
        assert!(server_name("mail.rjl.test").is_ok());
    }

    #[test]
    fn missing_or_empty_ca_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("none.pem");
        assert!(matches!(
            client_config(Some(&p)),
            Err(TlsConfigError::Read { .. })
        ));
        std::fs::write(&p, "not a pem\n").unwrap();
        assert!(matches!(
            client_config(Some(&p)),
            Err(TlsConfigError::Empty(_))
        ));
    }
}
