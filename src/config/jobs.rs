//! The scheduler's settings: `[schedule]`, `[reminders]`, `[digest]` and `[reviewers]`.

use serde::Deserialize;

/// `[schedule]`: the scheduler beside intake and sender (see docs/configuration.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSettings {
    /// Run scheduled jobs at all.
    pub enabled: bool,
    /// A claimed run not finished within this many seconds is taken over by another tick.
    pub lease_seconds: u64,
    /// The daemon looks for due jobs at least this often (seconds).
    pub tick_seconds: u64,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        ScheduleSettings {
            enabled: true,
            lease_seconds: 600,
            tick_seconds: 60,
        }
    }
}

/// `[reminders]`: reminders to clinics before and after each milestone's deadline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReminderSettings {
    /// Days before the due date a reminder goes out.
    pub offsets_days: Vec<u32>,
    /// Local hour (Europe/Stockholm) of the reminders.
    pub hour: u32,
    /// A friendly note the day after the deadline to clinics still missing.
    pub after_deadline: bool,
    /// Pause all reminders: the run is recorded as skipped, nothing is sent later.
    pub paused: bool,
}

impl Default for ReminderSettings {
    fn default() -> Self {
        ReminderSettings {
            offsets_days: vec![14, 3],
            hour: 8,
            after_deadline: true,
            paused: false,
        }
    }
}

/// `[digest]`: the weekly digest to reviewers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigestSettings {
    /// Cron expression (seconds first) on the Stockholm wall clock.
    pub schedule: String,
}

impl Default for DigestSettings {
    fn default() -> Self {
        DigestSettings {
            schedule: "0 30 7 * * Mon".into(),
        }
    }
}

/// `[reviewers]`: who reads the digest, the coaches copied on red decisions, the two-person
/// rule and which clinics each coach account may read on the desk.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewerSettings {
    pub emails: Vec<String>,
    /// Coaches (coachning inom kvalitets- och patientsäkerhetsmetoder): in Cc of every red
    /// decision mail, which offers the clinic coaching.
    pub coach_emails: Vec<String>,
    /// A reviewer's decision waits for a second, different reviewer's countersignature
    /// before it counts and its mail is sent.
    pub two_person_rule: bool,
    /// The clinics each coach may read on the desk, by desk username or e-mail address
    /// (case-insensitive). A coach account not listed here reads no clinic.
    pub coach_clinics: std::collections::BTreeMap<String, Vec<String>>,
}
