//! `vardval users add|disable|passwd|list --config F`: the desk's local accounts.

use std::io::BufRead;
use std::path::Path;

use anyhow::{Context, bail};

use super::app::open_store;
use crate::config::Settings;
use crate::domain::access::Role;
use crate::web::auth::hash_password;

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// The password from `--password-env VAR`, else the first line of standard input.
fn read_password(env: Option<&str>) -> anyhow::Result<String> {
    let pw = match env {
        Some(var) => {
            std::env::var(var).with_context(|| format!("cannot read the password from ${var}"))?
        }
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if pw.chars().count() < MIN_PASSWORD_CHARS {
        bail!("the password must have at least {MIN_PASSWORD_CHARS} characters");
    }
    Ok(pw)
}

fn now() -> chrono::DateTime<chrono::Utc> {
    crate::ports::Clock::now(&crate::ports::SystemClock)
}

pub async fn add(
    config: &Path,
    username: &str,
    role: &str,
    password_env: Option<&str>,
) -> anyhow::Result<()> {
    let role: Role = role.parse().map_err(anyhow::Error::msg)?;
    let username = username.trim();
    if username.is_empty() || username.chars().any(char::is_whitespace) {
        bail!("the username must be one word");
    }
    let s = Settings::load(config)?;
    let hash = hash_password(&read_password(password_env)?)?;
    let store = open_store(&s).await?;
    if !store.add_user(username, role, &hash, now()).await? {
        bail!("user {username} already exists (use `users passwd` to change the password)");
    }
    println!("Lade till {username} ({}).", role.swedish());
    Ok(())
}

pub async fn disable(config: &Path, username: &str) -> anyhow::Result<()> {
    let store = open_store(&Settings::load(config)?).await?;
    if !store.disable_user(username, now()).await? {
        bail!("no user {username}");
    }
    println!("Stängde av {username}; kontots inloggningar är avslutade.");
    Ok(())
}

pub async fn passwd(
    config: &Path,
    username: &str,
    password_env: Option<&str>,
) -> anyhow::Result<()> {
    let s = Settings::load(config)?;
    let hash = hash_password(&read_password(password_env)?)?;
    let store = open_store(&s).await?;
    if store
        .user(username)
        .await?
        .is_some_and(|u| u.password_hash == crate::store::OIDC_ACCOUNT)
    {
        bail!(
            "{username} signs in through the identity provider ([web.oidc]) and has no password              here; `users disable` locks the account out"
        );
    }
    if !store.set_password(username, &hash, now()).await? {
        bail!("no user {username}");
    }
    println!("Nytt lösenord för {username}; kontots inloggningar är avslutade.");
    Ok(())
}

pub async fn list(config: &Path, json: bool) -> anyhow::Result<()> {
    let store = open_store(&Settings::load(config)?).await?;
    let users = store.users().await?;
    let kind = |u: &crate::store::UserRow| {
        if u.password_hash == crate::store::OIDC_ACCOUNT {
            "oidc"
        } else {
            "local"
        }
    };
    if json {
        for u in &users {
            println!(
                "{}",
                serde_json::json!({
                    "username": u.username,
                    "role": u.role.as_str(),
                    "disabled": u.disabled,
                    "sign_in": kind(u),
                    "created_at": crate::store::ts(u.created_at),
                })
            );
        }
    } else {
        for u in &users {
            println!(
                "{:<28} {:<10} {:<6} {}",
                u.username,
                u.role.as_str(),
                kind(u),
                if u.disabled { "avstängd" } else { "aktiv" }
            );
        }
    }
    Ok(())
}
