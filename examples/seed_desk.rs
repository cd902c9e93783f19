//! Seeds a ledger for the desk benchmarks (`bench/desk.sh`): 40 clinics, each with a project
//! plan and a final report in each of five cycle years (2022–2026, a second version of every
//! third plan), graded by the real analysis of fixture documents, and a reviewer's decision on
//! every other submission. Writes `vardval.toml`, `clinics.csv` and `vardval.db` into DIR and
//! prints the id of one submission of the rulebook's year.
//!
//! Usage: `seed_desk DIR PORT`

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use vardval::config::Settings;
use vardval::domain::analysis::analyse;
use vardval::domain::analysis::stored::StoredAnalysis;
use vardval::domain::document::TextSource;
use vardval::extract::{Limits, extract};
use vardval::store::{
    Intake, MessageClass, NewDecision, NewMessage, NewSubmission, SubmissionKind,
};

const CLINICS: usize = 40;
const YEARS: [i32; 5] = [2022, 2023, 2024, 2025, 2026];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("DIR"));
    let port: u16 = args.next().expect("PORT").parse()?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(&dir)?;
    let mut csv = String::from("id,name,emails,listed_inhabitants\n");
    for i in 0..CLINICS {
        csv.push_str(&format!(
            "vc{i:02},Vårdcentralen Bänk {i},plan@vc{i:02}.vc.test,{}\n",
            4_000 + 500 * i
        ));
    }
    std::fs::write(dir.join("clinics.csv"), csv)?;
    let config = format!(
        "[mailbox]\nkind = \"maildir\"\npath = \"Maildir\"\n\n\
         [smtp]\nkind = \"file\"\ndir = \"outbox\"\nfrom = \"Vårdval <vardval@rjl.test>\"\n\n\
         [database]\nurl = \"sqlite://{db}\"\n\n[archive]\ndir = \"archive\"\n\n\
         [cycle]\nrulebook = \"{rb}\"\n\n[clinics]\npath = \"clinics.csv\"\n\n\
         [schedule]\nenabled = false\n\n[web]\nenabled = true\nlisten = \"127.0.0.1:{port}\"\n",
        db = dir.join("vardval.db").display(),
        rb = root.join("config/rulebook-2026.toml").display(),
    );
    std::fs::write(dir.join("vardval.toml"), config)?;
    let s = Settings::load(&dir.join("vardval.toml"))?;
    let store = vardval::app::open_store(&s).await?;
    let rulebook = vardval::app::load_rulebook(&s)?;
    let now = Utc.with_ymd_and_hms(2026, 12, 2, 8, 0, 0).unwrap();
    vardval::app::load_registry(&s, &store, rulebook.year, now).await?;

    // Real analyses of four fixture documents, one per kind of plan.
    let docs: Vec<(String, StoredAnalysis, vardval::domain::grading::Grade)> = [
        ("m1-green-heading-styles.docx", 1),
        ("m1-yellow-placeholders.docx", 1),
        ("m2-green-h-table.docx", 2),
        ("m2-red-mostly-empty.docx", 2),
    ]
    .iter()
    .filter_map(|(name, m)| {
        let bytes = std::fs::read(root.join("fixtures/documents").join(name)).ok()?;
        let doc = extract(&bytes, &Limits::default()).ok()?;
        let a = analyse(&doc, &rulebook, Some(*m));
        let format = doc.format?;
        let stored = StoredAnalysis::from_analysis(name, format, TextSource::Text, &a);
        Some((name.to_string(), stored, a.grade))
    })
    .collect();
    anyhow::ensure!(!docs.is_empty(), "no fixture documents found");

    let mut shown = None;
    let mut n = 0usize;
    for year in YEARS {
        for i in 0..CLINICS {
            for milestone in [1u8, 2] {
                let versions = if milestone == 1 && i % 3 == 0 { 2 } else { 1 };
                for v in 0..versions {
                    n += 1;
                    let (name, stored, grade) =
                        &docs[(i + usize::from(milestone) + v) % docs.len()];
                    let at = if milestone == 1 {
                        Utc.with_ymd_and_hms(year, 2, 1 + (i % 20) as u32 + v as u32, 9, 0, 0)
                    } else {
                        Utc.with_ymd_and_hms(year, 11, 1 + (i % 25) as u32, 9, 0, 0)
                    }
                    .unwrap();
                    let key = format!("bench:{year}:{i}:{milestone}:{v}");
                    let ids = store
                        .commit_intake(&Intake {
                            message: NewMessage {
                                source_key: key.clone(),
                                sha256: format!("{n:064x}"),
                                archive_path: "archive/none".into(),
                                received_at: at,
                                mail_message_id: Some(format!("{key}@vc{i:02}.vc.test")),
                                from_addr: Some(format!("plan@vc{i:02}.vc.test")),
                                subject: format!("Riktmärke {milestone} {year}"),
                                class: MessageClass::Submission,
                                clinic_id: Some(format!("vc{i:02}")),
                                reason: "bench".into(),
                            },
                            submission: Some(NewSubmission {
                                clinic_id: format!("vc{i:02}"),
                                milestone: i64::from(milestone),
                                kind: if v > 0 {
                                    SubmissionKind::Supplement
                                } else {
                                    SubmissionKind::Submission
                                },
                                received_at: at,
                                on_time: i % 7 != 0,
                                pre_grade: Some(*grade),
                                doc_sha256: format!("{:064x}", n + 1_000_000),
                                doc_name: name.clone(),
                                doc_format: Some("docx".into()),
                                analysis_json: stored.to_json(),
                                error_kind: None,
                                mail_message_id: Some(format!("{key}@vc{i:02}.vc.test")),
                            }),
                            triage_reason: None,
                            outbox: vec![],
                            now: at,
                        })
                        .await?;
                    let id = ids.submission_id.expect("a submission");
                    if year == rulebook.year && shown.is_none() {
                        shown = Some(id);
                    }
                    if n.is_multiple_of(2) && v + 1 == versions {
                        store
                            .record_decision(
                                &NewDecision {
                                    submission_id: id,
                                    year,
                                    grade: *grade,
                                    sections: Default::default(),
                                    pre_grade: Some(*grade),
                                    agreed_with_pregrade: true,
                                    comment: None,
                                    decided_by: "cli:bench".into(),
                                },
                                None,
                                at + chrono::Duration::days(3),
                            )
                            .await?;
                    }
                }
            }
        }
    }
    store.close().await;
    eprintln!(
        "seeded {n} submissions for {CLINICS} clinics over {} years",
        YEARS.len()
    );
    println!("{}", shown.expect("a submission of the rulebook's year"));
    Ok(())
}
