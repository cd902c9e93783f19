//! The scheduler with the manual clock, on SQLite and PostgreSQL: DST nights (a 02:30 job
//! runs once on 29 March and once on 25 October 2026), downtime (one run for the latest
//! missed slot), a fresh ledger's epoch, a crashed run taken over after its lease, two
//! schedulers ticking concurrently on one database, and the reminders: who gets which,
//! exactly once per clinic/milestone/offset, domain-only clinics unreachable, paused.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use vardval::domain::grading::Grade;
use vardval::domain::schedule::LocalCron;
use vardval::jobs::mail::JobMail;
use vardval::jobs::scheduler::{Job, JobKind};
use vardval::jobs::{JobContext, Scheduler};
use vardval::mail::registry::Registry;
use vardval::ports::{Clock, ManualClock};
use vardval::store::{
    Claim, Intake, MessageClass, NewMessage, NewSubmission, Store, SubmissionKind,
};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const CLINICS: &str = "id,name,emails,listed_inhabitants\n\
a,Vårdcentralen A,a@a.vc.test;chef@a.vc.test,100\n\
b,Vårdcentralen B,b@vc.test,100\n\
c,Vårdcentralen C,c@vc.test,100\n\
d,Vårdcentralen D,@d.vc.test,100\n";

async fn scheduler(url: &str, jobs: &[(JobKind, &str)], paused: bool) -> Scheduler {
    let store = Store::connect(url).await.expect("open ledger");
    let rulebook = vardval::domain::rulebook::Rulebook::embedded();
    let tz = rulebook.tz();
    let ctx = JobContext {
        store,
        registry: Registry::from_csv(CLINICS).unwrap(),
        rulebook,
        mail: JobMail::load(None, "Vårdval <vardval@rjl.test>".parse().unwrap()).unwrap(),
        reminders: vardval::config::ReminderSettings {
            paused,
            ..Default::default()
        },
        reviewers: vec!["granskare@rjl.test".into()],
        max_per_hour: 5,
        max_per_day: 20,
        payouts: None,
    };
    Scheduler {
        jobs: jobs
            .iter()
            .map(|(k, e)| Job {
                kind: *k,
                cron: LocalCron::parse(e, tz).unwrap(),
            })
            .collect(),
        ctx,
        owner: format!("test-{}", rand_part()),
        lease: Duration::minutes(10),
        tick_every: std::time::Duration::from_secs(60),
    }
}

fn rand_part() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// Tick every `step` from `from` to `to` with the manual clock; the due times that ran.
async fn drive(
    s: &Scheduler,
    clock: &ManualClock,
    to: DateTime<Utc>,
    step: Duration,
) -> Vec<(String, DateTime<Utc>)> {
    let mut ran = Vec::new();
    while clock.now() <= to {
        for r in s.tick(clock.now()).await.unwrap().runs {
            ran.push((r.job, r.due_at));
        }
        clock.set(clock.now() + step);
    }
    ran
}

async fn dst_nights_run_a_0230_job_once(url: String) {
    let s = scheduler(&url, &[(JobKind::Digest, "0 30 2 * * *")], false).await;
    let clock = ManualClock::new(t("2026-03-28T12:00:00Z"));
    let ran = drive(&s, &clock, t("2026-03-30T12:00:00Z"), Duration::minutes(15)).await;
    let due: Vec<DateTime<Utc>> = ran.iter().map(|r| r.1).collect();
    assert_eq!(
        due,
        vec![t("2026-03-29T01:30:00Z"), t("2026-03-30T00:30:00Z")]
    );
    clock.set(t("2026-10-24T12:00:00Z"));
    let ran = drive(&s, &clock, t("2026-10-26T12:00:00Z"), Duration::minutes(15)).await;
    let due: Vec<DateTime<Utc>> = ran.iter().map(|r| r.1).collect();
    assert_eq!(
        due,
        vec![
            // The first tick after the spring: one run for the latest missed slot.
            t("2026-10-24T00:30:00Z"),
            // 02:30 CEST only, not again at 02:30 CET.
            t("2026-10-25T00:30:00Z"),
            t("2026-10-26T01:30:00Z"),
        ]
    );
    s.ctx.store.close().await;
}

