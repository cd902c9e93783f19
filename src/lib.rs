//! vardval-agent: reads the Vårdval mailbox, pre-grades clinics' improvement plans and answers.
//!
//! # Layout
//! - [`domain`]: the pure core (document model, rulebook, analysis, grading, cycle, money).
//! - [`extract`]: bytes of a DOCX/ODT/PDF/DOC/RTF file to a [`domain::document::Document`].
//! - [`mail`]: inbound mail understanding (parse, classify, find documents, clinic registry).
//! - [`ports`]: the small traits at the edge (mail source, transport, clock).
//! - [`adapters`]: Maildir, IMAP, SMTP/file transport, the raw archive.
//! - [`payfiles`]: the payout files of a sealed batch (ERP CSV, pain.001, HTML summary), pure.
//! - [`store`]: the ledger (sqlx; SQLite or PostgreSQL): messages, submissions, outbox,
//!   decisions, presentations and the hash-chained audit log.
//! - [`reply`]: Swedish replies from `templates/`, as complete RFC 5322 messages.
//! - [`pipeline`]: the one pipeline connecting them: ingest, outbox sender, daemon loop.
//! - [`report`]: the `check` report (JSON contract and text).
//! - [`web`]: the reviewers' desk (axum, server-rendered Swedish pages).
//! - [`review`]: the reviewers' use cases (list, draft, decide, presented) for CLI and desk.
//! - [`config`]: the TOML settings; [`telemetry`]: logging.
//! - [`app`]: the composition root (the only module that names concrete adapters) and the
//!   application's tasks under one cancellation token.
//! - [`commands`]: one module per subcommand, over [`app`]; [`cli`] holds the clap types.

pub mod adapters;
pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod domain;
pub mod extract;
pub mod jobs;
pub mod mail;
pub mod payfiles;
pub mod pipeline;
pub mod ports;
pub mod reply;
pub mod report;
pub mod review;
pub mod store;
pub mod telemetry;
pub mod triage;
pub mod util;
pub mod web;
