//! The analysis as the ledger keeps it (`submissions.analysis_json`): its own versioned
//! schema, independent of the `check` CLI's JSON contract, so either can change without the
//! other. Reminders, the digest and the reviewers' desk read stored analyses through
//! [`StoredAnalysis::parse`], which also reads rows written before the schema had a version
//! (schema 0: the `check` JSON of the time, whose keys version 1 kept).
//!
//! Version 1 adds per section the excerpt and why the heading was taken, and the document's
//! text source. A new version bumps [`SCHEMA_VERSION`] and teaches `parse` the old one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Analysis;
use crate::domain::document::{Format, TextSource};
use crate::domain::grading::{Grade, Status};
use crate::domain::rulebook::SectionId;

/// The schema version written today.
pub const SCHEMA_VERSION: u32 = 1;

/// One submission's analysis as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredAnalysis {
    /// 0 for rows written before the schema had a version.
    #[serde(default)]
    pub schema: u32,
    pub document: StoredDocument,
    pub milestone: u8,
    /// All nine sections, A..I.
    pub sections: BTreeMap<SectionId, StoredSection>,
    #[serde(default)]
    pub baseline: StoredBaseline,
    #[serde(default)]
    pub goal: StoredGoal,
    #[serde(default)]
    pub data_sources: Vec<String>,
    pub grade: Grade,
    /// Measurement points found in H.
    #[serde(default)]
    pub h_points: Option<usize>,
    /// Observations in Swedish (for example too few measurement points in H).
    #[serde(default)]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDocument {
    /// The attachment's file name as sent (sender-controlled text).
    pub file: String,
    pub format: String,
    #[serde(default)]
    pub words: usize,
    /// `text` or `ocr`.
    #[serde(default = "text_source")]
    pub source: String,
}

fn text_source() -> String {
    "text".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSection {
    pub required: bool,
    pub status: StoredStatus,
    #[serde(default)]
    pub heading: Option<String>,
    #[serde(default)]
    pub words: usize,
    /// The rule that took the heading for this section (`label`, `title`, `synonym`,
    /// `key_ideas`, …) and its score.
    #[serde(default)]
    pub matched_by: Option<StoredMatch>,
    #[serde(default)]
    pub excerpt: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredStatus {
    Ok,
    Weak,
    Missing,
}

impl From<Status> for StoredStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Ok => StoredStatus::Ok,
            Status::Weak => StoredStatus::Weak,
            Status::Missing => StoredStatus::Missing,
        }
    }
}

