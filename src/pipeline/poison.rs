//! Poison mail never blocks the intake. Before a message is parsed its attempt is committed
//! (source key, raw SHA-256, attempt count; see [`crate::store::AttemptStart`]). Parsing and
//! document reading run on blocking threads under a per-message time budget: a panic there is
//! caught ([`tokio::task::JoinError::is_panic`]) and a hang is cut off by
//! [`tokio::time::timeout_at`] (the thread may go on running; the message is recorded as
//! failed and the intake moves on). A process death is seen at the next start: the attempt is
//! still `running`. After `max_attempts` attempts the message is quarantined WITHOUT being
//! parsed again: recorded with a triage item that carries the last error, and moved to the
//! quarantine folder by the daemon.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::warn;

use super::ingest::{IngestError, Outcome, Pipeline};
use crate::extract::{self, Limits};
use crate::mail::parse::understand;
use crate::mail::registry::Registry;
use crate::ports::Fetched;
use crate::store::{AttemptState, Intake, MessageClass, NewMessage, StoreError};

/// The intake's guards against poison mail and reply loops; defaults as documented in
/// docs/configuration.md (`[limits]`, `[replies]`).
#[derive(Debug, Clone)]
pub struct Guards {
    /// Attempts before a message is quarantined without being parsed again.
    pub max_attempts: u32,
    /// Time budget for the blocking work (parse, read documents) of one message.
    pub message_budget: Duration,
    /// Automatic replies (other than receipts) to all addresses of one clinic per hour / day.
    pub max_replies_per_clinic_per_hour: u32,
    pub max_replies_per_clinic_per_day: u32,
    /// Honour the `X-Vardval-Test-Fault` header (debug builds only; see [`test_fault`]).
    pub test_faults: bool,
    /// The executable to re-run as a probe process ([`probe_main_if_requested`]) for a
    /// message a process already died holding. `None`: no probe, and every such death counts
    /// as an attempt.
    pub probe: Option<PathBuf>,
}

impl Default for Guards {
    fn default() -> Self {
        Guards {
            max_attempts: 3,
            message_budget: Duration::from_secs(120),
            max_replies_per_clinic_per_hour: 10,
            max_replies_per_clinic_per_day: 40,
            test_faults: false,
            probe: None,
        }
    }
}

/// The environment variable that turns the test-fault hook on in a debug build of the binary.
pub const TEST_FAULTS_ENV: &str = "VARDVAL_TEST_FAULTS";

/// The header the test-fault hook reads.
const FAULT_HEADER: &[u8] = b"x-vardval-test-fault:";

static RELEASE_HANGS: AtomicBool = AtomicBool::new(false);

/// Let threads stuck in a test `hang` fault finish (in-process tests call this at the end, so
/// the runtime can shut down).
pub fn release_test_hangs() {
    RELEASE_HANGS.store(true, Ordering::SeqCst);
}

