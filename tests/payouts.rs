//! Payouts over a whole cycle on both databases (see `tests/common/mod.rs`): 40 clinics with
//! 3 000–25 000 listed inhabitants, mixed grades confirmed by reviewers, a plan approved
//! late, a listed-inhabitant correction after payment (up for one clinic, down by more than
//! the next payment for another), missing final reports with one reclaim accepted and one
//! rejected, presentations the next spring. Every run's CSV and pain.001 are checked to the
//! öre against the expectation computed here from the rules (not by the code under test),
//! every pain.001 is validated against the official XSD with xmllint, reruns send nothing
//! new, and bad input stops only the clinic concerned.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use vardval::adapters::filedrop::DirDrop;
use vardval::config::PayoutSettings;
use vardval::domain::clinics::{parse_file, plan as import_plan};
use vardval::domain::ids::{iban_check_digits, luhn_check_digit};
use vardval::domain::rulebook::Rulebook;
use vardval::jobs::mail::JobMail;
use vardval::jobs::payouts::{self, Payouts};
use vardval::payfiles::Debtor;
use vardval::store::{
    Grade, Intake, MessageClass, NewDecision, NewMessage, NewSubmission, Store, SubmissionKind,
};

mod common;

both!(
    whole_cycle,
    bad_input_stops_only_that_clinic,
    the_scheduler_runs_the_payout_job_once_per_slot,
);

const BASE: i64 = 10_000_000; // 100 000 kr
const PER: i64 = 1_000; // 10 kr

/// Instalments for `n` listed inhabitants: half each, the first rounded down to the öre.
fn expected_parts(n: i64) -> (i64, i64) {
    let total = BASE + PER * n;
    let first = total / 2;
    (first, total - first)
}

