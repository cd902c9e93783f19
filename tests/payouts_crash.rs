//! SIGKILLs at random points of a payout run (the real binary, both databases) never give two
//! batches for one due date, a second finance mail, or a delivered file that differs from the
//! sealed one. Each round starts from the same unsealed ledger (a copied SQLite file, or a
//! PostgreSQL database made from a template), kills up to two runs, then lets one finish.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use vardval::store::Store;

mod common;
mod payouts_support;

use payouts_support::cli::*;

/// splitmix64, seeded from `VARDVAL_SEED` or the time.
fn seed() -> u64 {
    std::env::var("VARDVAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

fn next(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One database's payout state: batches, sealed files, finance mails.
async fn state(url: &str) -> (Vec<vardval::store::BatchRow>, Vec<(String, Vec<u8>)>, i64) {
    let store = Store::connect(url).await.unwrap();
    let batches = store.payout_batches().await.unwrap();
    let files = match batches.first() {
        Some(b) => store.payout_batch(b.id).await.unwrap().unwrap().2,
        None => vec![],
    };
    store.close().await;
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    let mails: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'payouts'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::Connection::close(conn).await.ok();
    (batches, files, mails)
}

/// Fresh copies of one prepared ledger: SQLite files, or PostgreSQL databases made from a
/// template database.
enum Ledgers {
    Sqlite(PathBuf),
    Postgres {
        admin: sqlx::AnyConnection,
        base: String,
        made: Vec<String>,
    },
}

impl Ledgers {
    /// A copy for `dir`: its URL.
    async fn copy(&mut self, dir: &Path) -> String {
        match self {
            Ledgers::Sqlite(base) => {
                std::fs::copy(base, dir.join("vardval.db")).unwrap();
                format!("sqlite://{}", dir.join("vardval.db").display())
            }
            Ledgers::Postgres { admin, base, made } => {
                let name = format!("{base}_r{}", made.len());
                sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {base}"))
                    .execute(&mut *admin)
                    .await
                    .unwrap();
                made.push(name.clone());
                common::with_database(&common::admin_url(), &name)
            }
        }
    }

    async fn drop_all(self) {
        if let Ledgers::Postgres {
            mut admin,
            base,
            made,
        } = self
        {
            for db in made.iter().chain(std::iter::once(&base)) {
                sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_run_never_gives_two_batches_or_a_different_file_sqlite() {
    kill_rounds(common::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_run_never_gives_two_batches_or_a_different_file_postgres() {
    kill_rounds(common::Backend::Postgres).await;
}

async fn kill_rounds(backend: common::Backend) {
    sqlx::any::install_default_drivers();
    let base = tempfile::tempdir().unwrap();
    let mut ledgers = match backend {
        common::Backend::Sqlite => {
            setup(base.path(), 120, 100).await;
            Ledgers::Sqlite(base.path().join("vardval.db"))
        }
        common::Backend::Postgres => {
            let admin_url = common::admin_url();
            let mut admin =
                match <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await {
                    Ok(c) => c,
                    Err(e) if std::env::var("VARDVAL_SKIP_PG").as_deref() == Ok("1") => {
                        eprintln!("SKIPPED PostgreSQL variant: {e}");
                        return;
                    }
                    Err(e) => panic!("cannot connect to PostgreSQL at {admin_url}: {e}"),
                };
            let name = format!("vardval_pay_{}", std::process::id());
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .unwrap();
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .unwrap();
            setup_on(
                base.path(),
                &common::with_database(&admin_url, &name),
                120,
                100,
            )
            .await;
            Ledgers::Postgres {
                admin,
                base: name,
                made: vec![],
            }
        }
    };
    let now = "2026-03-01T07:00:00+01:00";
    // how long an undisturbed run takes (on a copy of the ledger)
    let probe = tempfile::tempdir().unwrap();
    let purl = ledgers.copy(probe.path()).await;
    let pcfg = config_with(probe.path(), &purl);
    let t = Instant::now();
    let (code, _, err) = run(&[
        "payouts",
        "run",
        "--config",
        pcfg.to_str().unwrap(),
        "--now",
        now,
    ]);
    assert_eq!(code, 0, "{err}");
    let full = t.elapsed().as_millis() as u64;
    let mut s = seed();
    eprintln!("payouts crash ({backend:?}): seed {s}, an undisturbed run takes {full} ms");
    let (mut killed, mut after_seal) = (0, 0);
    const ROUNDS: usize = 10;
    for _ in 0..ROUNDS {
        // each round starts from the unsealed ledger, kills up to two runs at random
        // points, then lets one finish
        let dir = tempfile::tempdir().unwrap();
        let url = ledgers.copy(dir.path()).await;
        let cfg = config_with(dir.path(), &url);
        let c = cfg.to_str().unwrap();
        for _ in 0..2 {
            let delay = next(&mut s) % (full + 1);
            let mut child = bin()
                .args(["payouts", "run", "--config", c, "--now", now])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(delay));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                killed += 1;
            }
            child.wait().unwrap();
            let (b, _, _) = state(&url).await;
            assert!(b.len() <= 1, "two batches after a kill");
            if !b.is_empty() {
                after_seal += 1;
            }
        }
        let (code, _, err) = run(&["payouts", "run", "--config", c, "--now", now]);
        assert_eq!(code, 0, "{err}");
        let (batches, files, mails) = state(&url).await;
        assert_eq!(batches.len(), 1, "one batch for the due date");
        assert_eq!(batches[0].line_count, 100);
        assert_eq!(files.len(), 3);
        for (name, bytes) in &files {
            let on_disk = std::fs::read(dir.path().join("ekonomi").join(name)).unwrap();
            assert!(on_disk == *bytes, "{name} differs from the sealed file");
        }
        let visible: Vec<_> = std::fs::read_dir(dir.path().join("ekonomi"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        assert_eq!(visible.len(), 3, "{visible:?}");
        assert_eq!(mails, 1, "one finance mail");
    }
    ledgers.drop_all().await;
    eprintln!(
        "payouts crash ({backend:?}): {ROUNDS} rounds, {killed} runs killed ({after_seal} checks found the batch sealed)"
    );
    assert!(killed >= ROUNDS / 2, "too few kills landed: {killed}");
}