/// Test-only fault injection, compiled into debug builds only: a message whose header block
/// has `X-Vardval-Test-Fault: panic | hang | abort` panics, hangs (until
/// [`release_test_hangs`]) or aborts the process inside parsing, the way a hostile mail could.
/// Release builds ignore the header whatever `enabled` says.
pub fn test_fault(raw: &[u8], enabled: bool) {
    if !(cfg!(debug_assertions) && enabled) {
        return;
    }
    let head = header_block(raw);
    let Some(value) = header_value(head, FAULT_HEADER) else {
        return;
    };
    match value.trim() {
        "panic" => panic!("test fault: panic while parsing"),
        "hang" => {
            while !RELEASE_HANGS.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        "abort" => std::process::abort(),
        _ => {}
    }
}

/// The environment variable that makes the binary a probe process.
pub const PROBE_ENV: &str = "VARDVAL_PROBE";
/// The document limits the probe applies (JSON of [`Limits`]).
const PROBE_LIMITS_ENV: &str = "VARDVAL_PROBE_LIMITS";
/// The stack of the probe's worker: tokio's blocking threads have 2 MiB, so a mail that
/// overflows the stack in the daemon overflows it in the probe too.
const PROBE_STACK: usize = 2 * 1024 * 1024;
/// Exit code of a probe whose work panicked.
const PROBE_PANICKED: u8 = 3;

/// Call first thing in `main`: when this process was started as a probe, read the raw mail
/// from stdin, parse it and read its documents the way the intake does (on a thread with
/// the intake's stack size), and return the exit code (0: survived; 3: panicked; a crash
/// kills the process, which is the point). `None` when this is not a probe.
pub fn probe_main_if_requested() -> Option<u8> {
    std::env::var_os(PROBE_ENV)?;
    let limits: Limits = std::env::var(PROBE_LIMITS_ENV)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_default();
    let faults = std::env::var(TEST_FAULTS_ENV).as_deref() == Ok("1");
    let mut raw = Vec::new();
    if std::io::stdin().read_to_end(&mut raw).is_err() {
        return Some(2);
    }
    // Panics are reported by the exit code; no message on stderr.
    std::panic::set_hook(Box::new(|_| {}));
    let worker = std::thread::Builder::new()
        .stack_size(PROBE_STACK)
        .spawn(move || probe_work(&raw, &limits, faults));
    match worker.map(|h| h.join()) {
        Ok(Ok(())) => Some(0),
        Ok(Err(_)) => Some(PROBE_PANICKED),
        Err(_) => Some(2),
    }
}

/// What the probe does: the blocking work of the intake.
fn probe_work(raw: &[u8], limits: &Limits, faults: bool) {
    test_fault(raw, faults);
    let registry =
        Registry::from_csv("id,name,emails,listed_inhabitants\n").expect("an empty registry");
    let inbound = understand(raw, &registry, &[]);
    for d in &inbound.documents {
        let _ = extract::extract(&d.bytes, limits);
    }
}

/// Parse `raw` in a probe process (`exe` with [`PROBE_ENV`]) within `budget`. A probe that
/// dies, panics or runs out of time fails the attempt (it counts: the mail did it). A probe
/// that cannot be started is reported as `Ok(false)`: the caller goes on in-process.
pub(crate) async fn run_probe(
    exe: &Path,
    raw: Vec<u8>,
    limits: &Limits,
    budget: Duration,
    faults: bool,
) -> Result<bool, IngestError> {
    let spawned = tokio::process::Command::new(exe)
        .env(PROBE_ENV, "1")
        .env(
            PROBE_LIMITS_ENV,
            serde_json::to_string(limits).unwrap_or_default(),
        )
        .env(TEST_FAULTS_ENV, if faults { "1" } else { "0" })
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            warn!("cannot start the probe process {}: {e}", exe.display());
            return Ok(false);
        }
    };
    if let Some(stdin) = child.stdin.take() {
        // A probe that dies early closes the pipe: that is its exit status's story.
        let mut stdin = stdin.into_owned_fd().map(std::fs::File::from).ok();
        tokio::task::spawn_blocking(move || {
            if let Some(f) = stdin.as_mut() {
                let _ = f.write_all(&raw);
            }
        });
    }
    match tokio::time::timeout(budget, child.wait()).await {
        Err(_) => {
            let _ = child.start_kill();
            let _ = child.wait().await;
            Err(IngestError::Hung {
                what: "parsing the message in a probe process",
                budget,
            })
        }
        Ok(Ok(st)) if st.success() => Ok(true),
        Ok(Ok(st)) if st.code() == Some(i32::from(PROBE_PANICKED)) => Err(IngestError::Panicked {
            what: "parsing the message in a probe process",
            message: "the probe's parser panicked".into(),
        }),
        Ok(Ok(st)) => Err(IngestError::Died {
            detail: format!("the probe process parsing this message died ({st})"),
        }),
        Ok(Err(e)) => {
            warn!("cannot wait for the probe process: {e}");
            Ok(false)
        }
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".to_string()
    }
}

/// Run blocking work (parsing, document reading) with a deadline. A panic becomes
/// [`IngestError::Panicked`], a deadline passed [`IngestError::Hung`] (the thread is left to
/// finish on its own).
pub(crate) async fn blocking<T, F>(
    what: &'static str,
    deadline: tokio::time::Instant,
    budget: Duration,
    f: F,
) -> Result<T, IngestError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let h = tokio::task::spawn_blocking(f);
    match tokio::time::timeout_at(deadline, h).await {
        Err(_) => Err(IngestError::Hung { what, budget }),
        Ok(Err(e)) if e.is_panic() => Err(IngestError::Panicked {
            what,
            message: panic_message(e.into_panic()),
        }),
        Ok(Err(e)) => Err(IngestError::Archive(std::io::Error::other(e.to_string()))),
        Ok(Ok(v)) => Ok(v),
    }
}

