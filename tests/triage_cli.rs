//! `vardval triage list|assign|reject|answer`: the desk's triage actions from the command
//! line, through the same core and audited as `cli:USER`: an unknown sender assigned to a
//! clinic (the registry learns the address, the plan is recorded for the clinic), a mail
//! with a failed DMARC check answered by hand (queued once, threaded), another rejected; an
//! item already handled is refused. Both databases.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use vardval::store::AuditFilter;

use common::app::{Overrides, spawn_app};

fn vardval(cfg: &std::path::Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vardval"))
        .args(["triage", args[0], "--config"])
        .arg(cfg)
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `vardval triage assign --id ID --clinic CLINIC --as eva`, which must succeed; its stdout.
fn assign(cfg: &std::path::Path, id: i64, clinic: &str) -> String {
    let id = id.to_string();
    let args = ["assign", "--id", &id, "--clinic", clinic, "--as", "eva"];
    let (ok, out, err) = vardval(cfg, &args, None);
    assert!(ok, "{err}");
    out
}

fn fixture(prefix: &str) -> (String, Vec<u8>) {
    let f = common::mail_fixtures()
        .into_iter()
        .find(|f| f.name.starts_with(prefix))
        .unwrap();
    (f.name.clone(), f.bytes.clone())
}

async fn triage_from_the_command_line(url: String) {
    let app = spawn_app(&url, Overrides::default()).await;
    for p in ["18-", "19-"] {
        let (name, bytes) = fixture(p);
        app.deliver(&name, &bytes, None);
    }
    app.run_once().await;
    let cfg = &app.config;

    let (ok, out, err) = vardval(cfg, &["list", "--format", "json"], None);
    assert!(ok, "{err}");
    let items: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_from = |needle: &str| {
        items
            .iter()
            .find(|i| i["from"].as_str().unwrap_or("").contains(needle))
            .unwrap_or_else(|| panic!("a triage item from {needle}: {out}"))["id"]
            .as_i64()
            .unwrap()
    };
    let unknown = by_from("webbpost.test");
    let spoofed = by_from("sjoudden@vc.test");

    // Assign the unknown sender to Björkdalen: the address is learned, the plan recorded.
    let out = assign(cfg, unknown, "bjorkdalen");
    assert!(out.contains("adressen lades till i registret"), "{out}");
    let clinic = app
        .store
        .clinics()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.id == "bjorkdalen")
        .unwrap();
    assert!(
        clinic
            .addresses
            .iter()
            .any(|e| e == "sofia.engdahl77@webbpost.test"),
        "{clinic:?}"
    );
    assert!(
        app.store
            .submissions()
            .await
            .unwrap()
            .iter()
            .any(|s| s.clinic_id == "bjorkdalen"),
        "the plan in the mail is recorded for the clinic"
    );

    // Answer the spoofed one by hand, the text on standard input.
    let id = spoofed.to_string();
    let answer = [
        "answer",
        "--id",
        id.as_str(),
        "--subject",
        "Sv: Er plan",
        "--as",
        "eva",
    ];
    let (ok, out, err) = vardval(
        cfg,
        &answer,
        Some("Hej!\n\nVi har inte kunnat bekräfta avsändaren.\n"),
    );
    assert!(ok, "{err}");
    assert!(out.contains("utkorgen"), "{out}");
    let (ok, _, err) = vardval(cfg, &answer, Some("Igen"));
    assert!(!ok, "a handled item cannot be answered again");
    assert!(err.contains("already handled"), "{err}");
    let (ok, _, err) = vardval(
        cfg,
        &["reject", "--id", &unknown.to_string(), "--as", "eva"],
        None,
    );
    assert!(!ok && err.contains("already handled"), "{err}");

    let audit = app
        .store
        .audit_list(
            20,
            &AuditFilter {
                actor: Some("cli:eva".into()),
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|r| r.action.as_str()).collect();
    assert!(
        actions.contains(&"triage.assign") && actions.contains(&"triage.answer"),
        "{actions:?}"
    );
    let (_, out, _) = vardval(cfg, &["list", "--format", "json"], None);
    assert!(
        !out.contains("webbpost.test") && !out.contains("sjoudden@vc.test"),
        "{out}"
    );
    assert!(app.store.audit_verify().await.unwrap().ok());
}

/// An unknown sender's mail over `max_message_bytes`, assigned to a clinic: read again the way
/// the sources read it (its header, and the archived file copied in pieces for the archive
/// step), never whole in memory; recorded for the clinic as too large.
async fn an_oversize_mail_assigned_from_triage_is_read_by_its_header(url: String) {
    let app = spawn_app(
        &url,
        Overrides {
            extra_toml: "[limits]\nmax_message_bytes = 100000\n".into(),
            ..Overrides::default()
        },
    )
    .await;
    let mut raw = b"From: Sofia Engdahl <sofia.engdahl77@webbpost.test>\r\n\
        To: vardval@rjl.test\r\nSubject: Projektplan\r\nMessage-ID: <big@webbpost.test>\r\n\
        MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHej!\r\n"
        .to_vec();
    while raw.len() < 400_000 {
        raw.extend_from_slice(b"en rad till i ett mycket stort mejl\r\n");
    }
    app.deliver("big", &raw, None);
    let sum = app.run_once().await;
    assert_eq!(sum.quarantined, 1, "{sum:?}");
    let cfg = &app.config;
    let (ok, out, err) = vardval(cfg, &["list", "--format", "json"], None);
    assert!(ok, "{err}");
    let item: serde_json::Value = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|i| i["from"].as_str().unwrap_or("").contains("webbpost.test"))
        .unwrap_or_else(|| panic!("a triage item for the large mail: {out}"));
    let id = item["id"].as_i64().unwrap();
    let out = assign(cfg, id, "bjorkdalen");
    assert!(out.contains("mejlet registrerat"), "{out}");
    let row = app
        .store
        .seen_source(&format!("triage:{id}"))
        .await
        .unwrap()
        .expect("recorded again for the clinic");
    assert_eq!(row.class.as_str(), "unreadable_document");
    assert!(
        row.reason
            .contains(&format!("message of {} bytes", raw.len()))
            && row.reason.contains("the whole mail is archived"),
        "{}",
        row.reason
    );
    assert_eq!(std::fs::read(&row.archive_path).unwrap(), raw);
}

both!(
    triage_from_the_command_line,
    an_oversize_mail_assigned_from_triage_is_read_by_its_header
);
