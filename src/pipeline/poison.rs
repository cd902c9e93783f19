//! Poison mail never blocks the intake. Before a message is parsed its attempt is committed
//! (source key, raw SHA-256, attempt count; see [`crate::store::AttemptStart`]). Parsing and
//! document reading run on blocking threads under a per-message time budget: a panic there is
//! caught ([`tokio::task::JoinError::is_panic`]) and a hang is cut off by
//! [`tokio::time::timeout_at`] (the thread may go on running; the message is recorded as
//! failed and the intake moves on). A process death is seen at the next start: the attempt is
//! still `running`. After `max_attempts` attempts the message is quarantined WITHOUT being
//! parsed again: recorded with a triage item that carries the last error, and moved to the
//! quarantine folder by the daemon.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tracing::warn;

use super::ingest::{IngestError, Outcome, Pipeline};
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
}

impl Default for Guards {
    fn default() -> Self {
        Guards {
            max_attempts: 3,
            message_budget: Duration::from_secs(120),
            max_replies_per_clinic_per_hour: 10,
            max_replies_per_clinic_per_day: 40,
            test_faults: false,
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
            IngestError::Panicked { .. } | IngestError::Hung { .. } => true,
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

/// The header block of a raw message (up to the first empty line, at most 64 KiB).
pub(crate) fn header_block(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
        .unwrap_or(raw.len());
    &raw[..end.min(64 * 1024)]
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
