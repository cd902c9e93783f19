//! Adapters at the edge: each implements a port from [`crate::ports`].

pub mod imap;
pub mod smtp;
pub mod tls;
