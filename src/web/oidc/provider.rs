//! The OpenID provider as the desk sees it: its discovery document (read from
//! `<issuer>/.well-known/openid-configuration`, which must name the configured issuer
//! exactly, OpenID Connect Discovery §4.3), its signing keys (read again once when a token
//! names a key not seen yet: providers rotate keys), the authorization request and the token
//! request (RFC 6749 §4.1 with PKCE, RFC 7636).
//!
//! Discovery and keys are cached for an hour; a failure to reach the provider is an error for
//! that sign-in only, so the desk starts and serves local sign-in while the provider is down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::idtoken::{Jwk, JwkSet};
use crate::config::{OidcSettings, TokenAuth};
use crate::ports::HttpFetch;

/// How long discovery and keys are trusted before they are read again.
const CACHE_FOR: Duration = Duration::from_secs(3600);

/// Why talking to the provider failed (for the log; the person sees a general message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("cannot read {what} from the provider: {detail}")]
    Unreachable { what: &'static str, detail: String },
    #[error("the provider's discovery document names issuer {got:?}, not {want:?}")]
    IssuerMismatch { got: String, want: String },
    #[error("the provider's {what} is not usable: {detail}")]
    Invalid { what: &'static str, detail: String },
    #[error("the token endpoint refused the code: {error} {description}")]
    TokenRefused { error: String, description: String },
}

/// The parts of the discovery document the desk uses.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
}

struct Cached<T> {
    value: T,
    at: Instant,
}

/// The configured provider, with its client secret and callback address.
pub struct Provider {
    pub settings: OidcSettings,
    secret: String,
    pub redirect_url: String,
    http: Arc<dyn HttpFetch>,
    meta: tokio::sync::Mutex<Option<Cached<Metadata>>>,
    keys: tokio::sync::Mutex<Option<Cached<Vec<Jwk>>>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.settings.issuer)
            .field("client_id", &self.settings.client_id)
            .field("redirect_url", &self.redirect_url)
            .finish()
    }
}

fn endpoint_ok(url: &str) -> bool {
    match url::Url::parse(url) {
        Ok(u) => {
            u.scheme() == "https"
                || (u.scheme() == "http"
                    && u.host_str().is_some_and(crate::config::is_loopback_host))
        }
        Err(_) => false,
    }
}

/// The PKCE challenge of a verifier (S256).
pub fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

impl Provider {
    pub fn new(
        settings: OidcSettings,
        secret: String,
        redirect_url: String,
        http: Arc<dyn HttpFetch>,
    ) -> Provider {
        Provider {
            settings,
            secret,
            redirect_url,
            http,
            meta: tokio::sync::Mutex::new(None),
            keys: tokio::sync::Mutex::new(None),
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &'static str,
        url: &str,
    ) -> Result<T, ProviderError> {
        let unreachable = |detail: String| ProviderError::Unreachable { what, detail };
        let reply = self.http.get(url).await.map_err(unreachable)?;
        if reply.status != 200 {
            return Err(unreachable(format!("{url} answered {}", reply.status)));
        }
        serde_json::from_slice(&reply.body).map_err(|e| ProviderError::Invalid {
            what,
            detail: e.to_string(),
        })
    }

    /// The discovery document (cached).
    pub async fn metadata(&self) -> Result<Metadata, ProviderError> {
        let mut cached = self.meta.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| c.at.elapsed() < CACHE_FOR) {
            return Ok(c.value.clone());
        }
        let issuer = self.settings.issuer.trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        let meta: Metadata = self.get_json("the discovery document", &url).await?;
        if meta.issuer != self.settings.issuer {
            return Err(ProviderError::IssuerMismatch {
                got: meta.issuer,
                want: self.settings.issuer.clone(),
            });
        }
        for (name, u) in [
            ("authorization_endpoint", &meta.authorization_endpoint),
            ("token_endpoint", &meta.token_endpoint),
            ("jwks_uri", &meta.jwks_uri),
        ] {
            if !endpoint_ok(u) {
                return Err(ProviderError::Invalid {
                    what: "discovery document",
                    detail: format!("{name} {u:?} is not an https address"),
                });
            }
        }
        if !meta.code_challenge_methods_supported.is_empty()
            && !meta
                .code_challenge_methods_supported
                .iter()
                .any(|m| m == "S256")
        {
            return Err(ProviderError::Invalid {
                what: "discovery document",
                detail: "PKCE with S256 is not offered".into(),
            });
        }
        *cached = Some(Cached {
            value: meta.clone(),
            at: Instant::now(),
        });
        Ok(meta)
    }

    /// The signing keys (cached; `refresh` reads them again, for a key not seen yet).
    pub async fn keys(&self, meta: &Metadata, refresh: bool) -> Result<Vec<Jwk>, ProviderError> {
        let mut cached = self.keys.lock().await;
        if !refresh && let Some(c) = cached.as_ref().filter(|c| c.at.elapsed() < CACHE_FOR) {
            return Ok(c.value.clone());
        }
        let set: JwkSet = self.get_json("the signing keys", &meta.jwks_uri).await?;
        *cached = Some(Cached {
            value: set.keys.clone(),
            at: Instant::now(),
        });
        Ok(set.keys)
    }

    /// The address the browser is sent to.
    pub fn authorization_url(
        &self,
        meta: &Metadata,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> String {
        let mut u = url::Url::parse(&meta.authorization_endpoint)
            .expect("checked when the discovery document was read");
        u.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.redirect_url)
            .append_pair("scope", &self.settings.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &challenge(verifier))
            .append_pair("code_challenge_method", "S256")
            .append_pair("response_mode", "query");
        u.into()
    }

    /// Trade the code for tokens; returns the ID token.
    pub async fn exchange(
        &self,
        meta: &Metadata,
        code: &str,
        verifier: &str,
    ) -> Result<String, ProviderError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.redirect_url),
            ("code_verifier", verifier),
        ];
        let basic = match self.settings.token_auth {
            TokenAuth::ClientSecretPost => {
                form.push(("client_id", &self.settings.client_id));
                form.push(("client_secret", &self.secret));
                None
            }
            TokenAuth::ClientSecretBasic => {
                Some((self.settings.client_id.as_str(), self.secret.as_str()))
            }
        };
        let reply = self
            .http
            .post_form(&meta.token_endpoint, &form, basic)
            .await
            .map_err(|detail| ProviderError::Unreachable {
                what: "tokens",
                detail,
            })?;
        let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
        let field = |k: &str| body.get(k).and_then(|v| v.as_str()).unwrap_or("");
        if reply.status != 200 {
            return Err(ProviderError::TokenRefused {
                error: if field("error").is_empty() {
                    format!("HTTP {}", reply.status)
                } else {
                    field("error").chars().take(100).collect()
                },
                description: field("error_description").chars().take(300).collect(),
            });
        }
        match field("id_token") {
            "" => Err(ProviderError::Invalid {
                what: "token answer",
                detail: "it holds no id_token".into(),
            }),
            t => Ok(t.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_rfc7636s_example() {
        // RFC 7636, Appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn endpoints_must_be_https_or_loopback() {
        assert!(endpoint_ok(
            "https://login.microsoftonline.com/t/oauth2/v2.0/token"
        ));
        assert!(endpoint_ok("http://127.0.0.1:4000/token"));
        assert!(!endpoint_ok("http://login.rjl.test/token"));
        assert!(!endpoint_ok("javascript:alert(1)"));
    }
}
