//! The daemon's health, as `vardval status` and systemd see it.
//!
//! Written into the ledger's `daemon_state` table (keys in [`keys`]), because the ledger is
//! the one place a `status` run can read, also when PostgreSQL is on another host:
//!
//! - liveness: `pid`, `host`, `pid_start` (the process start time, against pid reuse),
//!   `started_at`, a `heartbeat_at` the daemon rewrites every `[monitoring] heartbeat_secs`,
//!   and `stopped_at` on a clean stop. `status` on the same host checks the pid at once;
//!   elsewhere a heartbeat older than three intervals means stopped.
//! - the mailbox loop: `last_ok_at` (last successful poll or IDLE cycle), `current_error`
//!   (only while the trouble lasts) and `failures` (in a row); `last_error` / `last_error_at`
//!   stay as history after a reconnect.
//! - sending: `smtp_state` (`ok`, `failing`, `credentials`), `smtp_error`, `smtp_error_at`,
//!   `smtp_last_ok_at`.
//!
//! systemd's watchdog is pinged only when the loops make progress: a successful poll or IDLE
//! cycle while the sender has also finished a pass recently (one that sent, or found nothing
//! due), or such a sender pass while the mailbox loop is healthy. A daemon whose mailbox is unreachable or deaf stops pinging and is
//! restarted by systemd.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::warn;

use crate::ports::Clock;
use crate::ports::ServiceNotifier;
use crate::store::Store;

/// The `daemon_state` keys.
pub mod keys {
    pub const PID: &str = "pid";
    pub const HOST: &str = "host";
    pub const PID_START: &str = "pid_start";
    pub const STARTED_AT: &str = "started_at";
    pub const HEARTBEAT_AT: &str = "heartbeat_at";
    pub const HEARTBEAT_SECS: &str = "heartbeat_secs";
    pub const EXPECTED_INTERVAL_SECS: &str = "expected_interval_secs";
    pub const STOPPED_AT: &str = "stopped_at";
    pub const CONNECTION_STATE: &str = "connection_state";
    pub const LAST_POLL_AT: &str = "last_poll_at";
    pub const LAST_OK_AT: &str = "last_ok_at";
    pub const CURRENT_ERROR: &str = "current_error";
    pub const FAILURES: &str = "failures";
    pub const LAST_ERROR: &str = "last_error";
    pub const LAST_ERROR_AT: &str = "last_error_at";
    pub const SMTP_STATE: &str = "smtp_state";
    pub const SMTP_ERROR: &str = "smtp_error";
    pub const SMTP_ERROR_AT: &str = "smtp_error_at";
    pub const SMTP_LAST_OK_AT: &str = "smtp_last_ok_at";
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// This machine's name (for "same host" pid checks).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The start time of process `pid` in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`), `None` when there is no such process or it is a zombie.
pub fn process_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is the state (field 3); the start time is field 22.
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19).map(|s| s.to_string())
}

/// Shared by the mailbox loop and the sender.
pub struct Health {
    store: Store,
    clock: Arc<dyn Clock>,
    notifier: Arc<dyn ServiceNotifier>,
    mail_progress: Mutex<Option<Instant>>,
    sender_progress: Mutex<Option<Instant>>,
    failures: Mutex<u64>,
}

impl Health {
    pub fn new(store: Store, clock: Arc<dyn Clock>, notifier: Arc<dyn ServiceNotifier>) -> Health {
        Health {
            store,
            clock,
            notifier,
            mail_progress: Mutex::new(None),
            sender_progress: Mutex::new(None),
            failures: Mutex::new(0),
        }
    }

    async fn set(&self, k: &str, v: &str) {
        if let Err(e) = self.store.set_daemon_state(k, v).await {
            warn!("cannot record daemon state {k}: {e}");
        }
    }

    async fn clear(&self, k: &[&str]) {
        if let Err(e) = self.store.clear_daemon_state(k).await {
            warn!("cannot clear daemon state {k:?}: {e}");
        }
    }

    /// Longest the sender may sleep between passes so that it counts as alive.
    pub fn sender_max_sleep(&self) -> Duration {
        match self.notifier.watchdog() {
            Some(w) => (w / 3).clamp(Duration::from_millis(50), Duration::from_secs(30)),
            None => Duration::from_secs(30),
        }
    }

    /// The daemon started: who and where it is, then `READY=1`.
    pub async fn started(&self, heartbeat: Duration, expected_interval: Duration) {
        let now = rfc3339(self.clock.now());
        let pid = std::process::id();
        self.set(keys::PID, &pid.to_string()).await;
        self.set(keys::HOST, &host_name()).await;
        self.set(keys::PID_START, &process_start(pid).unwrap_or_default())
            .await;
        self.set(keys::STARTED_AT, &now).await;
        self.set(keys::HEARTBEAT_AT, &now).await;
        self.set(keys::HEARTBEAT_SECS, &heartbeat.as_secs().to_string())
            .await;
        self.set(
            keys::EXPECTED_INTERVAL_SECS,
            &expected_interval.as_secs().max(1).to_string(),
        )
        .await;
        self.clear(&[keys::STOPPED_AT]).await;
        self.notifier.ready();
        self.notifier.status("running");
    }

