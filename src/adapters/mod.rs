//! Adapters at the edge: each implements a port from [`crate::ports`] or owns one kind of
//! storage.
//!
//! - [`archive`]: the content-addressed raw-message archive on disk.
//! - [`maildir`]: Maildir as a [`crate::ports::MailSource`].

pub mod archive;
pub mod maildir;
