//! The real binary for the payouts tests: a Maildir + SQLite (or PostgreSQL) configuration
//! with `[payouts]` and `[finance]`, running commands, and a ledger of clinics with confirmed
//! green plans (imported and decided the way reviewers do).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{TimeZone, Utc};
use vardval::domain::ids::luhn_check_digit;
use vardval::store::{
    Grade, Intake, MessageClass, NewDecision, NewMessage, NewSubmission, Store, SubmissionKind,
};

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vardval"))
}

pub fn config(dir: &Path) -> PathBuf {
    config_with(dir, "sqlite://vardval.db")
}

/// The same configuration over another database URL.
pub fn config_with(dir: &Path, db_url: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
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

pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = bin().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `n` clinics imported with the CLI; the first `green` get a confirmed green plan.
pub async fn setup(dir: &Path, n: usize, green: usize) -> PathBuf {
    let url = format!("sqlite://{}", dir.join("vardval.db").display());
    setup_on(dir, &url, n, green).await
}

/// [`setup`] on the database at `url`.
pub async fn setup_on(dir: &Path, url: &str, n: usize, green: usize) -> PathBuf {
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
                analysis_json: super::green_analysis(1),
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
