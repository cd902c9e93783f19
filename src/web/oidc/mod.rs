//! Sign-in with the Region's identity provider (Microsoft Entra ID, or any OpenID provider):
//! the authorization code flow with PKCE, a nonce and a state.
//!
//! 1. `GET /logga-in/oidc?next=…` ([`start`]): a random state, nonce and PKCE verifier; the
//!    state's hash, the nonce, the verifier and where to go afterwards are kept in the ledger
//!    for ten minutes, the state also in an HttpOnly cookie of this browser; the browser is
//!    sent to the provider's authorization endpoint (from its discovery document).
//! 2. `GET /oidc/callback?code=…&state=…` ([`callback`]): the state must be this browser's and
//!    still pending (it is taken, so it works once); the code is traded for tokens at the token
//!    endpoint with the verifier; the ID token's RS256 signature is checked against the
//!    provider's keys and its claims against the issuer, this application and the nonce; the
//!    person's role comes from `[web.oidc] users` or `groups`. Then a session starts as for a
//!    local account (new id, old one ended), and the sign-in is audited.
//!
//! Every refusal is audited (`web.sign_in_refused` with the reason) and shown as a short
//! Swedish message on the sign-in page; the details go to the log only.

pub mod idtoken;
pub mod provider;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::WebState;
use super::auth::{self, ClientIp, NextQuery};
use super::render::WebError;
use crate::store::{OidcAccount, OidcPending};
pub use provider::{Provider, ProviderError};

/// The cookie holding this browser's pending state.
pub const STATE_COOKIE: &str = "vardval_oidc";
/// How long a started sign-in may take at the provider.
const PENDING_MINUTES: i64 = 10;
/// Sign-ins pending at the provider at most (see [`crate::store::Store::start_oidc`]).
const PENDING_LIMIT: i64 = 10_000;
/// Clock difference allowed between the desk and the provider.
const LEEWAY_SECONDS: i64 = 120;

const UNREACHABLE: &str = "Det gick inte att nå regionens inloggning just nu. Försök igen om en \
                           stund, eller kontakta IT-supporten om det inte går.";
const NOT_COMPLETED: &str = "Inloggningen kunde inte slutföras. Den kan ha tagit för lång tid \
                             eller ha startats i ett annat fönster. Försök igen.";

/// GET /logga-in/oidc
pub async fn start(
    State(state): State<WebState>,
    ClientIp(ip): ClientIp,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let Some(p) = state.oidc() else {
        return Err(WebError::NotFound);
    };
    let next = auth::safe_next(q.next.as_deref());
    let meta = match p.metadata().await {
        Ok(m) => m,
        Err(e) => {
            refused(&state, &ip, "", &e.to_string()).await;
            return auth::login_message(&state, &next, UNREACHABLE, StatusCode::BAD_GATEWAY);
        }
    };
    let st = auth::random_token();
    let nonce = auth::random_token();
    let verifier = auth::random_token();
    let now = state.now();
    let stored = state
        .store()
        .start_oidc(
            &OidcPending {
                state_hash: auth::session_hash(&st),
                nonce: nonce.clone(),
                code_verifier: verifier.clone(),
                next_path: next.clone(),
                expires_at: now + chrono::Duration::minutes(PENDING_MINUTES),
            },
            now,
            PENDING_LIMIT,
        )
        .await?;
    if !stored {
        refused(&state, &ip, "", "too many sign-ins pending at the provider").await;
        return auth::login_message(&state, &next, UNREACHABLE, StatusCode::SERVICE_UNAVAILABLE);
    }
    let mut res = Redirect::to(&p.authorization_url(&meta, &st, &nonce, &verifier)).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(&state, STATE_COOKIE, &st, false),
    );
    Ok(res)
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// GET /oidc/callback
pub async fn callback(
    State(state): State<WebState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, WebError> {
    let Some(p) = state.oidc() else {
        return Err(WebError::NotFound);
    };
    let fail = |status: StatusCode, msg: &'static str| {
        let state = state.clone();
        move || auth::login_message(&state, "/", msg, status)
    };
    // The state: this browser's, pending, not expired; taken so that it works once.
    let cookie_state = auth::cookie(&headers, STATE_COOKIE);
    let same = match (&cookie_state, &q.state) {
        (Some(c), Some(s)) => auth::constant_time_eq(c.as_bytes(), s.as_bytes()),
        _ => false,
    };
    if !same {
        refused(
            &state,
            &ip,
            "",
            "the state is missing or not this browser's",
        )
        .await;
        return clear_state(&state, fail(StatusCode::BAD_REQUEST, NOT_COMPLETED)());
    }
    let st = q.state.as_deref().unwrap_or("");
    let pending = state.store().take_oidc(&auth::session_hash(st)).await?;
    let now = state.now();
    let pending = match pending {
        Some(pd) if pd.expires_at > now => pd,
        Some(_) => {
            refused(&state, &ip, "", "the sign-in took longer than ten minutes").await;
            return clear_state(&state, fail(StatusCode::BAD_REQUEST, NOT_COMPLETED)());
        }
        None => {
            refused(&state, &ip, "", "the state is unknown or was used already").await;
            return clear_state(&state, fail(StatusCode::BAD_REQUEST, NOT_COMPLETED)());
        }
    };
    if let Some(err) = &q.error {
        let why = format!(
            "the provider answered {}: {}",
            clip(err, 100),
            clip(q.error_description.as_deref().unwrap_or(""), 300)
        );
        refused(&state, &ip, "", &why).await;
        let msg = if err == "access_denied" {
            "Inloggningen avbröts hos regionens inloggning. Försök igen om du vill logga in."
        } else {
            NOT_COMPLETED
        };
        return clear_state(&state, fail(StatusCode::UNAUTHORIZED, msg)());
    }
    let code = q.code.as_deref().unwrap_or("");
    let claims = match verified_claims(p, code, &pending, now.timestamp()).await {
        Ok(c) => c,
        Err(Refusal { why, unreachable }) => {
            refused(&state, &ip, "", &why).await;
            let (status, msg) = if unreachable {
                (StatusCode::BAD_GATEWAY, UNREACHABLE)
            } else {
                (StatusCode::UNAUTHORIZED, NOT_COMPLETED)
            };
            return clear_state(&state, fail(status, msg)());
        }
    };
    // Who, and in which role.
    let s = &p.settings;
    let text = |k: &str| claims.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let Some(username) = text(&s.username_claim)
        .or_else(|| text("email"))
        .map(|u| u.trim().to_lowercase())
        .filter(|u| !u.is_empty() && u.len() <= 200 && !u.chars().any(char::is_control))
    else {
        refused(
            &state,
            &ip,
            "",
            "the ID token names nobody (no username or email claim)",
        )
        .await;
        return clear_state(&state, fail(StatusCode::FORBIDDEN, NOT_COMPLETED)());
    };
    let email = text("email").map(|e| e.to_lowercase());
    let groups: Vec<String> = claims
        .get(&s.groups_claim)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|g| g.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut names = vec![username.as_str()];
    names.extend(email.as_deref());
    let Some(role) = s.role_for(&names, &groups) else {
        let overage = claims.get("_claim_names").is_some();
        let why = if overage {
            "no role: the token lists too many groups (group overage); assign the groups to the \
             application in Entra ID so that only those are sent"
        } else {
            "no role: neither the user nor any of the groups is mapped in [web.oidc]"
        };
        refused(&state, &ip, &username, why).await;
        // A person who lost their role also loses the sessions they still have.
        state.store().end_sessions_of(&username).await?;
        let msg = format!(
            "Du är inloggad hos regionen som {username}, men ditt konto har ingen roll i \
             granskningsverktyget. Be en administratör att lägga till dig i rätt grupp."
        );
        return clear_state(
            &state,
            auth::login_message(&state, "/", &msg, StatusCode::FORBIDDEN),
        );
    };
    match state.store().upsert_oidc_user(&username, role, now).await? {
        OidcAccount::Ready => {}
        OidcAccount::LocalAccount => {
            refused(&state, &ip, &username, "a local account has this username").await;
            let msg = format!(
                "Det finns redan ett lokalt konto som heter {username}. Logga in med det, eller \
                 be en administratör ta bort det lokala kontot."
            );
            return clear_state(
                &state,
                auth::login_message(&state, "/", &msg, StatusCode::FORBIDDEN),
            );
        }
        OidcAccount::Disabled => {
            refused(&state, &ip, &username, "the account is disabled here").await;
            return clear_state(
                &state,
                auth::login_message(
                    &state,
                    "/",
                    "Ditt konto är avstängt i granskningsverktyget. Kontakta en administratör.",
                    StatusCode::FORBIDDEN,
                ),
            );
        }
    }
    let res =
        auth::begin_session(&state, &headers, &username, &ip, &pending.next_path, "oidc").await?;
    clear_state(&state, Ok(res))
}

