//! The agent end to end on the mail lab (Dovecot + Postfix, `tests/common/lab.rs`), with the
//! daemon running in-process (built like `commands::app` does, stopped with our own
//! cancellation token), on SQLite and on PostgreSQL:
//!
//! - clinic mail delivered over SMTP becomes ledger entries with the right classes, and the
//!   receipts arrive in the clinics' own mailboxes (read back over IMAP): Swedish subject,
//!   In-Reply-To the clinic's Message-ID, `Auto-Submitted: auto-replied`, exactly one each;
//!   no reply to an auto-reply or an unknown sender; everything moved to the processed folder;
//! - a Dovecot restart while the daemon runs: it reconnects (status shows it) and processes
//!   mail delivered after the restart;
//! - a Postfix outage: receipts are retried with backoff and go out, each exactly once, once
//!   Postfix is back.
//!
//! Every test has its own agent mailbox and clinic mailboxes (`tests/common/agent.rs`); the
//! two disruptive ones take the lab's exclusive gate. Waits poll with deadlines.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vardval::commands::app;
use vardval::pipeline::daemon::{self, RunSummary};
use vardval::ports::{SystemClock, Transport};

use common::agent::{
    Agent, LedgerOutbox, Received, TestClinic, fixture_from, ledger_messages, ledger_outbox,
    received, rewrite_headers, status_counts,
};
use common::lab::{Lab, StartSmtpOnDrop, lab, plain_smtp, poll_until};

/// The daemon in a task of this test, as `vardval run --config F` would run it.
struct Daemon {
    token: CancellationToken,
    handle: Option<JoinHandle<anyhow::Result<RunSummary>>>,
}

impl Daemon {
    async fn start(agent: &Agent) -> Daemon {
        // The daemon's log goes to the test's captured output (shown when a test fails).
        {
            use tracing_subscriber::layer::SubscriberExt;
            use tracing_subscriber::util::SubscriberInitExt;
            let filter = vardval::telemetry::filter(
                std::env::var("RUST_LOG").ok().as_deref(),
                "warn,vardval=info",
            );
            let _ = tracing_subscriber::registry()
                .with(tracing_subscriber::fmt::layer().with_test_writer())
                .with(filter)
                .try_init();
        }
        let s = agent.settings();
        let pipeline = Arc::new(
            app::build_pipeline(&s, Arc::new(SystemClock))
                .await
                .expect("build the pipeline"),
        );
        let source = app::build_source(&s).expect("build the mail source");
        let transport = Arc::new(app::build_transport(&s).expect("build the transport"));
        let token = CancellationToken::new();
        let handle = tokio::spawn(daemon::run(
            pipeline,
            source,
            transport,
            app::run_options(&s, false),
            token.clone(),
        ));
        Daemon {
            token,
            handle: Some(handle),
        }
    }