async fn downtime_runs_the_latest_missed_slot_once_and_epoch_is_respected(url: String) {
    let s = scheduler(&url, &[(JobKind::Digest, "0 0 8 * * *")], false).await;
    // First tick after 08:00 on a fresh ledger: the 08:00 slot is before the epoch.
    let r = s.tick(t("2026-01-05T09:00:00Z")).await.unwrap();
    assert!(r.runs.is_empty(), "{r:?}");
    // Ten days later: one run, for the latest missed slot.
    let r = s.tick(t("2026-01-15T12:00:00Z")).await.unwrap();
    let due: Vec<DateTime<Utc>> = r.runs.iter().map(|r| r.due_at).collect();
    assert_eq!(due, vec![t("2026-01-15T07:00:00Z")]);
    assert!(
        s.tick(t("2026-01-15T13:00:00Z"))
            .await
            .unwrap()
            .runs
            .is_empty()
    );
    assert_eq!(s.ctx.store.job_runs().await.unwrap().len(), 1);
    s.ctx.store.close().await;
}

async fn crashed_run_is_taken_over_after_its_lease(url: String) {
    let s = scheduler(&url, &[(JobKind::Digest, "0 0 8 * * *")], false).await;
    s.tick(t("2026-01-01T00:00:00Z")).await.unwrap();
    // Another process claimed the 08:00 run and died before finishing it.
    let c = s
        .ctx
        .store
        .claim_run(
            "digest",
            t("2026-01-02T07:00:00Z"),
            "dead-process",
            t("2026-01-02T07:00:00Z"),
            Duration::minutes(10),
        )
        .await
        .unwrap();
    assert!(matches!(c, Claim::Claimed(_)));
    // Within the lease: nobody runs it.
    assert!(
        s.tick(t("2026-01-02T07:05:00Z"))
            .await
            .unwrap()
            .runs
            .is_empty()
    );
    // After the lease: taken over, once.
    let r = s.tick(t("2026-01-02T07:11:00Z")).await.unwrap();
    assert_eq!(r.runs.len(), 1);
    assert!(r.runs[0].takeover);
    assert!(
        s.tick(t("2026-01-02T07:30:00Z"))
            .await
            .unwrap()
            .runs
            .is_empty()
    );
    let runs = s.ctx.store.job_runs().await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].attempts, 2);
    assert!(runs[0].finished_at.is_some());
    // The digest went out once.
    assert_eq!(digests(&s.ctx.store).await, 1);
    s.ctx.store.close().await;
}

async fn digests(store: &Store) -> usize {
    let (n, _) = store.outbox_backlog().await.unwrap();
    n as usize
}

async fn two_schedulers_run_each_due_job_once(url: String) {
    let jobs = [
        (JobKind::Digest, "0 30 7 * * Mon"),
        (JobKind::Reminders, "0 0 8 * * *"),
    ];
    let a = Arc::new(scheduler(&url, &jobs, false).await);
    let b = Arc::new(scheduler(&url, &jobs, false).await);
    let mut now = t("2026-01-01T00:00:00Z");
    a.tick(now).await.unwrap();
    let mut total = 0;
    while now < t("2026-03-01T00:00:00Z") {
        now += Duration::hours(1);
        let (ra, rb) = tokio::join!(
            {
                let a = a.clone();
                async move { a.tick(now).await.unwrap() }
            },
            {
                let b = b.clone();
                async move { b.tick(now).await.unwrap() }
            }
        );
        total += ra.runs.len() + rb.runs.len();
    }
    let runs = a.ctx.store.job_runs().await.unwrap();
    // 59 days of reminders (2 Jan–1 Mar 08:00) and 8 Mondays (5 Jan–23 Feb).
    assert_eq!(runs.iter().filter(|r| r.job == "reminders").count(), 59);
    assert_eq!(runs.iter().filter(|r| r.job == "digest").count(), 8);
    assert_eq!(total, 67);
    assert!(
        runs.iter()
            .all(|r| r.attempts == 1 && r.finished_at.is_some())
    );
    // Each reminder unit once: clinics a (2 addresses), b, c miss milestone 1 at 14 and 3
    // days and after the deadline: 3 points × 4 rows; d is domain-only.
    let keys = outbox_keys(&a.ctx.store).await;
    let reminders: Vec<&String> = keys.iter().filter(|k| k.starts_with("reminder:")).collect();
    assert_eq!(reminders.len(), 12, "{reminders:?}");
    a.ctx.store.close().await;
    b.ctx.store.close().await;
}

