//! Helpers of `tests/payouts.rs`: the registry import, submissions with confirmed decisions,
//! the payout settings, and the checks of delivered files against expected rows (amounts
//! computed here from the rules, not by the code under test; pain.001 validated with xmllint).
#![allow(dead_code)]

pub mod cli;

/// A stored analysis (schema 1) of a milestone-`m` document with every required section ok
/// and a green pre-grade.
pub fn green_analysis(m: u8) -> String {
    let required: &[char] = if m == 1 {
        &['A', 'B', 'C', 'D', 'E', 'F', 'G']
    } else {
        &['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I']
    };
    let mut sections = serde_json::Map::new();
    for id in ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I'] {
        let req = required.contains(&id);
        sections.insert(
            id.to_string(),
            serde_json::json!({"status": if req { "ok" } else { "missing" }, "required": req}),
        );
    }
    serde_json::json!({
        "schema": 1,
        "document": {"file": "plan.docx", "format": "docx"},
        "milestone": m,
        "sections": sections,
        "grade": "green",
    })
    .to_string()
}

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use vardval::adapters::filedrop::DirDrop;
use vardval::config::PayoutSettings;
use vardval::domain::clinics::{parse_file, plan as import_plan};
use vardval::domain::ids::{iban_check_digits, luhn_check_digit};
use vardval::domain::rulebook::Rulebook;
use vardval::jobs::mail::JobMail;
use vardval::jobs::payouts::Payouts;
use vardval::payfiles::Debtor;
use vardval::store::{
    Grade, Intake, MessageClass, NewDecision, NewMessage, NewSubmission, Store, SubmissionKind,
};

pub const BASE: i64 = 10_000_000; // 100 000 kr
pub const PER: i64 = 1_000; // 10 kr

/// Instalments for `n` listed inhabitants: half each, the first rounded down to the öre.
pub fn expected_parts(n: i64) -> (i64, i64) {
    let total = BASE + PER * n;
    let first = total / 2;
    (first, total - first)
}

