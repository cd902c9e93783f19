//! The binary as scripts call it: run a subcommand against a config, insist on success, read
//! JSON; and a ledger set up for it (config, database, fixture mail in its Maildir).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

/// `vardval ARGS --config CFG`.
pub fn run(cfg: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vardval"))
        .args(args)
        .arg("--config")
        .arg(cfg)
        .output()
        .unwrap()
}

/// The same, which must succeed; its standard output.
pub fn ok(cfg: &Path, args: &[&str]) -> String {
    let out = run(cfg, args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The same, whose output is one JSON value.
pub fn json(cfg: &Path, args: &[&str]) -> Value {
    let text = ok(cfg, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
}

/// A config in `dir` ([`super::cli_config`] with `extra`) over a SQLite file in `dir` (or the
/// PostgreSQL test database `url`), with the first `fixtures` fixture mails delivered into its
/// Maildir. Returns the config's path and the database URL.
pub fn setup(dir: &Path, url: &str, extra: &str, fixtures: usize) -> (PathBuf, String) {
    let db_url = if url.starts_with("sqlite:") {
        format!("sqlite://{}", dir.join("vardval.db").display())
    } else {
        url.to_string()
    };
    let cfg = super::cli_config(dir, &db_url, extra);
    let md = vardval::adapters::maildir::MaildirSource::new(
        dir.join("Maildir"),
        ".Behandlat",
        Duration::from_secs(1),
    );
    for f in super::mail_fixtures().into_iter().take(fixtures) {
        md.deliver(&f.name, &f.bytes, f.received).unwrap();
    }
    (cfg, db_url)
}