async fn outbox_keys(store: &Store) -> Vec<String> {
    use sqlx::Row;
    sqlx::query("SELECT dedupe_key FROM outbox ORDER BY dedupe_key")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("dedupe_key"))
        .collect()
}

async fn submit(store: &Store, clinic: &str, at: &str, grade: Grade, lacking: &[char]) {
    let at = t(at);
    let mut sections = serde_json::Map::new();
    for id in ['A', 'B', 'C', 'D', 'E', 'F'] {
        let status = if lacking.contains(&id) {
            "missing"
        } else {
            "ok"
        };
        sections.insert(
            id.to_string(),
            serde_json::json!({"required": true, "status": status}),
        );
    }
    let key = format!("test:{clinic}:{}", at.timestamp());
    store
        .commit_intake(&Intake {
            message: NewMessage {
                source_key: key.clone(),
                sha256: key.clone(),
                archive_path: "x".into(),
                received_at: at,
                mail_message_id: None,
                from_addr: None,
                subject: "Projektplan".into(),
                class: MessageClass::Submission,
                clinic_id: Some(clinic.into()),
                reason: "test".into(),
            },
            submission: Some(NewSubmission {
                clinic_id: clinic.into(),
                milestone: 1,
                kind: SubmissionKind::Submission,
                received_at: at,
                on_time: true,
                pre_grade: Some(grade),
                doc_sha256: key.clone(),
                doc_name: "plan.docx".into(),
                doc_format: Some("docx".into()),
                // A stored analysis as the ledger keeps it (schema 1).
                analysis_json: serde_json::json!({
                    "schema": 1,
                    "document": {"file": "plan.docx", "format": "docx", "words": 500},
                    "milestone": 1,
                    "sections": sections,
                    "grade": grade,
                })
                .to_string(),
                error_kind: None,
                mail_message_id: None,
            }),
            triage_reason: None,
            outbox: vec![],
            now: at,
        })
        .await
        .unwrap();
}

