//! Shared by the corpus tests: extract and analyse every file of a labelled corpus
//! (`labels.json` next to the files) and compare every labelled field with the `check` JSON.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use vardval::domain::analysis::analyse;
use vardval::domain::rulebook::{Rulebook, SECTION_IDS};
use vardval::extract::{Limits, extract};
use vardval::report::json_report;

#[derive(Default)]
pub struct Tally {
    pub right: usize,
    pub total: usize,
    pub misses: Vec<String>,
}

impl Tally {
    pub fn percent(&self) -> f64 {
        100.0 * self.right as f64 / self.total.max(1) as f64
    }
}

/// Per-field tallies over every labelled file; "sections" sums the nine section fields and
/// "document" counts files with every field right.
pub fn measure(dir: &Path) -> BTreeMap<String, Tally> {
    let labels: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(dir.join("labels.json")).expect("labels.json"),
    )
    .expect("labels are JSON");
    let rb = Rulebook::embedded();
    let limits = Limits::default();
    let mut tally: BTreeMap<String, Tally> = BTreeMap::new();
    for l in &labels {
        let file = l["file"].as_str().expect("file");
        let mut all_right = true;
        let mut check = |field: &str, want: &Value, got: &Value| {
            for key in [field.to_string()].into_iter().chain(
                field
                    .starts_with("section ")
                    .then(|| "sections".to_string()),
            ) {
                let t = tally.entry(key).or_default();
                t.total += 1;
                if want == got {
                    t.right += 1;
                } else {
                    t.misses
                        .push(format!("{file}: {field} want {want} got {got}"));
                }
            }
            if want != got {
                all_right = false;
            }
        };
        let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let res = extract(&bytes, &limits);
        if let Some(kind) = l["error"].as_str() {
            let got = match &res {
                Err(e) => Value::from(e.kind()),
                Ok(_) => Value::from("analysed"),
            };
            check("error kind", &Value::from(kind), &got);
        } else {
            match res {
                Err(e) => check("extracted", &Value::from("ok"), &Value::from(e.kind())),
                Ok(doc) => {
                    check("extracted", &Value::from("ok"), &Value::from("ok"));
                    let fmt = doc.format.expect("format");
                    check("format", &l["format"], &Value::from(fmt.as_str()));
                    // Infer the milestone, as `check` does without a flag.
                    let inferred = analyse(&doc, &rb, None);
                    check(
                        "milestone",
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
                            &l["sections"][&key],
                            &j["sections"][&key]["status"],
                        );
                    }
                    check("grade", &l["grade"], &j["grade"]);
                    check("baseline", &l["baseline"], &j["baseline"]["found"]);
                    check(
                        "goal measurable",
                        &l["goal_measurable"],
                        &j["goal"]["measurable"],
                    );
                    check(
                        "goal time-bound",
                        &l["goal_time_bound"],
                        &j["goal"]["time_bound"],
                    );
                    check("data sources", &l["data_sources"], &j["data_sources"]);
                    if !l["h_points"].is_null() {
                        check(
                            "H measurement points",
                            &l["h_points"],
                            &Value::from(a.h_points.unwrap_or(0)),
                        );
                    }
                }
            }
        }
        let t = tally
            .entry("document (all fields)".to_string())
            .or_default();
        t.total += 1;
        if all_right {
            t.right += 1;
        }
    }
    tally
}

/// A Markdown table of the tallies, and every miss (the summed "sections" row repeats the
/// per-section misses, so it is left out of the list).
pub fn table(tally: &BTreeMap<String, Tally>) -> (String, Vec<String>) {
    let mut table = String::from("| field | right | total | accuracy |\n|---|---:|---:|---:|\n");
    let mut misses = Vec::new();
    for (field, t) in tally {
        table.push_str(&format!(
            "| {field} | {} | {} | {:.1} % |\n",
            t.right,
            t.total,
            t.percent()
        ));
        if field != "sections" {
            misses.extend(t.misses.iter().cloned());
        }
    }
    (table, misses)
}
