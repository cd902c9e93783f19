//! vardval-agent: reads the Vårdval mailbox, pre-grades clinics' improvement plans and answers.
//!
//! # Layout
//! - [`domain`]: the pure core (document model, rulebook, analysis, grading, cycle, money).
//! - [`extract`]: bytes of a DOCX/ODT/PDF/DOC/RTF file to a [`domain::document::Document`].
//! - [`mail`]: raw mail bytes to a classified [`mail::Inbound`] (pure).
//! - [`report`]: the `check` report (JSON contract and text).
//! - [`commands`]: the composition root, one module per subcommand; [`cli`] holds the clap types.

pub mod cli;
pub mod commands;
pub mod config;
pub mod domain;
pub mod extract;
pub mod adapters;
pub mod mail;
pub mod ports;
pub mod reply;
pub mod report;
