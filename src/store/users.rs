//! Desk accounts, sessions and sign-in attempts (`users`, `sessions`, `login_attempts`).
//! Password hashing and session ids are made by the caller (`web::auth`); the store keeps
//! hashes only.

use chrono::{DateTime, Utc};

use super::rows::col;
use super::{Store, StoreError, parse_ts, q, ts};
use crate::domain::access::Role;

/// One desk account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub username: String,
    pub role: Role,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A live session, joined with its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub username: String,
    pub role: Role,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

fn user_from(r: &sqlx::any::AnyRow) -> Result<UserRow, StoreError> {
    let role: String = col(r, "role")?;
    Ok(UserRow {
        username: col(r, "username")?,
        role: role.parse().map_err(|detail| StoreError::Decode {
            column: "role",
            detail,
        })?,
        password_hash: col(r, "password_hash")?,
        disabled: col::<i64>(r, "disabled")? != 0,
        created_at: parse_ts("created_at", &col::<String>(r, "created_at")?)?,
        updated_at: parse_ts("updated_at", &col::<String>(r, "updated_at")?)?,
    })
}

/// A session's expiry is moved on by a request only when that gains at least this much.
const TOUCH_EVERY_SECS: i64 = 60;

const USER_COLS: &str = "username, role, password_hash, disabled, created_at, updated_at";

impl Store {
    /// Add an account. `Ok(false)` when the username is taken (nothing written).
    pub async fn add_user(
        &self,
        username: &str,
        role: Role,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let at = ts(now);
        let done = sqlx::query(
            "INSERT INTO users (username, role, password_hash, disabled, created_at, updated_at) \
             VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT (username) DO NOTHING",
        )
        .bind(username)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(&at)
        .execute(&self.pool)
        .await
        .map_err(q("add a user"))?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn user(&self, username: &str) -> Result<Option<UserRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read a user"))?
        .as_ref()
        .map(user_from)
        .transpose()
    }

