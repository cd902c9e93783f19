//! Reviewer decisions, pure: what a reviewer decided about one submitted version (the grade
//! that counts, "Regionens bedömning"), and the registered presentations at Utvecklingskraft.
//!
//! [`derive_decision`] turns a submission's stored analysis (the `analysis_json` the intake
//! recorded) plus the reviewer's [`Overrides`] into the full section verdicts and the grade:
//! sections the reviewer changed replace the pre-check's statuses, G follows A–F again unless
//! the reviewer set G, and the grade is recomputed with the rulebook's grading rule
//! ([`crate::domain::grading::grade`]) unless the reviewer sets the grade explicitly. A
//! reviewer is never required to agree with the machine.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::analysis::stored::StoredAnalysis;
use super::grading::{Grade, Status, derive_g, grade};
use super::rulebook::{SECTION_IDS, SectionId};

/// A reviewer's verdict on one section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum SectionVerdict {
    Ok,
    Weak,
    Missing,
}

impl SectionVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            SectionVerdict::Ok => "ok",
            SectionVerdict::Weak => "weak",
            SectionVerdict::Missing => "missing",
        }
    }

    pub fn parse(s: &str) -> Option<SectionVerdict> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ok" => Some(SectionVerdict::Ok),
            "weak" => Some(SectionVerdict::Weak),
            "missing" => Some(SectionVerdict::Missing),
            _ => None,
        }
    }

    /// Swedish wording for mails and pages ([`super::vocab::verdict_phrase`]).
    pub fn swedish(self) -> &'static str {
        super::vocab::verdict_phrase(self.into())
    }
}

impl From<Status> for SectionVerdict {
    fn from(s: Status) -> Self {
        match s {
            Status::Ok => SectionVerdict::Ok,
            Status::Weak => SectionVerdict::Weak,
            Status::Missing => SectionVerdict::Missing,
        }
    }
}

impl From<SectionVerdict> for Status {
    fn from(v: SectionVerdict) -> Self {
        match v {
            SectionVerdict::Ok => Status::Ok,
            SectionVerdict::Weak => Status::Weak,
            SectionVerdict::Missing => Status::Missing,
        }
    }
}

/// One recorded decision (history is kept: a later decision never overwrites an earlier one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub id: i64,
    pub submission_id: i64,
    pub clinic_id: String,
    /// The cycle year (the rulebook's year when the decision was made).
    pub year: i32,
    pub milestone: u8,
    /// The grade that counts.
    pub grade: Grade,
    /// The full section verdicts A–I after the decision.
    pub sections: BTreeMap<char, SectionVerdict>,
    /// The agent's pre-grade of the submission (None: the document could not be read).
    pub pre_grade: Option<Grade>,
    /// The reviewer's grade equals the pre-grade.
    pub agreed_with_pregrade: bool,
    pub comment: Option<String>,
    /// `cli:<name>`, `web:<user>`.
    pub decided_by: String,
    pub decided_at: DateTime<Utc>,
    /// The decision email's outbox row, when one was sent.
    pub mail_outbox_id: Option<i64>,
}

/// A registered presentation at Utvecklingskraft (makes instalment 2 due).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Presentation {
    pub clinic_id: String,
    pub year: i32,
    pub registered_by: String,
    pub registered_at: DateTime<Utc>,
    pub note: Option<String>,
}

/// What the reviewer changed: section verdicts and, optionally, the grade itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub sections: BTreeMap<char, SectionVerdict>,
    /// When set, this is the grade whatever the sections say.
    pub grade: Option<Grade>,
}

impl Overrides {
    /// No change: the reviewer confirms the pre-grade.
    pub fn confirm() -> Overrides {
        Overrides::default()
    }

    /// Parse `X=ok|weak|missing` (as given on the command line).
    pub fn parse_section(arg: &str) -> Result<(char, SectionVerdict), ReviewError> {
        let bad = || ReviewError::BadSectionArg(arg.to_string());
        let (id, v) = arg.split_once('=').ok_or_else(bad)?;
        let mut chars = id.trim().chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return Err(bad());
        };
        let c = c.to_ascii_uppercase();
        if !SECTION_IDS.contains(&c) {
            return Err(ReviewError::UnknownSection(c));
        }
        Ok((c, SectionVerdict::parse(v).ok_or_else(bad)?))
    }
}

/// The outcome of [`derive_decision`]: what to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derived {
    pub grade: Grade,
    /// All sections A–I.
    pub sections: BTreeMap<char, SectionVerdict>,
    /// The sections whose verdict differs from the pre-check.
    pub changed: Vec<char>,
    /// The grade the rulebook's rule gives for `sections` (equals `grade` unless the reviewer
    /// set the grade explicitly).
    pub computed_grade: Grade,
    pub agreed_with_pregrade: bool,
}