async fn reminders_go_to_the_right_clinics_once(url: String) {
    let s = scheduler(&url, &[(JobKind::Reminders, "0 0 8 * * *")], false).await;
    let clock = ManualClock::new(t("2026-01-01T00:00:00Z"));
    submit(&s.ctx.store, "a", "2026-01-20T09:00:00Z", Grade::Green, &[]).await;
    submit(
        &s.ctx.store,
        "b",
        "2026-01-20T09:00:00Z",
        Grade::Red,
        &['D', 'E'],
    )
    .await;
    drive(&s, &clock, t("2026-03-01T00:00:00Z"), Duration::hours(1)).await;
    let keys = outbox_keys(&s.ctx.store).await;
    assert_eq!(
        keys,
        vec![
            "reminder:2026:m1:after:c:c@vc.test",
            "reminder:2026:m1:d14:c:c@vc.test",
            "reminder:2026:m1:d3:c:c@vc.test",
            "reminder:2026:m1:incomplete:b:b@vc.test",
        ]
    );
    let raw: Vec<u8> = {
        use sqlx::Row;
        sqlx::query("SELECT raw FROM outbox WHERE dedupe_key LIKE '%incomplete%'")
            .fetch_one(s.ctx.store.pool())
            .await
            .unwrap()
            .get("raw")
    };
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
    assert!(
        text.contains("Message-ID: <reminder.2026.m1.incomplete.b.0@rjl.test>"),
        "{text}"
    );
    let body = mail_parser::MessageParser::default()
        .parse(&raw[..])
        .unwrap()
        .body_text(0)
        .unwrap()
        .to_string();
    assert!(body.contains("D. Nuläge"), "{body}");
    assert!(body.contains("E. Analys av nuläge"), "{body}");
    assert!(!body.contains("A. Val"), "{body}");
    assert!(body.contains("Vi gör det tillsammans"), "{body}");
    // The run outcomes say clinic d could not be reached.
    let runs = s.ctx.store.job_runs().await.unwrap();
    let at14 = runs
        .iter()
        .find(|r| r.due_at == t("2026-02-01T07:00:00Z"))
        .unwrap();
    assert!(
        at14.outcome.as_deref().unwrap().contains("1 unreachable"),
        "{at14:?}"
    );
    s.ctx.store.close().await;
}

async fn paused_reminders_are_skipped_and_not_sent_later(url: String) {
    let paused = scheduler(&url, &[(JobKind::Reminders, "0 0 8 * * *")], true).await;
    paused.tick(t("2026-01-01T00:00:00Z")).await.unwrap();
    let r = paused.tick(t("2026-02-01T08:00:00Z")).await.unwrap();
    assert!(r.runs[0].outcome.starts_with("paused: 4"), "{r:?}");
    // Unpaused the next day: the 14-day reminders are not sent in a burst.
    let s = scheduler(&url, &[(JobKind::Reminders, "0 0 8 * * *")], false).await;
    s.tick(t("2026-02-02T08:00:00Z")).await.unwrap();
    assert!(outbox_keys(&s.ctx.store).await.is_empty());
    // The 3-day reminders go out as usual.
    s.tick(t("2026-02-12T08:00:00Z")).await.unwrap();
    assert_eq!(outbox_keys(&s.ctx.store).await.len(), 4);
    paused.ctx.store.close().await;
    s.ctx.store.close().await;
}

async fn digest_counts_the_week(url: String) {
    let s = scheduler(&url, &[(JobKind::Digest, "0 30 7 * * Mon")], false).await;
    s.tick(t("2026-01-01T00:00:00Z")).await.unwrap();
    // An empty week says so in one line.
    s.tick(t("2026-01-05T07:00:00Z")).await.unwrap();
    let f = vardval::jobs::digest::facts(&s.ctx, t("2026-01-05T06:30:00Z"))
        .await
        .unwrap();
    assert!(f.empty_week());
    submit(&s.ctx.store, "a", "2026-02-10T09:00:00Z", Grade::Green, &[]).await;
    submit(
        &s.ctx.store,
        "b",
        "2026-02-20T09:00:00Z",
        Grade::Yellow,
        &['C'],
    )
    .await;
    let f = vardval::jobs::digest::facts(&s.ctx, t("2026-02-23T06:30:00Z"))
        .await
        .unwrap();
    let mut expect = BTreeMap::new();
    expect.insert("submission".to_string(), 1);
    assert_eq!(f.classes, expect);
    assert_eq!(f.unconfirmed, 2);
    // A reviewer's decision on a latest version: one fewer waits (only decisions made before
    // the slot count).
    let first = s.ctx.store.submissions().await.unwrap()[0].clone();
    let decision = vardval::store::NewDecision {
        submission_id: first.id,
        year: s.ctx.rulebook.year,
        grade: Grade::Green,
        sections: Default::default(),
        pre_grade: first.pre_grade,
        agreed_with_pregrade: true,
        comment: None,
        decided_by: "cli:anna".into(),
    };
    s.ctx
        .store
        .record_decision(&decision, None, t("2026-02-23T08:00:00Z"))
        .await
        .unwrap();
    let before = vardval::jobs::digest::facts(&s.ctx, t("2026-02-23T06:30:00Z"))
        .await
        .unwrap();
    assert_eq!(before.unconfirmed, 2, "decided after the slot");
    let after = vardval::jobs::digest::facts(&s.ctx, t("2026-03-02T06:30:00Z"))
        .await
        .unwrap();
    assert_eq!(after.unconfirmed, 1);
    assert_eq!(
        f.milestones[&1],
        (vec!["c".to_string(), "d".to_string()], vec![])
    );
    assert_eq!(f.domain_only, vec!["d".to_string()]);
    s.tick(t("2026-02-23T07:00:00Z")).await.unwrap();
    let keys = outbox_keys(&s.ctx.store).await;
    assert_eq!(
        keys,
        vec![
            "digest:20260105T0630Z:granskare@rjl.test",
            "digest:20260223T0630Z:granskare@rjl.test",
        ]
    );
    s.ctx.store.close().await;
}

