//! Command-line types (clap). No behaviour: `main` dispatches to [`crate::commands`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::check::OutputFormat;

mod check_fast;
pub use check_fast::check_command;

#[derive(Debug, Parser)]
#[command(
    name = "vardval",
    version,
    about = "Vårdval mailbox agent: intake, pre-grading and receipts for improvement plans"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse one document (DOCX, PDF, ODT, DOC, RTF, PPTX, ODP; scans and photos with OCR).
    Check {
        /// The document to analyse.
        file: PathBuf,
        /// Milestone to check against (inferred from the document when not given).
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
        milestone: Option<u8>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// Rulebook TOML for another cycle year (default: the embedded current one).
        #[arg(long)]
        rulebook: Option<PathBuf>,
    },
    /// Watch the mailbox: archive, classify, pre-grade, record and answer every message.
    Run {
        #[arg(long)]
        config: PathBuf,
        /// Process everything pending, send what is due, then exit.
        #[arg(long)]
        once: bool,
        /// With --once: the time this process sees (RFC 3339), for replays; default the
        /// real clock.
        #[arg(long, requires = "once")]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// Each scheduled job's last and next run (like `systemctl list-timers`).
    Schedule {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Running/degraded/stopped, last poll and error, counts per class, outbox backlog.
    Status {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
        /// One line for Nagios/Icinga; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
        #[arg(long, conflicts_with = "json")]
        check: bool,
    },
    /// One line (or JSON object) per recorded submission.
    Submissions {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Check configuration, database, mailbox and SMTP logins, templates; say what is wrong.
    Doctor {
        #[arg(long)]
        config: PathBuf,
    },
    /// The clinic registry in the database: import, list, export, history.
    Clinics {
        #[command(subcommand)]
        command: ClinicsCommand,
    },
    /// Reviewer decisions: list, confirm, override, register a presentation.
    Review {
        #[command(subcommand)]
        command: ReviewCommand,
    },
    /// The hash-chained audit log: verify the chain, list rows.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Desk accounts (local sign-in): add, disable, passwd, list.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Mail waiting for a human: list, assign to a clinic, reject, answer by hand.
    Triage {
        #[command(subcommand)]
        command: TriageCommand,
    },
    /// Pause or resume the reminders to clinics (the desk's switch on its schedule page).
    Reminders {
        #[command(subcommand)]
        command: RemindersCommand,
    },
    /// Payouts to clinics: preview, run, list and show batches, reclaim decisions.
    Payouts {
        #[command(subcommand)]
        command: PayoutsCommand,
    },
    /// The demo: run the agent over fixtures/mail with Maildir, SQLite and a file outbox.
    Demo {
        #[arg(long, default_value = "config/demo.toml")]
        config: PathBuf,
        #[arg(long, default_value = "fixtures/mail")]
        fixtures: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClinicsCommand {
    /// Import a registry CSV: all or nothing; reports added, changed and unchanged clinics.
    Import {
        file: PathBuf,
        #[arg(long)]
        config: PathBuf,
        /// Who makes the change (recorded in the history; default: $USER).
        #[arg(long = "as")]
        by: Option<String>,
    },
    /// The clinics in the database.
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// The registry as CSV (the import's columns) on standard output.
    Export {
        #[arg(long)]
        config: PathBuf,
    },
    /// Who changed what and when.
    History {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        clinic: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
}

/// A grade on the command line: `green|yellow|red` (or `grön|gul|röd`).
pub fn parse_grade(s: &str) -> Result<crate::domain::grading::Grade, String> {
    use crate::domain::grading::Grade;
    match s.trim().to_lowercase().as_str() {
        "green" | "grön" | "gron" => Ok(Grade::Green),
        "yellow" | "gul" => Ok(Grade::Yellow),
        "red" | "röd" | "rod" => Ok(Grade::Red),
        other => Err(format!("{other:?} is not a grade: green, yellow or red")),
    }
}

#[derive(Debug, Subcommand)]
pub enum ReviewCommand {
    /// The latest version per clinic and milestone: pre-grade, confirmed grade, on time,
    /// version, decided by and at.
    List {
        #[arg(long)]
        config: PathBuf,
        /// Cycle year of the decisions (default: the rulebook's year).
        #[arg(long)]
        year: Option<i32>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Confirm the pre-grade of a submitted version.
    Confirm {
        #[arg(long)]
        config: PathBuf,
        /// The submission (version) id, as in `review list`.
        #[arg(long)]
        submission: i64,
        /// Who decides (recorded as `cli:USER`).
        #[arg(long = "as")]
        by: String,
        /// A comment to the clinic (goes into the decision mail).
        #[arg(long)]
        comment: Option<String>,
        /// Queue the decision mail to the clinic (once, in the decision's transaction).
        #[arg(long)]
        send: bool,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Change section verdicts (the grade follows the rulebook's rule) or set the grade.
    Override {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        submission: i64,
        #[arg(long = "as")]
        by: String,
        /// A section verdict, `X=ok|weak|missing` (repeat, or several after one flag).
        #[arg(long = "section", num_args = 1..)]
        sections: Vec<String>,
        /// The grade, whatever the sections say.
        #[arg(long, value_parser = parse_grade)]
        grade: Option<crate::domain::grading::Grade>,
        #[arg(long)]
        comment: Option<String>,
        #[arg(long)]
        send: bool,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Two-person rule: confirm a colleague's decision that waits on this submission; it
    /// becomes the decision that counts and its mail is queued (once).
    Countersign {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        submission: i64,
        /// The second reviewer (recorded as `cli:USER`; not the one who proposed it).
        #[arg(long = "as")]
        by: String,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Two-person rule: reject the decision that waits on this submission (nothing is sent;
    /// the submission is undecided again). The proposer may withdraw their own this way.
    RejectPending {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        submission: i64,
        #[arg(long = "as")]
        by: String,
        /// Why (kept with the rejection and in the audit log).
        #[arg(long)]
        comment: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Register a clinic's presentation at Utvecklingskraft (makes instalment 2 due).
    Presented {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        clinic: String,
        #[arg(long)]
        year: i32,
        #[arg(long = "as")]
        by: String,
        #[arg(long)]
        note: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain: exit 0 and "ok, N rows", or exit 1 naming the first bad row.
    Verify {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// The newest rows, newest first.
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long)]
        actor: Option<String>,
        #[arg(long)]
        action: Option<String>,
        /// An exact subject (`submission:12`) or a prefix ending in `:` (`clinic:`).
        #[arg(long)]
        subject: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum PayoutsCommand {
    /// What a run would pay now: lines and blocked clinics (nothing is written).
    Preview {
        #[arg(long)]
        config: PathBuf,
        /// Accepted like `run --now`; what is due depends on the recorded facts, not on the
        /// clock, so the preview is the same at any time.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Seal the batch of today's (or --now's) date, deliver its files and mail finance;
    /// a rerun of a sealed date sends nothing new.
    Run {
        #[arg(long)]
        config: PathBuf,
        /// The time of the run (RFC 3339), for replays; default the real clock.
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// The sealed batches.
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// One sealed batch: lines, blocked clinics, files.
    Show {
        /// The batch number.
        batch: i64,
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// The reclaim proposals (återkrav) and their decisions.
    Reclaims {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Decide a reclaim proposal: accept or reject, with a reason (audited).
    Reclaim {
        #[arg(value_enum)]
        decision: ReclaimDecision,
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        clinic: String,
        #[arg(long)]
        year: i32,
        /// The reviewer (recorded as cli:USER).
        #[arg(long = "as")]
        by: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReclaimDecision {
    Accept,
    Reject,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add an account; the password comes from --password-env or standard input.
    Add {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        username: String,
        /// reviewer, admin, finance or coach.
        #[arg(long)]
        role: String,
        /// Read the password from this environment variable instead of standard input.
        #[arg(long)]
        password_env: Option<String>,
    },
    /// Disable an account and end its sessions.
    Disable {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        username: String,
    },
    /// Set a new password (also enables a disabled account); ends the account's sessions.
    Passwd {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        username: String,
        #[arg(long)]
        password_env: Option<String>,
    },
    /// The accounts: username, role, enabled or disabled.
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
}

#[derive(Debug, Subcommand)]
pub enum RemindersCommand {
    /// Pause the reminders: units falling due are skipped, not sent later (audited).
    Pause {
        #[arg(long)]
        config: PathBuf,
        /// Who pauses (recorded in the audit log as cli:USER).
        #[arg(long = "as")]
        as_user: String,
    },
    /// Let the reminders go out again (audited).
    Resume {
        #[arg(long)]
        config: PathBuf,
        #[arg(long = "as")]
        as_user: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TriageCommand {
    /// The open items, oldest first.
    List {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Assign an item to a clinic: the registry learns the sender's address and the mail is
    /// recorded for the clinic with its original receive time (audited).
    Assign {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        id: i64,
        #[arg(long)]
        clinic: String,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Reject an item (nothing is recorded for any clinic; audited).
    Reject {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        id: i64,
        #[arg(long = "as")]
        as_user: String,
    },
    /// Answer an item's sender by hand: the text from --body-file or standard input, sent
    /// as written, threaded to the original (audited).
    Answer {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        id: i64,
        #[arg(long)]
        subject: String,
        #[arg(long)]
        body_file: Option<PathBuf>,
        #[arg(long = "as")]
        as_user: String,
    },
}