    pub async fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {USER_COLS} FROM users ORDER BY username"))
            .fetch_all(&self.pool)
            .await
            .map_err(q("list users"))?;
        rows.iter().map(user_from).collect()
    }

    /// Disable an account and end its sessions. `Ok(false)` when there is no such user.
    pub async fn disable_user(
        &self,
        username: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin disabling a user"))?;
        let done =
            sqlx::query("UPDATE users SET disabled = 1, updated_at = $2 WHERE username = $1")
                .bind(username)
                .bind(ts(now))
                .execute(&mut *tx)
                .await
                .map_err(q("disable a user"))?;
        sqlx::query("DELETE FROM sessions WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await
            .map_err(q("end a disabled user's sessions"))?;
        tx.commit().await.map_err(q("commit disabling a user"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Set a new password hash (and enable the account again); ends every session of the user.
    pub async fn set_password(
        &self,
        username: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(q("begin a password change"))?;
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, disabled = 0, updated_at = $3 WHERE username = $1",
        )
        .bind(username)
        .bind(password_hash)
        .bind(ts(now))
        .execute(&mut *tx)
        .await
        .map_err(q("change a password"))?;
        sqlx::query("DELETE FROM sessions WHERE username = $1")
            .bind(username)
            .execute(&mut *tx)
            .await
            .map_err(q("end sessions after a password change"))?;
        tx.commit().await.map_err(q("commit a password change"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Start a session: store the hash of its id and its CSRF token. `replaces` is the hash of
    /// the browser's previous session id, which is ended (rotation at sign-in).
    pub async fn create_session(
        &self,
        id_hash: &str,
        username: &str,
        csrf_token: &str,
        replaces: Option<&str>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await.map_err(q("begin a session"))?;
        if let Some(old) = replaces {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                .bind(old)
                .execute(&mut *tx)
                .await
                .map_err(q("end the previous session"))?;
        }
        // Expired sessions are swept here, so the table stays small without a job.
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(ts(now))
            .execute(&mut *tx)
            .await
            .map_err(q("sweep expired sessions"))?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, username, csrf_token, created_at, last_seen_at, \
             expires_at) VALUES ($1, $2, $3, $4, $4, $5)",
        )
        .bind(id_hash)
        .bind(username)
        .bind(csrf_token)
        .bind(ts(now))
        .bind(ts(expires_at))
        .execute(&mut *tx)
        .await
        .map_err(q("store a session"))?;
        tx.commit().await.map_err(q("commit a session"))
    }

    /// The live session with this id hash at `now` (not expired, account not disabled), and
    /// its expiry moved to `extend_to` (sessions end after a stretch without requests) when
    /// that moves it by a minute or more.
    pub async fn touch_session(
        &self,
        id_hash: &str,
        now: DateTime<Utc>,
        extend_to: DateTime<Utc>,
    ) -> Result<Option<SessionRow>, StoreError> {
        let row = sqlx::query(
            "SELECT s.username, u.role, s.csrf_token, s.expires_at FROM sessions s \
             JOIN users u ON u.username = s.username \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled = 0",
        )
        .bind(id_hash)
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read a session"))?;
        let Some(r) = row else {
            return Ok(None);
        };
        let role: String = col(&r, "role")?;
        let expires = parse_ts("expires_at", &col::<String>(&r, "expires_at")?)?;
        // Extend at most once a minute: a page view is then a read, not a write (writes
        // serialise on SQLite), and a session still ends within a minute of its idle limit.
        let extended = if extend_to - expires >= chrono::Duration::seconds(TOUCH_EVERY_SECS) {
            sqlx::query(
                "UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id_hash = $1",
            )
            .bind(id_hash)
            .bind(ts(now))
            .bind(ts(extend_to))
            .execute(&self.pool)
            .await
            .map_err(q("extend a session"))?;
            extend_to
        } else {
            expires
        };
        Ok(Some(SessionRow {
            username: col(&r, "username")?,
            role: role.parse().map_err(|detail| StoreError::Decode {
                column: "role",
                detail,
            })?,
            csrf_token: col(&r, "csrf_token")?,
            expires_at: extended,
        }))
    }

    /// Sign out: forget the session.
    pub async fn end_session(&self, id_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await
            .map_err(q("end a session"))?;
        Ok(())
    }

    /// Record a sign-in attempt, and forget attempts from before `forget_before` (only the
    /// rate-limit window is ever counted; sign-ins themselves are in the audit log).
    pub async fn record_login_attempt(
        &self,
        username: &str,
        client_ip: &str,
        ok: bool,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_attempts WHERE at < $1")
            .bind(ts(forget_before))
            .execute(&self.pool)
            .await
            .map_err(q("forget old sign-in attempts"))?;
        sqlx::query(
            "INSERT INTO login_attempts (username, client_ip, at, ok) VALUES ($1, $2, $3, $4)",
        )
        .bind(username)
        .bind(client_ip)
        .bind(ts(now))
        .bind(i64::from(ok))
        .execute(&self.pool)
        .await
        .map_err(q("record a sign-in attempt"))?;
        Ok(())
    }

    /// Failed sign-ins since `since`: (for this username, from this address).
    pub async fn failed_logins_since(
        &self,
        username: &str,
        client_ip: &str,
        since: DateTime<Utc>,
    ) -> Result<(i64, i64), StoreError> {
        let r = sqlx::query(
            "SELECT \
             (SELECT COUNT(*) FROM login_attempts WHERE username = $1 AND ok = 0 AND at > $3) \
               AS by_user, \
             (SELECT COUNT(*) FROM login_attempts WHERE client_ip = $2 AND ok = 0 AND at > $3) \
               AS by_ip",
        )
        .bind(username)
        .bind(client_ip)
        .bind(ts(since))
        .fetch_one(&self.pool)
        .await
        .map_err(q("count failed sign-ins"))?;
        Ok((col(&r, "by_user")?, col(&r, "by_ip")?))
    }
}
