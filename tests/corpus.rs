//! The labelled document corpus: every file in `fixtures/documents/labels.json` is extracted
//! and analysed, and every labelled field is compared. Per-field accuracy is printed (and
//! written to `docs/accuracy-table.md` with `VARDVAL_WRITE_ACCURACY=1`); the test fails on any
//! miss, since the target on our own corpus is 100 %.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use vardval::domain::analysis::analyse;
use vardval::domain::rulebook::{Rulebook, SECTION_IDS};
use vardval::extract::{Limits, extract};
use vardval::report::json_report;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/documents")
}

#[derive(Default)]
struct Tally {
    right: usize,
    total: usize,
    misses: Vec<String>,
}

#[test]
fn corpus_labels_hold() {
    let labels: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(dir().join("labels.json")).expect("labels.json"),
    )
    .expect("labels are JSON");
    assert!(
        labels.len() >= 40,
        "the corpus holds at least 40 labelled files"
    );
    let rb = Rulebook::embedded();
    let limits = Limits::default();
    let mut tally: BTreeMap<String, Tally> = BTreeMap::new();
    let mut check = |field: &str, file: &str, want: &Value, got: &Value| {
        let t = tally.entry(field.to_string()).or_default();
        t.total += 1;
        if want == got {
            t.right += 1;
        } else {
            t.misses
                .push(format!("{file}: {field} want {want} got {got}"));
        }
    };
    for l in &labels {
        let file = l["file"].as_str().expect("file");
        let bytes = std::fs::read(dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let res = extract(&bytes, &limits);
        if let Some(kind) = l["error"].as_str() {
            let got = match &res {
                Err(e) => Value::from(e.kind()),
                Ok(_) => Value::from("analysed"),
            };
            check("error kind", file, &Value::from(kind), &got);
            continue;
        }
        let doc = match res {
            Ok(d) => d,
            Err(e) => {
                check(
                    "extracted",
                    file,
                    &Value::from("ok"),
                    &Value::from(e.kind()),
                );
                continue;
            }
        };
        check("extracted", file, &Value::from("ok"), &Value::from("ok"));
        let fmt = doc.format.expect("format");
        check("format", file, &l["format"], &Value::from(fmt.as_str()));
        // Infer the milestone, as `check` does without a flag.
        let inferred = analyse(&doc, &rb, None);
        check(
            "milestone",
            file,
            &l["milestone"],
            &Value::from(inferred.milestone),
        );
        // Everything else against the labelled milestone.
        let m = l["milestone"].as_u64().map(|m| m as u8);
        let a = analyse(&doc, &rb, m);
        let j = json_report(file, fmt, &a);
        for s in SECTION_IDS {
            let key = s.to_string();
            check(
                &format!("section {s}"),
                file,
                &l["sections"][&key],
                &j["sections"][&key]["status"],
            );
        }
        check("grade", file, &l["grade"], &j["grade"]);
        check("baseline", file, &l["baseline"], &j["baseline"]["found"]);
        check(
            "goal measurable",
            file,
            &l["goal_measurable"],
            &j["goal"]["measurable"],
        );
        check(
            "goal time-bound",
            file,
            &l["goal_time_bound"],
            &j["goal"]["time_bound"],
        );
        check("data sources", file, &l["data_sources"], &j["data_sources"]);
        if !l["h_points"].is_null() {
            check(
                "H measurement points",
                file,
                &l["h_points"],
                &Value::from(a.h_points.unwrap_or(0)),
            );
        }
    }
    let mut table = String::from("| field | right | total | accuracy |\n|---|---:|---:|---:|\n");
    let mut misses = Vec::new();
    for (field, t) in &tally {
        table.push_str(&format!(
            "| {field} | {} | {} | {:.1} % |\n",
            t.right,
            t.total,
            100.0 * t.right as f64 / t.total as f64
        ));
        misses.extend(t.misses.iter().cloned());
    }
    println!("{table}");
    if std::env::var_os("VARDVAL_WRITE_ACCURACY").is_some() {
        let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/accuracy-table.md");
        std::fs::write(
            out,
            format!(
                "{table}\nMisses:\n\n{}\n",
                misses
                    .iter()
                    .map(|m| format!("- {m}\n"))
                    .collect::<String>()
            ),
        )
        .expect("write accuracy table");
    }
    assert!(
        misses.is_empty(),
        "{} misses:\n{}",
        misses.len(),
        misses.join("\n")
    );
}