/// 07:00 Stockholm on a date (winter or summer time) as UTC.
fn at7(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Stockholm
        .with_ymd_and_hms(y, m, d, 7, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn clinic_id(i: usize) -> String {
    format!("vc-{i:02}")
}

/// Listed inhabitants between 3 000 and 25 000, spread deterministically.
fn listed(i: usize) -> i64 {
    3_000 + ((i as i64 * 7_919 + 1_234) % 22_001)
}

/// A valid payee of each kind in turn (bankgiro, plusgiro, IBAN).
fn payee(i: usize) -> String {
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

fn org_nr(i: usize) -> String {
    let body = format!("{:09}", 212_000_000 + i);
    format!("{}-{}{}", &body[..6], &body[6..], luhn_check_digit(&body))
}

/// Import the registry from CSV text (the real import path).
async fn import(store: &Store, rows: &[(usize, i64)], now: DateTime<Utc>) {
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

async fn submit(store: &Store, key: &str, clinic: &str, milestone: i64, at: DateTime<Utc>) -> i64 {
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
            analysis_json: "{\"sections\":{}}".into(),
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
async fn decide(store: &Store, clinic: &str, milestone: i64, grade: Grade, at: DateTime<Utc>) {
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

fn settings() -> PayoutSettings {
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

fn payouts_for(dir: &std::path::Path) -> Payouts {
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

fn mail() -> JobMail {
    JobMail::load(None, "Vårdval <vardval@rjl.test>".parse().unwrap()).unwrap()
}

/// One expected CSV row: clinic, instalment, kind (Swedish), amount in öre.
type Row = (String, u8, &'static str, i64);

/// Öre from the CSV's decimal-comma text, by string handling only.
fn ore(s: &str) -> i64 {
    let neg = s.starts_with('-');
    let (kr, ore) = s.trim_start_matches('-').split_once(',').unwrap();
    assert_eq!(ore.len(), 2, "two decimals: {s}");
    let v = kr.parse::<i64>().unwrap() * 100 + ore.parse::<i64>().unwrap();
    if neg { -v } else { v }
}

/// Checks the delivered CSV and pain.001 of a batch against `want` (rows in any order).
fn check_files(dir: &std::path::Path, number: i64, want: &[Row]) {
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

fn xsd() -> std::path::PathBuf {
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

fn validate(xml: &str) {
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

async fn outbox_count(url: &str) -> i64 {
    let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'payouts'")
        .fetch_one(&mut c)
        .await
        .unwrap()
}

async fn whole_cycle(url: String) {
    let store = Store::connect(&url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = payouts_for(dir.path());
    let m = mail();
    let jan = Utc.with_ymd_and_hms(2026, 1, 10, 9, 0, 0).unwrap();
    let mut n: BTreeMap<usize, i64> = (0..40).map(|i| (i, listed(i))).collect();
    assert!(n.values().all(|v| (3_000..=25_000).contains(v)));
    import(
        &store,
        &n.iter().map(|(i, v)| (*i, *v)).collect::<Vec<_>>(),
        jan,
    )
    .await;

    // Milestone 1: 0..30 green, 30..35 yellow, 35..38 red, 38 and 39 sent nothing.
    // Clinic 30 is approved late (green in April after a new version).
    let feb = Utc.with_ymd_and_hms(2026, 2, 20, 9, 0, 0).unwrap();
    for i in 0..38 {
        let g = match i {
            0..30 => Grade::Green,
            30..35 => Grade::Yellow,
            _ => Grade::Red,
        };
        decide(&store, &clinic_id(i), 1, g, feb).await;
    }
    let green: BTreeSet<usize> = (0..30).collect();

    // Run 1, 1 March 2026: instalment 1 for the 30 green plans.
    let r1 = payouts::run(&store, &p, &m, at7(2026, 3, 1)).await.unwrap();
    assert!(r1.new);
    assert_eq!(r1.number, 1);
    assert_eq!(r1.due_date, NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
    let want1: Vec<Row> = green
        .iter()
        .map(|&i| (clinic_id(i), 1, "utbetalning", expected_parts(n[&i]).0))
        .collect();
    check_files(dir.path(), 1, &want1);
    assert_eq!(r1.total_ore, want1.iter().map(|r| r.3).sum::<i64>());
    assert_eq!(r1.blocked, 0);
    assert_eq!(outbox_count(&url).await, 1, "one finance mail");
    let first_csv = std::fs::read(dir.path().join("vardval-utbetalning-0001.csv")).unwrap();

    // Rerun of the same due date (later that day): the sealed batch, nothing new sent.
    let again = payouts::run(&store, &p, &m, at7(2026, 3, 1) + chrono::Duration::hours(3))
        .await
        .unwrap();
    assert!(!again.new);
    assert_eq!(again.number, 1);
    assert_eq!(again.files_written, 0);
    assert_eq!(outbox_count(&url).await, 1);
    // the files regenerated from the sealed batch are the sealed bytes
    let (_, batch, files) = store.payout_batch(r1.batch_id).await.unwrap().unwrap();
    let mut regenerated = batch.files().unwrap();
    regenerated.sort();
    assert_eq!(regenerated.len(), files.len());
    for ((n1, b1), (n2, b2)) in regenerated.iter().zip(&files) {
        assert_eq!(n1, n2);
        assert!(
            b1 == b2,
            "{n1}: regenerated bytes differ from the sealed file"
        );
    }
    assert_eq!(
        std::fs::read(dir.path().join("vardval-utbetalning-0001.csv")).unwrap(),
        first_csv
    );

    // April: clinic 30 approved late; clinic 3 had 500 more inhabitants than registered;
    // clinic 7 had far fewer (25 000-ish → 3 000): a negative correction with nothing to
    // set it against.
    let apr = Utc.with_ymd_and_hms(2026, 4, 10, 9, 0, 0).unwrap();
    decide(&store, &clinic_id(30), 1, Grade::Green, apr).await;
    let old3 = n[&3];
    let old7 = n[&7];
    n.insert(3, old3 + 500);
    n.insert(7, 3_000);
    import(&store, &[(3, n[&3]), (7, n[&7])], apr).await;

    // Run 2, 1 June 2026.
    let r2 = payouts::run(&store, &p, &m, at7(2026, 6, 1)).await.unwrap();
    let want2: Vec<Row> = vec![
        (clinic_id(30), 1, "utbetalning", expected_parts(n[&30]).0),
        (
            clinic_id(3),
            1,
            "korrigering",
            expected_parts(n[&3]).0 - expected_parts(old3).0,
        ),
    ];
    assert_eq!(want2[1].3, 250_000, "500 inhabitants x 10 kr / 2");
    check_files(dir.path(), 2, &want2);
    let (_, b2, _) = store.payout_batch(r2.batch_id).await.unwrap().unwrap();
    assert_eq!(b2.blocked.len(), 1);
    assert_eq!(b2.blocked[0].clinic_id, clinic_id(7));
    assert!(
        b2.blocked[0].reason.contains("negativ korrigering"),
        "{}",
        b2.blocked[0].reason
    );

    // An empty run (1 September): a one-line note, no files.
    let empty = payouts::run(&store, &p, &m, at7(2026, 9, 1)).await.unwrap();
    assert_eq!(empty.lines, 0);
    assert_eq!(outbox_count(&url).await, 3);
    assert!(!dir.path().join("vardval-utbetalning-0003.csv").exists());

    // Final reports: every paid clinic's report confirmed green except 5 and 11.
    let dec = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let paid: Vec<usize> = (0..31).collect();
    for &i in &paid {
        if i != 5 && i != 11 {
            decide(&store, &clinic_id(i), 2, Grade::Green, dec).await;
        }
    }
    // before the deadline nothing is proposed; after it, the two missing reports
    let before = chrono_tz::Europe::Stockholm
        .with_ymd_and_hms(2026, 12, 1, 23, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    assert_eq!(
        payouts::propose_reclaims(&store, &p, before).await.unwrap(),
        0
    );
    let after = at7(2026, 12, 2);
    assert_eq!(
        payouts::propose_reclaims(&store, &p, after).await.unwrap(),
        2
    );
    assert_eq!(
        payouts::propose_reclaims(&store, &p, after).await.unwrap(),
        0
    );
    // a proposal alone takes nothing back; the digest lists what waits for a decision
    assert!(payouts::preview(&store, &p).await.unwrap().lines.is_empty());
    let ctx = vardval::jobs::JobContext {
        store: store.clone(),
        registry: vardval::mail::registry::Registry::from_csv(
            "id,name,emails,listed_inhabitants\n",
        )
        .unwrap(),
        rulebook: Rulebook::embedded(),
        mail: mail(),
        reminders: Default::default(),
        reviewers: vec![],
        max_per_hour: 5,
        max_per_day: 20,
        payouts: None,
    };
    let digest = vardval::jobs::digest::facts(&ctx, at7(2026, 12, 7))
        .await
        .unwrap();
    assert_eq!(
        digest.reclaims_open,
        vec![(clinic_id(5), 2026), (clinic_id(11), 2026)]
    );
    assert!(
        store
            .decide_reclaim(
                &clinic_id(5),
                2026,
                true,
                "cli:granskare",
                "ingen slutrapport",
                after
            )
            .await
            .unwrap()
    );
    assert!(
        store
            .decide_reclaim(
                &clinic_id(11),
                2026,
                false,
                "cli:granskare",
                "sjukdom, rapporten kommer",
                after
            )
            .await
            .unwrap()
    );
    // a decision is not changed afterwards
    assert!(
        !store
            .decide_reclaim(&clinic_id(11), 2026, true, "cli:annan", "ändrat mig", after)
            .await
            .unwrap()
    );

    // Run 4, 1 March 2027: the accepted reclaim (invoiced, not transferred).
    let r4 = payouts::run(&store, &p, &m, at7(2027, 3, 1)).await.unwrap();
    let want4: Vec<Row> = vec![(clinic_id(5), 1, "återkrav", -expected_parts(n[&5]).0)];
    check_files(dir.path(), r4.number, &want4);
    assert_eq!(r4.transfer_ore, 0);

    // Presentations at Utvecklingskraft in spring 2027: the clinics with a green report,
    // and clinic 7 (whose negative correction is then set against instalment 2).
    let may = Utc.with_ymd_and_hms(2027, 5, 12, 9, 0, 0).unwrap();
    let presented: Vec<usize> = paid
        .iter()
        .copied()
        .filter(|&i| i != 5 && i != 11)
        .collect();
    for &i in &presented {
        assert!(
            store
                .record_presentation(&clinic_id(i), 2026, "cli:granskare", None, may)
                .await
                .unwrap()
        );
    }
    let r5 = payouts::run(&store, &p, &m, at7(2027, 6, 1)).await.unwrap();
    let mut want5: Vec<Row> = presented
        .iter()
        .map(|&i| (clinic_id(i), 2, "utbetalning", expected_parts(n[&i]).1))
        .collect();
    want5.push((
        clinic_id(7),
        1,
        "korrigering",
        expected_parts(n[&7]).0 - expected_parts(old7).0,
    ));
    check_files(dir.path(), r5.number, &want5);
    assert_eq!(r5.blocked, 0);

    // Over the whole cycle every clinic got exactly what the rules say, and no instalment
    // was paid twice.
    let lines = store.paid_lines().await.unwrap();
    for i in 0..40 {
        let id = clinic_id(i);
        let (a, b) = expected_parts(n[&i]);
        let want1 = if (0..31).contains(&i) && i != 5 { a } else { 0 };
        let want2 = if presented.contains(&i) { b } else { 0 };
        for (k, want) in [(1u8, want1), (2u8, want2)] {
            let got: i64 = lines
                .iter()
                .filter(|l| l.clinic_id == id && l.instalment == k)
                .map(|l| l.amount_ore)
                .sum();
            assert_eq!(got, want, "{id} instalment {k}");
            let payments = lines
                .iter()
                .filter(|l| {
                    l.clinic_id == id
                        && l.instalment == k
                        && l.kind == vardval::domain::payout::LineKind::Payment
                })
                .count();
            assert!(payments <= 1);
        }
    }
    let audit = store.audit_verify().await.unwrap();
    assert!(audit.ok(), "{audit:?}");
    let batches = store.payout_batches().await.unwrap();
    assert_eq!(
        batches.iter().map(|b| b.number).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
}

async fn bad_input_stops_only_that_clinic(url: String) {
    let store = Store::connect(&url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = payouts_for(dir.path());
    let jan = Utc.with_ymd_and_hms(2026, 1, 10, 9, 0, 0).unwrap();
    import(
        &store,
        &(0..6).map(|i| (i, listed(i))).collect::<Vec<_>>(),
        jan,
    )
    .await;
    // clinic 1: a bankgiro number with a wrong check digit slipped into the ledger;
    // clinic 2: no listed inhabitants for 2026 (only 2025)
    let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("UPDATE clinics SET payee = 'bg:5050-1056' WHERE id = 'vc-01'")
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query("UPDATE clinic_inhabitants SET year = 2025 WHERE clinic_id = 'vc-02'")
        .execute(&mut c)
        .await
        .unwrap();
    let feb = Utc.with_ymd_and_hms(2026, 2, 20, 9, 0, 0).unwrap();
    for i in 0..6 {
        decide(&store, &clinic_id(i), 1, Grade::Green, feb).await;
    }
    let plan = payouts::preview(&store, &p).await.unwrap();
    let blocked: BTreeMap<&str, String> = plan
        .blocked
        .iter()
        .map(|b| (b.clinic_id.as_str(), b.reason.text()))
        .collect();
    assert_eq!(blocked.len(), 2, "{blocked:?}");
    assert!(
        blocked["vc-01"].contains("kontrollsiffra"),
        "{}",
        blocked["vc-01"]
    );
    assert!(
        blocked["vc-02"].contains("listade invånare för 2026"),
        "{}",
        blocked["vc-02"]
    );
    let r = payouts::run(&store, &p, &mail(), at7(2026, 3, 1))
        .await
        .unwrap();
    let want: Vec<Row> = [0usize, 3, 4, 5]
        .iter()
        .map(|&i| (clinic_id(i), 1, "utbetalning", expected_parts(listed(i)).0))
        .collect();
    check_files(dir.path(), r.number, &want);
    // the reviewers' weekly digest names the stopped clinics and why
    let ctx = vardval::jobs::JobContext {
        store: store.clone(),
        registry: vardval::mail::registry::Registry::from_csv(
            "id,name,emails,listed_inhabitants\n",
        )
        .unwrap(),
        rulebook: Rulebook::embedded(),
        mail: mail(),
        reminders: Default::default(),
        reviewers: vec!["granskare@rjl.test".into()],
        max_per_hour: 5,
        max_per_day: 20,
        payouts: None,
    };
    let digest = vardval::jobs::digest::facts(&ctx, at7(2026, 3, 2))
        .await
        .unwrap();
    let stopped: Vec<&str> = digest
        .payouts_blocked
        .iter()
        .map(|b| b.0.as_str())
        .collect();
    assert_eq!(stopped, vec!["vc-01", "vc-02"]);
    assert!(digest.payouts_blocked[0].1.contains("kontrollsiffra"));
    let html = std::fs::read_to_string(dir.path().join("vardval-utbetalning-0001.html")).unwrap();
    assert!(html.contains("Stoppade vårdcentraler"));
    assert!(html.contains("vc-01"));
    // once fixed, the next run pays them
    sqlx::query("UPDATE clinics SET payee = 'bg:5050-1055' WHERE id = 'vc-01'")
        .execute(&mut c)
        .await
        .unwrap();
    sqlx::query("UPDATE clinic_inhabitants SET year = 2026 WHERE clinic_id = 'vc-02'")
        .execute(&mut c)
        .await
        .unwrap();
    let r2 = payouts::run(&store, &p, &mail(), at7(2026, 6, 1))
        .await
        .unwrap();
    let want2: Vec<Row> = [1usize, 2]
        .iter()
        .map(|&i| (clinic_id(i), 1, "utbetalning", expected_parts(listed(i)).0))
        .collect();
    check_files(dir.path(), r2.number, &want2);
    // the finance mail carries the files and the blocked reasons
    let raw: Vec<u8> =
        sqlx::query_scalar("SELECT raw FROM outbox WHERE kind = 'payouts' ORDER BY id")
            .fetch_one(&mut c)
            .await
            .unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("multipart/mixed"));
    assert!(text.contains("vardval-utbetalning-0001.pain001.xml"));
    assert!(text.contains("Auto-Submitted: auto-generated"));
}

async fn the_scheduler_runs_the_payout_job_once_per_slot(url: String) {
    use vardval::jobs::{JobContext, Scheduler};
    let store = Store::connect(&url).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let jan = Utc.with_ymd_and_hms(2026, 1, 10, 9, 0, 0).unwrap();
    import(
        &store,
        &(0..4).map(|i| (i, listed(i))).collect::<Vec<_>>(),
        jan,
    )
    .await;
    let feb = Utc.with_ymd_and_hms(2026, 2, 20, 9, 0, 0).unwrap();
    for i in 0..2 {
        decide(&store, &clinic_id(i), 1, Grade::Green, feb).await;
    }
    let ctx = JobContext {
        store: store.clone(),
        registry: vardval::mail::registry::Registry::from_csv(
            "id,name,emails,listed_inhabitants\n",
        )
        .unwrap(),
        rulebook: Rulebook::embedded(),
        mail: mail(),
        reminders: Default::default(),
        reviewers: vec![],
        max_per_hour: 5,
        max_per_day: 20,
        payouts: Some(payouts_for(dir.path())),
    };
    let jobs = Scheduler::standard_jobs(&ctx, "0 30 7 * * Mon").unwrap();
    let names: Vec<&str> = jobs.iter().map(|j| j.kind.name()).collect();
    assert!(
        names.contains(&"payouts") && names.contains(&"reclaims"),
        "{names:?}"
    );
    let sch = Scheduler {
        ctx,
        jobs,
        owner: "test".into(),
        lease: chrono::Duration::minutes(10),
        tick_every: std::time::Duration::from_secs(60),
    };
    sch.tick(feb).await.unwrap(); // the epoch
    // down over the slot: the 09:15 tick runs the 07:00 slot, for 1 March
    let r = sch
        .tick(at7(2026, 3, 1) + chrono::Duration::minutes(135))
        .await
        .unwrap();
    let run: Vec<_> = r.runs.iter().filter(|x| x.job == "payouts").collect();
    assert_eq!(run.len(), 1, "{r:?}");
    assert_eq!(run[0].due_at, at7(2026, 3, 1));
    assert!(
        run[0]
            .outcome
            .starts_with("ok: batch 1 for 2026-03-01 sealed"),
        "{}",
        run[0].outcome
    );
    let r = sch
        .tick(at7(2026, 3, 1) + chrono::Duration::hours(5))
        .await
        .unwrap();
    assert!(r.runs.iter().all(|x| x.job != "payouts"));
    let b = store.payout_batches().await.unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].line_count, 2);
    check_files(
        dir.path(),
        1,
        &[0usize, 1]
            .iter()
            .map(|&i| (clinic_id(i), 1, "utbetalning", expected_parts(listed(i)).0))
            .collect::<Vec<_>>(),
    );
}
