//! `vardval status --config F [--json | --check]`: is the daemon running, degraded or
//! stopped (see [`super::health`]), its last poll, current and last error, the SMTP login,
//! counts per class, outbox backlog and the oldest unsent reply, read from the ledger.
//! `--check` prints one Nagios/Icinga line and exits 0/1/2 (3 when the ledger is unreadable).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use super::app;
use super::health::{self, Assessment, DaemonState, Outbox};
use crate::config::Settings;
use crate::pipeline::health::{host_name, keys, process_start};
use crate::ports::{Clock, SystemClock};
use crate::store::MessageClass;

/// Is the recorded process still the same one (pid and start time)? `None` when this
/// process cannot see others in `/proc` (`hidepid`; pid 1 is then invisible too).
fn pid_alive(pid: u32, start: &str) -> Option<bool> {
    match process_start(pid) {
        Some(s) => Some(start.is_empty() || s == start),
        None if process_start(1).is_none() => None,
        None => Some(false),
    }
}

struct Snapshot {
    state: BTreeMap<String, String>,
    assessment: Assessment,
    outbox: Outbox,
    counts: Vec<(String, i64)>,
    triage: usize,
}

async fn snapshot(s: &Settings) -> anyhow::Result<Snapshot> {
    let store = app::open_store(s).await?;
    let state = store.daemon_state().await?;
    let counts = store.class_counts().await?;
    let (backlog, oldest) = store.outbox_backlog().await?;
    let triage = store.triage_open().await?.len();
    let dead = store.outbox_dead().await?;
    let assessment = health::assess(&state, SystemClock.now(), &host_name(), &pid_alive);
    Ok(Snapshot {
        state,
        assessment,
        outbox: Outbox {
            backlog,
            oldest_unsent: oldest,
            dead,
        },
        counts,
        triage,
    })
}

/// `status --check`: prints the line, returns the exit code.
pub async fn check(config: &Path) -> u8 {
    let res = async {
        let s = Settings::load(config)?;
        let snap = snapshot(&s).await?;
        anyhow::Ok(health::check(
            &snap.assessment,
            &snap.state,
            snap.outbox,
            SystemClock.now(),
            &s.monitoring,
        ))
    }
    .await;
    match res {
        Ok((level, line)) => {
            println!("{line}");
            level as u8
        }
        Err(e) => {
            let e = format!("{e:#}").replace(['\r', '\n'], " ");
            println!("UNKNOWN - kan inte läsa vardvals status: {e}");
            3
        }
    }
}

pub async fn status(config: &Path, as_json: bool) -> anyhow::Result<()> {
    let s = Settings::load(config)?;
    let snap = snapshot(&s).await?;
    let st = &snap.state;
    let get = |k: &str| st.get(k).cloned();
    let daemon = snap.assessment.state;
    // Förhandskontroller are answered but never submissions: counted on their own line.
    let prechecks = snap
        .counts
        .iter()
        .find(|(k, _)| k == MessageClass::Precheck.as_str())
        .map_or(0, |(_, n)| *n);
    // The recorded connection state is only true while the daemon runs.
    let connection = match daemon {
        DaemonState::Stopped => Some("stopped".to_string()),
        _ => get(keys::CONNECTION_STATE),
    };
    // The scheduler part must not hide the rest of the status (a registry problem, say).
    let scheduler = super::schedule::scheduler_json(&s, SystemClock.now())
        .await
        .unwrap_or_else(|e| json!({ "error": format!("{e:#}") }));
    let v = json!({
        "scheduler": scheduler,
        "mailbox": s.mailbox.kind_name(),
        "daemon": daemon.as_str(),
        "daemon_reasons": snap.assessment.reasons,
        "pid": get(keys::PID),
        "host": get(keys::HOST),
        "started_at": get(keys::STARTED_AT),
        "heartbeat_at": get(keys::HEARTBEAT_AT),
        "stopped_at": get(keys::STOPPED_AT),
        "connection_state": connection,
        "last_poll_at": get(keys::LAST_POLL_AT),
        "last_ok_at": get(keys::LAST_OK_AT),
        "current_error": get(keys::CURRENT_ERROR),
        "last_error": get(keys::LAST_ERROR),
        "last_error_at": get(keys::LAST_ERROR_AT),
        "smtp": {
            "state": get(keys::SMTP_STATE),
            "error": get(keys::SMTP_ERROR),
            "last_error_at": get(keys::SMTP_ERROR_AT),
            "last_ok_at": get(keys::SMTP_LAST_OK_AT),
        },
        "counts": snap.counts.iter().map(|(k, n)| (k.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "outbox_backlog": snap.outbox.backlog,
        "outbox_dead": snap.outbox.dead,
        "oldest_unsent": snap.outbox.oldest_unsent.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "triage_open": snap.triage,
        "prechecks": prechecks,
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let word = match daemon {
        DaemonState::Running => "körs",
        DaemonState::Degraded => "körs men är störd",
        DaemonState::Stopped => "stoppad",
    };
    println!("Tjänsten: {word}");
    for r in &snap.assessment.reasons {
        println!("  {r}");
    }
    println!(
        "Brevlåda: {} ({})",
        s.mailbox.kind_name(),
        connection.as_deref().unwrap_or("okänt")
    );
    println!(
        "Senaste lyckade kontroll: {}",
        get(keys::LAST_OK_AT).as_deref().unwrap_or("aldrig")
    );
    if let Some(e) = get(keys::CURRENT_ERROR) {
        println!("Fel just nu: {e}");
    }
    if let Some(e) = get(keys::LAST_ERROR) {
        println!("Senaste fel: {e}");
    }
    match get(keys::SMTP_STATE).as_deref() {
        Some("credentials") => println!(
            "Utgående e-post: SMTP-servern nekar inloggningen; kontrollera lösenordet eller \
             token-kommandot och appens behörighet (SMTP.Send). Svaren ligger kvar och skickas \
             när inloggningen fungerar. ({})",
            get(keys::SMTP_ERROR).unwrap_or_default()
        ),
        Some("failing") => println!(
            "Utgående e-post: fungerar inte just nu, nya försök görs ({})",
            get(keys::SMTP_ERROR).unwrap_or_default()
        ),
        Some(_) => println!("Utgående e-post: fungerar"),
        None => {}
    }
    for (k, n) in &snap.counts {
        println!("  {k:<20} {n}");
    }
    println!(
        "Osända svar: {}{}",
        snap.outbox.backlog,
        snap.outbox
            .oldest_unsent
            .map(|t| format!(" (äldsta {t})"))
            .unwrap_or_default()
    );
    println!(
        "Svar som inte gick att skicka (kräver åtgärd): {}",
        snap.outbox.dead
    );
    println!("Öppna ärenden för granskare: {}", snap.triage);
    println!("Förhandskontroller (besvarade, inte inlämnade): {prechecks}");
    Ok(())
}
