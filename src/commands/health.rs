//! Judging the daemon's health from what it recorded ([`crate::pipeline::health`]): running,
//! degraded or stopped, and the Nagios/Icinga verdict of `vardval status --check`.
//!
//! Pure: the recorded values, the time, the outbox counts and a liveness probe for a pid on
//! this host come in; the verdict goes out.
//!
//! - stopped: a clean stop was recorded; or the daemon ran on this host and its process is
//!   gone (pid and process start time no longer match); or, from another host (the ledger on
//!   PostgreSQL), its heartbeat is older than three heartbeat intervals. Never started: stopped.
//! - degraded: running, but the latest polls failed (a current error), or no successful poll
//!   or IDLE cycle within twice the expected interval (IDLE refresh or poll interval), or a
//!   live process whose heartbeat is stale.
//! - running: otherwise.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::config::MonitoringSettings;
use crate::pipeline::health::keys;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonState {
    Running,
    Degraded,
    Stopped,
}

impl DaemonState {
    pub fn as_str(self) -> &'static str {
        match self {
            DaemonState::Running => "running",
            DaemonState::Degraded => "degraded",
            DaemonState::Stopped => "stopped",
        }
    }
}

/// Nagios plugin levels; the exit code is the discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok = 0,
    Warning = 1,
    Critical = 2,
}

impl Level {
    pub fn word(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
        }
    }
}

/// The outbox as `status` sees it.
#[derive(Debug, Clone, Copy)]
pub struct Outbox {
    pub backlog: i64,
    pub oldest_unsent: Option<DateTime<Utc>>,
    pub dead: i64,
}

/// The daemon's state and why.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub state: DaemonState,
    /// Plain-language reasons (Swedish), empty when running.
    pub reasons: Vec<String>,
}

