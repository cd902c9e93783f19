//! Plain configuration types of the mail connections, shared by the settings and the
//! adapters that read them (the adapters import these, never the reverse).

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Implicit TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain connect, then STARTTLS; refusing to continue without it (IMAP 143, submission 587).
    Starttls,
    /// No TLS at all. Only allowed towards loopback hosts.
    None,
}

/// How the server compares folder names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FolderCase {
    /// Detect: case-insensitive for Microsoft Exchange (recognised by its greeting), else
    /// case-sensitive. INBOX is case-insensitive everywhere.
    #[default]
    Auto,
    Sensitive,
    Insensitive,
}

impl FolderCase {
    /// Resolves `Auto` from the server greeting.
    pub fn resolve(self, greeting: &str) -> FolderCase {
        match self {
            FolderCase::Auto if greeting.to_ascii_lowercase().contains("microsoft exchange") => {
                FolderCase::Insensitive
            }
            FolderCase::Auto => FolderCase::Sensitive,
            other => other,
        }
    }
}

/// Default bound on the message bytes of one batch (`[limits] batch_bytes`).
pub const DEFAULT_BATCH_BYTES: u64 = 64 * 1024 * 1024;

/// True for hosts on which a plain-text connection never leaves the machine.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim().trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") || h.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    h.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}
