//! `vardval schedule --config F [--format json]`: each scheduled job's last and next run,
//! like `systemctl list-timers`; the same object is the `scheduler` part of `status --json`.
//! `vardval reminders pause|resume`: the pause switch of the desk's schedule page.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::app;
use crate::config::Settings;
use crate::domain::vocab::local_time as swedish_local;
use crate::ports::{Clock, SystemClock};

fn t(x: Option<DateTime<Utc>>) -> Value {
    x.map_or(Value::Null, |t| {
        json!(t.to_rfc3339_opts(SecondsFormat::Secs, true))
    })
}

/// The scheduler's jobs with last and next run, as JSON.
pub async fn scheduler_json(s: &Settings, now: DateTime<Utc>) -> anyhow::Result<Value> {
    let p = app::build_pipeline(s, Arc::new(SystemClock)).await?;
    let Some(sch) = app::build_scheduler(s, &p)? else {
        return Ok(json!({"enabled": false, "jobs": []}));
    };
    let jobs: Vec<Value> = sch
        .status(now)
        .await?
        .into_iter()
        .map(|j| {
            json!({
                "job": j.job,
                "schedule": j.schedule,
                "last_due_at": t(j.last_due_at),
                "last_finished_at": t(j.last_finished_at),
                "last_outcome": j.last_outcome,
                "next_at": t(j.next_at),
            })
        })
        .collect();
    Ok(json!({
        "enabled": true,
        "timezone": p.rulebook.timezone,
        "reminders_paused": s.reminders.paused,
        "jobs": jobs,
    }))
}

pub async fn schedule(config: &Path, as_json: bool) -> anyhow::Result<()> {
    let s = Settings::load(config)?;
    let now = SystemClock.now();
    let v = scheduler_json(&s, now).await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let tz = app::load_rulebook(&s)?.tz();
    let local = |v: &Value| {
        v.as_str()
            .and_then(|x| DateTime::parse_from_rfc3339(x).ok())
            .map_or("–".to_string(), |t| {
                swedish_local(t.with_timezone(&Utc), tz)
            })
    };
    println!(
        "{:<10} {:<28} {:<28} SENASTE UTFALL",
        "JOBB", "NÄSTA", "SENAST"
    );
    for j in v["jobs"].as_array().into_iter().flatten() {
        println!(
            "{:<10} {:<28} {:<28} {}",
            j["job"].as_str().unwrap_or(""),
            local(&j["next_at"]),
            local(&j["last_due_at"]),
            j["last_outcome"].as_str().unwrap_or("–"),
        );
    }
    if v["enabled"] == json!(false) {
        println!("Schemaläggaren är avstängd ([schedule] enabled = false).");
    }
    Ok(())
}

/// `vardval reminders pause|resume --as USER`: the desk's pause switch, audited as
/// `cli:USER`. `[reminders] paused = true` in the configuration stays in force either way.
pub async fn set_paused(config: &Path, paused: bool, as_user: &str) -> anyhow::Result<()> {
    let s = Settings::load(config)?;
    let actor = super::review::cli_actor(as_user)?;
    let store = app::open_store(&s).await?;
    let changed = store
        .set_reminders_paused(paused, &actor, SystemClock.now())
        .await?;
    store.close().await;
    let what = if paused { "pausade" } else { "igång" };
    if changed {
        println!("Påminnelserna är nu {what}.");
    } else {
        println!("Påminnelserna var redan {what}.");
    }
    if !paused && s.reminders.paused {
        println!("Obs: [reminders] paused = true i konfigurationen håller dem ändå pausade.");
    }
    Ok(())
}
