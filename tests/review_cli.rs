//! `vardval review …` and `vardval audit …` as scripts call them, on both databases: real
//! submissions from the fixture mail (`run --once` over a Maildir), decisions by the binary, the
//! decision mail sent through the file outbox by the next `run --once`, and the audit chain
//! checked (and broken) from the command line; and `review override --send` SIGKILLed at
//! random points never leaves a decision without its mail and audit row, or two of them.

mod common;

use common::cli::{json, ok, run};

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use vardval::store::Store;

both!(
    review_and_audit_from_the_command_line,
    a_killed_decision_leaves_all_or_nothing,
);

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vardval"))
}

/// The `[reviewers]` section of these tests.
const REVIEWERS: &str = "[reviewers]\ncoach_emails = [\"coach.ett@rjl.test\"]";

/// The decision mails written by the file transport.
fn decision_files(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir.join("outbox")) else {
        return vec![];
    };
    rd.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|t| t.contains("beslut-"))
        .collect()
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{}: ", name.to_ascii_lowercase());
    raw.lines()
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim())
}

async fn review_and_audit_from_the_command_line(url: String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 01 (Björkdalen's plan), 07 (Ekbacken's plan, yellow) and 11 (Ekbacken's supplement).
    let (cfg, db_url) = common::cli::setup(dir, &url, REVIEWERS, 11);
    ok(&cfg, &["run", "--once"]);
    let receipts = std::fs::read_dir(dir.join("outbox")).unwrap().count();

    let rows = json(&cfg, &["review", "list", "--format", "json"]);
    let rows = rows.as_array().unwrap();
    let row = |clinic: &str| {
        rows.iter()
            .find(|r| r["clinic_id"] == clinic && r["milestone"] == 1)
            .unwrap_or_else(|| panic!("{clinic} in {rows:?}"))
            .clone()
    };
    let bjork = row("bjorkdalen");
    let ekb = row("ekbacken");
    assert_eq!(ekb["version"], 2, "the list shows the latest version");
    assert_eq!(bjork["grade"], Value::Null, "nothing confirmed yet");
    for k in [
        "pre_grade",
        "on_time",
        "version",
        "decided_by",
        "decided_at",
    ] {
        assert!(bjork.get(k).is_some(), "{k} in {bjork}");
    }
    let bjork_id = bjork["submission_id"].as_i64().unwrap().to_string();
    let ekb_id = ekb["submission_id"].as_i64().unwrap().to_string();

    // Ekbacken's first version was superseded by the supplement: refused.
    let store = Store::connect(&db_url).await.unwrap();
    let subs = store.submissions().await.unwrap();
    let ekb_v1 = subs
        .iter()
        .find(|s| s.clinic_id == "ekbacken" && s.version == 1)
        .unwrap();
    let bjork_sub = subs
        .iter()
        .find(|s| s.id.to_string() == bjork_id)
        .unwrap()
        .clone();
    let out = run(
        &cfg,
        &[
            "review",
            "confirm",
            "--submission",
            &ekb_v1.id.to_string(),
            "--as",
            "anna",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("superseded by version 2"), "{err}");

    // Confirm Björkdalen's plan and send, twice: one decision, one mail.
    let confirm = [
        "review",
        "confirm",
        "--submission",
        &bjork_id,
        "--as",
        "anna",
        "--send",
        "--format",
        "json",
    ];
    let first = json(&cfg, &confirm);
    assert_eq!(first["created"], true);
    assert_eq!(first["decided_by"], "cli:anna");
    assert_eq!(first["mail"]["queued_now"], true);
    let second = json(&cfg, &confirm);
    assert_eq!(second["decision_id"], first["decision_id"]);
    assert_eq!(second["created"], false);
    assert_eq!(second["mail"]["queued_now"], false);
    assert_eq!(second["mail"]["outbox_id"], first["mail"]["outbox_id"]);

    // Override Ekbacken's supplement to red: the coach is copied.
    let over = json(
        &cfg,
        &[
            "review",
            "override",
            "--submission",
            &ekb_id,
            "--as",
            "bo",
            "--section",
            "A=missing",
            "B=missing",
            "--section",
            "C=weak",
            "D=weak",
            "--comment",
            "Vi hjälper er gärna vidare.",
            "--send",
            "--format",
            "json",
        ],
    );
    assert_eq!(over["grade"], "red", "{over}");
    assert_eq!(
        over["mail"]["cc"],
        serde_json::json!(["coach.ett@rjl.test"])
    );
    // An explicit grade wins over the sections (a new decision; history kept).
    let again = json(
        &cfg,
        &[
            "review",
            "override",
            "--submission",
            &ekb_id,
            "--as",
            "bo",
            "--section",
            "A=missing",
            "--grade",
            "yellow",
            "--format",
            "json",
        ],
    );
    assert_eq!(again["grade"], "yellow");
    assert_ne!(again["decision_id"], over["decision_id"]);
    let rows = json(&cfg, &["review", "list", "--format", "json"]);
    let ekb_now = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["clinic_id"] == "ekbacken" && r["milestone"] == 1)
        .unwrap()
        .clone();
    assert_eq!(ekb_now["grade"], "yellow");
    assert_eq!(ekb_now["decided_by"], "cli:bo");
    assert_eq!(store.decisions(2026).await.unwrap().len(), 3);

    // The next run sends the two decision mails, once each, threaded to the plans.
    ok(&cfg, &["run", "--once"]);
    ok(&cfg, &["run", "--once"]);
    let mails = decision_files(dir);
    assert_eq!(mails.len(), 2, "two decision mails");
    assert_eq!(
        std::fs::read_dir(dir.join("outbox")).unwrap().count(),
        receipts + 2
    );
    let green = mails
        .iter()
        .find(|m| {
            header(m, "In-Reply-To")
                .is_some_and(|h| h.contains(bjork_sub.mail_message_id.as_deref().unwrap()))
        })
        .expect("Björkdalen's decision is threaded to its plan");
    let sender = store
        .submission_sender(bjork_sub.id)
        .await
        .unwrap()
        .unwrap();
    assert!(header(green, "To").unwrap().contains(&sender), "{green}");
    assert_eq!(header(green, "Cc"), None);
    let red = mails.iter().find(|m| !std::ptr::eq(*m, green)).unwrap();
    assert!(
        header(red, "Cc").unwrap().contains("coach.ett@rjl.test"),
        "{red}"
    );

    // Presentations: idempotent.
    let p = [
        "review",
        "presented",
        "--clinic",
        "bjorkdalen",
        "--year",
        "2026",
        "--as",
        "anna",
        "--note",
        "Bra redovisning",
        "--format",
        "json",
    ];
    assert_eq!(json(&cfg, &p)["created"], true);
    assert_eq!(json(&cfg, &p)["created"], false);
    assert_eq!(store.presentations(2026).await.unwrap().len(), 1);
    let out = run(
        &cfg,
        &[
            "review",
            "presented",
            "--clinic",
            "nowhere",
            "--year",
            "2026",
            "--as",
            "anna",
        ],
    );
    assert!(!out.status.success());

    // The audit log: decisions, presentations and the first registry import, chained.
    let listed = json(&cfg, &["audit", "list", "--format", "json"]);
    let actions: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "decision.record").count(),
        3,
        "{actions:?}"
    );
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "presentation.register")
            .count(),
        1
    );
    assert_eq!(actions.iter().filter(|a| **a == "clinic.add").count(), 10);
    let n = listed.as_array().unwrap().len();
    let verified = ok(&cfg, &["audit", "verify"]);
    assert_eq!(verified.trim(), format!("ok, {n} rows"));

    // Someone edits a decision's audit row in the database: verify names it and exits 1.
    let target = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "decision.record")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    sqlx::query("UPDATE audit_log SET actor = 'cli:mallory' WHERE id = $1")
        .bind(target)
        .execute(store.pool())
        .await
        .unwrap();
    let out = run(&cfg, &["audit", "verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("broken at row {target}")), "{text}");
    let v = json_fail(&cfg, &["audit", "verify", "--format", "json"]);
    assert_eq!(v["first_bad"], target);
    // `doctor` says so too.
    let out = run(&cfg, &["doctor"]);
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("audit log: hash chain broken at row {target}")),
        "{text}"
    );
    store.close().await;
}

