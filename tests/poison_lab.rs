//! Poison mail in the mail lab (issue 10), the acceptance test: the real binary (`vardval
//! run`, debug build with `VARDVAL_TEST_FAULTS=1`, IMAP on Dovecot, replies through Postfix,
//! SQLite or PostgreSQL) gets 180 good clinic mails with 20 poison mails of different classes
//! mixed in: deep `message/rfc822` nesting, NUL bytes (subject, file name, Message-ID),
//! sender addresses no reply can go to, two `From:` fields, and mails that make parsing panic
//! or hang (the test-fault hook). Then:
//!
//! - every good mail is recorded once with its class and answered exactly once;
//! - every poison mail is recorded once, with a triage item (quarantined, or triaged);
//! - the daemon never exits on its own, the INBOX ends empty;
//! - the deeply nested mails (unparseable) and the ones the attempt ledger gave up on (panic,
//!   hang) are in the quarantine folder, every other mail in the processed folder, once each.
//!
//! The `_with_kills` variant SIGKILLs and restarts the daemon at random points (seeded; the
//! seed is printed) while the mail is worked through, then lets it finish. The time to work
//! through the mail is printed (docs/performance.md records it); the only time limit is a
//! generous safety timeout.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};
use vardval::ports::Transport;

use common::agent::{
    Agent, fixture_document, fresh_message_id, ledger_messages, ledger_outbox, mail_with_document,
    received, text_mail,
};
use common::lab::{Lab, lab, plain_smtp, read_folder};

const CLINICS: usize = 60;
const GOOD: usize = CLINICS * 3;
const POISON: usize = 20;
const SAFETY: Duration = Duration::from_secs(240);

const M1_DOCS: &[&str] = &[
    "m1-green-heading-styles.docx",
    "m1-green-plain-titles.odt",
    "m1-green-numbered-no-letter.rtf",
    "m1-yellow-placeholders.docx",
    "m1-green-caps-headings.docx",
];
const M2_DOCS: &[&str] = &[
    "m2-green-h-table.docx",
    "m2-red-odt.odt",
    "m2-green-h-prose-list.rtf",
    "m2-yellow-h-table-one-row.docx",
];

#[derive(Debug, Clone)]
struct Mail {
    /// A marker in the Message-ID (poison mail may have its Message-ID cleaned).
    marker: String,
    envelope_from: String,
    raw: Vec<u8>,
    /// Good: the classes it may be recorded with. Poison: the poison kind.
    kind: &'static str,
    good: bool,
    /// Good mail: answered exactly once. Poison mail: at most once.
    replied: bool,
}

/// splitmix64 for the kill delays.
struct Rng(u64);

impl Rng {
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        lo + (z ^ (z >> 31)) % (hi - lo + 1)
    }
}

fn good_mails(agent: &Agent) -> Vec<Mail> {
    let mut out = Vec::new();
    for (i, c) in agent.clinics.iter().enumerate() {
        let to = &agent.address;
        let plan = M1_DOCS[i % M1_DOCS.len()];
        let report = M2_DOCS[i % M2_DOCS.len()];
        let mk = |marker: String, raw, kind, replied| Mail {
            marker,
            envelope_from: c.address.clone(),
            raw,
            kind,
            good: true,
            replied,
        };
        let id = fresh_message_id("plan", "vc.test");
        let raw = mail_with_document(
            &c.address,
            to,
            "Projektplan 2026",
            &id,
            plan,
            &fixture_document(plan),
        );
        out.push(mk(id, raw, "submission", true));
        let id = fresh_message_id("report", "vc.test");
        let raw = mail_with_document(
            &c.address,
            to,
            "Slutrapport 2026",
            &id,
            report,
            &fixture_document(report),
        );
        out.push(mk(id, raw, "submission", true));
        let id = fresh_message_id("nodoc", "vc.test");
        let raw = text_mail(&c.address, to, "Fråga", &id, "", "När ska planen in?");
        out.push(mk(id, raw, "no_document", true));
    }
    out
}

/// A mail nested `depth` times as message/rfc822.
fn deeply_nested(from: &str, to: &str, mid: &str, depth: usize) -> Vec<u8> {
    let mut raw = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Projektplan\r\nMessage-ID: <{mid}>\r\n\
         MIME-Version: 1.0\r\n"
    );
    for _ in 0..depth {
        raw.push_str("Content-Type: message/rfc822\r\n\r\n");
    }
    raw.push_str("Content-Type: text/plain\r\n\r\nHej\r\n");
    raw.into_bytes()
}