impl From<StoredStatus> for Status {
    fn from(s: StoredStatus) -> Self {
        match s {
            StoredStatus::Ok => Status::Ok,
            StoredStatus::Weak => Status::Weak,
            StoredStatus::Missing => Status::Missing,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMatch {
    pub rule: String,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StoredBaseline {
    pub found: bool,
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub excerpt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StoredGoal {
    pub found: bool,
    #[serde(default)]
    pub measurable: bool,
    #[serde(default)]
    pub time_bound: bool,
    #[serde(default)]
    pub excerpt: Option<String>,
}

impl StoredAnalysis {
    /// The stored form of an analysis of the document `file`.
    pub fn from_analysis(file: &str, format: Format, source: TextSource, a: &Analysis) -> Self {
        StoredAnalysis {
            schema: SCHEMA_VERSION,
            document: StoredDocument {
                file: file.to_string(),
                format: format.as_str().to_string(),
                words: a.words,
                source: match source {
                    TextSource::Text => "text".into(),
                    TextSource::Ocr => "ocr".into(),
                },
            },
            milestone: a.milestone,
            sections: a
                .sections
                .iter()
                .map(|s| {
                    (
                        s.id,
                        StoredSection {
                            required: s.required,
                            status: s.status.into(),
                            heading: s.heading.clone(),
                            words: s.words,
                            matched_by: s.matched_by.as_ref().map(|m| StoredMatch {
                                rule: m.rule.as_str().to_string(),
                                score: m.score,
                            }),
                            excerpt: s.excerpt.clone(),
                        },
                    )
                })
                .collect(),
            baseline: StoredBaseline {
                found: a.baseline.found,
                values: a.baseline.values.clone(),
                excerpt: a.baseline.excerpt.clone(),
            },
            goal: StoredGoal {
                found: a.goal.found,
                measurable: a.goal.measurable,
                time_bound: a.goal.time_bound,
                excerpt: a.goal.excerpt.clone(),
            },
            data_sources: a.data_sources.clone(),
            grade: a.grade,
            h_points: a.h_points,
            notes: a.notes.clone(),
        }
    }

    /// The JSON written into the ledger.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a stored analysis serialises")
    }

    /// Read a stored analysis of any known schema version.
    pub fn parse(json: &str) -> Result<Self, String> {
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
        let version = v.get("schema").and_then(|s| s.as_u64()).unwrap_or(0);
        if version > u64::from(SCHEMA_VERSION) {
            return Err(format!(
                "stored analysis has schema {version}, this build reads up to {SCHEMA_VERSION}"
            ));
        }
        // Version 0 (the `check` JSON) has the same keys, minus what version 1 added, which
        // all have defaults.
        serde_json::from_value(v).map_err(|e| format!("stored analysis schema {version}: {e}"))
    }

    /// Required sections, except the derived G, that are not ok.
    pub fn lacking_sections(&self) -> Vec<SectionId> {
        self.sections
            .iter()
            .filter(|(id, s)| s.required && s.status != StoredStatus::Ok && **id != 'G')
            .map(|(id, _)| *id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::{Block, Document};
    use crate::domain::rulebook::Rulebook;

    fn rb() -> Rulebook {
        Rulebook::from_toml(include_str!("../../../config/rulebook-2026.toml")).unwrap()
    }

    fn sample() -> Analysis {
        let rb = rb();
        let mut blocks = Vec::new();
        for (id, body) in [
            (
                'A',
                "Vi har valt att arbeta med uppföljning av patienter med diabetes eftersom andelen med kontrollerat HbA1c har sjunkit under två år i rad på vår enhet.",
            ),
            ('B', "Ej ifyllt."),
        ] {
            let h = format!("{id}. {}", rb.section(id).title);
            blocks.push(Block::Heading { level: 1, text: h });
            blocks.push(Block::Paragraph {
                text: body.into(),
                bold: false,
            });
        }
        let doc = Document {
            format: Some(Format::Docx),
            blocks,
            ..Document::default()
        };
        super::super::analyse(&doc, &rb, Some(1))
    }

    #[test]
    fn round_trips_and_keeps_what_reviewers_read() {
        let a = sample();
        let s = StoredAnalysis::from_analysis("plan.docx", Format::Docx, TextSource::Text, &a);
        assert_eq!(s.schema, SCHEMA_VERSION);
        let back = StoredAnalysis::parse(&s.to_json()).unwrap();
        assert_eq!(back, s);
        let a_sec = &back.sections[&'A'];
        assert_eq!(a_sec.status, StoredStatus::Ok);
        assert!(a_sec.excerpt.as_deref().unwrap().starts_with("Vi har valt"));
        assert_eq!(back.sections[&'B'].status, StoredStatus::Weak);
        assert!(back.lacking_sections().contains(&'B'));
        assert!(!back.lacking_sections().contains(&'A'));
        assert!(!back.lacking_sections().contains(&'G'));
    }

    #[test]
    fn reads_rows_written_before_the_schema_had_a_version() {
        let legacy = r#"{"document":{"file":"p.pdf","format":"pdf","words":120},"milestone":1,
            "sections":{"A":{"required":true,"status":"ok","heading":"Bakgrund","words":40},
                        "C":{"required":true,"status":"missing","heading":null,"words":0}},
            "baseline":{"found":false,"values":[],"excerpt":null},
            "goal":{"found":true,"measurable":true,"time_bound":false,"excerpt":"Minska"},
            "data_sources":["Primärvårdskvalitet"],"grade":"yellow","notes":[]}"#;
        let s = StoredAnalysis::parse(legacy).unwrap();
        assert_eq!(s.schema, 0);
        assert_eq!(s.document.source, "text");
        assert_eq!(s.lacking_sections(), vec!['C']);
        assert_eq!(s.grade, Grade::Yellow);
    }

    #[test]
    fn refuses_a_newer_schema_and_garbage() {
        assert!(StoredAnalysis::parse(r#"{"schema":99}"#).is_err());
        assert!(StoredAnalysis::parse("not json").is_err());
    }
}
