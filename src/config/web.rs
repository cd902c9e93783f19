//! `[web]`: the reviewers' desk served by `vardval run` (docs/configuration.md, "[web]").

use serde::Deserialize;

/// `[web]`: where the desk listens and how sign-in behaves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    /// Serve the desk beside the daemon in `vardval run` (not with `--once`).
    pub enabled: bool,
    /// Address and port to listen on; TLS is the reverse proxy's job.
    pub listen: String,
    /// The address people use (e.g. `https://granskning.rjl.test`); links in mail, and
    /// cookies are marked Secure when it is https.
    pub public_url: Option<String>,
    /// A session ends after this many minutes without a request.
    pub session_minutes: u32,
    /// Failed sign-ins per username within `login_window_minutes` before further attempts
    /// for that username are refused until the window has passed.
    pub login_max_failures_per_user: u32,
    /// Failed sign-ins per client address within the window.
    pub login_max_failures_per_ip: u32,
    pub login_window_minutes: u32,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            enabled: true,
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            session_minutes: 60,
            login_max_failures_per_user: 5,
            login_max_failures_per_ip: 20,
            login_window_minutes: 15,
        }
    }
}

impl WebSettings {
    /// Cookies carry `Secure` when the public address is https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.trim().to_ascii_lowercase().starts_with("https://"))
    }

    /// Checked once at start-up.
    pub fn validate(&self) -> Result<(), String> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "[web] listen = {:?} is not an address:port such as 127.0.0.1:8080",
                self.listen
            ));
        }
        if self.session_minutes == 0 || self.login_window_minutes == 0 {
            return Err("[web] session_minutes and login_window_minutes must be positive".into());
        }
        if self.login_max_failures_per_user == 0 || self.login_max_failures_per_ip == 0 {
            return Err("[web] login_max_failures_* must be positive".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secure_only_for_https() {
        let mut w = WebSettings::default();
        assert!(!w.secure_cookies());
        w.public_url = Some("http://x.rjl.test".into());
        assert!(!w.secure_cookies());
        w.public_url = Some("HTTPS://granskning.rjl.test/".into());
        assert!(w.secure_cookies());
    }

    #[test]
    fn listen_must_be_an_address() {
        let w = WebSettings {
            listen: "localhost".into(),
            ..WebSettings::default()
        };
        assert!(w.validate().is_err());
        assert!(WebSettings::default().validate().is_ok());
    }
}