fn at(state: &BTreeMap<String, String>, key: &str) -> Option<DateTime<Utc>> {
    let v = state.get(key)?;
    // `last_error` style values start with the time; plain values are just the time.
    let t = v.split_whitespace().next()?;
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn secs(state: &BTreeMap<String, String>, key: &str) -> Option<i64> {
    state.get(key)?.trim().parse().ok().filter(|n| *n > 0)
}

/// A short age: "45 s", "12 min", "3 h".
pub fn age(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    if s < 120 {
        format!("{s} s")
    } else if s < 2 * 3600 {
        format!("{} min", s / 60)
    } else if s < 2 * 86400 {
        format!("{} h", s / 3600)
    } else {
        format!("{} dygn", s / 86400)
    }
}

/// Is process `pid` (recorded with start time `start`) alive on this host? `None` when this
/// cannot be seen (`/proc` mounted with `hidepid`): then the heartbeat decides.
pub type PidProbe<'a> = &'a dyn Fn(u32, &str) -> Option<bool>;

/// Running, degraded or stopped.
pub fn assess(
    state: &BTreeMap<String, String>,
    now: DateTime<Utc>,
    this_host: &str,
    alive: PidProbe<'_>,
) -> Assessment {
    let stopped = |why: String| Assessment {
        state: DaemonState::Stopped,
        reasons: vec![why],
    };
    let Some(started) = at(state, keys::STARTED_AT) else {
        return stopped("ingen vardval-tjänst har startats mot den här databasen".into());
    };
    if let Some(s) = at(state, keys::STOPPED_AT)
        && s >= started
    {
        return stopped(format!("tjänsten stoppades {}", s.to_rfc3339()));
    }
    let heartbeat = secs(state, keys::HEARTBEAT_SECS).unwrap_or(15);
    let beat = at(state, keys::HEARTBEAT_AT).unwrap_or(started);
    let stale = now - beat > Duration::seconds(3 * heartbeat);
    let host = state.get(keys::HOST).map(String::as_str).unwrap_or("");
    let pid = state.get(keys::PID).and_then(|p| p.parse::<u32>().ok());
    let mut reasons = Vec::new();
    match pid {
        Some(pid) if !host.is_empty() && host == this_host => {
            let start = state.get(keys::PID_START).map(String::as_str).unwrap_or("");
            let seen = alive(pid, start);
            if seen == Some(false) {
                return stopped(format!(
                    "processen {pid} på {host} finns inte längre (senaste livstecken för {} sedan)",
                    age(now - beat)
                ));
            }
            if seen.is_none() && stale {
                return stopped(format!(
                    "inga livstecken från processen {pid} på {}",
                    age(now - beat)
                ));
            }
            if stale {
                reasons.push(format!(
                    "processen {pid} lever men har inte gett livstecken på {}",
                    age(now - beat)
                ));
            }
        }
        _ if stale => {
            return stopped(format!(
                "inga livstecken från {} på {}",
                if host.is_empty() { "tjänsten" } else { host },
                age(now - beat)
            ));
        }
        _ => {}
    }
    if let Some(e) = state.get(keys::CURRENT_ERROR) {
        let since = at(state, keys::LAST_ERROR_AT)
            .map(|t| format!(" ({})", t.to_rfc3339()))
            .unwrap_or_default();
        reasons.push(format!("brevlådan svarar inte: {e}{since}"));
    }
    let expected = secs(state, keys::EXPECTED_INTERVAL_SECS).unwrap_or(60);
    let last_ok = at(state, keys::LAST_OK_AT);
    let since_ok = now - last_ok.unwrap_or(started).max(started);
    if reasons.is_empty() && since_ok > Duration::seconds(2 * expected) {
        reasons.push(match last_ok {
            Some(_) => format!("ingen lyckad kontroll av brevlådan på {}", age(since_ok)),
            None => format!(
                "ingen lyckad kontroll av brevlådan sedan start för {} sedan",
                age(since_ok)
            ),
        });
    }
    Assessment {
        state: if reasons.is_empty() {
            DaemonState::Running
        } else {
            DaemonState::Degraded
        },
        reasons,
    }
}

/// The verdict of `status --check`: level and one line of Nagios plugin output
/// (`OK - …`, `WARNING - …`, `CRITICAL - …`, with performance data after `|`).
pub fn check(
    a: &Assessment,
    state: &BTreeMap<String, String>,
    outbox: Outbox,
    now: DateTime<Utc>,
    m: &MonitoringSettings,
) -> (Level, String) {
    let mut problems: Vec<(Level, String)> = Vec::new();
    match a.state {
        DaemonState::Stopped => problems.push((
            Level::Critical,
            format!("vardval är stoppad: {}", a.reasons.join("; ")),
        )),
        DaemonState::Degraded => problems.push((
            Level::Warning,
            format!("vardval är störd: {}", a.reasons.join("; ")),
        )),
        DaemonState::Running => {}
    }
    match state.get(keys::SMTP_STATE).map(String::as_str) {
        Some("credentials") => problems.push((
            Level::Critical,
            format!(
                "SMTP-servern nekar inloggningen (kontrollera lösenord/token och behörighet): {}",
                state.get(keys::SMTP_ERROR).map_or("", String::as_str)
            ),
        )),
        Some("failing") if outbox.backlog > 0 => problems.push((
            Level::Warning,
            format!(
                "svar kan inte skickas just nu: {}",
                state.get(keys::SMTP_ERROR).map_or("", String::as_str)
            ),
        )),
        _ => {}
    }
    if outbox.dead >= m.dead_critical {
        problems.push((
            Level::Critical,
            format!(
                "{} svar gick inte att skicka och kräver åtgärd",
                outbox.dead
            ),
        ));
    }
    let oldest_age = outbox.oldest_unsent.map(|t| now - t);
    let old = |limit: u64| oldest_age.is_some_and(|a| a >= Duration::seconds(limit as i64));
    if outbox.backlog >= m.backlog_critical || old(m.oldest_unsent_critical_secs) {
        problems.push((Level::Critical, backlog_text(outbox.backlog, oldest_age)));
    } else if outbox.backlog >= m.backlog_warning || old(m.oldest_unsent_warning_secs) {
        problems.push((Level::Warning, backlog_text(outbox.backlog, oldest_age)));
    }
    let level = problems.iter().map(|p| p.0).max().unwrap_or(Level::Ok);
    let text = if problems.is_empty() {
        let ok = at(state, keys::LAST_OK_AT)
            .map(|t| format!("senaste lyckade kontroll för {} sedan", age(now - t)))
            .unwrap_or_else(|| "ingen kontroll ännu".into());
        format!(
            "vardval körs; {ok}; {} osända svar, {} ej skickbara",
            outbox.backlog, outbox.dead
        )
    } else {
        // The worst first.
        problems.sort_by_key(|p| std::cmp::Reverse(p.0));
        problems
            .into_iter()
            .map(|p| p.1)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let perf = format!(
        "backlog={} dead={} oldest_unsent={}s last_ok_age={}",
        outbox.backlog,
        outbox.dead,
        oldest_age.map_or(0, |a| a.num_seconds().max(0)),
        at(state, keys::LAST_OK_AT).map_or("U".into(), |t| format!(
            "{}s",
            (now - t).num_seconds().max(0)
        )),
    );
    // One line: no line breaks from error texts.
    let text = text.replace(['\r', '\n'], " ");
    (level, format!("{} - {text} | {perf}", level.word()))
}

fn backlog_text(backlog: i64, oldest: Option<Duration>) -> String {
    match oldest {
        Some(a) => format!("{backlog} osända svar, det äldsta väntar sedan {}", age(a)),
        None => format!("{backlog} osända svar"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn recorded(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn base() -> BTreeMap<String, String> {
        recorded(&[
            (keys::PID, "4242".into()),
            (keys::HOST, "vardval01".into()),
            (keys::PID_START, "777".into()),
            (keys::STARTED_AT, t(0).to_rfc3339()),
            (keys::HEARTBEAT_AT, t(100).to_rfc3339()),
            (keys::HEARTBEAT_SECS, "15".into()),
            (keys::EXPECTED_INTERVAL_SECS, "60".into()),
            (keys::LAST_OK_AT, t(90).to_rfc3339()),
        ])
    }

    const ALIVE: PidProbe<'static> = &|pid, start| Some(pid == 4242 && start == "777");
    const GONE: PidProbe<'static> = &|_, _| Some(false);
    const HIDDEN: PidProbe<'static> = &|_, _| None;

    #[test]
    fn states() {
        let s = base();
        assert_eq!(
            assess(&s, t(110), "vardval01", ALIVE).state,
            DaemonState::Running
        );
        // The process is gone on this host: stopped at once, whatever the heartbeat says.
        assert_eq!(
            assess(&s, t(110), "vardval01", GONE).state,
            DaemonState::Stopped
        );
        // Another host cannot see the pid: the heartbeat decides (3 × 15 s).
        assert_eq!(
            assess(&s, t(140), "other", GONE).state,
            DaemonState::Running
        );
        assert_eq!(
            assess(&s, t(146), "other", GONE).state,
            DaemonState::Stopped
        );
        // Same host, but /proc hides other users' processes: the heartbeat decides too.
        let hidden = |t| assess(&s, t, "vardval01", HIDDEN).state;
        assert_eq!(hidden(t(140)), DaemonState::Running);
        assert_eq!(hidden(t(146)), DaemonState::Stopped);
        // Alive but its heartbeat is stale: degraded.
        let a = assess(&s, t(146), "vardval01", ALIVE);
        assert_eq!(a.state, DaemonState::Degraded, "{a:?}");
        // No successful poll within twice the expected interval: degraded.
        let mut b = base();
        b.insert(keys::HEARTBEAT_AT.into(), t(205).to_rfc3339());
        assert_eq!(
            assess(&b, t(210), "vardval01", ALIVE).state,
            DaemonState::Running
        );
        let a = assess(&b, t(211), "vardval01", ALIVE);
        assert_eq!(a.state, DaemonState::Degraded, "{a:?}");
        assert!(a.reasons[0].contains("ingen lyckad kontroll"), "{a:?}");
        // A current error: degraded at once.
        let mut e = base();
        e.insert(keys::CURRENT_ERROR.into(), "connection refused".into());
        let a = assess(&e, t(100), "vardval01", ALIVE);
        assert_eq!(a.state, DaemonState::Degraded);
        assert!(a.reasons[0].contains("connection refused"), "{a:?}");
        // A clean stop.
        let mut c = base();
        c.insert(keys::STOPPED_AT.into(), t(120).to_rfc3339());
        assert_eq!(
            assess(&c, t(121), "vardval01", ALIVE).state,
            DaemonState::Stopped
        );
        // Never started.
        assert_eq!(
            assess(&BTreeMap::new(), t(0), "vardval01", ALIVE).state,
            DaemonState::Stopped
        );
    }

    #[test]
    fn check_levels_and_lines() {
        let m = MonitoringSettings::default();
        let s = base();
        let quiet = Outbox {
            backlog: 0,
            oldest_unsent: None,
            dead: 0,
        };
        let a = assess(&s, t(110), "vardval01", ALIVE);
        let (l, line) = check(&a, &s, quiet, t(110), &m);
        assert_eq!(l, Level::Ok);
        assert!(line.starts_with("OK - vardval körs"), "{line}");
        assert!(line.contains("| backlog=0 dead=0"), "{line}");
        assert!(!line.contains('\n'));

        let stopped = assess(&s, t(110), "vardval01", GONE);
        let (l, line) = check(&stopped, &s, quiet, t(110), &m);
        assert_eq!(l, Level::Critical);
        assert!(line.starts_with("CRITICAL - vardval är stoppad"), "{line}");

        let old = Outbox {
            backlog: 3,
            oldest_unsent: Some(t(110) - Duration::seconds(m.oldest_unsent_warning_secs as i64)),
            dead: 0,
        };
        let (l, line) = check(&a, &s, old, t(110), &m);
        assert_eq!(l, Level::Warning, "{line}");
        let dead = Outbox { dead: 1, ..quiet };
        assert_eq!(check(&a, &s, dead, t(110), &m).0, Level::Critical);

        let mut cred = base();
        cred.insert(keys::SMTP_STATE.into(), "credentials".into());
        cred.insert(
            keys::SMTP_ERROR.into(),
            "535 5.7.139 Authentication\r\nunsuccessful".into(),
        );
        let (l, line) = check(&a, &cred, quiet, t(110), &m);
        assert_eq!(l, Level::Critical);
        assert!(
            line.contains("nekar inloggningen") && !line.contains('\n'),
            "{line}"
        );
    }
}
