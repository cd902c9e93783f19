//! Check a labelled fixture set (a `labels.json` of the shape of `fixtures/documents/labels.json`)
//! through extract + analyse, field by field, like `tests/corpus.rs` does for the main corpus.
//! Used by the slide and scan tests, each with its own labels file and accuracy target.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use vardval::domain::analysis::analyse;
use vardval::domain::document::Document;
use vardval::domain::rulebook::{Rulebook, SECTION_IDS};
use vardval::extract::{ExtractError, Limits, extract};
use vardval::report::json_report;

/// Right/total per field, and the misses.
#[derive(Default, Debug)]
pub struct Tally {
    pub fields: BTreeMap<String, (usize, usize)>,
    pub misses: Vec<String>,
}

impl Tally {
    fn check(&mut self, field: &str, file: &str, want: &Value, got: &Value) {
        let t = self.fields.entry(field.to_string()).or_default();
        t.1 += 1;
        if want == got {
            t.0 += 1;
        } else {
            self.misses
                .push(format!("{file}: {field} want {want} got {got}"));
        }
    }

    /// Accuracy of the fields whose name starts with `prefix` ("section " for all sections).
    pub fn accuracy(&self, prefix: &str) -> f64 {
        let (r, t) = self
            .fields
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .fold((0, 0), |(r, t), (_, (a, b))| (r + a, t + b));
        if t == 0 { 0.0 } else { r as f64 / t as f64 }
    }

    /// A Markdown table of the per-field accuracy.
    pub fn table(&self) -> String {
        let mut s = String::from("| field | right | total | accuracy |\n|---|---:|---:|---:|\n");
        for (f, (r, t)) in &self.fields {
            s.push_str(&format!(
                "| {f} | {r} | {t} | {:.1} % |\n",
                100.0 * *r as f64 / *t as f64
            ));
        }
        s
    }
}

pub fn labels(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("labels.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    serde_json::from_str(&text).expect("labels are JSON")
}

/// Extract, analyse and compare every labelled file in `dir`. `read` turns the bytes into a
/// document (plain `extract` for most sets); each document is also handed to `inspect`.
pub fn run(dir: &Path, limits: &Limits, mut inspect: impl FnMut(&str, &Document)) -> Tally {
    let rb = Rulebook::embedded();
    let mut tally = Tally::default();
    for l in labels(dir) {
        let file = l["file"].as_str().expect("file");
        let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let res: Result<Document, ExtractError> = extract(&bytes, limits);
        if let Some(kind) = l["error"].as_str() {
            let got = res.as_ref().map_or_else(|e| e.kind(), |_| "analysed");
            tally.check("error kind", file, &Value::from(kind), &Value::from(got));
            continue;
        }
        let doc = match res {
            Ok(d) => d,
            Err(e) => {
                tally.check("extracted", file, &"ok".into(), &e.kind().into());
                continue;
            }
        };
        tally.check("extracted", file, &"ok".into(), &"ok".into());
        inspect(file, &doc);
        let fmt = doc.format.expect("format");
        tally.check("format", file, &l["format"], &fmt.as_str().into());
        let inferred = analyse(&doc, &rb, None);
        tally.check(
            "milestone",
            file,
            &l["milestone"],
            &inferred.milestone.into(),
        );
        let m = l["milestone"].as_u64().map(|m| m as u8);
        let a = analyse(&doc, &rb, m);
        let j = json_report(file, fmt, &a);
        for s in SECTION_IDS {
            let key = s.to_string();
            tally.check(
                &format!("section {s}"),
                file,
                &l["sections"][&key],
                &j["sections"][&key]["status"],
            );
        }
        tally.check("grade", file, &l["grade"], &j["grade"]);
        tally.check("baseline", file, &l["baseline"], &j["baseline"]["found"]);
        tally.check(
            "goal measurable",
            file,
            &l["goal_measurable"],
            &j["goal"]["measurable"],
        );
        tally.check(
            "goal time-bound",
            file,
            &l["goal_time_bound"],
            &j["goal"]["time_bound"],
        );
        tally.check("data sources", file, &l["data_sources"], &j["data_sources"]);
        if !l["h_points"].is_null() {
            tally.check(
                "H measurement points",
                file,
                &l["h_points"],
                &Value::from(a.h_points.unwrap_or(0)),
            );
        }
    }
    tally
}
