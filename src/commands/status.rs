//! `vardval status --config F [--json]`: connection state, last poll, counts per class,
//! outbox backlog and the oldest unsent reply, read from the ledger.

use std::path::Path;

use serde_json::json;

use super::app;
use crate::config::Settings;

pub async fn status(config: &Path, as_json: bool) -> anyhow::Result<()> {
    let s = Settings::load(config)?;
    let store = app::open_store(&s).await?;
    let state = store.daemon_state().await?;
    let counts = store.class_counts().await?;
    let (backlog, oldest) = store.outbox_backlog().await?;
    let triage = store.triage_open().await?.len();
    let dead = store.outbox_dead().await?;
    let now = crate::ports::Clock::now(&crate::ports::SystemClock);
    // The scheduler part must not hide the rest of the status (a registry problem, say).
    let scheduler = super::schedule::scheduler_json(&s, now)
        .await
        .unwrap_or_else(|e| json!({ "error": format!("{e:#}") }));
    let v = json!({
        "scheduler": scheduler,
        "mailbox": s.mailbox.kind_name(),
        "connection_state": state.get("connection_state"),
        "last_poll_at": state.get("last_poll_at"),
        "last_error": state.get("last_error"),
        "counts": counts.iter().map(|(k, n)| (k.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "outbox_backlog": backlog,
        "outbox_dead": dead,
        "oldest_unsent": oldest.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "triage_open": triage,
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "Brevlåda: {} ({})",
            s.mailbox.kind_name(),
            state
                .get("connection_state")
                .map_or("okänt", String::as_str)
        );
        println!(
            "Senaste kontroll: {}",
            state.get("last_poll_at").map_or("aldrig", String::as_str)
        );
        if let Some(e) = state.get("last_error") {
            println!("Senaste fel: {e}");
        }
        for (k, n) in &counts {
            println!("  {k:<20} {n}");
        }
        println!(
            "Osända svar: {backlog}{}",
            oldest.map(|t| format!(" (äldsta {t})")).unwrap_or_default()
        );
        println!("Svar som inte gick att skicka (kräver åtgärd): {dead}");
        println!("Öppna ärenden för granskare: {triage}");
    }
    Ok(())
}
