//! The one pipeline that connects the adapters: [`ingest`] (one message: archive → classify →
//! read → grade → record + queue the reply in one transaction), [`outbox`] (send due replies
//! with retries), [`daemon`] (the loop around both, with IDLE/poll, backoff and shutdown) and
//! [`health`] (liveness, progress and systemd's watchdog, for `status`).
//! [`poison`] keeps one hostile message from blocking the intake (attempts, quarantine).

mod commit;
pub mod daemon;
pub mod health;
pub mod ingest;
pub mod outbox;
mod plans;
pub mod poison;
pub mod registry;
