//! Sign-in for the desk: local accounts with argon2id hashes, sessions in the ledger (a random
//! 256-bit id in an HttpOnly, SameSite=Lax cookie, only its SHA-256 stored; a new id at every
//! sign-in; ended at sign-out or after `[web] session_minutes` without a request), a CSRF
//! token per session checked on every form, and sign-in attempts limited per username and per
//! client address.

use std::net::SocketAddr;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::WebState;
use super::render::WebError;
use crate::domain::access::{Need, Role, allows};

/// The session cookie.
pub const SESSION_COOKIE: &str = "vardval_session";
/// The sign-in form's CSRF cookie (there is no session yet: double-submit).
pub const LOGIN_COOKIE: &str = "vardval_login";

/// Hash a password with argon2id (random salt; PHC string).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// Does `password` match the stored PHC string?
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A fresh random token: 32 bytes, URL-safe base64 without padding.
pub fn random_token() -> String {
    use base64::Engine;
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).expect("the operating system's random source works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// What the ledger stores of a session id.
pub fn session_hash(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

pub(super) fn set_cookie(state: &WebState, name: &str, value: &str, clear: bool) -> HeaderValue {
    let secure = if state.settings().secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let age = if clear { "; Max-Age=0" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}{age}"
    ))
    .expect("cookie is ASCII")
}

/// The signed-in person making the request.
#[derive(Debug, Clone, Serialize)]
pub struct Viewer {
    pub username: String,
    #[serde(skip)]
    pub role: Role,
    pub role_name: &'static str,
    /// The session's CSRF token, put in every form.
    pub csrf: String,
    #[serde(skip)]
    session_hash: String,
}

impl Viewer {
    /// Refuse with 403 unless the role may do `need`.
    pub fn require(&self, need: Need) -> Result<(), WebError> {
        if allows(self.role, need) {
            Ok(())
        } else {
            Err(WebError::Forbidden)
        }
    }

    /// Refuse with 403 unless the form carried this session's token.
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), WebError> {
        match token {
            Some(t) if constant_time_eq(t.as_bytes(), self.csrf.as_bytes()) => Ok(()),
            _ => Err(WebError::Csrf),
        }
    }

    pub fn may_review(&self) -> bool {
        allows(self.role, Need::Review)
    }
}

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl FromRequestParts<WebState> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Viewer, WebError> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let sign_in = || WebError::SignIn { next: next.clone() };
        let id = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(sign_in)?;
        let hash = session_hash(&id);
        let now = state.now();
        let until = now + chrono::Duration::minutes(i64::from(state.settings().session_minutes));
        let s = state
            .store()
            .touch_session(&hash, now, until)
            .await?
            .ok_or_else(sign_in)?;
        Ok(Viewer {
            username: s.username,
            role: s.role,
            role_name: s.role.swedish(),
            csrf: s.csrf_token,
            session_hash: hash,
        })
    }
}

/// The client's address (the reverse proxy's, behind one; the per-username limit still holds).
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientIp, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_else(|| "unknown".into()),
        ))
    }
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    pub(super) next: Option<String>,
}

/// Only local paths are followed after sign-in (no open redirect).
pub(super) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.into(),
        _ => "/".into(),
    }
}

fn login_form(
    state: &WebState,
    next: &str,
    message: Option<&str>,
    username: &str,
) -> Result<Response, WebError> {
    let token = random_token();
    let w = state.settings();
    let mut res = state.templates().page(
        "login.html",
        minijinja::context! {
            next, message, username, csrf => &token,
            local_login => w.local_login,
            oidc_button => w.oidc.as_ref().filter(|_| state.oidc().is_some()).map(|o| o.button.clone()),
            oidc_href => format!(
                "/logga-in/oidc?{}",
                serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
            ),
        },
    )?;
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, LOGIN_COOKIE, &token, false),
    );
    Ok(res)
}

/// The sign-in page with a message, answered with `status` (a refused sign-in).
pub(super) fn login_message(
    state: &WebState,
    next: &str,
    message: &str,
    status: axum::http::StatusCode,
) -> Result<Response, WebError> {
    let mut res = login_form(state, next, Some(message), "")?;
    *res.status_mut() = status;
    Ok(res)
}

