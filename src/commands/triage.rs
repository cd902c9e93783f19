//! `vardval triage list|assign|reject|answer --config F`: the desk's triage actions for scripts
//! and bulk work, through the same core ([`crate::triage`]) and audited the same way, with the
//! actor `cli:USER` (`--as`).

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use super::app;
use super::review::{cli_actor, open_desk};
use crate::config::Settings;
use crate::domain::cycle::swedish_local;
use crate::ports::{Clock, SystemClock};

pub async fn list(config: &Path, as_json: bool) -> anyhow::Result<()> {
    let s = Settings::load(config)?;
    let tz = app::load_rulebook(&s)?.tz();
    let store = app::open_store(&s).await?;
    for t in store.triage_open().await? {
        let m = store.message(t.message_row_id).await?;
        let from = m
            .as_ref()
            .and_then(|m| m.from_addr.clone())
            .unwrap_or_default();
        let subject = m.as_ref().map(|m| m.subject.clone()).unwrap_or_default();
        let received = m.as_ref().map(|m| m.received_at);
        if as_json {
            println!(
                "{}",
                json!({
                    "id": t.id,
                    "reason": t.reason,
                    "from": from,
                    "subject": subject,
                    "received_at": received.map(crate::store::ts),
                    "created_at": crate::store::ts(t.created_at),
                })
            );
        } else {
            println!(
                "{:>5}  {:<26}  {:<32}  {}  ({})",
                t.id,
                received.map(|r| swedish_local(r, tz)).unwrap_or_default(),
                from,
                subject,
                t.reason
            );
        }
    }
    store.close().await;
    Ok(())
}

pub async fn assign(config: &Path, id: i64, clinic: &str, as_user: &str) -> anyhow::Result<()> {
    let s = Settings::load(config)?;
    let by = cli_actor(as_user)?;
    let store = app::open_store(&s).await?;
    let (a, m) = crate::triage::assign(&store, id, clinic, &by, SystemClock.now()).await?;
    store.close().await;
    let outcome = app::reingest_triage(&s, Arc::new(SystemClock), &m, id).await?;
    println!(
        "Ärende {id} tilldelat {clinic}{}; mejlet registrerat: {outcome}",
        if a.learned {
            " (adressen lades till i registret)"
        } else {
            ""
        }
    );
    Ok(())
}

pub async fn reject(config: &Path, id: i64, as_user: &str) -> anyhow::Result<()> {
    let s = Settings::load(config)?;
    let by = cli_actor(as_user)?;
    let store = app::open_store(&s).await?;
    crate::triage::reject(&store, id, &by, SystemClock.now()).await?;
    store.close().await;
    println!("Ärende {id} avvisat.");
    Ok(())
}

pub async fn answer(
    config: &Path,
    id: i64,
    subject: &str,
    body_file: Option<&Path>,
    as_user: &str,
) -> anyhow::Result<()> {
    let s = Settings::load(config)?;
    let by = cli_actor(as_user)?;
    let body = match body_file {
        Some(p) => std::fs::read_to_string(p)?,
        None => {
            let mut b = String::new();
            std::io::stdin()
                .take((crate::reply::MAX_ANSWER_BODY * 4 + 1) as u64)
                .read_to_string(&mut b)?;
            b
        }
    };
    let desk = open_desk(&s).await?;
    let outbox = crate::triage::answer(
        &desk.store,
        &desk.composer,
        id,
        subject,
        &body,
        &by,
        SystemClock.now(),
    )
    .await?;
    desk.store.close().await;
    println!("Svaret på ärende {id} ligger i utkorgen (rad {outbox}) och skickas av tjänsten.");
    Ok(())
}
