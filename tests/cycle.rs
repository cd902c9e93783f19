//! A whole 2026 cycle with the manual clock, on SQLite and PostgreSQL: 40 clinics, mails fed
//! through the real pipeline (Maildir, received times), the scheduler ticking at every job
//! slot and every mail. The reminders and digests that must go out are computed in this
//! test from the scenario, independently of the policy code, and compared with the outbox
//! as a set: every one goes out, nothing else does (all other rows are receipts).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Stockholm;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use tokio_util::sync::CancellationToken;
use vardval::adapters::maildir::MaildirSource;
use vardval::domain::schedule::LocalCron;
use vardval::jobs::mail::JobMail;
use vardval::jobs::scheduler::{Job, JobKind};
use vardval::jobs::{JobContext, Scheduler};
use vardval::mail::registry::Registry;
use vardval::pipeline::daemon::{self, RunOptions};
use vardval::pipeline::outbox::SendOptions;
use vardval::ports::ManualClock;
use vardval::store::RetryPolicy;

use common::Recorder;

/// What a clinic does in the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    OnTime,
    Late,
    Never,
    RedThenGreen,
    /// Red before the deadline and never fixed: one "what is missing" reminder only.
    RedOnly,
    DomainOnly,
}

fn plan(i: usize) -> Plan {
    match i % 6 {
        0 => Plan::OnTime,
        1 => Plan::Late,
        2 => Plan::Never,
        3 => Plan::RedThenGreen,
        4 => Plan::RedOnly,
        _ => Plan::DomainOnly,
    }
}

fn local(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Stockholm
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn clinics_csv() -> String {
    let mut s = "id,name,emails,listed_inhabitants\n".to_string();
    for i in 0..40 {
        let emails = match (plan(i), i) {
            (Plan::DomainOnly, _) => format!("@vc{i}.vc.test"),
            (_, 0) | (_, 1) => format!("kontakt@vc{i}.vc.test;chef@vc{i}.vc.test"),
            _ => format!("kontakt@vc{i}.vc.test"),
        };
        s.push_str(&format!("vc{i},Vårdcentralen {i},{emails},1000\n"));
    }
    s
}

/// (received time, clinic index, document file) of every mail in the scenario.
fn mails() -> Vec<(DateTime<Utc>, usize, &'static str)> {
    let mut out = Vec::new();
    let green1 = "m1-green-heading-styles.docx";
    let red1 = "m1-red-instruction-text.docx";
    let green2 = "m2-green-h-table.docx";
    for i in 0..40 {
        let h = (i % 8) as u32 + 8;
        match plan(i) {
            Plan::OnTime => {
                out.push((local(2026, 1, 20, h), i, green1));
                out.push((local(2026, 11, 10, h), i, green2));
            }
            Plan::Late => {
                out.push((local(2026, 2, 20, h), i, green1));
                out.push((local(2026, 12, 5, h), i, green2));
            }
            Plan::RedThenGreen => {
                out.push((local(2026, 1, 25, h), i, red1));
                out.push((local(2026, 2, 5, h), i, green1));
                out.push((local(2026, 11, 12, h), i, green2));
            }
            Plan::RedOnly => out.push((local(2026, 1, 25, h), i, red1)),
            Plan::Never | Plan::DomainOnly => {}
        }
    }
    out.sort();
    out
}

fn mail_bytes(i: usize, n: usize, doc: &str) -> Vec<u8> {
    let bytes = std::fs::read(common::root().join("fixtures/documents").join(doc)).unwrap();
    let subject = if doc.starts_with("m2") {
        "Slutrapport"
    } else {
        "Projektplan"
    };
    let ct = ContentType::parse(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )
    .unwrap();
    lettre::Message::builder()
        .from(
            format!("Verksamhetschef <kontakt@vc{i}.vc.test>")
                .parse()
                .unwrap(),
        )
        .to("Vårdval <vardval@rjl.test>".parse().unwrap())
        .subject(format!("{subject} Vårdcentralen {i}"))
        .message_id(Some(format!("<cycle-{i}-{n}@vc{i}.vc.test>")))
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(format!("Hej! Här kommer vår {subject}.")))
                .singlepart(Attachment::new(doc.to_string()).body(bytes, ct)),
        )
        .unwrap()
        .formatted()
}