/// A command that exits 1 but prints JSON.
fn json_fail(cfg: &Path, args: &[&str]) -> Value {
    let out = run(cfg, args);
    assert_eq!(out.status.code(), Some(1));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The state a decision may be in after a kill: nothing, or the decision with its outbox row
/// and its audit row (never a part of it).
async fn decision_state(store: &Store, submission: i64) -> (usize, usize, usize) {
    let decisions: Vec<_> = store
        .decisions(2026)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.submission_id == submission)
        .collect();
    let mut mails = 0;
    for d in &decisions {
        let id = d
            .mail_outbox_id
            .expect("a decision recorded with --send has its mail");
        let row = store
            .outbox_row(id)
            .await
            .unwrap()
            .expect("the outbox row exists");
        assert_eq!(row.dedupe_key, format!("decision:{}", d.id));
        mails += 1;
    }
    let audit = store
        .audit_list(
            1000,
            &vardval::store::AuditFilter {
                subject: Some(format!("submission:{submission}")),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .len();
    assert!(store.audit_verify().await.unwrap().ok());
    (decisions.len(), mails, audit)
}

async fn a_killed_decision_leaves_all_or_nothing(url: String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (cfg, db_url) = common::cli::setup(dir, &url, REVIEWERS, 1);
    ok(&cfg, &["run", "--once"]);
    let store = Store::connect(&db_url).await.unwrap();
    let sub = store.submissions().await.unwrap()[0].id;
    let sub_arg = sub.to_string();
    let args = [
        "review",
        "override",
        "--submission",
        &sub_arg,
        "--as",
        "anna",
        "--section",
        "D=weak",
        "--send",
        "--config",
    ];
    // Seeded delays (printed; VARDVAL_REVIEW_KILL_SEED=N replays them).
    let mut seed: u64 = std::env::var("VARDVAL_REVIEW_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    // Kill anywhere in the life of a process: delays up to the time a whole run takes.
    let started = std::time::Instant::now();
    ok(&cfg, &["review", "list"]);
    let span = (started.elapsed().as_millis() as u64).max(20) * 3 / 2;
    println!("review kill seed {seed}, delays up to {span} ms");
    let (mut killed, mut finished) = (0, 0);
    for _ in 0..20 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = Duration::from_millis((seed >> 33) % span);
        let mut child = bin()
            .args(args)
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success());
                finished += 1;
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                killed += 1;
            }
        }
        let (decisions, mails, audit) = decision_state(&store, sub).await;
        assert!(decisions <= 1 && mails == decisions && audit == decisions);
    }
    println!("review kill: {killed} killed, {finished} finished");
    ok(
        &cfg,
        &[
            "review",
            "override",
            "--submission",
            &sub_arg,
            "--as",
            "anna",
            "--section",
            "D=weak",
            "--send",
        ],
    );
    assert_eq!(decision_state(&store, sub).await, (1, 1, 1));
    ok(&cfg, &["run", "--once"]);
    assert_eq!(decision_files(dir).len(), 1, "one decision mail sent");
    store.close().await;
}