struct Refusal {
    why: String,
    unreachable: bool,
}

/// Trade the code, verify the ID token, return its claims.
async fn verified_claims(
    p: &Provider,
    code: &str,
    pending: &OidcPending,
    now: i64,
) -> Result<serde_json::Value, Refusal> {
    let refuse = |e: ProviderError| Refusal {
        unreachable: matches!(e, ProviderError::Unreachable { .. }),
        why: e.to_string(),
    };
    let token_err = |e: idtoken::TokenError| Refusal {
        why: e.to_string(),
        unreachable: false,
    };
    if code.is_empty() {
        return Err(Refusal {
            why: "the provider sent no code".into(),
            unreachable: false,
        });
    }
    let meta = p.metadata().await.map_err(refuse)?;
    let id_token = p
        .exchange(&meta, code, &pending.code_verifier)
        .await
        .map_err(refuse)?;
    let jws = idtoken::parse(&id_token).map_err(token_err)?;
    let mut keys = p.keys(&meta, false).await.map_err(refuse)?;
    if idtoken::select_key(&jws, &keys).is_none() {
        keys = p.keys(&meta, true).await.map_err(refuse)?;
    }
    let key = idtoken::select_key(&jws, &keys).ok_or_else(|| {
        token_err(idtoken::TokenError::UnknownKey(
            jws.kid.clone().unwrap_or_default(),
        ))
    })?;
    idtoken::verify_signature(&jws, key).map_err(token_err)?;
    idtoken::check_claims(
        &jws.claims,
        &idtoken::Expect {
            issuer: &meta.issuer,
            client_id: &p.settings.client_id,
            nonce: &pending.nonce,
            now,
            leeway: LEEWAY_SECONDS,
        },
    )
    .map_err(token_err)?;
    Ok(jws.claims)
}

fn clip(s: &str, n: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(n).collect()
}

/// The state cookie has done its work (or failed): clear it.
fn clear_state(state: &WebState, res: Result<Response, WebError>) -> Result<Response, WebError> {
    let mut res = res?;
    res.headers_mut().append(
        header::SET_COOKIE,
        auth::set_cookie(state, STATE_COOKIE, "", true),
    );
    Ok(res)
}

async fn refused(state: &WebState, ip: &str, username: &str, why: &str) {
    super::audit::sign_in_refused(state, username, ip, "oidc", why).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_drops_controls_and_bounds() {
        assert_eq!(clip("a\r\nb", 10), "ab");
        assert_eq!(clip(&"x".repeat(500), 100).len(), 100);
    }
}