impl IngestError {
    /// Whether this failure counts as an attempt against the message. Failures of the
    /// infrastructure (archive disk, database unreachable) say nothing about the mail and do
    /// not; a panic, a hang, or a statement the database refused for this mail's data do.
    pub fn counts_against_message(&self) -> bool {
        match self {
            IngestError::Panicked { .. } | IngestError::Hung { .. } | IngestError::Died { .. } => {
                true
            }
            IngestError::Archive(_) => false,
            IngestError::Store(e) => match e {
                StoreError::Query { source, .. } => matches!(
                    source,
                    sqlx::Error::Database(_)
                        | sqlx::Error::Decode(_)
                        | sqlx::Error::ColumnDecode { .. }
                        | sqlx::Error::Encode(_)
                ),
                StoreError::Connect { .. } | StoreError::Migrate { .. } => false,
                _ => true,
            },
        }
    }
}

/// The header block of a raw message ([`crate::mail::identity::header_block`]), at most
/// 64 KiB of it.
pub(crate) fn header_block(raw: &[u8]) -> &[u8] {
    let head = crate::mail::identity::header_block(raw);
    &head[..head.len().min(64 * 1024)]
}

/// The raw (undecoded, unfolded) value of the first header `name` (lower case, with the
/// colon). A plain byte scan: safe on any input, used where the mail must not be parsed.
fn header_value(head: &[u8], name: &[u8]) -> Option<String> {
    let mut lines = head.split(|b| *b == b'\n').peekable();
    while let Some(line) = lines.next() {
        if line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name) {
            let mut v = String::from_utf8_lossy(&line[name.len()..]).into_owned();
            while let Some(next) = lines.peek() {
                if next.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                    v.push_str(&String::from_utf8_lossy(next));
                    lines.next();
                } else {
                    break;
                }
            }
            let v: String = v
                .chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .take(500)
                .collect();
            return Some(v.trim().to_string());
        }
    }
    None
}

impl Pipeline {
    /// Record a message whose attempts are used up, without parsing it: the ledger gets a
    /// message row (class `unparseable`, what a byte scan of the header block shows) and a
    /// triage item with the last error; the attempt becomes `quarantined`.
    pub(crate) async fn quarantine(
        &self,
        f: &Fetched,
        sha: &str,
        archive_path: &str,
        attempts: i64,
        last_error: &str,
        now: DateTime<Utc>,
    ) -> Result<Outcome, IngestError> {
        let head = header_block(&f.bytes);
        let mid = header_value(head, b"message-id:")
            .map(|m| m.trim_matches(|c| c == '<' || c == '>').to_string())
            .filter(|m| !m.is_empty());
        let reason = format!("quarantined after {attempts} attempt(s): {last_error}");
        let triage = format!(
            "quarantined without being parsed again after {attempts} attempt(s) (moved to the \
             quarantine folder; the raw mail is in the archive at {archive_path}); last error: \
             {last_error}"
        );
        let intake = Intake {
            message: NewMessage {
                source_key: f.source_key.clone(),
                sha256: sha.to_string(),
                archive_path: archive_path.to_string(),
                received_at: f.received_at,
                mail_message_id: mid,
                from_addr: header_value(head, b"from:"),
                subject: header_value(head, b"subject:").unwrap_or_default(),
                class: MessageClass::Unparseable,
                clinic_id: None,
                reason: reason.clone(),
            },
            submission: None,
            triage_reason: Some(triage),
            outbox: Vec::new(),
            now,
        };
        warn!(key = %f.source_key, "{reason}");
        match self.store.commit_intake(&intake).await {
            Ok(_) | Err(StoreError::AlreadyRecorded { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.store
            .end_attempt(&f.source_key, AttemptState::Quarantined, None, true, now)
            .await?;
        Ok(Outcome::Quarantined { reason })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_scan_reads_folded_values_and_stops_at_the_body() {
        let raw = b"From: a@vc.test\r\nSubject: Plan\r\n\tfor 2027\r\n\r\nSubject: body\r\n";
        let head = header_block(raw);
        assert_eq!(header_value(head, b"subject:").unwrap(), "Plan\tfor 2027");
        assert_eq!(header_value(head, b"from:").unwrap(), "a@vc.test");
        assert!(header_value(head, b"message-id:").is_none());
    }

    #[test]
    fn test_faults_need_the_switch() {
        // Without the switch a fault header does nothing.
        test_fault(b"X-Vardval-Test-Fault: panic\r\n\r\n", false);
        let r =
            std::panic::catch_unwind(|| test_fault(b"X-Vardval-Test-Fault: panic\r\n\r\n", true));
        assert_eq!(r.is_err(), cfg!(debug_assertions));
    }
}
