//! systemd's notification protocol (`sd_notify`), the few lines it takes: one datagram per
//! state change (`READY=1`, `WATCHDOG=1`, `STOPPING=1`) to the unix socket named by
//! `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace). Without the variable
//! (not started by systemd with `Type=notify`) every call does nothing.
//!
//! The watchdog interval comes from `$WATCHDOG_USEC` (honoured only when `$WATCHDOG_PID` is
//! unset or ours). When to ping is the caller's decision: the daemon pings only when its loops
//! make progress ([`crate::pipeline::health`]).

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

/// Where notifications go; `None` inside when not under systemd.
#[derive(Debug)]
pub struct Notifier {
    target: Option<Target>,
    watchdog: Option<Duration>,
}

#[derive(Debug)]
enum Target {
    Path(PathBuf),
    #[cfg(target_os = "linux")]
    Abstract(Vec<u8>),
}

impl Notifier {
    /// From `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`.
    pub fn from_env() -> Notifier {
        let target = std::env::var_os("NOTIFY_SOCKET").and_then(|s| {
            let s = s.to_string_lossy().to_string();
            match s.strip_prefix('@') {
                #[cfg(target_os = "linux")]
                Some(name) => Some(Target::Abstract(name.as_bytes().to_vec())),
                #[cfg(not(target_os = "linux"))]
                Some(_) => None,
                None if s.starts_with('/') => Some(Target::Path(PathBuf::from(s))),
                None => None,
            }
        });
        let ours = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|u| *u > 0 && ours)
            .map(Duration::from_micros);
        Notifier { target, watchdog }
    }

    /// A notifier that sends nothing.
    pub fn disabled() -> Notifier {
        Notifier {
            target: None,
            watchdog: None,
        }
    }

    /// The watchdog interval systemd expects pings within, if any.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Send one notification (`"READY=1"`, …). Errors are logged, never fatal.
    pub fn notify(&self, state: &str) {
        let Some(target) = &self.target else { return };
        if let Err(e) = send(target, state.as_bytes()) {
            tracing::warn!("cannot notify systemd ({state}): {e}");
        }
    }

    pub fn ready(&self) {
        self.notify("READY=1");
    }

    pub fn stopping(&self) {
        self.notify("STOPPING=1");
    }

    /// `WATCHDOG=1`, only when systemd asked for a watchdog.
    pub fn watchdog_ping(&self) {
        if self.watchdog.is_some() {
            self.notify("WATCHDOG=1");
        }
    }
}

impl crate::ports::ServiceNotifier for Notifier {
    fn ready(&self) {
        Notifier::ready(self)
    }
    fn stopping(&self) {
        Notifier::stopping(self)
    }
    fn watchdog_ping(&self) {
        Notifier::watchdog_ping(self)
    }
    fn watchdog(&self) -> Option<Duration> {
        Notifier::watchdog(self)
    }
    fn status(&self, text: &str) {
        // One line: a newline would start another assignment.
        let line: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        self.notify(&format!("STATUS={line}"));
    }
}

fn send(target: &Target, msg: &[u8]) -> std::io::Result<usize> {
    let sock = UnixDatagram::unbound()?;
    match target {
        Target::Path(p) => sock.send_to(msg, p),
        #[cfg(target_os = "linux")]
        Target::Abstract(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(msg, &addr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_datagrams_to_a_path_socket() {
        let dir = tempfile_dir();
        let path = dir.join("notify.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = Notifier {
            target: Some(Target::Path(path.clone())),
            watchdog: Some(Duration::from_secs(30)),
        };
        n.ready();
        n.watchdog_ping();
        n.stopping();
        let mut buf = [0u8; 64];
        let mut got = Vec::new();
        for _ in 0..3 {
            let k = rx.recv(&mut buf).unwrap();
            got.push(String::from_utf8_lossy(&buf[..k]).to_string());
        }
        assert_eq!(got, ["READY=1", "WATCHDOG=1", "STOPPING=1"]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn status_is_one_line() {
        use crate::ports::ServiceNotifier;
        let dir = tempfile_dir();
        let path = dir.join("notify.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = Notifier {
            target: Some(Target::Path(path)),
            watchdog: None,
        };
        ServiceNotifier::status(&n, "mailbox trouble: a\nREADY=1");
        let mut buf = [0u8; 128];
        let k = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"STATUS=mailbox trouble: a READY=1");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn no_watchdog_pings_unless_asked_for() {
        let dir = tempfile_dir();
        let path = dir.join("notify.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_nonblocking(true).unwrap();
        let n = Notifier {
            target: Some(Target::Path(path)),
            watchdog: None,
        };
        n.watchdog_ping();
        let mut buf = [0u8; 64];
        assert!(rx.recv(&mut buf).is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "vardval-sdnotify-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
