//! Crash safety, the acceptance test: the real binary (`vardval run --config F`, IMAP on the
//! mail lab, SMTP submission, SQLite or PostgreSQL) is SIGKILLed at random points while it
//! works through 200 clinic mails, and restarted each time; then it may finish, and:
//!
//! - every mail is in the ledger exactly once (messages table, `status --json` counts,
//!   `submissions --format json` with contiguous versions), its raw bytes archived intact;
//! - every reply reached its clinic exactly once (the clinics' mailboxes over IMAP, counted by
//!   Message-ID and by In-Reply-To: no duplicates, none missing), the outbox is empty;
//! - every mail was moved (INBOX empty, the processed folder holds each of the 200 once).
//!
//! Kills: at least [`MIN_KILLS`], each 20–400 ms after a (re)start, drawn from a seeded RNG
//! (the seed is printed; `VARDVAL_CRASH_SEED=N` replays it), and they go on while mail is
//! still unrecorded (up to [`MAX_KILLS`] or [`KILL_PHASE`]). What the test measured (kills,
//! times, re-queued outbox rows, duplicates) goes to stdout (`--nocapture` shows it).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use vardval::ports::Transport;

use common::agent::{
    Agent, fresh_message_id, ledger_messages, ledger_outbox, mail_with_document, received,
    status_counts, text_mail,
};
use common::lab::{Lab, lab, plain_smtp, poll_until};

const MAILS_PER_CLINIC: usize = 5;
const CLINICS: usize = 40;
const MAILS: usize = MAILS_PER_CLINIC * CLINICS;
const MIN_KILLS: usize = 20;
const MAX_KILLS: usize = 120;
const KILL_PHASE: Duration = Duration::from_secs(75);

/// splitmix64: small, seedable, good enough to place kills.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

