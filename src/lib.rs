//! vardval-agent: reads the Vårdval mailbox, pre-grades clinics' improvement plans and answers.
//!
//! # Layout
//! - [`domain`]: the pure core (document model, rulebook, analysis, grading, cycle, money).
//! - [`extract`]: bytes of a DOCX/ODT/PDF/DOC/RTF file to a [`domain::document::Document`].
//! - [`store`]: the ledger (SQLite or PostgreSQL): messages, submissions, outbox, triage.

pub mod domain;
pub mod extract;
pub mod store;