/// 07:00 Stockholm on a date (winter or summer time) as UTC.
pub fn at7(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Stockholm
        .with_ymd_and_hms(y, m, d, 7, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

pub fn clinic_id(i: usize) -> String {
    format!("vc-{i:02}")
}

/// Listed inhabitants between 3 000 and 25 000, spread deterministically.
pub fn listed(i: usize) -> i64 {
    3_000 + ((i as i64 * 7_919 + 1_234) % 22_001)
}

/// A valid payee of each kind in turn (bankgiro, plusgiro, IBAN).
pub fn payee(i: usize) -> String {
    match i % 3 {
        0 => {
            let body = format!("{:07}", 5_000_000 + i * 37);
            format!("bg:{body}{}", luhn_check_digit(&body))
        }
        1 => {
            let body = format!("{}", 40_000 + i * 13);
            format!("pg:{body}-{}", luhn_check_digit(&body))
        }
        _ => {
            let bban = format!("5000{:016}", 1_000_000 + i);
            format!("iban:SE{}{bban}", iban_check_digits("SE", &bban))
        }
    }
}

pub fn org_nr(i: usize) -> String {
    let body = format!("{:09}", 212_000_000 + i);
    format!("{}-{}{}", &body[..6], &body[6..], luhn_check_digit(&body))
}

/// Import the registry from CSV text (the real import path).
pub async fn import(store: &Store, rows: &[(usize, i64)], now: DateTime<Utc>) {
    let mut csv =
        String::from("id,name,emails,listed_inhabitants,year,reference_date,org_nr,payee\n");
    for &(i, n) in rows {
        csv.push_str(&format!(
            "{},Vårdcentralen Nummer {i},kontakt@{}.vc.test,{n},2026,2025-12-31,{},{}\n",
            clinic_id(i),
            clinic_id(i),
            org_nr(i),
            payee(i)
        ));
    }
    let lines = parse_file(&csv, 2026).unwrap();
    let current = store.clinics().await.unwrap();
    let p = import_plan(&current, &lines).unwrap();
    store.apply_clinic_plan(&p, "test", now).await.unwrap();
}

pub async fn submit(
    store: &Store,
    key: &str,
    clinic: &str,
    milestone: i64,
    at: DateTime<Utc>,
) -> i64 {
    let intake = Intake {
        message: NewMessage {
            source_key: key.to_string(),
            sha256: format!("{:0>64}", key.len()),
            archive_path: format!("archive/{key}.eml"),
            received_at: at,
            mail_message_id: Some(format!("{key}@vc.test")),
            from_addr: Some(format!("kontakt@{clinic}.vc.test")),
            subject: "Projektplan".into(),
            class: MessageClass::Submission,
            clinic_id: Some(clinic.to_string()),
            reason: "test".into(),
        },
        submission: Some(NewSubmission {
            clinic_id: clinic.to_string(),
            milestone,
            kind: SubmissionKind::Submission,
            received_at: at,
            on_time: true,
            pre_grade: Some(Grade::Green),
            doc_sha256: format!("doc-{key}"),
            doc_name: "plan.docx".into(),
            doc_format: Some("docx".into()),
            analysis_json: green_analysis(milestone as u8),
            error_kind: None,
            mail_message_id: Some(format!("{key}@vc.test")),
        }),
        triage_reason: None,
        outbox: vec![],
        now: at,
    };
    store
        .commit_intake(&intake)
        .await
        .unwrap()
        .submission_id
        .unwrap()
}

/// A submission and the reviewer's confirmed grade on it.
pub async fn decide(store: &Store, clinic: &str, milestone: i64, grade: Grade, at: DateTime<Utc>) {
    let key = format!("{clinic}-m{milestone}-{}", at.timestamp());
    let sub = submit(store, &key, clinic, milestone, at).await;
    let d = NewDecision {
        submission_id: sub,
        year: 2026,
        grade,
        sections: BTreeMap::new(),
        pre_grade: Some(Grade::Green),
        agreed_with_pregrade: grade == Grade::Green,
        comment: None,
        decided_by: "cli:granskare".into(),
    };
    store.record_decision(&d, None, at).await.unwrap();
}

pub fn settings() -> PayoutSettings {
    PayoutSettings {
        debtor: Debtor {
            name: "Region Exempel".into(),
            org_nr: "232100-0057".into(),
            iban: "SE4550000000058398257466".into(),
            bic: "ESSESESS".into(),
            initiating_party_id: None,
        },
        ..PayoutSettings::default()
    }
}

pub fn payouts_for(dir: &std::path::Path) -> Payouts {
    let rb = Rulebook::embedded();
    assert_eq!(rb.year, 2026);
    let mut rulebooks = BTreeMap::new();
    rulebooks.insert(rb.year, rb.clone());
    Payouts {
        settings: settings(),
        finance: vec!["ekonomi@rjl.test".into()],
        rulebooks,
        drop: Some(Arc::new(DirDrop {
            dir: dir.to_path_buf(),
        })),
        tz: rb.tz(),
    }
}

pub fn mail() -> JobMail {
    JobMail::load(None, "Vårdval <vardval@rjl.test>".parse().unwrap()).unwrap()
}

/// One expected CSV row: clinic, instalment, kind (Swedish), amount in öre.
pub type Row = (String, u8, &'static str, i64);

/// Öre from the CSV's decimal-comma text, by string handling only.
pub fn ore(s: &str) -> i64 {
    let neg = s.starts_with('-');
    let (kr, ore) = s.trim_start_matches('-').split_once(',').unwrap();
    assert_eq!(ore.len(), 2, "two decimals: {s}");
    let v = kr.parse::<i64>().unwrap() * 100 + ore.parse::<i64>().unwrap();
    if neg { -v } else { v }
}

/// Checks the delivered CSV and pain.001 of a batch against `want` (rows in any order).
pub fn check_files(dir: &std::path::Path, number: i64, want: &[Row]) {
    let stem = format!("vardval-utbetalning-{number:04}");
    let csv = std::fs::read_to_string(dir.join(format!("{stem}.csv"))).unwrap();
    assert!(csv.starts_with('\u{feff}'), "UTF-8 BOM");
    let mut got: Vec<Row> = vec![];
    for line in csv.trim_start_matches('\u{feff}').lines().skip(1) {
        let f: Vec<&str> = line.split(';').collect();
        assert_eq!(f.len(), 11, "{line}");
        assert_eq!(f[0], number.to_string());
        assert_eq!(f[7], "2026");
        let kind = match f[9] {
            "utbetalning" => "utbetalning",
            "korrigering" => "korrigering",
            "återkrav" => "återkrav",
            other => panic!("kind {other}"),
        };
        got.push((f[1].to_string(), f[8].parse().unwrap(), kind, ore(f[6])));
    }
    let mut want = want.to_vec();
    want.sort();
    got.sort();
    assert_eq!(got, want, "batch {number}: CSV lines");
    // pain.001: one transfer per clinic with a positive net, control sum to the öre
    let mut net: BTreeMap<&str, i64> = BTreeMap::new();
    for (c, _, _, a) in &want {
        *net.entry(c).or_default() += a;
    }
    let transfers: Vec<i64> = net.values().copied().filter(|a| *a > 0).collect();
    let xml_path = dir.join(format!("{stem}.pain001.xml"));
    if transfers.is_empty() {
        assert!(!xml_path.exists());
        return;
    }
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    validate(&xml);
    let sum: i64 = transfers.iter().sum();
    assert!(
        xml.contains(&format!(
            "<CtrlSum>{}.{:02}</CtrlSum>",
            sum / 100,
            sum % 100
        )),
        "batch {number}: control sum {sum}"
    );
    assert_eq!(
        xml.matches("<CdtTrfTxInf>").count(),
        transfers.len(),
        "batch {number}: transfers"
    );
    let mut amounts: Vec<i64> = xml
        .split("<InstdAmt Ccy=\"SEK\">")
        .skip(1)
        .map(|s| {
            let v = s.split('<').next().unwrap();
            let (kr, o) = v.split_once('.').unwrap();
            kr.parse::<i64>().unwrap() * 100 + o.parse::<i64>().unwrap()
        })
        .collect();
    let mut expect = transfers.clone();
    amounts.sort();
    expect.sort();
    assert_eq!(amounts, expect, "batch {number}: transfer amounts");
}

pub fn xsd() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("VARDVAL_PAIN001_XSD") {
        return p.into();
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").to_string());
    let p = std::path::Path::new(&target).join("xsd/sepaxml-2.7.0/pain.001.001.09.xsd");
    assert!(
        p.exists(),
        "pain.001 XSD missing: run `bash tests/fetch-xsd.sh`"
    );
    p
}

pub fn validate(xml: &str) {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("p.xml");
    std::fs::write(&f, xml).unwrap();
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(xsd())
        .arg(&f)
        .output()
        .expect("xmllint (libxml2-utils)");
    assert!(
        out.status.success(),
        "pain.001 invalid: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub async fn outbox_count(url: &str) -> i64 {
    let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'payouts'")
        .fetch_one(&mut c)
        .await
        .unwrap()
}

/// The scheduler's context over `store` with no clinics in the registry (the payout facts come
/// from the ledger), the embedded rulebook and the given reviewers and payout settings.
pub fn job_context(
    store: &vardval::store::Store,
    reviewers: Vec<String>,
    payouts: Option<vardval::jobs::payouts::Payouts>,
) -> vardval::jobs::JobContext {
    vardval::jobs::JobContext {
        store: store.clone(),
        registry: vardval::mail::registry::Registry::from_csv(
            "id,name,emails,listed_inhabitants\n",
        )
        .unwrap()
        .into(),
        rulebook: Rulebook::embedded(),
        mail: mail(),
        reminders: Default::default(),
        reviewers,
        max_per_hour: 5,
        max_per_day: 20,
        payouts,
    }
}
