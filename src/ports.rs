//! The small traits the pipeline talks to; adapters implement them at the edge.
//!
//! - [`MailSource`]: where mail comes from (IMAP, Maildir).
//! - [`Transport`]: how a finished RFC 5322 message leaves (SMTP, a directory of .eml files).
//! - [`Clock`]: the time; tests inject a fixed or stepping clock, nothing reads the system
//!   clock directly.
//! - [`RawArchive`]: where the raw bytes of every inbound message are kept (content-addressed).
//! - [`ServiceNotifier`]: the service manager (systemd's READY / WATCHDOG / STOPPING).
//!
//! Only [`crate::app`] names the adapters that implement them.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

/// A message fetched from a source, not yet moved to the processed folder.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// Stable idempotency key of this message in its mailbox: `imap:<uidvalidity>:<uid>` or
    /// `maildir:<unique name>`. Recorded in the ledger in the same transaction as the result.
    pub source_key: String,
    /// The raw RFC 5322 bytes exactly as the server holds them.
    pub bytes: Vec<u8>,
    /// The server's receive time (IMAP INTERNALDATE, Maildir delivery time): the time of
    /// record, never the Date header.
    pub received_at: DateTime<Utc>,
    /// Adapter-specific handle to move the message later (UID, file path).
    pub handle: String,
    /// `Some(size)`: the message is `size` bytes in the mailbox, more than the source holds
    /// in memory (`[limits] max_message_bytes`), so `bytes` hold only the start of its header
    /// block (at most [`HEADER_FETCH_BYTES`]) and `whole_file` the whole message on disk.
    /// Memory stays bounded whatever arrives; the mailbox keeps the message too (it is moved
    /// to the quarantine folder, never deleted).
    pub only_header_of: Option<u64>,
    /// Where the whole of an oversize message is on disk, for the archive to copy it in
    /// pieces; `None` when `bytes` are the whole message (or no copy could be made).
    pub whole_file: Option<WholeFile>,
}

/// A message file the archive copies from (see [`Fetched::whole_file`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WholeFile {
    pub path: std::path::PathBuf,
    /// Written by the source for this fetch (an IMAP spool file): moved into the archive.
    /// `false`: the source's own file (Maildir), never touched by the archive.
    pub temporary: bool,
}

/// How much of an oversize message's header a source fetches.
pub const HEADER_FETCH_BYTES: u64 = 1024 * 1024;

impl Fetched {
    /// A message of `size` bytes is held by its header only. `u64::MAX` stands for a size the
    /// server did not tell: such a message is fetched whole (alone in its batch).
    pub fn header_only(size: u64, max_message_bytes: u64) -> bool {
        size > max_message_bytes && size != u64::MAX
    }

    /// The bytes a fetch of this message holds, for planning a batch: the whole message, or
    /// only its header (see [`Fetched::header_only`]).
    pub fn planned_size(size: u64, max_message_bytes: u64) -> u64 {
        if Fetched::header_only(size, max_message_bytes) {
            HEADER_FETCH_BYTES
        } else {
            size
        }
    }
}

/// Why [`MailSource::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The server reported new mail (IDLE) or the source may have some.
    NewMail,
    /// The wait ran out (poll interval, IDLE refresh).
    Timeout,
    /// Shutdown was requested.
    Shutdown,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Connection-level trouble (server gone, TLS, timeout): reconnect with backoff.
    #[error("cannot reach the mailbox: {0}")]
    Connection(String),
    /// Login refused: configuration problem, retrying quickly will not help.
    #[error("mailbox login failed: {0}")]
    Auth(String),
    /// Anything else (a folder missing, a protocol error on one message).
    #[error("mailbox error: {0}")]
    Other(String),
}

/// A mailbox the agent watches.
pub trait MailSource: Send {
    /// Messages waiting in the watched folder, oldest first, at most `max` and at most the
    /// source's byte budget per batch (a single larger message comes alone). Connects (or
    /// reconnects) when needed. A failed look at the mailbox is an error, never an empty batch.
    fn fetch(
        &mut self,
        max: usize,
    ) -> impl Future<Output = Result<Vec<Fetched>, SourceError>> + Send;
    /// The last fetch stopped at its count or byte bound and left messages waiting: fetch
    /// again without waiting, and the mailbox is not drained yet.
    fn more_pending(&self) -> bool {
        false
    }
    /// Move a message to the processed folder. Called only after the ledger committed.
    /// Idempotent: a message that is already gone is not an error.
    fn mark_processed(
        &mut self,
        msg: &Fetched,
    ) -> impl Future<Output = Result<(), SourceError>> + Send;
    /// Move a message the ledger had already recorded (a crash came after the commit, perhaps
    /// in the middle of the move). A source whose move is not atomic checks whether the copy
    /// is already in the processed folder, so that it is not filed twice.
    fn mark_processed_again(
        &mut self,
        msg: &Fetched,
    ) -> impl Future<Output = Result<(), SourceError>> + Send {
        self.mark_processed(msg)
    }
    /// Move a message that is quarantined as poison (its attempts are used up; the ledger has
    /// recorded it with a triage item) to the quarantine folder. Called only after the ledger
    /// committed; idempotent like [`MailSource::mark_processed`]. The default files it with
    /// the processed mail.
    fn quarantine(
        &mut self,
        msg: &Fetched,
    ) -> impl Future<Output = Result<(), SourceError>> + Send {
        self.mark_processed_again(msg)
    }
    /// Wait until new mail may be there, at most `max` (IDLE when the server offers it,
    /// otherwise a plain sleep), or until `shutdown` is cancelled.
    fn wait(
        &mut self,
        max: Duration,
        shutdown: &CancellationToken,
    ) -> impl Future<Output = Result<Wait, SourceError>> + Send;
    /// Short description for logs and `status` ("imap://host:993/INBOX as user").
    fn describe(&self) -> String;
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later (connection refused, 4xx reply, timeout).
    #[error("temporary send failure: {0}")]
    Transient(String),
    /// Retrying will not help (5xx reply, invalid address).
    #[error("permanent send failure: {0}")]
    Permanent(String),
    /// The server refused our credentials (`535 5.7.3`, `550 5.7.30`, `535 5.7.139`, a token
    /// command that failed, no OAuth mechanism offered): a configuration problem. The mail is
    /// kept and retried with backoff until the credentials are fixed; never given up.
    #[error("SMTP login refused (credentials): {0}")]
    Credentials(String),
}