    /// Cancel (like SIGTERM) and wait for a clean stop.
    async fn stop(mut self) -> RunSummary {
        self.token.cancel();
        let h = self.handle.take().expect("running");
        tokio::time::timeout(Duration::from_secs(30), h)
            .await
            .expect("the daemon stops within 30 s of the cancel")
            .expect("daemon task")
            .expect("the daemon run ends Ok")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// One clinic mail of a test and what must become of it.
struct Case {
    from: String,
    message_id: String,
    raw: Vec<u8>,
    class: &'static str,
    /// The clinic that must get exactly one reply, and how its subject starts.
    reply: Option<(String, &'static str)>,
}

const RECEIPT: &str = "Mottagningsbekräftelse";
const NO_DOCUMENT: &str = "Vi hittade inget dokument";
const PRECHECK: &str = "Förhandskontroll av er";

fn case(
    agent: &Agent,
    fixture: &str,
    from: &str,
    class: &'static str,
    reply: Option<&'static str>,
) -> Case {
    let (raw, message_id) = fixture_from(fixture, from, &agent.address);
    Case {
        from: from.to_string(),
        message_id,
        raw,
        class,
        reply: reply.map(|s| (from.to_string(), s)),
    }
}

/// An address that is not in the agent's registry (its mailbox must stay empty).
fn stranger(agent: &Agent) -> String {
    agent.address.replacen("agent-", "stranger-", 1)
}

/// Sends a clinic mail through Postfix (the plain SMTP port, no AUTH), like a clinic would.
async fn send_smtp(lab: &Lab, agent: &Agent, c: &Case) {
    plain_smtp(lab)
        .send(&c.from, std::slice::from_ref(&agent.address), &c.raw)
        .await
        .expect("SMTP delivery to the agent's mailbox");
}

async fn wait_connected(agent: &Agent) {
    poll_until("the daemon connects", Duration::from_secs(30), || async {
        let s = agent.cli_json(&["status", "--json"]).await?;
        if s["connection_state"] == "connected" {
            Ok(())
        } else {
            Err(s.to_string())
        }
    })
    .await
}

/// Waits until the ledger holds `n` messages, the outbox is empty and every expected reply
/// has arrived in its clinic's mailbox.
async fn wait_done(lab: &Lab, agent: &Agent, cases: &[Case], within: Duration) {
    let n = cases.len() as i64;
    let mut want: BTreeMap<&str, usize> = BTreeMap::new();
    for c in cases {
        if let Some((to, _)) = &c.reply {
            *want.entry(to.as_str()).or_default() += 1;
        }
    }
    poll_until("all mail processed and answered", within, || {
        let want = want.clone();
        async move {
            let s = agent.cli_json(&["status", "--json"]).await?;
            let total: i64 = status_counts(&s).values().sum();
            if total < n || s["outbox_backlog"] != 0 {
                return Err(format!("status {s}"));
            }
            for (to, k) in &want {
                let got = received(lab, to, "INBOX").await.len();
                if got < *k {
                    return Err(format!("{to} has {got} of {k} replies; status {s}"));
                }
            }
            let inbox = received(lab, &agent.address, "INBOX").await.len();
            if inbox > 0 {
                return Err(format!("{inbox} messages in the agent's INBOX"));
            }
            Ok(())
        }
    })
    .await
}

/// The checks every scenario ends with: classes in the ledger, one reply per expected
/// clinic thread and none elsewhere, nothing left in the INBOX, everything processed.
///
/// The agent's own mail coming back to its mailbox (a receipt's envelope copy to itself,
/// which confirms the send) may be recorded and moved too; anything else is an error.
async fn assert_outcome(lab: &Lab, agent: &Agent, cases: &[Case]) {
    let store = agent.store().await;
    let own = |from: Option<&str>| from.is_some_and(|f| f.eq_ignore_ascii_case(&agent.address));
    let (own_copies, messages): (Vec<_>, Vec<_>) = ledger_messages(&store)
        .await
        .into_iter()
        .partition(|m| own(m.from_addr.as_deref()));
    assert_eq!(messages.len(), cases.len(), "one ledger row per mail");
    for c in cases {
        let rows: Vec<_> = messages
            .iter()
            .filter(|m| m.mail_message_id.as_deref() == Some(c.message_id.as_str()))
            .collect();
        assert_eq!(rows.len(), 1, "{}: recorded exactly once", c.message_id);
        assert_eq!(rows[0].class, c.class, "{}: class", c.message_id);
    }
    let status = agent.status().await;
    let mut want_counts: BTreeMap<String, i64> = BTreeMap::new();
    for c in cases {
        *want_counts.entry(c.class.to_string()).or_default() += 1;
    }
    for m in &own_copies {
        *want_counts.entry(m.class.clone()).or_default() += 1;
    }
    assert_eq!(
        status_counts(&status),
        want_counts,
        "status counts: {status}"
    );
    assert_eq!(status["outbox_backlog"], 0, "{status}");
    // Checked after the daemon stopped: status says so, not the last connection state.
    assert_eq!(status["daemon"], "stopped", "{status}");
    assert_eq!(status["connection_state"], "stopped", "{status}");
    assert!(status["stopped_at"].is_string(), "{status}");
    assert!(status["last_ok_at"].is_string(), "{status}");
    assert_eq!(status["current_error"], serde_json::Value::Null, "{status}");

    // The outbox: one sent row per reply, to the right clinic, answering the right mail.
    let outbox: Vec<LedgerOutbox> = ledger_outbox(&store).await;
    let replied: Vec<&Case> = cases.iter().filter(|c| c.reply.is_some()).collect();
    assert_eq!(outbox.len(), replied.len(), "outbox rows: {outbox:#?}");
    for o in &outbox {
        assert_eq!(o.status, "sent", "{o:?}");
        let c = replied
            .iter()
            .find(|c| o.answers.as_deref() == Some(c.message_id.as_str()))
            .unwrap_or_else(|| panic!("an outbox row answers no test mail: {o:?}"));
        assert_eq!(
            o.recipient.to_lowercase(),
            c.from.to_lowercase(),
            "{o:?} goes to the sender"
        );
    }

    // What the clinics received, read over IMAP.
    let mut by_mailbox: HashMap<String, Vec<Received>> = HashMap::new();
    for c in cases {
        if !by_mailbox.contains_key(&c.from) {
            by_mailbox.insert(c.from.clone(), received(lab, &c.from, "INBOX").await);
        }
    }
    for c in cases {
        let inbox = &by_mailbox[&c.from];
        let answers: Vec<&Received> = inbox
            .iter()
            .filter(|r| r.in_reply_to.as_deref() == Some(c.message_id.as_str()))
            .collect();
        match &c.reply {
            Some((_, subject)) => {
                assert_eq!(
                    answers.len(),
                    1,
                    "{} ({}): exactly one reply; mailbox {inbox:#?}",
                    c.message_id,
                    c.class
                );
                let r = answers[0];
                assert!(
                    r.subject.starts_with(subject),
                    "{}: subject {:?} starts with {subject:?}",
                    c.message_id,
                    r.subject
                );
                assert_eq!(r.auto_submitted.as_deref(), Some("auto-replied"), "{r:?}");
                assert_eq!(r.from.as_deref(), Some(agent.address.as_str()), "{r:?}");
                let o = outbox
                    .iter()
                    .find(|o| o.answers.as_deref() == Some(c.message_id.as_str()))
                    .expect("its outbox row");
                assert_eq!(r.message_id.as_deref(), Some(o.mail_message_id.as_str()));
            }
            None => assert!(
                answers.is_empty(),
                "{} ({}): no reply; got {answers:#?}",
                c.message_id,
                c.class
            ),
        }
    }
    // Every mailbox holds exactly the expected replies, no more.
    for (mailbox, inbox) in &by_mailbox {
        let want = cases
            .iter()
            .filter(|c| c.reply.as_ref().is_some_and(|(to, _)| to == mailbox))
            .count();
        assert_eq!(inbox.len(), want, "{mailbox}: {inbox:#?}");
    }

    // The agent's mailbox: INBOX empty, every mail in the processed folder once.
    let inbox = received(lab, &agent.address, "INBOX").await;
    assert!(inbox.is_empty(), "INBOX not empty: {inbox:#?}");
    let processed = received(lab, &agent.address, "Behandlat").await;
    let mut ids: Vec<String> = processed
        .iter()
        .filter(|r| !own(r.from.as_deref()))
        .map(|r| r.message_id.clone().unwrap_or_default())
        .collect();
    ids.sort();
    let mut want: Vec<String> = cases.iter().map(|c| c.message_id.clone()).collect();
    want.sort();
    assert_eq!(ids, want, "the processed folder holds every mail once");
    store.close().await;
}

fn clinic(agent: &Agent, i: usize) -> &TestClinic {
    &agent.clinics[i]
}

async fn receipts_reach_the_clinics(url: String) {
    let Some(lab) = lab() else { return };
    let _g = lab.shared().await;
    let agent = Agent::new(lab, "e2e-receipts", &url, 4);
    let stranger = stranger(&agent);
    let (c1, c2, c3, c4) = (
        clinic(&agent, 0).address.clone(),
        clinic(&agent, 1).address.clone(),
        clinic(&agent, 2).address.clone(),
        clinic(&agent, 3).address.clone(),
    );
    let cases = vec![
        case(
            &agent,
            "01-outlook-docx-projektplan.eml",
            &c1,
            "submission",
            Some(RECEIPT),
        ),
        case(
            &agent,
            "04-odt-slutrapport.eml",
            &c2,
            "submission",
            Some(RECEIPT),
        ),
        case(
            &agent,
            "09-no-attachment.eml",
            &c3,
            "no_document",
            Some(NO_DOCUMENT),
        ),
        case(
            &agent,
            "14-auto-reply-out-of-office.eml",
            &c4,
            "auto_reply",
            None,
        ),
        case(
            &agent,
            "18-unknown-sender-docx.eml",
            &stranger,
            "unknown_sender",
            None,
        ),
    ];
    let daemon = Daemon::start(&agent).await;
    wait_connected(&agent).await;
    for c in &cases {
        send_smtp(lab, &agent, c).await;
    }
    wait_done(lab, &agent, &cases, Duration::from_secs(90)).await;
    let summary = daemon.stop().await;
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert_outcome(lab, &agent, &cases).await;

    // The submissions command lists both documents with their milestone and receipt time.
    let subs = agent.submissions().await;
    let list = subs.as_array().expect("a JSON array");
    assert_eq!(list.len(), 2, "{subs:#}");
    for (c, clinic_id, milestone) in [(&cases[0], "k001", 1), (&cases[1], "k002", 2)] {
        let s = list
            .iter()
            .find(|s| s["message_id"] == c.message_id.as_str())
            .unwrap_or_else(|| panic!("{} listed: {subs:#}", c.message_id));
        assert_eq!(s["clinic_id"], clinic_id, "{s}");
        assert_eq!(s["milestone"], milestone, "{s}");
        assert_eq!(s["version"], 1, "{s}");
        assert_eq!(s["kind"], "submission", "{s}");
        assert!(s["receipt_sent_at"].is_string(), "receipt recorded: {s}");
    }
}

async fn reconnects_after_an_imap_restart(url: String) {
    let Some(lab) = lab() else { return };
    let _g = lab.exclusive().await;
    let agent = Agent::new(lab, "e2e-restart", &url, 2);
    let before = case(
        &agent,
        "01-outlook-docx-projektplan.eml",
        &clinic(&agent, 0).address.clone(),
        "submission",
        Some(RECEIPT),
    );
    let after = case(
        &agent,
        "04-odt-slutrapport.eml",
        &clinic(&agent, 1).address.clone(),
        "submission",
        Some(RECEIPT),
    );
    let daemon = Daemon::start(&agent).await;
    wait_connected(&agent).await;
    send_smtp(lab, &agent, &before).await;
    wait_done(
        lab,
        &agent,
        std::slice::from_ref(&before),
        Duration::from_secs(60),
    )
    .await;

    let restart_at = vardval::ports::Clock::now(&vardval::ports::SystemClock);
    tokio::task::spawn_blocking(|| common::lab::lab_static().run("restart-imap"))
        .await
        .expect("restart-imap");
    let restarted_at = vardval::ports::Clock::now(&vardval::ports::SystemClock);
    send_smtp(lab, &agent, &after).await;
    let cases = [before, after];
    wait_done(lab, &agent, &cases, Duration::from_secs(90)).await;

    // The status shows the outage and the reconnection.
    let s = agent.status().await;
    assert_eq!(s["connection_state"], "connected", "{s}");
    let ts = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|t| t.split_whitespace().next())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    };
    let last_poll = ts(&s["last_poll_at"]).expect("last_poll_at");
    assert!(last_poll > restarted_at, "polled after the restart: {s}");
    let last_error = ts(&s["last_error"]).unwrap_or_else(|| panic!("the outage is recorded: {s}"));
    assert!(
        last_error >= restart_at && last_error <= last_poll,
        "the recorded error is the restart's: {s}"
    );
    let summary = daemon.stop().await;
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert_outcome(lab, &agent, &cases).await;
}

async fn receipts_survive_an_smtp_outage(url: String) {
    let Some(lab) = lab() else { return };
    let _g = lab.exclusive().await;
    let agent = Agent::new(lab, "e2e-outage", &url, 3);
    let cases = vec![
        case(
            &agent,
            "01-outlook-docx-projektplan.eml",
            &clinic(&agent, 0).address.clone(),
            "submission",
            Some(RECEIPT),
        ),
        case(
            &agent,
            "04-odt-slutrapport.eml",
            &clinic(&agent, 1).address.clone(),
            "submission",
            Some(RECEIPT),
        ),
        case(
            &agent,
            "09-no-attachment.eml",
            &clinic(&agent, 2).address.clone(),
            "no_document",
            Some(NO_DOCUMENT),
        ),
    ];
    // Postfix down stops delivery into the lab too: deliver straight into Dovecot first.
    for c in &cases {
        lab.deliver_raw(&c.raw, &agent.address);
    }
    let restart_smtp = StartSmtpOnDrop(common::lab::lab_static());
    tokio::task::spawn_blocking(|| common::lab::lab_static().run("stop-smtp"))
        .await
        .expect("stop-smtp");
    let daemon = Daemon::start(&agent).await;

    // Every receipt is recorded and retried with backoff (backoff_secs = 1, max 2).
    let store = agent.store().await;
    let failed_at_least = |n: i64| {
        let store = &store;
        move || async move {
            let rows = ledger_outbox(store).await;
            let ok = rows.len() == 3
                && rows.iter().all(|o| {
                    o.attempts >= n
                        && o.status == "failed"
                        && o.last_error.is_some()
                        && o.next_attempt_at > o.last_attempt_at
                });
            if ok {
                Ok(rows)
            } else {
                Err(format!("{rows:#?}"))
            }
        }
    };
    let rows = poll_until(
        "every receipt failed at least twice",
        Duration::from_secs(60),
        failed_at_least(2),
    )
    .await;
    let s = agent.status().await;
    assert_eq!(s["outbox_backlog"], 3, "{s}");
    assert!(s["oldest_unsent"].is_string(), "{s}");
    for c in &cases {
        let inbox = received(lab, &c.from, "INBOX").await;
        assert!(inbox.is_empty(), "nothing arrives while Postfix is down");
    }

    // A restart during the outage, after every retry fell due: the first pass meets all
    // three rows due at once; each must still be retried (none may hang in 'sending').
    let first = daemon.stop().await;
    assert_eq!(first.failed, 0, "{first:?}");
    assert_eq!(first.sent.sent, 0, "{first:?}");
    let latest_due = rows
        .iter()
        .filter_map(|o| o.next_attempt_at.clone())
        .max()
        .expect("due times");
    poll_until("every retry falls due", Duration::from_secs(10), || {
        let latest_due = latest_due.clone();
        async move {
            let now = vardval::store::ts(vardval::ports::Clock::now(&vardval::ports::SystemClock));
            if now > latest_due {
                Ok(())
            } else {
                Err(format!("now {now}, last due {latest_due}"))
            }
        }
    })
    .await;
    let attempts_before: i64 = rows.iter().map(|o| o.attempts).max().unwrap_or(0);
    let daemon = Daemon::start(&agent).await;
    let rows = poll_until(
        "every receipt is retried after the restart",
        Duration::from_secs(60),
        failed_at_least(attempts_before + 2),
    )
    .await;
    let attempts_before: Vec<i64> = rows.iter().map(|o| o.attempts).collect();

    tokio::task::spawn_blocking(|| common::lab::lab_static().run("start-smtp"))
        .await
        .expect("start-smtp");
    drop(restart_smtp);
    wait_done(lab, &agent, &cases, Duration::from_secs(60)).await;
    let summary = daemon.stop().await;
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert!(summary.sent.retried >= 6, "{summary:?}");
    assert_eq!(summary.sent.sent, 3, "{summary:?}");
    assert_eq!(summary.sent.dead, 0, "{summary:?}");
    let rows = ledger_outbox(&store).await;
    for (o, before) in rows.iter().zip(attempts_before) {
        assert!(o.attempts > before, "sent on a later attempt: {o:?}");
    }
    store.close().await;
    assert_outcome(lab, &agent, &cases).await;
}

/// `vardval doctor` against the real servers: logs in to IMAP and SMTP and says so; with a
/// wrong mailbox password it names the mailbox as the problem and fails.
async fn doctor_checks_the_real_logins(url: String) {
    let Some(lab) = lab() else { return };
    let _g = lab.shared().await;
    let agent = Agent::new(lab, "e2e-doctor", &url, 1);
    let doctor = |cfg: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vardval"))
            .arg("doctor")
            .arg("--config")
            .arg(cfg)
            .output()
            .expect("run doctor")
    };
    let out = doctor(&agent.config);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok    mailbox: logged in to"), "{text}");
    assert!(
        text.contains("ok    smtp: connected and logged in"),
        "{text}"
    );
    let broken = std::fs::read_to_string(&agent.config).unwrap().replacen(
        "echo clinic-pass",
        "echo wrong-pass",
        1,
    );
    assert_ne!(
        broken,
        std::fs::read_to_string(&agent.config).unwrap(),
        "the password is a command"
    );
    let cfg = agent.dir.path().join("broken.toml");
    std::fs::write(&cfg, broken).unwrap();
    let out = doctor(&cfg);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("FEL   mailbox"), "{text}");
    assert!(
        !text.contains("wrong-pass"),
        "no secret in the report: {text}"
    );
}