fn seed() -> u64 {
    std::env::var("VARDVAL_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

/// Readable documents of each milestone (all of them pre-grade and detect the milestone).
const M1_DOCS: &[&str] = &[
    "m1-green-heading-styles.docx",
    "m1-green-rubrik1-style.pdf",
    "m1-green-plain-titles.odt",
    "m1-green-numbered-no-letter.rtf",
    "m1-green-bold-headings.doc",
    "m1-yellow-placeholders.docx",
    "m1-red-toc-two-sections.pdf",
    "m1-yellow-table-template-empty-cells.odt",
    "m1-red-instruction-text.rtf",
    "m1-green-table-template.doc",
    "m1-green-caps-headings.docx",
];
const M2_DOCS: &[&str] = &[
    "m2-green-h-table.docx",
    "m2-yellow-h-one-point.pdf",
    "m2-red-odt.odt",
    "m2-green-h-prose-list.rtf",
    "m2-green-legacy.doc",
    "m2-yellow-h-table-one-row.docx",
];

/// One clinic mail of the test and what must become of it.
#[derive(Debug, Clone)]
struct Mail {
    clinic_id: String,
    from: String,
    message_id: String,
    raw: Vec<u8>,
    /// Classes it may be recorded with (a plan and its supplement may arrive in either order).
    classes: &'static [&'static str],
    replied: bool,
}

fn mails(agent: &Agent) -> Vec<Mail> {
    let docs: HashMap<&str, Vec<u8>> = M1_DOCS
        .iter()
        .chain(M2_DOCS)
        .map(|d| (*d, common::agent::fixture_document(d)))
        .collect();
    let mut out = Vec::with_capacity(MAILS);
    for (i, c) in agent.clinics.iter().enumerate() {
        let mid = |label: &str| fresh_message_id(label, "vc.test");
        let plan = M1_DOCS[i % M1_DOCS.len()];
        let revised = M1_DOCS[(i + 5) % M1_DOCS.len()];
        let report = M2_DOCS[i % M2_DOCS.len()];
        let to = &agent.address;
        let m = |message_id: String, raw: Vec<u8>, classes, replied| Mail {
            clinic_id: c.id.clone(),
            from: c.address.clone(),
            message_id,
            raw,
            classes,
            replied,
        };
        let id = mid("plan");
        let raw = mail_with_document(
            &c.address,
            to,
            &format!("Projektplan 2026 – {}", c.name),
            &id,
            plan,
            &docs[plan],
        );
        out.push(m(id, raw, &["submission", "supplement"][..], true));
        let id = mid("supplement");
        let raw = mail_with_document(
            &c.address,
            to,
            "Komplettering: reviderad projektplan",
            &id,
            revised,
            &docs[revised],
        );
        out.push(m(id, raw, &["supplement"][..], true));
        let id = mid("report");
        let raw = mail_with_document(
            &c.address,
            to,
            &format!("Slutrapport 2026 – {}", c.name),
            &id,
            report,
            &docs[report],
        );
        out.push(m(id, raw, &["submission"][..], true));
        let id = mid("nodoc");
        let raw = text_mail(
            &c.address,
            to,
            "Projektplanen",
            &id,
            "",
            "Hej, projektplanen kommer nästa vecka.",
        );
        out.push(m(id, raw, &["no_document"][..], true));
        let id = mid("away");
        let raw = text_mail(
            &c.address,
            to,
            "Automatiskt svar: Projektplan",
            &id,
            "Auto-Submitted: auto-replied\r\nX-Autoreply: yes\r\n",
            "Jag är på semester till och med vecka 32.",
        );
        out.push(m(id, raw, &["auto_reply"][..], false));
    }
    assert_eq!(out.len(), MAILS);
    out
}

fn spawn_daemon(agent: &Agent, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("daemon log");
    Command::new(env!("CARGO_BIN_EXE_vardval"))
        .arg("run")
        .arg("--config")
        .arg(&agent.config)
        .env("RUST_LOG", "warn,vardval=info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn vardval run")
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Progress as the ledger shows it: our mails recorded, outbox rows sent, outbox backlog.
async fn progress(store: &vardval::store::Store, ours: &BTreeSet<String>) -> (usize, usize, i64) {
    let recorded = ledger_messages(store)
        .await
        .iter()
        .filter(|m| {
            m.mail_message_id
                .as_ref()
                .is_some_and(|id| ours.contains(id))
        })
        .count();
    let sent = ledger_outbox(store)
        .await
        .iter()
        .filter(|o| o.status == "sent")
        .count();
    let (backlog, _) = store.outbox_backlog().await.expect("outbox backlog");
    (recorded, sent, backlog)
}

async fn survives_random_kills(url: String) {
    let Some(lab) = lab() else { return };
    let _g = lab.shared().await;
    let backend = if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let seed = seed();
    println!("crash[{backend}]: seed {seed} (replay with VARDVAL_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let agent = Agent::new(lab, &format!("crash-{backend}"), &url, CLINICS);
    let log: PathBuf = agent.dir.path().join("daemon.log");
    let mails = mails(&agent);
    let ours: BTreeSet<String> = mails.iter().map(|m| m.message_id.clone()).collect();
    let t0 = Instant::now();

    // Clinics mail in through Postfix while the daemon is being killed.
    let delivery = {
        let mails = mails.clone();
        let agent_address = agent.address.clone();
        let transport = plain_smtp(lab);
        tokio::spawn(async move {
            for m in &mails {
                transport
                    .send(&m.from, std::slice::from_ref(&agent_address), &m.raw)
                    .await
                    .expect("SMTP delivery to the agent");
            }
            Instant::now()
        })
    };

    // Kill phase: through the intake and the sending of the receipts.
    let store = agent.store().await;
    let mut kills = 0usize;
    let mut delays = Vec::new();
    let mut kills_recording = 0usize;
    let mut kills_sending = 0usize;
    loop {
        let mut child = spawn_daemon(&agent, &log);
        let delay = rng.range(20, 400);
        delays.push(delay);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "vardval run exited on its own ({status}) {delay} ms after start; log:\n{}",
                log_tail(&log)
            );
        }
        child.start_kill().expect("SIGKILL");
        let status = child.wait().await.expect("wait for the killed daemon");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "killed by SIGKILL"
        );
        kills += 1;
        let (done, _, backlog) = progress(&store, &ours).await;
        if done < MAILS {
            kills_recording += 1;
        } else if backlog > 0 {
            kills_sending += 1;
        }
        let finished = done >= MAILS && backlog == 0;
        if kills >= MIN_KILLS && (finished || kills >= MAX_KILLS || t0.elapsed() > KILL_PHASE) {
            break;
        }
    }
    let kill_phase = t0.elapsed();
    let delivered_at = delivery.await.expect("delivery task");
    let (recorded_at_kill_end, sent_at_kill_end, _) = progress(&store, &ours).await;
    store.close().await;
    println!(
        "crash[{backend}]: {kills} SIGKILLs in {:.1} s (delays {}..{} ms, mean {} ms; \
         {kills_recording} while mail was unrecorded, {kills_sending} more while receipts were \
         unsent); {recorded_at_kill_end}/{MAILS} recorded and {sent_at_kill_end} replies sent by \
         then; all mail handed to Postfix after {:.1} s",
        kill_phase.as_secs_f64(),
        delays.iter().min().unwrap_or(&0),
        delays.iter().max().unwrap_or(&0),
        delays.iter().sum::<u64>() / delays.len().max(1) as u64,
        (delivered_at - t0).as_secs_f64(),
    );

    // Let it finish.
    let mut child = spawn_daemon(&agent, &log);
    let expected_replies: usize = mails.iter().filter(|m| m.replied).count();
    let finish_from = Instant::now();
    let deadline = finish_from + Duration::from_secs(150);
    let wait = loop {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("the final daemon exited ({st}); log:\n{}", log_tail(&log));
        }
        match finished(lab, &agent, expected_replies).await {
            Ok(n) => break n,
            Err(e) if Instant::now() > deadline => {
                panic!(
                    "not finished 150 s after the kills: {e}; log:\n{}",
                    log_tail(&log)
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let finish = finish_from.elapsed();
    // Anything still in Postfix's queue would be a late duplicate: let it drain.
    let _ = poll_until(
        "Postfix's queue drains",
        Duration::from_secs(20),
        || async {
            match lab.postfix_queue_len() {
                0 => Ok(()),
                n => Err(format!("{n} queued")),
            }
        },
    )
    .await;
    // SIGTERM: finishes the message in hand and exits 0.
    let pid = child.id().expect("pid");
    let term = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status()
        .await
        .expect("kill -TERM");
    assert!(term.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the daemon stops within 30 s of SIGTERM")
        .expect("wait");
    assert!(
        exit.success(),
        "SIGTERM ends the daemon with 0: {exit}; log:\n{}",
        log_tail(&log)
    );
    println!(
        "crash[{backend}]: finished {:.1} s after the last kill ({wait} replies in the clinic mailboxes)",
        finish.as_secs_f64()
    );

    let report = verify(lab, &agent, &mails, &log).await;
    println!(
        "crash[{backend}]: total {:.1} s; kills {kills}; {report}",
        t0.elapsed().as_secs_f64()
    );
}

/// The log without terminal colour codes.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Done: every mail recorded, the outbox empty, the INBOX empty, every reply arrived.
async fn finished(lab: &Lab, agent: &Agent, expected_replies: usize) -> Result<usize, String> {
    let s = agent.cli_json(&["status", "--json"]).await?;
    let total: i64 = status_counts(&s).values().sum();
    if total < MAILS as i64 || s["outbox_backlog"] != 0 {
        return Err(format!("status {s}"));
    }
    let inbox = received(lab, &agent.address, "INBOX").await;
    if !inbox.is_empty() {
        return Err(format!("{} left in the INBOX", inbox.len()));
    }
    let mut arrived = 0;
    for c in &agent.clinics {
        arrived += received(lab, &c.address, "INBOX").await.len();
    }
    if arrived < expected_replies {
        return Err(format!("{arrived}/{expected_replies} replies arrived"));
    }
    Ok(arrived)
}

/// Everything the acceptance test requires, checked after the run. Prints what it measured
/// before it asserts, and returns a one-line summary.
async fn verify(lab: &Lab, agent: &Agent, mails: &[Mail], log: &Path) -> String {
    let by_id: HashMap<&str, &Mail> = mails.iter().map(|m| (m.message_id.as_str(), m)).collect();
    let agent_addr = agent.address.to_lowercase();
    let mut problems: Vec<String> = Vec::new();

    // --- the daemon's own account of the crashes
    let text = strip_ansi(&std::fs::read_to_string(log).unwrap_or_default());
    // Half-sent replies: confirmed by our own copy coming back, or re-sent after the grace
    // period without one.
    let confirmed = text
        .lines()
        .filter(|l| l.contains("delivery confirmed by our own copy"))
        .count();
    let requeue_warnings = text
        .lines()
        .filter(|l| l.contains("without proof of delivery were re-queued"))
        .count();
    let requeued_rows: usize = text
        .lines()
        .filter(|l| l.contains("without proof of delivery were re-queued"))
        .filter_map(|l| l.split("count=").nth(1))
        .filter_map(|s| s.split_whitespace().next())
        .filter_map(|s| s.parse::<usize>().ok())
        .sum();

    // --- the ledger: messages
    let store = agent.store().await;
    let messages = ledger_messages(&store).await;
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut own_copies: BTreeMap<String, i64> = BTreeMap::new();
    for row in &messages {
        match row.mail_message_id.as_deref() {
            Some(id) if by_id.contains_key(id) => {
                *seen.entry(by_id[id].message_id.as_str()).or_default() += 1;
                let m = by_id[id];
                if !m.classes.contains(&row.class.as_str()) {
                    problems.push(format!(
                        "{id}: recorded as {}, expected one of {:?}",
                        row.class, m.classes
                    ));
                }
                if row.clinic_id.as_deref() != Some(m.clinic_id.as_str()) {
                    problems.push(format!("{id}: clinic {:?}", row.clinic_id));
                }
            }
            // The agent's own mail coming back (a receipt's envelope copy): allowed.
            _ if row.from_addr.as_deref().map(str::to_lowercase) == Some(agent_addr.clone()) => {
                *own_copies.entry(row.class.clone()).or_default() += 1;
            }
            _ => problems.push(format!("unexpected ledger message: {row:?}")),
        }
        // The archive holds the raw bytes intact.
        match std::fs::read(&row.archive_path) {
            Ok(bytes) => {
                let sha = vardval::adapters::archive::sha256_hex(&bytes);
                if sha != row.sha256 {
                    problems.push(format!("{}: archive bytes differ", row.archive_path));
                }
            }
            Err(e) => problems.push(format!("{}: archive unreadable: {e}", row.archive_path)),
        }
    }
    let ledger_dups: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    let ledger_missing: Vec<_> = mails
        .iter()
        .filter(|m| !seen.contains_key(m.message_id.as_str()))
        .map(|m| m.message_id.clone())
        .collect();
    if !ledger_dups.is_empty() {
        problems.push(format!("recorded more than once: {ledger_dups:?}"));
    }
    if !ledger_missing.is_empty() {
        problems.push(format!("never recorded: {ledger_missing:?}"));
    }

    // --- status counts = our classes (+ any own copies)
    let status = agent.status().await;
    let mut want: BTreeMap<String, i64> = own_copies.clone();
    for row in &messages {
        if row
            .mail_message_id
            .as_deref()
            .is_some_and(|id| by_id.contains_key(id))
        {
            *want.entry(row.class.clone()).or_default() += 1;
        }
    }
    if status_counts(&status) != want {
        problems.push(format!("status counts {status} != ledger {want:?}"));
    }
    if status["outbox_backlog"] != 0 {
        problems.push(format!("outbox backlog: {status}"));
    }

    // --- submissions: 3 documents per clinic; versions 1..n per clinic and milestone
    let subs = agent.submissions().await;
    let list = subs.as_array().cloned().unwrap_or_default();
    let ours: Vec<_> = list
        .iter()
        .filter(|s| {
            s["message_id"]
                .as_str()
                .is_some_and(|id| by_id.contains_key(id))
        })
        .collect();
    if ours.len() != 3 * CLINICS || ours.len() != list.len() {
        problems.push(format!(
            "submissions: {} of ours, {} in all, want {}",
            ours.len(),
            list.len(),
            3 * CLINICS
        ));
    }
    let mut versions: BTreeMap<(String, i64), Vec<i64>> = BTreeMap::new();
    for s in &ours {
        versions
            .entry((
                s["clinic_id"].as_str().unwrap_or("").to_string(),
                s["milestone"].as_i64().unwrap_or(0),
            ))
            .or_default()
            .push(s["version"].as_i64().unwrap_or(0));
        if s["receipt_sent_at"].is_null() {
            problems.push(format!("receipt not recorded as sent: {s}"));
        }
    }
    for c in &agent.clinics {
        for (milestone, n) in [(1, 2), (2, 1)] {
            let mut v = versions
                .get(&(c.id.clone(), milestone))
                .cloned()
                .unwrap_or_default();
            v.sort();
            if v != (1..=n).collect::<Vec<i64>>() {
                problems.push(format!("{} milestone {milestone}: versions {v:?}", c.id));
            }
        }
    }

    // --- the outbox: one sent row per replied mail
    let outbox = ledger_outbox(&store).await;
    store.close().await;
    let mut rows_per_mail: HashMap<&str, usize> = HashMap::new();
    for o in &outbox {
        if o.status != "sent" {
            problems.push(format!("outbox row not sent: {o:?}"));
        }
        match o.answers.as_deref().and_then(|id| by_id.get(id)) {
            Some(m) => *rows_per_mail.entry(m.message_id.as_str()).or_default() += 1,
            None => problems.push(format!("outbox row answers no test mail: {o:?}")),
        }
    }
    for m in mails {
        let n = rows_per_mail
            .get(m.message_id.as_str())
            .copied()
            .unwrap_or(0);
        if n != usize::from(m.replied) {
            problems.push(format!("{}: {n} outbox rows", m.message_id));
        }
    }
    let receipt_ids: HashMap<&str, &str> = outbox
        .iter()
        .filter_map(|o| Some((o.mail_message_id.as_str(), o.answers.as_deref()?)))
        .collect();

    // --- the clinics' mailboxes: by Message-ID and by In-Reply-To
    let mut by_mid: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_irt: BTreeMap<String, usize> = BTreeMap::new();
    let mut stray = Vec::new();
    for c in &agent.clinics {
        for r in received(lab, &c.address, "INBOX").await {
            let mid = r.message_id.clone().unwrap_or_default();
            let irt = r.in_reply_to.clone().unwrap_or_default();
            *by_mid.entry(mid.clone()).or_default() += 1;
            *by_irt.entry(irt.clone()).or_default() += 1;
            let answered = by_id.get(irt.as_str());
            if answered.is_none_or(|m| m.from != c.address || !m.replied)
                || receipt_ids.get(mid.as_str()) != Some(&irt.as_str())
                || r.auto_submitted.as_deref() != Some("auto-replied")
            {
                stray.push(format!("{}: {r:?}", c.address));
            }
        }
    }
    let dup_mid: Vec<_> = by_mid.iter().filter(|(_, n)| **n > 1).collect();
    let dup_irt: Vec<_> = by_irt.iter().filter(|(_, n)| **n > 1).collect();
    let missing: Vec<_> = mails
        .iter()
        .filter(|m| m.replied && !by_irt.contains_key(&m.message_id))
        .map(|m| m.message_id.clone())
        .collect();
    let delivered: usize = by_mid.values().sum();
    let extra_copies: usize = dup_mid.iter().map(|(_, n)| **n - 1).sum();
    if !dup_mid.is_empty() || !dup_irt.is_empty() {
        // A duplicate with the Message-ID of the one outbox row of its mail is that row sent
        // again: a half-sent row re-sent although the server had taken it (its own copy did
        // not come back within the grace period).
        let same_row = dup_irt.len() == dup_mid.len()
            && dup_mid
                .iter()
                .all(|(mid, _)| receipt_ids.contains_key(mid.as_str()));
        problems.push(format!(
            "{}duplicate receipts: {extra_copies} extra copies of {} receipts \
             ({confirmed} half-sent rows confirmed by their copy; {requeued_rows} re-sent after \
             the grace period in {requeue_warnings} passes); by Message-ID {dup_mid:?}; \
             by In-Reply-To {dup_irt:?}",
            if same_row {
                "the same outbox row sent twice: "
            } else {
                ""
            },
            dup_mid.len(),
        ));
    }
    if !missing.is_empty() {
        problems.push(format!("replies missing: {missing:?}"));
    }
    if !stray.is_empty() {
        problems.push(format!("unexpected mail in clinic mailboxes: {stray:#?}"));
    }

    // --- the agent's mailbox
    let inbox = received(lab, &agent.address, "INBOX").await;
    if !inbox.is_empty() {
        problems.push(format!("{} messages left in the INBOX", inbox.len()));
    }
    let processed = received(lab, &agent.address, "Behandlat").await;
    let mut moved: BTreeMap<String, usize> = BTreeMap::new();
    let mut own_moved = 0;
    for r in &processed {
        let mid = r.message_id.clone().unwrap_or_default();
        if by_id.contains_key(mid.as_str()) {
            *moved.entry(mid).or_default() += 1;
        } else if r.from.as_deref() == Some(agent_addr.as_str()) {
            own_moved += 1;
        } else {
            problems.push(format!("unexpected mail in the processed folder: {r:?}"));
        }
    }
    let moved_twice: Vec<_> = moved.iter().filter(|(_, n)| **n > 1).collect();
    if moved.len() != MAILS || !moved_twice.is_empty() {
        problems.push(format!(
            "processed folder: {} of {MAILS} mails, twice: {moved_twice:?}",
            moved.len()
        ));
    }

    let summary = format!(
        "ledger {}/{MAILS} once ({} duplicates); replies delivered {delivered} of {} \
         ({extra_copies} extra copies; duplicated by Message-ID {}, by In-Reply-To {}; \
         missing {}); outbox rows {}; \
         processed folder {} (+{own_moved} own copies); half-sent replies confirmed by their \
         copy: {confirmed}; re-sent after the grace period: {requeued_rows} in {requeue_warnings} passes",
        seen.len(),
        ledger_dups.len(),
        mails.iter().filter(|m| m.replied).count(),
        dup_mid.len(),
        dup_irt.len(),
        missing.len(),
        outbox.len(),
        moved.values().sum::<usize>(),
    );
    println!("crash: {summary}");
    if !problems.is_empty() {
        // Keep the daemon's log: the agent's directory goes away with the test.
        let kept = std::env::temp_dir().join(format!(
            "vardval-crash-{}.log",
            agent.address.trim_end_matches("@vc.test")
        ));
        let _ = std::fs::copy(log, &kept);
        panic!(
            "{} problems after the crash run:\n{}\n(daemon log kept at {})",
            problems.len(),
            problems.join("\n"),
            kept.display()
        );
    }
    summary
}

both!(survives_random_kills);
