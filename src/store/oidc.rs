//! OpenID Connect sign-in state (`oidc_pending`) and the accounts that sign in through the
//! provider. An OIDC account is a `users` row whose password hash is [`OIDC_ACCOUNT`] (never a
//! valid PHC string, so the local form cannot sign it in); its role is set from the
//! provider's claims at every sign-in, and `vardval users disable` still locks it out.

use chrono::{DateTime, Utc};

use super::rows::col;
use super::{Store, StoreError, parse_ts, q, ts};
use crate::domain::access::Role;

/// The password hash of an account that signs in only through the OpenID provider.
pub const OIDC_ACCOUNT: &str = "!oidc";

/// A sign-in started at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcPending {
    pub state_hash: String,
    pub nonce: String,
    pub code_verifier: String,
    pub next_path: String,
    pub expires_at: DateTime<Utc>,
}

/// What became of an OIDC sign-in's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcAccount {
    /// Created or updated with the role from the claims.
    Ready,
    /// A local account (with a password) has this username: not taken over.
    LocalAccount,
    /// The account is disabled here.
    Disabled,
}

impl Store {
    /// Record a started sign-in; sweeps the expired ones. `Ok(false)` (nothing stored) when
    /// `limit` sign-ins are pending already: starting one needs no account, so an anonymous
    /// flood must not grow the table without bound.
    pub async fn start_oidc(
        &self,
        p: &OidcPending,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin an OIDC sign-in"))?;
        sqlx::query("DELETE FROM oidc_pending WHERE expires_at <= $1")
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(q("sweep expired OIDC sign-ins"))?;
        let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_pending")
            .fetch_one(&mut *tx)
            .await
            .map_err(q("count pending OIDC sign-ins"))?;
        if pending >= limit {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO oidc_pending (state_hash, nonce, code_verifier, next_path, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&p.state_hash)
        .bind(&p.nonce)
        .bind(&p.code_verifier)
        .bind(&p.next_path)
        .bind(ts(now))
        .bind(ts(p.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(q("store an OIDC sign-in"))?;
        tx.commit().await.map_err(q("commit an OIDC sign-in"))?;
        Ok(true)
    }

    /// Take (read and delete) the started sign-in with this state hash: a state works once.
    /// Expired rows are returned too; the caller compares `expires_at` with its clock.
    pub async fn take_oidc(&self, state_hash: &str) -> Result<Option<OidcPending>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM oidc_pending WHERE state_hash = $1 \
             RETURNING state_hash, nonce, code_verifier, next_path, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("take an OIDC sign-in"))?;
        let Some(r) = row else {
            return Ok(None);
        };
        Ok(Some(OidcPending {
            state_hash: col(&r, "state_hash")?,
            nonce: col(&r, "nonce")?,
            code_verifier: col(&r, "code_verifier")?,
            next_path: col(&r, "next_path")?,
            expires_at: parse_ts("expires_at", &col::<String>(&r, "expires_at")?)?,
        }))
    }

    /// Create the OIDC account `username` with `role`, or set the role of the existing one.
    pub async fn upsert_oidc_user(
        &self,
        username: &str,
        role: Role,
        now: DateTime<Utc>,
    ) -> Result<OidcAccount, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin an OIDC account"))?;
        let existing = sqlx::query("SELECT password_hash, disabled FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&mut *tx)
            .await
            .map_err(q("read an OIDC account"))?;
        let outcome = match existing {
            Some(r) if col::<String>(&r, "password_hash")? != OIDC_ACCOUNT => {
                OidcAccount::LocalAccount
            }
            Some(r) if col::<i64>(&r, "disabled")? != 0 => OidcAccount::Disabled,
            Some(_) => {
                sqlx::query("UPDATE users SET role = $2, updated_at = $3 WHERE username = $1")
                    .bind(username)
                    .bind(role.as_str())
                    .bind(ts(now))
                    .execute(&mut *tx)
                    .await
                    .map_err(q("update an OIDC account"))?;
                OidcAccount::Ready
            }
            None => {
                sqlx::query(
                    "INSERT INTO users (username, role, password_hash, disabled, created_at, \
                     updated_at) VALUES ($1, $2, $3, 0, $4, $4)",
                )
                .bind(username)
                .bind(role.as_str())
                .bind(OIDC_ACCOUNT)
                .bind(ts(now))
                .execute(&mut *tx)
                .await
                .map_err(q("add an OIDC account"))?;
                OidcAccount::Ready
            }
        };
        tx.commit().await.map_err(q("commit an OIDC account"))?;
        Ok(outcome)
    }

    /// An OIDC account whose claims no longer map to a role: its sessions end (the account
    /// row stays, for the audit log's names).
    pub async fn end_sessions_of(&self, username: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE username = $1")
            .bind(username)
            .execute(&self.pool)
            .await
            .map_err(q("end a user's sessions"))?;
        Ok(())
    }
}