/// Why a decision cannot be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("cannot read the stored analysis: {0}")]
    BadAnalysis(String),
    #[error("cannot confirm: the document was not read, so there is no pre-grade; give a grade")]
    NoPreGrade,
    #[error("cannot use section {0}: the rulebook's sections are A–I")]
    UnknownSection(char),
    #[error("cannot read {0:?}: expected X=ok|weak|missing, e.g. D=weak")]
    BadSectionArg(String),
}

/// Section statuses as the intake stored them, read through
/// [`StoredAnalysis::parse`](super::analysis::stored::StoredAnalysis::parse) (every schema
/// version). An analysis without sections (no document was read) gives all sections
/// `missing`.
pub fn stored_sections(analysis_json: &str) -> Result<BTreeMap<char, SectionVerdict>, ReviewError> {
    let mut out: BTreeMap<char, SectionVerdict> = SECTION_IDS
        .iter()
        .map(|&id| (id, SectionVerdict::Missing))
        .collect();
    let v: serde_json::Value =
        serde_json::from_str(analysis_json).map_err(|e| ReviewError::BadAnalysis(e.to_string()))?;
    if v.get("sections").is_none() {
        return Ok(out);
    }
    let stored = StoredAnalysis::parse(analysis_json).map_err(ReviewError::BadAnalysis)?;
    for (id, s) in stored.sections {
        if SECTION_IDS.contains(&id) {
            out.insert(id, Status::from(s.status).into());
        }
    }
    Ok(out)
}