fn poison_mails(agent: &Agent, dom: &str) -> Vec<Mail> {
    let to = &agent.address;
    let clinic = |i: usize| agent.clinics[i % agent.clinics.len()].address.clone();
    let doc = fixture_document("m1-green-bold-headings.docx");
    let mut out = Vec::new();
    let mut n = 0;
    let mut push = |kind: &'static str, replied: bool, f: &mut dyn FnMut(&str) -> Vec<u8>| {
        let marker = format!("p{n:02}-{}", fresh_message_id(kind, "vc.test"));
        n += 1;
        out.push(Mail {
            raw: f(&marker),
            marker,
            envelope_from: clinic(n),
            kind,
            good: false,
            replied,
        });
    };
    for i in 0..3 {
        push("deep", false, &mut |m| {
            deeply_nested(&clinic(i), to, m, 50_000)
        });
    }
    push("nul", true, &mut |m| {
        mail_with_document(&clinic(3), to, "Projektplan\u{0}2026", m, "plan.docx", &doc)
    });
    push("nul", true, &mut |m| {
        // RFC 2231 file name with an encoded NUL.
        let raw = mail_with_document(&clinic(4), to, "Projektplan", m, "plan.docx", &doc);
        String::from_utf8(raw)
            .expect("utf-8")
            .replace("filename=\"plan.docx\"", "filename*=utf-8''plan%00.docx")
            .into_bytes()
    });
    push("nul", true, &mut |m| {
        let mid = format!("{m}\u{0}x");
        mail_with_document(&clinic(5), to, "Projektplan", &mid, "plan.docx", &doc)
    });
    for (i, bad) in ["\"a b\"", "a.", "a..b"].into_iter().enumerate() {
        // One clinic (the domain): a document of its own for each, or they are duplicates.
        let own = fixture_document(M1_DOCS[i]);
        push("bad-address", false, &mut |m| {
            mail_with_document(
                &format!("{bad}@{dom}"),
                to,
                "Projektplan",
                m,
                M1_DOCS[i],
                &own,
            )
        });
    }
    for i in 0..3 {
        push("two-from", false, &mut |m| {
            let raw = mail_with_document(&clinic(10 + i), to, "Projektplan", m, "plan.docx", &doc);
            let other = common::agent::rewrite_headers(
                &raw,
                &[("From", "Mallory <mallory@elsewhere.test>")],
            );
            let mut out = format!("From: Testklinik <{}>\r\n", clinic(10 + i)).into_bytes();
            out.extend_from_slice(&other);
            out
        });
    }
    for kind in [
        "panic", "panic", "panic", "panic", "panic", "hang", "hang", "hang",
    ] {
        push(kind, false, &mut |m| {
            common::agent::rewrite_headers(
                &mail_with_document(&clinic(20), to, "Projektplan", m, "plan.docx", &doc),
                &[("X-Vardval-Test-Fault", kind)],
            )
        });
    }
    assert_eq!(out.len(), POISON);
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
        .env("VARDVAL_TEST_FAULTS", "1")
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

/// The ledger rows of each mail (class, open triage items), found by the marker in its Message-ID.
async fn recorded(agent: &Agent, mails: &[Mail]) -> HashMap<String, Vec<(String, i64)>> {
    let store = agent.store().await;
    let rows = ledger_messages(&store).await;
    let triage = store.triage_open().await.expect("triage");
    let ids: Vec<i64> = sqlx::query_scalar::<_, i64>("SELECT id FROM messages ORDER BY id")
        .fetch_all(store.pool())
        .await
        .expect("ids");
    store.close().await;
    let mut out: HashMap<String, Vec<(String, i64)>> = HashMap::new();
    for (row, id) in rows.iter().zip(ids) {
        let mid = row.mail_message_id.clone().unwrap_or_default();
        let t = triage.iter().filter(|t| t.message_row_id == id).count() as i64;
        for m in mails {
            if mid.contains(&m.marker) {
                out.entry(m.marker.clone())
                    .or_default()
                    .push((row.class.clone(), t));
            }
        }
    }
    out
}