/// Förhandskontroll on the real servers: a clinic sends its draft with "Förhandskontroll" in
/// the subject, another clinic submits the same kind of plan. The draft's answer arrives in
/// the first clinic's mailbox (threaded, the analysis, clearly not a submission); the ledger
/// has a submission only for the second; `status` counts the pre-check on its own.
async fn a_precheck_is_answered_not_submitted(url: String) {
    let Some(lab) = lab() else { return };
    let _g = lab.shared().await;
    let agent = Agent::new(lab, "e2e-precheck", &url, 2);
    let (c1, c2) = (
        clinic(&agent, 0).address.clone(),
        clinic(&agent, 1).address.clone(),
    );
    let mut draft = case(
        &agent,
        "01-outlook-docx-projektplan.eml",
        &c1,
        "precheck",
        Some(PRECHECK),
    );
    draft.raw = rewrite_headers(
        &draft.raw,
        &[(
            "Subject",
            "=?utf-8?q?F=C3=B6rhandskontroll=3A_v=C3=A5r_projektplan?=",
        )],
    );
    let cases = vec![
        draft,
        case(
            &agent,
            "01-outlook-docx-projektplan.eml",
            &c2,
            "submission",
            Some(RECEIPT),
        ),
    ];
    let daemon = Daemon::start(&agent).await;
    wait_connected(&agent).await;
    for c in &cases {
        send_smtp(lab, &agent, c).await;
    }
    wait_done(lab, &agent, &cases, Duration::from_secs(90)).await;
    let summary = daemon.stop().await;
    assert_eq!(summary.failed, 0, "{summary:?}");
    assert_outcome(lab, &agent, &cases).await;

    let subs = agent.submissions().await;
    let list = subs.as_array().expect("a JSON array");
    assert_eq!(list.len(), 1, "only the real submission: {subs:#}");
    assert_eq!(
        list[0]["message_id"],
        cases[1].message_id.as_str(),
        "{subs:#}"
    );
    let status = agent.status().await;
    assert_eq!(status["prechecks"], 1, "{status}");
    let answer = received(lab, &c1, "INBOX").await;
    assert_eq!(answer.len(), 1, "{answer:#?}");
    assert!(
        answer[0].subject.contains("inte inlämnad"),
        "{}",
        answer[0].subject
    );
}

both!(
    a_precheck_is_answered_not_submitted,
    receipts_reach_the_clinics,
    reconnects_after_an_imap_restart,
    receipts_survive_an_smtp_outage,
    doctor_checks_the_real_logins,
);