both!(
    dst_nights_run_a_0230_job_once,
    downtime_runs_the_latest_missed_slot_once_and_epoch_is_respected,
    crashed_run_is_taken_over_after_its_lease,
    two_schedulers_run_each_due_job_once,
    reminders_go_to_the_right_clinics_once,
    paused_reminders_are_skipped_and_not_sent_later,
    digest_counts_the_week,
);

/// The binary: `run --once --now` at fixed times, then `schedule --format json` and
/// `status --json` show the jobs' last and next runs and outcomes.
#[test]
fn binary_run_once_now_then_schedule_and_status() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = common::root();
    let cfg = d.join("vardval.toml");
    std::fs::create_dir_all(d.join("Maildir/new")).unwrap();
    std::fs::create_dir_all(d.join("Maildir/cur")).unwrap();
    std::fs::create_dir_all(d.join("Maildir/tmp")).unwrap();
    std::fs::write(d.join("clinics.csv"), CLINICS).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[mailbox]\nkind = \"maildir\"\npath = \"Maildir\"\n\
             [smtp]\nkind = \"file\"\ndir = \"outbox\"\nfrom = \"Vårdval <vardval@rjl.test>\"\n\
             [database]\nurl = \"sqlite://vardval.db\"\n\
             [cycle]\nrulebook = \"{}\"\n[clinics]\npath = \"clinics.csv\"\n\
             [reviewers]\nemails = [\"granskare@rjl.test\"]\n",
            root.join("config/rulebook-2026.toml").display()
        ),
    )
    .unwrap();
    let bin = || std::process::Command::new(env!("CARGO_BIN_EXE_vardval"));
    for now in ["2026-01-01T00:00:00+01:00", "2026-02-01T08:00:00+01:00"] {
        let out = bin()
            .args(["run", "--once", "--now", now, "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = bin()
        .args(["schedule", "--format", "json", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rem = &v["jobs"][0];
    assert_eq!(rem["job"], "reminders");
    assert_eq!(rem["last_due_at"], "2026-02-01T07:00:00Z");
    assert!(
        rem["last_outcome"]
            .as_str()
            .unwrap()
            .starts_with("ok: 4 reminders, 4 queued"),
        "{rem}"
    );
    assert!(rem["next_at"].is_string());
    assert_eq!(v["jobs"][1]["job"], "digest");
    assert_eq!(v["jobs"][1]["last_due_at"], "2026-01-26T06:30:00Z");
    // The reminders were sent in the same run: 4 .eml files plus the digest.
    let sent = std::fs::read_dir(d.join("outbox")).unwrap().count();
    assert_eq!(sent, 5);
    let out = bin()
        .args(["status", "--json", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        st["scheduler"]["jobs"][0]["last_due_at"],
        "2026-02-01T07:00:00Z"
    );
}