/// GET /logga-in
pub async fn login_page(
    State(state): State<WebState>,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    login_form(&state, &safe_next(q.next.as_deref()), None, "")
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    csrf: Option<String>,
    next: Option<String>,
}

/// POST /logga-in
pub async fn login(
    State(state): State<WebState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    if !state.settings().local_login {
        return Err(WebError::NotFound);
    }
    let expected = cookie(&headers, LOGIN_COOKIE);
    match (&expected, f.csrf.as_deref()) {
        (Some(e), Some(t)) if constant_time_eq(e.as_bytes(), t.as_bytes()) => {}
        _ => return Err(WebError::Csrf),
    }
    let next = safe_next(f.next.as_deref());
    let username = f.username.trim().to_string();
    let store = state.store();
    let now = state.now();
    let w = state.settings();
    let since = now - chrono::Duration::minutes(i64::from(w.login_window_minutes));
    let (by_user, by_ip) = store.failed_logins_since(&username, &ip, since).await?;
    if by_user >= i64::from(w.login_max_failures_per_user)
        || by_ip >= i64::from(w.login_max_failures_per_ip)
    {
        tracing::warn!(%username, %ip, "sign-in refused: too many failed attempts");
        let msg = format!(
            "För många misslyckade inloggningar. Vänta {} minuter och försök igen.",
            w.login_window_minutes
        );
        let mut res = login_form(&state, &next, Some(&msg), &username)?;
        *res.status_mut() = axum::http::StatusCode::TOO_MANY_REQUESTS;
        return Ok(res);
    }
    let user = store.user(&username).await?;
    // Verify even for an unknown user, so the answer takes as long either way.
    let ok = match &user {
        Some(u) => verify_password(&f.password, &u.password_hash) && !u.disabled,
        None => {
            verify_password(&f.password, DUMMY_HASH);
            false
        }
    };
    store
        .record_login_attempt(&username, &ip, ok, now, since)
        .await?;
    if !ok {
        let mut res = login_form(
            &state,
            &next,
            Some("Fel användarnamn eller lösenord."),
            &username,
        )?;
        *res.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
        return Ok(res);
    }
    begin_session(&state, &headers, &username, &ip, &next, "password").await
}

/// Start a session for `username` (signed in by `method`): a new id at every sign-in, the
/// browser's old session (if any) ended, audited; then on to `next`.
pub(super) async fn begin_session(
    state: &WebState,
    headers: &HeaderMap,
    username: &str,
    ip: &str,
    next: &str,
    method: &str,
) -> Result<Response, WebError> {
    let now = state.now();
    let id = random_token();
    let old = cookie(headers, SESSION_COOKIE).map(|o| session_hash(&o));
    let until = now + chrono::Duration::minutes(i64::from(state.settings().session_minutes));
    state
        .store()
        .create_session(
            &session_hash(&id),
            username,
            &random_token(),
            old.as_deref(),
            now,
            until,
        )
        .await?;
    super::audit::signed_in(state, username, ip, method).await;
    let mut res = Redirect::to(next).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, SESSION_COOKIE, &id, false),
    );
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, LOGIN_COOKIE, "", true),
    );
    Ok(res)
}

/// A valid argon2id hash of a random password, verified against when the username is unknown.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$IvVbgfNyb7jQ3Lul0D1a5aU6hO0Xn9wqIuJ3d9mO5nI";

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}

/// POST /logga-ut
pub async fn logout(
    State(state): State<WebState>,
    viewer: Viewer,
    ClientIp(ip): ClientIp,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(f.csrf.as_deref())?;
    state.store().end_session(&viewer.session_hash).await?;
    super::audit::signed_out(&state, &viewer.username, &ip).await;
    let mut res = Redirect::to("/logga-in").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, SESSION_COOKIE, "", true),
    );
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_local_only() {
        assert_eq!(safe_next(Some("/tavla?x=1")), "/tavla?x=1");
        assert_eq!(safe_next(Some("//evil.test/")), "/");
        assert_eq!(safe_next(Some("https://evil.test/")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn tokens_are_random_and_long() {
        let a = random_token();
        assert_eq!(a.len(), 43, "32 bytes in base64url");
        assert_ne!(a, random_token());
        assert_eq!(session_hash(&a).len(), 64);
    }

    #[test]
    fn cookies_are_read_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; vardval_session=xyz; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
