//! The outbox sender: claims due rows, hands their stored bytes to the transport, and marks
//! them sent, or schedules a retry with exponential backoff, or gives up after the configured
//! number of attempts. A row is claimed (`sending`) before the send, so two workers never
//! send the same row; after a crash, rows left in `sending` are handed back to `pending` at
//! start-up (see [`recover`]).

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use crate::ports::{Clock, SendError, Transport};
use crate::store::{RetryPolicy, Store, StoreError};

/// What one pass of the sender did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendReport {
    pub sent: usize,
    pub retried: usize,
    pub dead: usize,
}

/// Send every due row (in batches) until none is due now.
pub async fn send_due<T: Transport>(
    store: &Store,
    transport: &T,
    from: &str,
    policy: &RetryPolicy,
    clock: &dyn Clock,
) -> Result<SendReport, StoreError> {
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
            let res = transport
                .send(from, std::slice::from_ref(&row.recipient), &row.raw)
                .await;
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
                Err(SendError::Transient(e)) => match policy.next_attempt(row.attempts, now) {
                    Some(next) => {
                        warn!(id = row.id, attempts = row.attempts, %next, "send failed, will retry: {e}");
                        store.mark_retry(row.id, now, &e, next).await?;
                        report.retried += 1;
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

/// At start-up: rows a crash left in `sending` go back to `pending`.
pub async fn recover(store: &Store) -> Result<usize, StoreError> {
    let stuck = store.recover_sending().await?;
    for r in &stuck {
        store.reset_sending_to_pending(r.id).await?;
    }
    if !stuck.is_empty() {
        warn!(
            count = stuck.len(),
            "outbox rows left in 'sending' by a crash were re-queued"
        );
    }
    Ok(stuck.len())
}

/// When the next row becomes due, if any (for the daemon's sleep).
pub async fn next_due(store: &Store) -> Result<Option<DateTime<Utc>>, StoreError> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT MIN(next_attempt_at) FROM outbox WHERE status IN ('pending', 'failed')",
    )
    .fetch_optional(store.pool())
    .await
    .map_err(|e| StoreError::Query {
        op: "find the next due outbox row",
        source: e,
    })?;
    Ok(row
        .and_then(|r| r.0)
        .and_then(|s| DateTime::parse_from_rfc3339(&s).ok())
        .map(|t| t.with_timezone(&Utc)))
}