/// The reminder and digest dedupe keys the scenario must produce, from the rulebook's
/// dates (15 February and 1 December 2026), written out here.
fn expected_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for i in 0..40 {
        let addrs: Vec<String> = match (plan(i), i) {
            (Plan::DomainOnly, _) => vec![],
            (_, 0) | (_, 1) => vec![
                format!("kontakt@vc{i}.vc.test"),
                format!("chef@vc{i}.vc.test"),
            ],
            _ => vec![format!("kontakt@vc{i}.vc.test")],
        };
        let units: Vec<String> = match plan(i) {
            Plan::OnTime | Plan::DomainOnly => vec![],
            Plan::Late | Plan::Never => {
                ["m1:d14", "m1:d3", "m1:after", "m2:d14", "m2:d3", "m2:after"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }
            Plan::RedThenGreen => vec!["m1:incomplete".into()],
            // m1 once (not at 3 days, not after the deadline); m2 never came: all three.
            Plan::RedOnly => ["m1:incomplete", "m2:d14", "m2:d3", "m2:after"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        for u in &units {
            for a in &addrs {
                keys.insert(format!("reminder:2026:{u}:vc{i}:{a}"));
            }
        }
    }
    // Every Monday 07:30 Stockholm from 5 January to 28 December.
    let mut d = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    while d.year_ce().1 == 2026 {
        let at = Stockholm
            .from_local_datetime(&d.and_hms_opt(7, 30, 0).unwrap())
            .single()
            .unwrap()
            .with_timezone(&Utc);
        keys.insert(format!(
            "digest:{}:granskare@rjl.test",
            at.format("%Y%m%dT%H%MZ")
        ));
        d += Duration::days(7);
    }
    keys
}

use chrono::Datelike;

async fn whole_cycle(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let mut p = common::pipeline(&url, clock.clone(), &dir.path().join("archive")).await;
    p.registry = Registry::from_csv(&clinics_csv()).unwrap();
    let p = Arc::new(p);
    let tz = p.rulebook.tz();
    let ctx = JobContext {
        store: p.store.clone(),
        registry: p.registry.clone(),
        rulebook: p.rulebook.clone(),
        mail: JobMail::load(None, "Vårdval <vardval@rjl.test>".parse().unwrap()).unwrap(),
        reminders: Default::default(),
        reviewers: vec!["granskare@rjl.test".into()],
        max_per_hour: 5,
        max_per_day: 20,
        payouts: None,
    };
    let jobs = vec![
        Job {
            kind: JobKind::Reminders,
            cron: LocalCron::parse("0 0 8 * * *", tz).unwrap(),
        },
        Job {
            kind: JobKind::Digest,
            cron: LocalCron::parse("0 30 7 * * Mon", tz).unwrap(),
        },
    ];
    let sch = Arc::new(Scheduler {
        ctx,
        jobs: jobs.clone(),
        owner: "cycle".into(),
        lease: Duration::minutes(10),
        tick_every: StdDuration::from_secs(60),
    });
    let md = MaildirSource::new(
        dir.path().join("Maildir"),
        ".Behandlat",
        StdDuration::from_secs(1),
    );
    md.create_dirs().unwrap();
    let rec = Arc::new(Recorder::default());
    let opts = RunOptions {
        once: true,
        batch: 50,
        max_wait: StdDuration::from_secs(1),
        send: SendOptions {
            from: "vardval@rjl.test".into(),
            copy_to: None,
            sending_grace: StdDuration::from_secs(120),
            retry: RetryPolicy::default(),
        },
    };
    let mut pending = mails().into_iter().enumerate().peekable();
    let end = local(2026, 12, 31, 23);
    let mut now = t0();
    while now <= end {
        clock.set(now);
        while let Some((n, (at, i, doc))) = pending.next_if(|(_, (at, _, _))| *at <= now) {
            md.deliver(&format!("{n:04}.cycle"), &mail_bytes(i, n, doc), Some(at))
                .unwrap();
        }
        daemon::run_with_scheduler(
            p.clone(),
            md.clone(),
            rec.clone(),
            opts.clone(),
            Some(sch.clone()),
            CancellationToken::new(),
        )
        .await
        .unwrap();
        // Next step: the next mail or the next job slot, whichever comes first.
        let next_mail = pending.peek().map(|(_, (at, _, _))| *at);
        let next_slot = jobs.iter().filter_map(|j| j.cron.next_after(now)).min();
        now = [next_mail, next_slot]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(end + Duration::days(1));
    }
    use sqlx::Row;
    let rows = sqlx::query("SELECT kind, dedupe_key, status FROM outbox")
        .fetch_all(p.store.pool())
        .await
        .unwrap();
    let got: BTreeSet<String> = rows
        .iter()
        .filter(|r| r.get::<String, _>("kind") != "receipt")
        .map(|r| r.get::<String, _>("dedupe_key"))
        .collect();
    let want = expected_keys();
    let missing: Vec<_> = want.difference(&got).collect();
    let extra: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}\nextra {extra:?}"
    );
    // Receipts: one per submission mail; every row was sent.
    let receipts = rows
        .iter()
        .filter(|r| r.get::<String, _>("kind") == "receipt")
        .count();
    assert_eq!(receipts, mails().len());
    assert!(rows.iter().all(|r| r.get::<String, _>("status") == "sent"));
    assert_eq!(rec.count(), rows.len());
    p.store.close().await;
}

