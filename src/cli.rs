//! Command-line types (clap). No behaviour: `main` dispatches to [`crate::commands`].

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands::check::OutputFormat;

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
    /// Analyse one document (DOCX, PDF, ODT, DOC, RTF) like a reviewer would.
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
    /// Connection state, last poll, counts per class, outbox backlog.
    Status {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
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
    /// The demo: run the agent over fixtures/mail with Maildir, SQLite and a file outbox.
    Demo {
        #[arg(long, default_value = "config/demo.toml")]
        config: PathBuf,
        #[arg(long, default_value = "fixtures/mail")]
        fixtures: PathBuf,
    },
}