/// Sends a finished message.
pub trait Transport: Send + Sync {
    fn send(
        &self,
        from: &str,
        to: &[String],
        raw: &[u8],
    ) -> impl Future<Output = Result<(), SendError>> + Send;
    fn describe(&self) -> String;
}

/// The time. Production uses [`SystemClock`]; tests use a fixed or manual clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(t: DateTime<Utc>) -> ManualClock {
        ManualClock(std::sync::Mutex::new(t))
    }
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = t;
    }
    pub fn advance(&self, d: Duration) {
        let mut g = self.0.lock().expect("clock lock");
        *g += chrono::Duration::from_std(d).expect("duration in range");
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
}

/// The raw-message archive: every inbound message's bytes, kept before anything else happens
/// to them, content-addressed by SHA-256. Blocking (called from `spawn_blocking`).
pub trait RawArchive: Send + Sync + std::fmt::Debug {
    /// Store the bytes (atomically; the same bytes twice is a no-op). Returns the SHA-256
    /// (hex) and where they are kept (a path or key, recorded in the ledger).
    fn put(&self, bytes: &[u8]) -> std::io::Result<(String, String)>;
    /// Store the file's bytes the same way, read in pieces (never whole in memory);
    /// `move_in`: the file is given away (moved into the archive, or removed when the archive
    /// has its bytes already).
    fn put_file(&self, path: &std::path::Path, move_in: bool) -> std::io::Result<(String, String)>;
    /// The bytes stored under this SHA-256.
    fn get(&self, sha256: &str) -> std::io::Result<Vec<u8>>;
    /// At most the first `max` bytes stored under this SHA-256, and the whole length (for a
    /// page that shows the start of a mail of any size).
    fn get_prefix(&self, sha256: &str, max: u64) -> std::io::Result<(Vec<u8>, u64)>;
}

/// The service manager that started us (systemd `Type=notify`), or nobody.
pub trait ServiceNotifier: Send + Sync + std::fmt::Debug {
    /// Start-up is done (`READY=1`).
    fn ready(&self);
    /// Shutting down (`STOPPING=1`).
    fn stopping(&self);
    /// Still alive (`WATCHDOG=1`), only when a watchdog was asked for.
    fn watchdog_ping(&self);
    /// The interval the service manager expects watchdog pings within, if any.
    fn watchdog(&self) -> Option<Duration>;
    /// A one-line status text (`STATUS=…`).
    fn status(&self, _text: &str) {}
}

/// Tells nobody (not started by a service manager; one-off runs; tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNotifier;

impl ServiceNotifier for NoNotifier {
    fn ready(&self) {}
    fn stopping(&self) {}
    fn watchdog_ping(&self) {}
    fn watchdog(&self) -> Option<Duration> {
        None
    }
}

/// Where payout files are delivered for finance's ERP to pick up.
pub trait FileDrop: Send + Sync + std::fmt::Debug {
    /// Put `bytes` under `name` atomically (a reader never sees a partial file). Returns
    /// false when the same bytes are there already; an existing file with other bytes is an
    /// error (a delivered file is never replaced).
    fn put(&self, name: &str, bytes: &[u8]) -> std::io::Result<bool>;
    /// Where the files go, as a person reads it (a directory path).
    fn describe(&self) -> String;
}

/// A small HTTP client for talking to an OpenID provider (discovery, keys, the token
/// endpoint). Bodies are bounded and requests time out; redirects are not followed.
pub trait HttpFetch: Send + Sync + std::fmt::Debug {
    /// GET `url` (`Accept: application/json`).
    fn get<'a>(&'a self, url: &'a str)
    -> futures::future::BoxFuture<'a, Result<HttpReply, String>>;
    /// POST `form` as `application/x-www-form-urlencoded`, with HTTP Basic credentials when
    /// `basic` is given.
    fn post_form<'a>(
        &'a self,
        url: &'a str,
        form: &'a [(&'a str, &'a str)],
        basic: Option<(&'a str, &'a str)>,
    ) -> futures::future::BoxFuture<'a, Result<HttpReply, String>>;
}

/// An HTTP answer: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub body: Vec<u8>,
}
