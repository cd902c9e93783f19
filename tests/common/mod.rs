//! Shared test support: a fresh database per test on SQLite and on PostgreSQL, a recording
//! transport, the pipeline built over fixtures, and the fixture mail with its expectations.
#![allow(dead_code)]

pub mod agent;
pub mod app;
pub mod cli;
pub mod desk;
pub mod fake_smtp;
pub mod lab;
pub mod oidc;
pub mod webclient;
pub mod webdriver;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use sqlx::Connection;
use vardval::adapters::archive::Archive;
use vardval::domain::rulebook::Rulebook;
use vardval::extract::Limits;
use vardval::mail::registry::Registry;
use vardval::pipeline::ingest::Pipeline;
use vardval::ports::{Clock, SendError, Transport};
use vardval::reply::{Composer, Templates};
use vardval::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn admin_url() -> String {
    std::env::var("VARDVAL_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Replace the database name (the last path segment) of a PG URL.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = match base.rsplit_once('/') {
        Some((head, _)) if head.contains("://") && head.split("://").nth(1) != Some("") => head,
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Run `body` with the URL of a fresh, empty database of the given backend, then drop it.
/// PostgreSQL unreachable: the test fails, unless `VARDVAL_SKIP_PG=1` (then it says so).
pub async fn with_db<F, Fut>(kind: Backend, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    sqlx::any::install_default_drivers();
    match kind {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
            let r = tokio::spawn(body(url)).await;
            drop(dir);
            if let Err(e) = r {
                std::panic::resume_unwind(e.into_panic());
            }
        }
        Backend::Postgres => {
            let admin = admin_url();
            let mut conn = match sqlx::AnyConnection::connect(&admin).await {
                Ok(c) => c,
                Err(e) => {
                    if std::env::var("VARDVAL_SKIP_PG").as_deref() == Ok("1") {
                        eprintln!("SKIPPED PostgreSQL variant: cannot connect to {admin}: {e}");
                        return;
                    }
                    panic!(
                        "cannot connect to PostgreSQL at {admin}: {e} (or set VARDVAL_SKIP_PG=1)"
                    );
                }
            };
            let name = unique_name("vardval_it");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let r = tokio::spawn(body(with_database(&admin, &name))).await;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await
                .expect("drop test database");
            conn.close().await.ok();
            if let Err(e) = r {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
}

/// Define tests that run an `async fn name(url: String)` on both backends.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::*;
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    common::with_db(common::Backend::Sqlite, super::$name).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    common::with_db(common::Backend::Postgres, super::$name).await;
                }
            }
        )*
    };
}

/// One recorded send: envelope sender, envelope recipients, raw bytes.
pub type Sent = (String, Vec<String>, Vec<u8>);

/// A transport that records what it was asked to send; it can be told to fail.
#[derive(Default)]
pub struct Recorder {
    pub sent: Mutex<Vec<Sent>>,
    pub fail: Mutex<Option<SendError>>,
}

impl Recorder {
    pub fn count(&self) -> usize {
        self.sent.lock().unwrap().len()
    }
    pub fn recipients(&self) -> Vec<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .flat_map(|(_, to, _)| to.clone())
            .collect()
    }
}

impl Transport for Recorder {
    async fn send(&self, from: &str, to: &[String], raw: &[u8]) -> Result<(), SendError> {
        if let Some(e) = self.fail.lock().unwrap().as_ref() {
            return Err(match e {
                SendError::Transient(m) => SendError::Transient(m.clone()),
                SendError::Permanent(m) => SendError::Permanent(m.clone()),
                SendError::Credentials(m) => SendError::Credentials(m.clone()),
            });
        }
        self.sent
            .lock()
            .unwrap()
            .push((from.to_string(), to.to_vec(), raw.to_vec()));
        Ok(())
    }
    fn describe(&self) -> String {
        "recorder".into()
    }
}

pub fn registry() -> Registry {
    Registry::from_csv(&std::fs::read_to_string(root().join("fixtures/mail/clinics.csv")).unwrap())
        .expect("fixture registry")
}

/// The pipeline over the fixture registry and the embedded rulebook.
pub async fn pipeline(url: &str, clock: Arc<dyn Clock>, archive: &Path) -> Pipeline {
    let store = Store::connect(url).await.expect("open ledger");
    let rulebook = Rulebook::embedded();
    let composer = Composer {
        templates: Templates::load(None).expect("templates"),
        rulebook: rulebook.clone(),
        from: "Vårdval <vardval@rjl.test>".parse().unwrap(),
    };
    Pipeline {
        store,
        archive: Arc::new(Archive::new(archive)),
        registry: registry().into(),
        rulebook,
        composer,
        limits: Limits::default(),
        max_message_bytes: 40 * 1024 * 1024,
        max_replies_per_hour: 5,
        max_replies_per_day: 20,
        own_addresses: vec!["vardval@rjl.test".into()],
        precheck: vardval::domain::precheck::PrecheckRule {
            addresses: vec!["vardval+forhandskontroll@rjl.test".into()],
            ..Default::default()
        },
        mail_policy: vardval::mail::MailPolicy::default(),
        clock,
        guards: Default::default(),
    }
}

/// One fixture mail with what `fixtures/mail/expected.json` says about it.
#[derive(Debug, Clone)]
pub struct MailFixture {
    pub name: String,
    pub bytes: Vec<u8>,
    pub expected: serde_json::Value,
    pub received: Option<DateTime<Utc>>,
}

pub fn mail_fixtures() -> Vec<MailFixture> {
    let dir = root().join("fixtures/mail");
    let exp: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let mut out: Vec<MailFixture> = exp["files"]
        .as_object()
        .expect("files")
        .iter()
        .map(|(name, e)| MailFixture {
            name: name.clone(),
            bytes: std::fs::read(dir.join(name)).unwrap(),
            expected: e.clone(),
            received: e["received"]
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc)),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(out.len() >= 20, "the mail corpus is there");
    out
}

/// A configuration for the binary in `dir`: a Maildir, the file outbox, the ledger at
/// `db_url`, the archive, the 2026 rulebook and the fixture registry, and `extra` TOML sections
/// after them (`[reviewers]`, `[web]`, …).
pub fn cli_config(dir: &Path, db_url: &str, extra: &str) -> PathBuf {
    cli_config_with_registry(
        dir,
        db_url,
        &root().join("fixtures/mail/clinics.csv"),
        extra,
    )
}

/// [`cli_config`] with another registry file as `[clinics] path`.
pub fn cli_config_with_registry(dir: &Path, db_url: &str, registry: &Path, extra: &str) -> PathBuf {
    let root = root();
    let text = format!(
        r#"
[mailbox]
kind = "maildir"
path = "Maildir"
poll_interval_secs = 1
[smtp]
kind = "file"
dir = "outbox"
from = "Vårdval <vardval@rjl.test>"
[database]
url = "{db_url}"
[archive]
dir = "archive"
[cycle]
rulebook = "{}"
[clinics]
path = "{}"
{extra}
"#,
        root.join("config/rulebook-2026.toml").display(),
        registry.display()
    );
    let p = dir.join("vardval.toml");
    std::fs::write(&p, text).unwrap();
    p
}
