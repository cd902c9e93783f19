//! The application as one unit, booted with `spawn_app` on SQLite and PostgreSQL: the daemon
//! runs intake, the outbox sender and the scheduler under one cancellation token and stops
//! when it is cancelled; anything that queues mail can ring the outbox's bell and the sender
//! wakes at once; and a `vardval clinics import` by another process reaches the running
//! daemon without a restart (intake and scheduler reload the registry).

mod common;

use std::time::Duration;

use chrono::{DateTime, Utc};
use vardval::jobs::scheduler::JobKind;
use vardval::ports::Clock;
use vardval::store::{MessageClass, NewOutbox};

use common::agent::{fixture_mail, rewrite_headers};
use common::app::{Overrides, spawn_app};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The fixture plan of clinic Björkdalen as if `from` had sent it, with its own Message-ID.
fn plan_from(from: &str, mid: &str) -> Vec<u8> {
    rewrite_headers(
        &fixture_mail("01-outlook-docx-projektplan.eml"),
        &[
            ("From", &format!("Testklinik <{from}>")),
            ("Message-ID", &format!("<{mid}>")),
        ],
    )
}

async fn daemon_runs_its_tasks_under_one_token_and_the_bell_wakes_the_sender(url: String) {
    let mut app = spawn_app(
        &url,
        Overrides {
            now: t("2026-02-02T09:00:00Z"),
            // The mailbox is looked at once at start, then not for an hour: nothing but the
            // bell can wake the sender early.
            toml_mailbox: Some(
                "[mailbox]\nkind = \"maildir\"\npath = \"Maildir\"\n\
                 processed_folder = \".Behandlat\"\npoll_interval_secs = 3600\n"
                    .into(),
            ),
            ..Default::default()
        },
    )
    .await;
    app.deliver(
        "plan",
        &plan_from("kontakt@bjorkdalen.vc.test", "plan-1@bjorkdalen.vc.test"),
        Some(t("2026-02-02T08:55:00Z")),
    );
    app.start().await;
    app.wait_until_idle().await;
    assert_eq!(app.sent().len(), 1, "the receipt");
    // Something outside intake and scheduler (the web desk, say) queues a mail and rings the
    // bell: the sender, asleep for 30 s with an empty outbox, sends it at once (well within
    // the 10 s this test waits).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let o = NewOutbox {
        kind: "notice".into(),
        dedupe_key: Some("notice:test".into()),
        recipient: "kontakt@bjorkdalen.vc.test".into(),
        cc: vec![],
        subject: "Test".into(),
        raw: b"Subject: Test\r\n\r\nHej\r\n".to_vec(),
        mail_message_id: "notice.test@rjl.test".into(),
        not_before: None,
    };
    app.store
        .enqueue(&o, "notice:test", app.clock.now(), None, None)
        .await
        .unwrap();
    app.bell.as_ref().expect("started").ring();
    let tr = app.transport.clone();
    app.wait_until(
        "the rung sender sent the notice",
        Duration::from_secs(10),
        || {
            let n = tr.count();
            async move { n == 2 }
        },
    )
    .await;
    let summary = app.shutdown().await;
    assert_eq!(summary.processed, 1);
    assert_eq!(summary.sent.sent, 2);
    app.store.close().await;
}

async fn clinics_import_reaches_the_running_daemon(url: String) {
    let mut app = spawn_app(
        &url,
        Overrides {
            now: t("2026-02-02T09:00:00Z"),
            ..Default::default()
        },
    )
    .await;
    app.start().await;
    // A clinic that is not registered yet writes.
    app.deliver(
        "before",
        &plan_from("ny@nyvik.vc.test", "before@nyvik.vc.test"),
        Some(t("2026-02-02T08:50:00Z")),
    );
    app.wait_until_idle().await;
    // A scheduler of this application, built before the import.
    let sch = app.scheduler(&[(JobKind::Reminders, "0 0 8 * * *")]).await;
    let before = app
        .store
        .seen_source("maildir:before")
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(
        before.class,
        MessageClass::UnknownSender,
        "{}",
        before.reason
    );
    // Another process imports a registry that has it.
    let mut csv =
        std::fs::read_to_string(common::root().join("fixtures/mail/clinics.csv")).unwrap();
    csv.push_str("nyvik,Vårdcentralen Nyvik,ny@nyvik.vc.test,4100\n");
    let file = app.path("clinics-new.csv");
    std::fs::write(&file, csv).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vardval"))
        .args(["clinics", "import"])
        .arg(&file)
        .arg("--config")
        .arg(&app.config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The running daemon (no restart) knows the clinic now.
    app.deliver(
        "after",
        &plan_from("ny@nyvik.vc.test", "after@nyvik.vc.test"),
        Some(t("2026-02-02T08:55:00Z")),
    );
    app.wait_until_idle().await;
    let after = app
        .store
        .seen_source("maildir:after")
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(after.class, MessageClass::Submission, "{}", after.reason);
    assert_eq!(after.clinic_id.as_deref(), Some("nyvik"));
    // The scheduler's registry too: its next tick reloads it.
    assert!(sch.ctx.registry.snapshot().get("nyvik").is_none());
    sch.tick(t("2026-02-02T09:30:00Z")).await.unwrap();
    assert!(sch.ctx.registry.snapshot().get("nyvik").is_some());
    app.shutdown().await;
    app.store.close().await;
}

both!(
    daemon_runs_its_tasks_under_one_token_and_the_bell_wakes_the_sender,
    clinics_import_reaches_the_running_daemon,
);
