//! Adapters at the edge: each implements a port from [`crate::ports`] or owns one kind of
//! storage.
//!
//! - [`archive`]: the content-addressed raw-message archive on disk.
//! - [`maildir`]: Maildir as a [`crate::ports::MailSource`].
//! - [`filedrop`]: a directory as a [`crate::ports::FileDrop`] for payout files (atomic).
//! - [`http`]: a small HTTP/1.1 client (hyper) as a [`crate::ports::HttpFetch`] for OpenID Connect.
//! - [`imap`]: IMAP as a [`crate::ports::MailSource`] (IDLE, MOVE, XOAUTH2, STARTTLS/TLS).
//! - [`sdnotify`]: systemd's `sd_notify` (READY, WATCHDOG, STOPPING) over `$NOTIFY_SOCKET`.
//! - [`smtp`]: SMTP and a directory of .eml files as [`crate::ports::Transport`]s.
//! - [`smtp_auth`]: SMTP AUTH with OAuth2 bearer tokens (XOAUTH2, OAUTHBEARER).
//! - [`tls`]: the shared rustls client configuration.

pub mod archive;
pub mod filedrop;
pub mod http;
pub mod imap;
pub mod maildir;
pub mod sdnotify;
pub mod smtp;
pub mod smtp_auth;
pub mod tls;