async fn finished(lab: &Lab, agent: &Agent, mails: &[Mail]) -> Result<(), String> {
    let got = recorded(agent, mails).await;
    if got.len() < mails.len() {
        return Err(format!("{}/{} recorded", got.len(), mails.len()));
    }
    let store = agent.store().await;
    let (backlog, _) = store.outbox_backlog().await.map_err(|e| e.to_string())?;
    store.close().await;
    if backlog > 0 {
        return Err(format!("outbox backlog {backlog}"));
    }
    let inbox = received(lab, &agent.address, "INBOX").await;
    if !inbox.is_empty() {
        return Err(format!("{} left in the INBOX", inbox.len()));
    }
    Ok(())
}

async fn poison_run(url: String, kills: bool) {
    let Some(lab) = lab() else { return };
    let _g = lab.shared().await;
    let backend = if url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let name = if kills { "poison-kills" } else { "poison" };
    let agent = Agent::new(lab, &format!("{name}-{backend}"), &url, CLINICS);
    // A clinic registered by whole domain, for the sender addresses no reply can go to.
    let tag = agent
        .address
        .trim_start_matches("agent-")
        .trim_end_matches("@vc.test")
        .to_string();
    let dom = format!("dom-{tag}.vc.test");
    let csv = agent.dir.path().join("clinics.csv");
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text += &format!("kdom,Vårdcentralen Domän,@{dom},5000\n");
    std::fs::write(&csv, text).unwrap();
    let mut cfg = std::fs::read_to_string(&agent.config).unwrap();
    cfg += "\n[limits]\nmax_attempts = 3\nmessage_budget_secs = 2\n";
    std::fs::write(&agent.config, cfg).unwrap();

    let good = good_mails(&agent);
    let poison = poison_mails(&agent, &dom);
    // Poison mixed in: one after every ninth good mail.
    let mut mails = Vec::new();
    let mut p = poison.iter();
    for (i, g) in good.iter().enumerate() {
        mails.push(g.clone());
        if i % 9 == 8
            && let Some(x) = p.next()
        {
            mails.push(x.clone());
        }
    }
    mails.extend(p.cloned());
    assert_eq!(mails.len(), GOOD + POISON);

    let log = agent.dir.path().join("daemon.log");
    let t0 = Instant::now();
    let mut child = spawn_daemon(&agent, &log);
    // Good mail through Postfix; poison straight into the mailbox (Postfix may refuse NUL).
    let delivery = {
        let mails = mails.clone();
        let to = agent.address.clone();
        let transport = plain_smtp(lab);
        tokio::spawn(async move {
            for m in &mails {
                if m.good {
                    transport
                        .send(&m.envelope_from, std::slice::from_ref(&to), &m.raw)
                        .await
                        .expect("SMTP delivery");
                } else {
                    let raw = m.raw.clone();
                    let to = to.clone();
                    tokio::task::spawn_blocking(move || lab_static_deliver(&raw, &to))
                        .await
                        .expect("deliver");
                }
            }
        })
    };
    let mut kill_count = 0;
    let mut exits: Vec<String> = Vec::new();
    if kills {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        println!("{name}[{backend}]: seed {seed}");
        let mut rng = Rng(seed);
        for _ in 0..12 {
            tokio::time::sleep(Duration::from_millis(rng.range(300, 1500))).await;
            if let Some(st) = child.try_wait().expect("try_wait") {
                exits.push(st.to_string());
                child = spawn_daemon(&agent, &log);
                continue;
            }
            child.start_kill().expect("SIGKILL");
            child.wait().await.expect("wait");
            kill_count += 1;
            child = spawn_daemon(&agent, &log);
        }
    }
    delivery.await.expect("delivery");
    let deadline = t0 + SAFETY;
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            // As systemd would: start it again (and count it).
            exits.push(st.to_string());
            child = spawn_daemon(&agent, &log);
        }
        match finished(lab, &agent, &mails).await {
            Ok(()) => break,
            Err(e) if Instant::now() > deadline => {
                panic!(
                    "not finished within {SAFETY:?}: {e}; log:\n{}",
                    log_tail(&log)
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let took = t0.elapsed();
    // Replies arrive through Postfix: wait for the good ones.
    let expected: usize = mails.iter().filter(|m| m.good && m.replied).count();
    let replies = loop {
        let mut by_irt: HashMap<String, usize> = HashMap::new();
        for c in &agent.clinics {
            for r in received(lab, &c.address, "INBOX").await {
                *by_irt.entry(r.in_reply_to.unwrap_or_default()).or_default() += 1;
            }
        }
        let n = good
            .iter()
            .filter(|m| by_irt.contains_key(&m.marker))
            .count();
        if n >= expected || Instant::now() > deadline {
            break by_irt;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "{name}[{backend}]: {} mails ({GOOD} good, {POISON} poison) recorded in {:.1} s, {kill_count} SIGKILLs, {} exits on its own {exits:?}",
        mails.len(),
        took.as_secs_f64(),
        exits.len()
    );
    // The daemon never exits because of a mail: panicking and hanging mails are cut off, and
    // the deep-nesting mails are refused by the MIME scan before the parser sees them (a
    // mail that still killed the process would be parsed in a probe process from then on).
    assert!(
        exits.is_empty(),
        "the daemon exited {} times: {exits:?}; log:\n{}",
        exits.len(),
        log_tail(&log)
    );
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the daemon is still running"
    );
    child.start_kill().ok();

    let got = recorded(&agent, &mails).await;
    let mut problems = Vec::new();
    for m in &mails {
        let rows = got.get(&m.marker).cloned().unwrap_or_default();
        if rows.len() != 1 {
            problems.push(format!(
                "{} ({}): recorded {} times",
                m.marker,
                m.kind,
                rows.len()
            ));
            continue;
        }
        let (class, triage) = &rows[0];
        let answers = replies.get(&m.marker).copied().unwrap_or(0);
        if m.good {
            let ok_class = class == m.kind || (m.kind == "submission" && class == "supplement");
            if !ok_class {
                problems.push(format!("{}: good mail recorded as {class}", m.marker));
            }
            if answers != 1 {
                problems.push(format!("{}: good mail answered {answers} times", m.marker));
            }
        } else {
            if *triage < 1 {
                problems.push(format!("{} ({}): {class} without triage", m.marker, m.kind));
            }
            if answers > usize::from(m.replied) {
                problems.push(format!(
                    "{} ({}): answered {answers} times",
                    m.marker, m.kind
                ));
            }
            if ["panic", "hang"].contains(&m.kind) && class != "unparseable" {
                problems.push(format!(
                    "{} ({}): not quarantined ({class})",
                    m.marker, m.kind
                ));
            }
        }
    }
    let store = agent.store().await;
    let quarantined = ledger_outbox(&store).await.len();
    let q: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM intake_attempts WHERE state = 'quarantined'")
            .fetch_one(store.pool())
            .await
            .expect("count quarantined");
    store.close().await;
    println!("{name}[{backend}]: {q} quarantined, {quarantined} outbox rows");
    // In the mailbox: what could not be parsed (deep nesting) and the poison the attempt
    // ledger gave up on (panic, hang) are set apart in the quarantine folder, everything else
    // is filed in the processed folder, each mail exactly once. Raw bytes: a deeply nested
    // mail is never handed to a parser here.
    let folders = [
        (
            "Karantan",
            read_folder(lab, &agent.address, "Karantan").await,
        ),
        (
            "Behandlat",
            read_folder(lab, &agent.address, "Behandlat").await,
        ),
    ];
    for m in &mails {
        let want = if ["deep", "panic", "hang"].contains(&m.kind) {
            "Karantan"
        } else {
            "Behandlat"
        };
        for (folder, got) in &folders {
            let n = got
                .iter()
                .filter(|f| holds_marker(&f.bytes, &m.marker))
                .count();
            let expected = usize::from(*folder == want);
            if n != expected {
                problems.push(format!("{} ({}): {n} in {folder}", m.marker, m.kind));
            }
        }
    }
    println!(
        "{name}[{backend}]: {} in the quarantine folder, {} in the processed folder",
        folders[0].1.len(),
        folders[1].1.len()
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(q >= 8, "the panic and hang mails are quarantined ({q})");
}

/// `raw`'s own Message-ID field names `marker` (a reply's copy names it in `In-Reply-To`).
fn holds_marker(raw: &[u8], marker: &str) -> bool {
    raw.split(|&b| b == b'\n')
        .take_while(|l| !l.trim_ascii().is_empty())
        .filter(|l| l.len() > 11 && l[..11].eq_ignore_ascii_case(b"message-id:"))
        .any(|l| memchr::memmem::find(l, marker.as_bytes()).is_some())
}

fn lab_static_deliver(raw: &[u8], to: &str) {
    common::lab::lab_static().deliver_raw(raw, to);
}

async fn poison_in_the_lab(url: String) {
    poison_run(url, false).await;
}

async fn poison_in_the_lab_with_kills(url: String) {
    poison_run(url, true).await;
}

both!(poison_in_the_lab, poison_in_the_lab_with_kills);
