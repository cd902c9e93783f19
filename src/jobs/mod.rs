//! Scheduled jobs: the scheduler ([`scheduler::Scheduler`], a single-shot `tick(now)`),
//! the reminders to clinics ([`reminders`]), the weekly digest to reviewers ([`digest`]),
//! the payout runs and reclaim checks ([`payouts`]),
//! rendered by [`mail`]. Everything they send goes through the outbox with a dedupe key.

pub mod digest;
pub mod mail;
pub mod payout_status;
pub mod payouts;
pub mod reminders;
pub mod scheduler;

use crate::config::ReminderSettings;
use crate::domain::rulebook::Rulebook;
use crate::pipeline::registry::SharedRegistry;
use crate::store::Store;

pub use scheduler::{JobStatus, Scheduler, TickReport};

/// What the jobs read and write.
#[derive(Debug)]
pub struct JobContext {
    pub store: Store,
    /// The clinic registry, reloaded at each tick when the ledger's changed.
    pub registry: SharedRegistry,
    pub rulebook: Rulebook,
    pub mail: mail::JobMail,
    pub reminders: ReminderSettings,
    pub reviewers: Vec<String>,
    pub max_per_hour: u32,
    pub max_per_day: u32,
    /// Payout runs and reclaim checks (`None`: not configured, no such jobs).
    pub payouts: Option<payouts::Payouts>,
}
