//! The payouts command line with the real binary on SQLite: `payouts preview --format json`
//! in its documented shape, `payouts run --now` sealing once per due date, `payouts reclaim
//! accept` needing an open proposal and a reason, `review presented` making instalment 2 due,
//! the amount in the green decision mail, the scheduled job registered at 07:00 Stockholm on
//! 1 March and 1 June, and doctor's payout check. SIGKILLs: `tests/payouts_crash.rs`.

use chrono::{TimeZone, Utc};
use serde_json::Value;

mod common;
mod payouts_support;

use payouts_support::cli::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_run_and_reclaim_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), 5, 3).await;
    let c = cfg.to_str().unwrap();
    let (code, out, err) = run(&[
        "payouts",
        "preview",
        "--config",
        c,
        "--now",
        "2026-03-01T07:00:00+01:00",
        "--format",
        "json",
    ]);
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