    /// The process is alive (written every heartbeat interval by [`Health::heartbeat_loop`]).
    pub async fn heartbeat(&self) {
        self.set(keys::HEARTBEAT_AT, &rfc3339(self.clock.now()))
            .await;
    }

    /// Write the heartbeat until `stop` is cancelled.
    pub async fn heartbeat_loop(
        self: Arc<Self>,
        every: Duration,
        stop: tokio_util::sync::CancellationToken,
    ) {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(every) => self.heartbeat().await,
            }
        }
    }

    /// A clean stop: `STOPPING=1` and `stopped_at`.
    pub async fn stopping(&self) {
        self.notifier.stopping();
        self.set(keys::STOPPED_AT, &rfc3339(self.clock.now())).await;
    }

    /// A fetch succeeded (polled at `at`, the start of the fetch).
    pub async fn poll_ok(&self, at: DateTime<Utc>) {
        let at = rfc3339(at);
        self.set(keys::CONNECTION_STATE, "connected").await;
        self.set(keys::LAST_POLL_AT, &at).await;
        self.mail_ok(&at).await;
    }

    /// A wait (IDLE cycle or poll sleep) ended normally.
    pub async fn wait_ok(&self) {
        let at = rfc3339(self.clock.now());
        self.mail_ok(&at).await;
    }

    async fn mail_ok(&self, at: &str) {
        self.set(keys::LAST_OK_AT, at).await;
        let had = std::mem::take(&mut *self.failures.lock().expect("failures"));
        if had > 0 {
            // Reconnected: the trouble is over; last_error stays as history.
            self.clear(&[keys::CURRENT_ERROR]).await;
            self.set(keys::FAILURES, "0").await;
            self.notifier.status("running (mailbox reachable again)");
        }
        *self.mail_progress.lock().expect("progress") = Some(Instant::now());
        if self.fresh(&self.sender_progress) {
            self.notifier.watchdog_ping();
        }
    }

    /// A fetch or a wait failed.
    pub async fn mail_failed(&self, error: &str) {
        let now = rfc3339(self.clock.now());
        let n = {
            let mut f = self.failures.lock().expect("failures");
            *f += 1;
            *f
        };
        self.set(keys::CONNECTION_STATE, "disconnected").await;
        self.set(keys::CURRENT_ERROR, error).await;
        self.set(keys::FAILURES, &n.to_string()).await;
        self.set(keys::LAST_ERROR, &format!("{now} {error}")).await;
        self.set(keys::LAST_ERROR_AT, &now).await;
        if n == 1 {
            // `systemctl status` shows it (once per outage, not at every retry).
            self.notifier.status(&format!("mailbox trouble: {error}"));
        }
    }

    /// One outbox pass ended: `sent` mails, and the failure that stopped it, if any
    /// (`(credentials?, message)`).
    pub async fn sender_pass(&self, sent: usize, error: Option<(bool, &str)>) {
        let now = rfc3339(self.clock.now());
        match error {
            None => {
                if sent > 0 {
                    self.set(keys::SMTP_LAST_OK_AT, &now).await;
                    self.set(keys::SMTP_STATE, "ok").await;
                    self.clear(&[keys::SMTP_ERROR]).await;
                }
            }
            Some((credentials, message)) => {
                let state = if credentials {
                    "credentials"
                } else {
                    "failing"
                };
                self.set(keys::SMTP_STATE, state).await;
                self.set(keys::SMTP_ERROR, message).await;
                self.set(keys::SMTP_ERROR_AT, &now).await;
            }
        }
        if error.is_some() {
            // Not progress: only a pass that sent, or found nothing due, counts. (During an
            // SMTP outage the passes between two due retries find nothing due and count.)
            return;
        }
        *self.sender_progress.lock().expect("progress") = Some(Instant::now());
        if self.fresh(&self.mail_progress) && *self.failures.lock().expect("failures") == 0 {
            self.notifier.watchdog_ping();
        }
    }

    /// Did the other loop make progress within the watchdog interval?
    fn fresh(&self, other: &Mutex<Option<Instant>>) -> bool {
        let Some(window) = self.notifier.watchdog() else {
            return false;
        };
        other
            .lock()
            .expect("progress")
            .is_some_and(|t| t.elapsed() <= window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_start_is_known_and_a_missing_pid_is_not() {
        assert!(process_start(std::process::id()).is_some());
        // Pid numbers are below 2^22 on Linux.
        assert_eq!(process_start(u32::MAX - 1), None);
    }
}
