//! `[web]`: the reviewers' desk served by `vardval run` (docs/configuration.md, "[web]").

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::access::Role;

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
    /// Sign-in with the Region's identity provider (Microsoft Entra ID), `[web.oidc]`.
    pub oidc: Option<OidcSettings>,
    /// Offer the local accounts' sign-in form (`vardval users add`). With `[web.oidc]`
    /// configured a region may turn it off; the demo and small setups use it.
    pub local_login: bool,
}

/// How the desk authenticates itself at the token endpoint.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    /// The client id and secret in the form body (Entra ID's usual form).
    #[default]
    ClientSecretPost,
    /// HTTP Basic with the form-encoded client id and secret.
    ClientSecretBasic,
}

/// `[web.oidc]`: OpenID Connect sign-in (authorization code with PKCE, nonce and state).
/// See docs/production.md, "Sign-in with Entra ID".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSettings {
    /// The issuer exactly as the provider names itself, e.g.
    /// `https://login.microsoftonline.com/<tenant id>/v2.0`; its discovery document is read
    /// from `<issuer>/.well-known/openid-configuration` and must name the same issuer.
    pub issuer: String,
    /// The application (client) id registered with the provider.
    pub client_id: String,
    /// The environment variable holding the client secret (never the secret itself in the
    /// file).
    pub client_secret_env: String,
    #[serde(default)]
    pub token_auth: TokenAuth,
    /// Where the provider sends the browser back; default `<public_url>/oidc/callback`.
    #[serde(default)]
    pub redirect_url: Option<String>,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that names the person; `email` is tried when it is missing.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// The claim listing the person's groups (Entra ID: object ids in `groups`).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Group id → role (reviewer, admin, finance, coach).
    #[serde(default)]
    pub groups: BTreeMap<String, String>,
    /// Username or e-mail (compared without case) → role; wins over the groups.
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    /// The sign-in button's text.
    #[serde(default = "default_button")]
    pub button: String,
    /// Extra CA certificate (PEM) for the provider's TLS, besides the webpki roots.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}
fn default_username_claim() -> String {
    "preferred_username".into()
}
fn default_groups_claim() -> String {
    "groups".into()
}
fn default_button() -> String {
    "Logga in med regionens konto".into()
}

impl OidcSettings {
    /// The callback address registered with the provider.
    pub fn redirect_url(&self, public_url: Option<&str>) -> Option<String> {
        self.redirect_url.clone().or_else(|| {
            public_url.map(|u| format!("{}/oidc/callback", u.trim().trim_end_matches('/')))
        })
    }

    /// The role for a person with this username or e-mail and these groups: an entry in
    /// `users` first, else the most privileged role any of the groups maps to (admin,
    /// reviewer, finance, coach), else none.
    pub fn role_for(&self, names: &[&str], groups: &[String]) -> Option<Role> {
        for n in names {
            let n = n.trim().to_lowercase();
            if let Some((_, r)) = self
                .users
                .iter()
                .find(|(k, _)| k.trim().to_lowercase() == n)
            {
                return r.parse().ok();
            }
        }
        let rank = |r: Role| match r {
            Role::Admin => 0,
            Role::Reviewer => 1,
            Role::Finance => 2,
            Role::Coach => 3,
        };
        groups
            .iter()
            .filter_map(|g| self.groups.get(g))
            .filter_map(|r| r.parse::<Role>().ok())
            .min_by_key(|r| rank(*r))
    }

    fn validate(&self, public_url: Option<&str>) -> Result<(), String> {
        let bad = |m: String| Err(format!("[web.oidc] {m}"));
        match url::Url::parse(&self.issuer) {
            Ok(u) if u.scheme() == "https" => {}
            Ok(u)
                if u.scheme() == "http"
                    && u.host_str().is_some_and(crate::config::is_loopback_host) => {}
            _ => {
                return bad(format!(
                    "issuer = {:?} must be an https address",
                    self.issuer
                ));
            }
        }
        if self.client_id.trim().is_empty() || self.client_secret_env.trim().is_empty() {
            return bad("client_id and client_secret_env must be set".into());
        }
        if self.redirect_url(public_url).is_none() {
            return bad("needs redirect_url, or [web] public_url to derive it from".into());
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return bad("scopes must include \"openid\"".into());
        }
        for (k, r) in self.groups.iter().chain(self.users.iter()) {
            if r.parse::<Role>().is_err() {
                return bad(format!(
                    "{k:?} = {r:?}: the role must be reviewer, admin, finance or coach"
                ));
            }
        }
        if self.groups.is_empty() && self.users.is_empty() {
            return bad("map at least one group or user to a role (groups, users)".into());
        }
        Ok(())
    }
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
            oidc: None,
            local_login: true,
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
        if let Some(o) = &self.oidc {
            o.validate(self.public_url.as_deref())?;
        } else if !self.local_login {
            return Err("[web] local_login = false needs [web.oidc] to sign in with".into());
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

    fn oidc() -> OidcSettings {
        toml::from_str(
            r#"
            issuer = "https://login.microsoftonline.com/tenant/v2.0"
            client_id = "app"
            client_secret_env = "VARDVAL_OIDC_SECRET"
            [groups]
            "g-rev" = "reviewer"
            "g-adm" = "admin"
            "g-fin" = "finance"
            [users]
            "eva.ek@rjl.test" = "coach"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn roles_come_from_users_first_then_the_strongest_group() {
        let o = oidc();
        let g = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            o.role_for(&["x@rjl.test"], &g(&["g-fin", "g-rev"])),
            Some(Role::Reviewer)
        );
        assert_eq!(
            o.role_for(&["x@rjl.test"], &g(&["g-rev", "g-adm"])),
            Some(Role::Admin)
        );
        assert_eq!(
            o.role_for(&["Eva.Ek@rjl.test"], &g(&["g-adm"])),
            Some(Role::Coach)
        );
        assert_eq!(o.role_for(&["x@rjl.test"], &g(&["other"])), None);
        assert_eq!(o.role_for(&[], &[]), None);
    }

    #[test]
    fn oidc_settings_are_checked() {
        let mut w = WebSettings {
            oidc: Some(oidc()),
            ..WebSettings::default()
        };
        assert!(
            w.validate().is_err(),
            "no redirect address without public_url"
        );
        w.public_url = Some("https://granskning.rjl.test".into());
        assert!(w.validate().is_ok());
        assert_eq!(
            w.oidc
                .as_ref()
                .unwrap()
                .redirect_url(w.public_url.as_deref())
                .unwrap(),
            "https://granskning.rjl.test/oidc/callback"
        );
        let mut o = oidc();
        o.issuer = "http://login.example.test/tenant".into();
        w.oidc = Some(o);
        assert!(w.validate().is_err(), "plain http only on loopback");
        let mut o = oidc();
        o.issuer = "http://127.0.0.1:4000".into();
        w.oidc = Some(o);
        assert!(w.validate().is_ok());
        let mut o = oidc();
        o.groups.insert("g".into(), "boss".into());
        w.oidc = Some(o);
        assert!(w.validate().is_err(), "unknown role");
        w.oidc = None;
        w.local_login = false;
        assert!(w.validate().is_err(), "no way to sign in");
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
