//! The payouts command line with the real binary on SQLite: `payouts preview --format json`
//! in its documented shape, `payouts run --now` sealing once per due date, `payouts reclaim
//! accept` needing an open proposal and a reason, the scheduled job registered at 07:00
//! Stockholm on 1 March and 1 June, and SIGKILLs at random points of a payout run never
//! giving two batches for one due date, a second finance mail, or a delivered file that
//! differs from the sealed one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::Value;
use vardval::domain::ids::luhn_check_digit;
use vardval::store::{
    Grade, Intake, MessageClass, NewDecision, NewMessage, NewSubmission, Store, SubmissionKind,
};

mod common;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vardval"))
}

fn config(dir: &Path) -> PathBuf {
    config_with(dir, "sqlite://vardval.db")
}

/// The same configuration over another database URL.
fn config_with(dir: &Path, db_url: &str) -> PathBuf {
    let root = common::root();
    let text = format!(
        r#"
[mailbox]
kind = "maildir"
path = "Maildir"
[smtp]
kind = "file"
dir = "outbox"
from = "Vårdval <vardval@rjl.test>"
[database]
url = "{}"
[cycle]
rulebook = "{}"
[payouts]
dir = "ekonomi"
[payouts.debtor]
name = "Region Exempel"
org_nr = "232100-0057"
iban = "SE45 5000 0000 0583 9825 7466"
bic = "ESSESESS"
[finance]
emails = ["ekonomi@rjl.test"]
"#,
        db_url,
        root.join("config/rulebook-2026.toml").display(),
    );
    let p = dir.join("vardval.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `n` clinics imported with the CLI; the first `green` get a confirmed green plan.
async fn setup(dir: &Path, n: usize, green: usize) -> PathBuf {
    let url = format!("sqlite://{}", dir.join("vardval.db").display());
    setup_on(dir, &url, n, green).await
}

/// [`setup`] on the database at `url`.
async fn setup_on(dir: &Path, url: &str, n: usize, green: usize) -> PathBuf {
    let cfg = config_with(dir, url);
    let mut csv = String::from("id,name,emails,listed_inhabitants,payee\n");
    for i in 0..n {
        let body = format!("{:07}", 5_000_000 + i * 37);
        csv.push_str(&format!(
            "vc-{i:03},Vårdcentralen {i},kontakt@vc{i}.vc.test,{},bg:{body}{}\n",
            3_000 + i * 211,
            luhn_check_digit(&body)
        ));
    }
    let file = dir.join("clinics.csv");
    std::fs::write(&file, csv).unwrap();
    let cfg_s = cfg.to_str().unwrap();
    let (code, _, err) = run(&[
        "clinics",
        "import",
        file.to_str().unwrap(),
        "--config",
        cfg_s,
    ]);
    assert_eq!(code, 0, "{err}");
    sqlx::any::install_default_drivers();
    let store = Store::connect(url).await.unwrap();
    let at = Utc.with_ymd_and_hms(2026, 2, 20, 9, 0, 0).unwrap();
    // one submission more than decisions: the next clinic's plan waits for a reviewer
    for i in 0..(green + 1).min(n) {
        let clinic = format!("vc-{i:03}");
        let key = format!("{clinic}-plan");
        let intake = Intake {
            message: NewMessage {
                source_key: key.clone(),
                sha256: format!("{:0>64}", i),
                archive_path: format!("archive/{key}.eml"),
                received_at: at,
                mail_message_id: Some(format!("{key}@vc.test")),
                from_addr: Some(format!("kontakt@vc{i}.vc.test")),
                subject: "Projektplan".into(),
                class: MessageClass::Submission,
                clinic_id: Some(clinic.clone()),
                reason: "test".into(),
            },
            submission: Some(NewSubmission {
                clinic_id: clinic.clone(),
                milestone: 1,
                kind: SubmissionKind::Submission,
                received_at: at,
                on_time: true,
                pre_grade: Some(Grade::Green),
                doc_sha256: format!("doc-{key}"),
                doc_name: "plan.docx".into(),
                doc_format: Some("docx".into()),
                analysis_json: "{\"sections\":{}}".into(),
                error_kind: None,
                mail_message_id: Some(format!("{key}@vc.test")),
            }),
            triage_reason: None,
            outbox: vec![],
            now: at,
        };
        let sub = store
            .commit_intake(&intake)
            .await
            .unwrap()
            .submission_id
            .unwrap();
        if i == green {
            continue;
        }
        let d = NewDecision {
            submission_id: sub,
            year: 2026,
            grade: Grade::Green,
            sections: BTreeMap::new(),
            pre_grade: Some(Grade::Green),
            agreed_with_pregrade: true,
            comment: None,
            decided_by: "cli:granskare".into(),
        };
        store.record_decision(&d, None, at).await.unwrap();
    }
    store.close().await;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_run_and_reclaim_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), 5, 3).await;
    let c = cfg.to_str().unwrap();
    let (code, out, err) = run(&["payouts", "preview", "--config", c, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["blocked", "lines", "total_ore"]);
    let lines = v["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    let mut total = 0;
    for (i, l) in lines.iter().enumerate() {
        let mut k: Vec<&String> = l.as_object().unwrap().keys().collect();
        k.sort();
        assert_eq!(
            k,
            vec!["amount_ore", "clinic_id", "instalment", "kind", "payee"]
        );
        assert_eq!(l["instalment"], 1);
        assert_eq!(l["kind"], "payment");
        // (100 000 kr + 10 kr x (3 000 + 211 i)) / 2
        let want = (10_000_000 + 1_000 * (3_000 + 211 * i as i64)) / 2;
        assert_eq!(l["amount_ore"], want);
        total += want;
    }
    assert_eq!(v["total_ore"], total);

    let (code, out, err) = run(&[
        "payouts",
        "run",
        "--config",
        c,
        "--now",
        "2026-03-01T07:00:00+01:00",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["new"], true);
    assert_eq!(r["number"], 1);
    assert_eq!(r["files_written"], 3);
    let (code, out, _) = run(&[
        "payouts",
        "run",
        "--config",
        c,
        "--now",
        "2026-03-01T09:30:00+01:00",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["new"], false);
    let (code, out, _) = run(&["payouts", "show", "1", "--config", c, "--format", "json"]);
    assert_eq!(code, 0);
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["lines"].as_array().unwrap().len(), 3);
    assert_eq!(s["files"].as_array().unwrap().len(), 3);
    let (code, out, _) = run(&["payouts", "list", "--config", c, "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // no proposal yet: refused; a missing reason: refused
    let (code, _, err) = run(&[
        "payouts",
        "reclaim",
        "accept",
        "--config",
        c,
        "--clinic",
        "vc-000",
        "--year",
        "2026",
        "--as",
        "granskare",
        "--reason",
        "ingen slutrapport",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("no open reclaim proposal"), "{err}");
    let (code, _, err) = run(&[
        "payouts",
        "reclaim",
        "reject",
        "--config",
        c,
        "--clinic",
        "vc-000",
        "--year",
        "2026",
        "--as",
        "granskare",
        "--reason",
        " ",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("reason"), "{err}");
    // after the deadline the next run proposes reclaims for the three paid clinics
    let (code, _, err) = run(&[
        "payouts",
        "run",
        "--config",
        c,
        "--now",
        "2026-12-02T07:00:00+01:00",
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(&["payouts", "reclaims", "--config", c, "--format", "json"]);
    let rc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rc.as_array().unwrap().len(), 3);
    let (code, out, err) = run(&[
        "payouts",
        "reclaim",
        "accept",
        "--config",
        c,
        "--clinic",
        "vc-000",
        "--year",
        "2026",
        "--as",
        "granskare",
        "--reason",
        "ingen slutrapport",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("godkänt"));
    let (_, out, _) = run(&["payouts", "preview", "--config", c, "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["lines"][0]["kind"], "reclaim");
    assert_eq!(v["lines"][0]["amount_ore"], -6_500_000);

    // the presentation registered on the command line makes instalment 2 due
    let (code, _, err) = run(&[
        "review",
        "presented",
        "--config",
        c,
        "--clinic",
        "vc-001",
        "--year",
        "2026",
        "--as",
        "granskare",
    ]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = run(&["payouts", "preview", "--config", c, "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let second: Vec<&Value> = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["instalment"] == 2)
        .collect();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["clinic_id"], "vc-001");
    assert_eq!(second[0]["kind"], "payment");
    let total = 10_000_000 + 1_000 * (3_000 + 211);
    assert_eq!(second[0]["amount_ore"], total - total / 2);

    // the green decision mail names the first instalment's amount
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&format!(
        "sqlite://{}",
        dir.path().join("vardval.db").display()
    ))
    .await
    .unwrap();
    let sub: i64 = sqlx::query_scalar("SELECT id FROM submissions WHERE clinic_id = 'vc-003'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let (code, _, err) = run(&[
        "review",
        "confirm",
        "--config",
        c,
        "--submission",
        &sub.to_string(),
        "--as",
        "granskare",
        "--send",
    ]);
    assert_eq!(code, 0, "{err}");
    let raw: Vec<u8> = sqlx::query_scalar("SELECT raw FROM outbox WHERE kind = 'decision'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let body = parsed.body_text(0).unwrap();
    let yearly = 10_000_000 + 1_000 * (3_000 + 211 * 3);
    let kr = |o: i64| {
        let k = (o / 100).to_string();
        let mut g = String::new();
        for (i, ch) in k.chars().enumerate() {
            if i > 0 && (k.len() - i).is_multiple_of(3) {
                g.push('\u{a0}');
            }
            g.push(ch);
        }
        format!("{g},{:02}\u{a0}kr", o % 100)
    };
    assert!(
        body.contains(&format!("Beloppet är {}", kr(yearly / 2))),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payout_job_is_scheduled_on_1_march_and_1_june_at_7() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let (code, out, err) = run(&[
        "schedule",
        "--config",
        cfg.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let jobs = v["jobs"].as_array().unwrap();
    let p = jobs
        .iter()
        .find(|j| j["job"] == "payouts")
        .expect("payouts job");
    assert_eq!(p["schedule"], "0 0 7 1 Mar,Jun *");
    assert!(jobs.iter().any(|j| j["job"] == "reclaims"));
    // doctor checks the payer and the pickup directory
    let (_, out, _) = run(&["doctor", "--config", cfg.to_str().unwrap()]);
    assert!(out.contains("ok    payouts: payer Region Exempel"), "{out}");
    assert!(dir.path().join("ekonomi").is_dir());
    let tz = chrono_tz::Europe::Stockholm;
    let cron = vardval::domain::schedule::LocalCron::parse("0 0 7 1 Mar,Jun *", tz).unwrap();
    let after = Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap();
    let next = cron.next_after(after).unwrap();
    assert_eq!(
        next,
        tz.with_ymd_and_hms(2026, 6, 1, 7, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    );
    let next = cron.next_after(next).unwrap();
    assert_eq!(
        next,
        tz.with_ymd_and_hms(2027, 3, 1, 7, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    );
}

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