/// Derive the decision from the stored analysis, the pre-grade, the milestone's required
/// sections (from the cycle's rulebook) and the reviewer's overrides.
///
/// A plain confirmation (no overrides) keeps the pre-grade (and fails when there is none). With
/// section overrides, G is derived from A–F again (unless G itself is overridden) and the grade
/// is the rulebook's rule over the required sections; an explicit grade wins over both.
pub fn derive_decision(
    analysis_json: &str,
    pre_grade: Option<Grade>,
    required: &[SectionId],
    ov: &Overrides,
) -> Result<Derived, ReviewError> {
    let before = stored_sections(analysis_json)?;
    let mut sections = before.clone();
    for (&id, &v) in &ov.sections {
        if !SECTION_IDS.contains(&id) {
            return Err(ReviewError::UnknownSection(id));
        }
        sections.insert(id, v);
    }
    let a_to_f_changed = ov.sections.keys().any(|c| ('A'..='F').contains(c));
    if a_to_f_changed && !ov.sections.contains_key(&'G') {
        let a_to_f: Vec<Status> = ['A', 'B', 'C', 'D', 'E', 'F']
            .iter()
            .map(|c| Status::from(sections[c]))
            .collect();
        sections.insert('G', derive_g(&a_to_f).into());
    }
    let required_status: Vec<Status> = required
        .iter()
        .filter_map(|c| sections.get(c))
        .map(|v| Status::from(*v))
        .collect();
    let computed_grade = grade(&required_status);
    let changed: Vec<char> = sections
        .iter()
        .filter(|(id, v)| before.get(id) != Some(v))
        .map(|(id, _)| *id)
        .collect();
    let final_grade = match (ov.grade, changed.is_empty(), pre_grade) {
        (Some(g), _, _) => g,
        // A plain confirmation: the pre-grade is what the reviewer confirms.
        (None, true, Some(p)) => p,
        (None, true, None) => return Err(ReviewError::NoPreGrade),
        (None, false, _) => computed_grade,
    };
    Ok(Derived {
        grade: final_grade,
        sections,
        changed,
        computed_grade,
        agreed_with_pregrade: pre_grade == Some(final_grade),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// A stored analysis (schema 1) with these section statuses.
    fn analysis(statuses: &[(char, &str)]) -> String {
        let mut sections = serde_json::Map::new();
        for (id, st) in statuses {
            sections.insert(id.to_string(), json!({"status": st, "required": true}));
        }
        json!({
            "schema": 1,
            "document": {"file": "plan.docx", "format": "docx"},
            "milestone": 1,
            "sections": sections,
            "grade": "yellow",
        })
        .to_string()
    }

    const M1: &[char] = &['A', 'B', 'C', 'D', 'E', 'F', 'G'];

    fn all_ok() -> String {
        analysis(&[
            ('A', "ok"),
            ('B', "ok"),
            ('C', "ok"),
            ('D', "ok"),
            ('E', "ok"),
            ('F', "ok"),
            ('G', "ok"),
            ('H', "missing"),
            ('I', "missing"),
        ])
    }

    #[test]
    fn confirm_keeps_the_pre_grade() {
        let d = derive_decision(&all_ok(), Some(Grade::Green), M1, &Overrides::confirm()).unwrap();
        assert_eq!(d.grade, Grade::Green);
        assert!(d.agreed_with_pregrade);
        assert!(d.changed.is_empty());
        assert_eq!(d.sections[&'H'], SectionVerdict::Missing);
    }

    #[test]
    fn override_recomputes_grade_and_g() {
        let ov = Overrides {
            sections: [('D', SectionVerdict::Weak)].into(),
            grade: None,
        };
        let d = derive_decision(&all_ok(), Some(Grade::Green), M1, &ov).unwrap();
        assert_eq!(d.sections[&'G'], SectionVerdict::Weak, "G follows A–F");
        assert_eq!(d.changed, vec!['D', 'G']);
        // D and G not ok: 2 of 7 → yellow.
        assert_eq!(d.grade, Grade::Yellow);
        assert!(!d.agreed_with_pregrade);
        let ov = Overrides {
            sections: [
                ('A', SectionVerdict::Missing),
                ('B', SectionVerdict::Missing),
                ('C', SectionVerdict::Weak),
            ]
            .into(),
            grade: None,
        };
        assert_eq!(
            derive_decision(&all_ok(), Some(Grade::Green), M1, &ov)
                .unwrap()
                .grade,
            Grade::Red
        );
    }

    #[test]
    fn explicit_grade_wins() {
        let ov = Overrides {
            sections: [('D', SectionVerdict::Weak)].into(),
            grade: Some(Grade::Green),
        };
        let d = derive_decision(&all_ok(), Some(Grade::Green), M1, &ov).unwrap();
        assert_eq!(d.grade, Grade::Green);
        assert_eq!(d.computed_grade, Grade::Yellow);
        assert!(d.agreed_with_pregrade);
    }

    #[test]
    fn unreadable_document_needs_a_grade() {
        let json = json!({"error": "unreadable"}).to_string();
        assert_eq!(
            derive_decision(&json, None, M1, &Overrides::confirm()),
            Err(ReviewError::NoPreGrade)
        );
        let ov = Overrides {
            sections: BTreeMap::new(),
            grade: Some(Grade::Red),
        };
        assert_eq!(
            derive_decision(&json, None, M1, &ov).unwrap().grade,
            Grade::Red
        );
    }

    fn verdict() -> impl Strategy<Value = SectionVerdict> {
        prop_oneof![
            Just(SectionVerdict::Ok),
            Just(SectionVerdict::Weak),
            Just(SectionVerdict::Missing)
        ]
    }

    fn grade_strategy() -> impl Strategy<Value = Grade> {
        prop_oneof![Just(Grade::Green), Just(Grade::Yellow), Just(Grade::Red)]
    }

    proptest! {
        /// Whatever the stored statuses and the overrides: the recorded sections are the
        /// stored ones with the overrides applied (G re-derived when A–F changed and G was not
        /// set), the grade is the rulebook's rule over the required sections unless nothing
        /// changed (the pre-grade) or a grade was given (that grade).
        #[test]
        fn derived_grade_follows_the_rulebook(
            stored in proptest::collection::vec(verdict(), 9),
            ov in proptest::collection::btree_map(
                proptest::sample::select(SECTION_IDS.to_vec()), verdict(), 0..5),
            explicit in proptest::option::of(grade_strategy()),
            pre in grade_strategy(),
            m2 in any::<bool>(),
        ) {
            let pairs: Vec<(char, &str)> = SECTION_IDS
                .iter()
                .zip(&stored)
                .map(|(c, v)| (*c, v.as_str()))
                .collect();
            let json = analysis(&pairs);
            let required: Vec<char> = if m2 { SECTION_IDS.to_vec() } else { M1.to_vec() };
            let o = Overrides { sections: ov.clone(), grade: explicit };
            let d = derive_decision(&json, Some(pre), &required, &o).unwrap();
            for (i, id) in SECTION_IDS.iter().enumerate() {
                let expected = match ov.get(id) {
                    Some(v) => *v,
                    None if *id == 'G' && ov.keys().any(|c| ('A'..='F').contains(c)) => {
                        let a_f: Vec<Status> = ['A', 'B', 'C', 'D', 'E', 'F']
                            .iter()
                            .map(|c| Status::from(d.sections[c]))
                            .collect();
                        derive_g(&a_f).into()
                    }
                    None => stored[i],
                };
                prop_assert_eq!(d.sections[id], expected, "section {}", id);
            }
            let rule = grade(
                &required.iter().map(|c| Status::from(d.sections[c])).collect::<Vec<_>>(),
            );
            prop_assert_eq!(d.computed_grade, rule);
            let expected = match explicit {
                Some(g) => g,
                None if d.changed.is_empty() => pre,
                None => rule,
            };
            prop_assert_eq!(d.grade, expected);
            prop_assert_eq!(d.agreed_with_pregrade, d.grade == pre);
        }
    }

    #[test]
    fn section_args() {
        assert_eq!(
            Overrides::parse_section("d=Weak").unwrap(),
            ('D', SectionVerdict::Weak)
        );
        assert!(Overrides::parse_section("D").is_err());
        assert!(Overrides::parse_section("DE=ok").is_err());
        assert_eq!(
            Overrides::parse_section("Z=ok"),
            Err(ReviewError::UnknownSection('Z'))
        );
        assert!(Overrides::parse_section("A=fine").is_err());
    }
}