fn t0() -> DateTime<Utc> {
    local(2026, 1, 1, 0)
}

both!(whole_cycle);

/// The first three months of the same scenario with the real binary, `run --once --now T` per
/// step against a Maildir and a file outbox: once undisturbed, once SIGKILLed at random
/// moments (seeded; each killed step is run again until it completes). The set of sent mails
/// (Message-IDs in the file outbox) is the same, and contains every expected reminder and
/// digest of the period.
async fn binary_replay_with_sigkills(url: String) {
    let clean = replay(&url, "clean", None).await;
    let killed_url = fresh_db_like(&url).await;
    let killed = replay(&killed_url, "killed", Some(0x5eed_2026)).await;
    assert!(!clean.is_empty());
    assert_eq!(clean, killed);
    let reminders = clean.iter().filter(|m| m.starts_with("reminder.")).count();
    let digests = clean.iter().filter(|m| m.starts_with("digest.")).count();
    // Through 31 March: m1 reminders (d14, d3, after) and 13 Monday digests.
    let want = expected_keys();
    let want_reminders = want
        .iter()
        .filter(|k| k.starts_with("reminder:2026:m1:"))
        .count();
    assert_eq!(reminders, want_reminders);
    assert_eq!(digests, 13);
    if !url.starts_with("sqlite:") {
        use sqlx::Connection;
        let mut conn = sqlx::AnyConnection::connect(&common::admin_url())
            .await
            .unwrap();
        let name = killed_url.rsplit('/').next().unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

/// A second, empty database next to `url` (the same backend).
async fn fresh_db_like(url: &str) -> String {
    if url.starts_with("sqlite:") {
        return url.replace("ledger.db", "ledger-killed.db");
    }
    use sqlx::Connection;
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let name = format!("{}_k", url.rsplit('/').next().unwrap());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    common::with_database(url, &name)
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

async fn replay(url: &str, tag: &str, kill_seed: Option<u64>) -> BTreeSet<String> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("clinics.csv"), clinics_csv()).unwrap();
    let config = format!(
        r#"
[mailbox]
kind = "maildir"
path = "{d}/Maildir"
processed_folder = ".Behandlat"
poll_interval_secs = 1

[smtp]
kind = "file"
dir = "{d}/outbox"
from = "Vårdval <vardval@rjl.test>"

[database]
url = "{url}"

[archive]
dir = "{d}/archive"

[cycle]
rulebook = "{root}/config/rulebook-2026.toml"

[clinics]
path = "{d}/clinics.csv"

[reviewers]
emails = ["granskare@rjl.test"]
"#,
        d = d.display(),
        root = common::root().display()
    );
    let cfg = d.join("vardval.toml");
    std::fs::write(&cfg, config).unwrap();
    let md = MaildirSource::new(d.join("Maildir"), ".Behandlat", StdDuration::from_secs(1));
    md.create_dirs().unwrap();
    let tz = Stockholm;
    let jobs = [
        LocalCron::parse("0 0 8 * * *", tz).unwrap(),
        LocalCron::parse("0 30 7 * * Mon", tz).unwrap(),
    ];
    let mut rng = kill_seed.map(Rng);
    let mut kills = 0;
    let mut pending = mails().into_iter().enumerate().peekable();
    let end = local(2026, 3, 31, 23);
    let mut now = t0();
    while now <= end {
        while let Some((n, (at, i, doc))) = pending.next_if(|(_, (at, _, _))| *at <= now) {
            md.deliver(&format!("{n:04}.cycle"), &mail_bytes(i, n, doc), Some(at))
                .unwrap();
        }
        loop {
            let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vardval"))
                .args(["run", "--config"])
                .arg(&cfg)
                .args(["--once", "--now", &now.to_rfc3339()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap();
            let kill_after = rng.as_mut().and_then(|r| {
                let x = r.next();
                (x % 3 == 0).then_some(StdDuration::from_millis(x % 60))
            });
            match kill_after {
                Some(after) => {
                    tokio::select! {
                        st = child.wait() => { assert!(st.unwrap().success(), "{tag}: run failed at {now}"); break; }
                        _ = tokio::time::sleep(after) => {
                            child.start_kill().unwrap();
                            child.wait().await.unwrap();
                            kills += 1;
                        }
                    }
                }
                None => {
                    let st = child.wait().await.unwrap();
                    assert!(st.success(), "{tag}: run failed at {now}");
                    break;
                }
            }
        }
        let next_mail = pending.peek().map(|(_, (at, _, _))| *at);
        let next_slot = jobs.iter().filter_map(|j| j.next_after(now)).min();
        // A step of at most three hours, so that a row left `sending` by a kill is re-sent
        // (after the sender's grace) within the period.
        now = [next_mail, next_slot, Some(now + Duration::hours(3))]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
    }
    println!("cycle replay [{tag}]: {kills} SIGKILLs");
    let mut ids = BTreeSet::new();
    for e in std::fs::read_dir(d.join("outbox")).unwrap() {
        let e = e.unwrap();
        // A kill during a write leaves the file transport's hidden temp file (`.name.pid.tmp`,
        // renamed into place only when complete): not a sent mail.
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let raw = std::fs::read(e.path()).unwrap();
        let m = mail_parser::MessageParser::default()
            .parse(&raw[..])
            .unwrap();
        let id = m.message_id().unwrap().to_string();
        // Receipts carry a random-free but ledger-specific reference; compare by recipient
        // and subject for those, by Message-ID for scheduled mail.
        if id.starts_with("reminder.") || id.starts_with("digest.") {
            ids.insert(id);
        } else {
            ids.insert(format!(
                "receipt:{}:{}",
                m.to()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .unwrap_or(""),
                m.subject().unwrap_or("")
            ));
        }
    }
    if let Some(seed) = kill_seed {
        assert!(kills > 0, "seed {seed:#x} killed nothing");
    }
    ids
}

mod replay {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        common::with_db(common::Backend::Sqlite, binary_replay_with_sigkills).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        common::with_db(common::Backend::Postgres, binary_replay_with_sigkills).await;
    }
}
