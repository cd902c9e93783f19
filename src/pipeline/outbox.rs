//! The outbox sender: claims due rows, hands their stored bytes to the transport, and marks
//! them sent, or schedules a retry with exponential backoff, or gives up after the configured
//! number of attempts. A row is claimed (`sending`) before the send, so two workers never
//! send the same row. A crash between the server's acceptance and our record leaves the row
//! in `sending`: the envelope copy to our own address then comes back through the mailbox and
//! confirms it ([`confirm_copy`]); only rows without proof after a grace period are re-sent.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::ports::{Clock, SendError, Transport};
use crate::store::{RetryPolicy, Store, StoreError};

/// What one pass of the sender did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SendReport {
    pub sent: usize,
    pub retried: usize,
    pub dead: usize,
    /// The send failure that ended the pass early (for `status`), if any.
    pub trouble: Option<SendTrouble>,
}

/// Why a pass stopped: the server refused our credentials, or another temporary failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendTrouble {
    pub credentials: bool,
    pub message: String,
}

/// How the sender sends.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Envelope sender.
    pub from: String,
    /// An extra envelope recipient for every mail: our own address. The copy comes back
    /// through the watched mailbox and its Message-ID proves the send (see [`confirm_copy`]).
    pub copy_to: Option<String>,
    /// A row left in `sending` longer than this without proof of delivery is sent again.
    pub sending_grace: std::time::Duration,
    pub retry: RetryPolicy,
}

/// Send every due row until none is due now.
///
/// `drained_at` is the start of the latest fetch that found the watched mailbox empty: every
/// copy delivered before it has been through the intake. A half-sent row is re-sent only when
/// such a drain happened at least `sending_grace` after the row was claimed, so a copy that
/// is still waiting behind a backlog is never mistaken for a lost send.
pub async fn send_due<T: Transport>(
    store: &Store,
    transport: &T,
    opts: &SendOptions,
    drained_at: Option<DateTime<Utc>>,
    clock: &dyn Clock,
) -> Result<SendReport, StoreError> {
    let now = clock.now();
    // Without a copy there is nothing to wait for but the grace period itself.
    let cutoff = match opts.copy_to {
        Some(_) => drained_at.map(|d| d.min(now)),
        None => Some(now),
    };
    if let Some(cutoff) = cutoff {
        requeue_stale(store, opts.sending_grace, cutoff).await?;
    }
    let mut report = SendReport::default();
    loop {
        let now = clock.now();
        // One row per claim: a row is `sending` only while it is really being sent. A batch
        // claim left the rest of the batch in `sending` when the pass stopped at the first
        // transient failure below (or a mark failed), and nothing but a restart ever picked
        // those rows up again: receipts hung through an SMTP outage.
        let rows = store.claim_due(now, 1).await?;
        if rows.is_empty() {
            return Ok(report);
        }
        for row in rows {
            // A decision mail with Cc stores every envelope recipient, comma-separated.
            let mut to: Vec<String> = row
                .recipient
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect();
            to.extend(opts.copy_to.iter().cloned());
            let res = transport.send(&opts.from, &to, &row.raw).await;
            let now = clock.now();
            match res {
                Ok(()) => {
                    store.mark_sent(row.id, now).await?;
                    info!(id = row.id, to = %row.recipient, kind = %row.kind, "sent");
                    report.sent += 1;
                }
                Err(SendError::Permanent(e)) => {
                    warn!(id = row.id, to = %row.recipient, "permanent send failure: {e}");
                    store.mark_dead(row.id, now, &e).await?;
                    report.dead += 1;
                }
                Err(SendError::Credentials(e)) => {
                    // A configuration problem (an expired secret, basic auth switched off):
                    // every mail would fail alike, and a fixed token cures it. Keep the mail,
                    // retry with the backoff (at most `max` apart), never give up.
                    let unlimited = RetryPolicy {
                        max_attempts: i64::MAX,
                        ..opts.retry
                    };
                    let next = unlimited
                        .next_attempt(row.attempts, now)
                        .unwrap_or(now + opts.retry.max);
                    warn!(id = row.id, attempts = row.attempts, %next, "SMTP login refused, will retry: {e}");
                    let msg = SendError::Credentials(e).to_string();
                    store.mark_retry(row.id, now, &msg, next).await?;
                    report.retried += 1;
                    report.trouble = Some(SendTrouble {
                        credentials: true,
                        message: msg,
                    });
                }
                Err(SendError::Transient(e)) => match opts.retry.next_attempt(row.attempts, now) {
                    Some(next) => {
                        warn!(id = row.id, attempts = row.attempts, %next, "send failed, will retry: {e}");
                        store.mark_retry(row.id, now, &e, next).await?;
                        report.retried += 1;
                        report.trouble = Some(SendTrouble {
                            credentials: false,
                            message: e,
                        });
                    }
                    None => {
                        warn!(id = row.id, attempts = row.attempts, "giving up: {e}");
                        store.mark_dead(row.id, now, &e).await?;
                        report.dead += 1;
                    }
                },
            }
            if report.retried > 0 {
                // The server is unhappy: stop this pass, the backoff decides the next one.
                return Ok(report);
            }
        }
    }
}

/// Rows a crash left in `sending`: if the send may have happened (the server took the mail but
/// we died before recording it), the envelope copy to ourselves will come back and confirm it;
/// only rows claimed at least `grace` before `cutoff` without proof are sent again (with the
/// same bytes and Message-ID). Without a copy address this is at-least-once for that window.
async fn requeue_stale(
    store: &Store,
    grace: std::time::Duration,
    cutoff: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let now = cutoff;
    let grace = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    let mut n = 0;
    for r in store.recover_sending().await? {
        if r.claimed_at.is_none_or(|c| c + grace <= now) {
            store.reset_sending_to_pending(r.id).await?;
            n += 1;
        }
    }
    if n > 0 {
        warn!(
            count = n,
            "outbox rows left in 'sending' without proof of delivery were re-queued"
        );
    }
    Ok(n)
}

/// Our own copy of a reply came back through the mailbox: its Message-ID proves the send.
pub async fn confirm_copy(
    store: &Store,
    message_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    match store.outbox_by_mail_message_id(message_id).await? {
        Some(row) => {
            let changed = store.confirm_sent(row.id, now).await?;
            if changed {
                info!(id = row.id, "delivery confirmed by our own copy");
            }
            Ok(true)
        }
        None => Ok(false),
    }
}

/// When the next row becomes due, if any (for the daemon's sleep).
pub async fn next_due(store: &Store) -> Result<Option<DateTime<Utc>>, StoreError> {
    store.next_due_at().await
}
