//! The rulebook of one cycle year, as data: milestones with due dates and required sections,
//! section titles with the rulebook's own questions, synonyms, placeholders, data sources and
//! money. Loaded from TOML text (`config/rulebook-YYYY.toml`); this module does no I/O.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Deserialize;

use super::money::MoneyRules;

/// A section id, 'A'..='I'.
pub type SectionId = char;

/// All nine section ids in order; the JSON report always lists every one of them.
pub const SECTION_IDS: [SectionId; 9] = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I'];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rulebook {
    pub year: i32,
    pub timezone: String,
    pub min_section_words: usize,
    pub milestones: Vec<Milestone>,
    pub sections: Vec<SectionRule>,
    pub placeholders: Vec<String>,
    /// Headings that belong to no section (Budget, Bilagor, Referenser ...): they end the
    /// section before them. Matched as the first words of a heading.
    #[serde(default)]
    pub other_headings: Vec<String>,
    /// A heading that is no listed title or synonym is taken for a section when the weights of
    /// that section's key ideas found in it sum to at least this, more than any other section.
    #[serde(default = "default_min_heading_score")]
    pub min_heading_score: f64,
    pub data_sources: Vec<DataSource>,
    /// Words in a subject that mark a mail as a supplement to an earlier submission
    /// ("komplettering", "reviderad"); matched case- and diacritic-insensitively.
    #[serde(default = "default_supplement_words")]
    pub supplement_words: Vec<String>,
    pub money: MoneyRules,
}

fn default_supplement_words() -> Vec<String> {
    ["komplettering", "kompletterad", "reviderad"]
        .map(String::from)
        .to_vec()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Milestone {
    pub id: u8,
    pub name: String,
    pub short: String,
    pub due: NaiveDate,
    pub required: Vec<SectionId>,
    pub title_words: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionRule {
    pub id: SectionId,
    pub title: String,
    #[serde(default)]
    pub synonyms: Vec<String>,
    /// G is derived from A–F rather than written as a section of its own.
    #[serde(default)]
    pub derived: bool,
    /// The rulebook's questions the section should answer (used in reports and coaching).
    pub questions: Vec<String>,
    /// The template's own instruction text; left in a document it is not content.
    #[serde(default)]
    pub instructions: Vec<String>,
    /// The section's key ideas with weights, for headings that paraphrase the title. A key is
    /// one or more words (folded); a word ending in '*' matches any word it begins.
    #[serde(default)]
    pub keywords: BTreeMap<String, f64>,
    /// Minimum number of measurement points (H).
    #[serde(default)]
    pub min_measurement_points: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    /// Canonical name, as reported.
    pub name: String,
    /// Spellings to match (case- and diacritic-insensitive).
    pub aliases: Vec<String>,
}

fn default_min_heading_score() -> f64 {
    2.0
}

#[derive(Debug, thiserror::Error)]
pub enum RulebookError {
    #[error("cannot parse rulebook: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("invalid rulebook: {0}")]
    Invalid(String),
}

impl Rulebook {
    /// Parse and validate a rulebook from TOML text.
    pub fn from_toml(text: &str) -> Result<Rulebook, RulebookError> {
        let rb: Rulebook = toml::from_str(text)?;
        rb.validate()?;
        Ok(rb)
    }

    /// The rulebook shipped with the binary (the current cycle), for `check` without config.
    /// Read from the JSON form `build.rs` makes of `config/rulebook-2026.toml`: parsing JSON
    /// costs a fraction of parsing TOML, which shows in a short `check` process; a test
    /// compares it with [`Rulebook::from_toml`] of the same file.
    pub fn embedded() -> Rulebook {
        let rb: Rulebook = serde_json::from_str(include_str!(concat!(
            env!("OUT_DIR"),
            "/rulebook-2026.json"
        )))
        .expect("embedded rulebook is valid (tested)");
        rb.validate().expect("embedded rulebook is valid (tested)");
        rb
    }

    fn validate(&self) -> Result<(), RulebookError> {
        let bad = |m: String| Err(RulebookError::Invalid(m));
        for id in SECTION_IDS {
            if self.sections.iter().filter(|s| s.id == id).count() != 1 {
                return bad(format!("section {id} must be defined exactly once"));
            }
        }
        if self.milestones.is_empty() {
            return bad("no milestones".into());
        }
        if self.min_heading_score.is_nan() || self.min_heading_score <= 0.0 {
            return bad("min_heading_score must be above 0".into());
        }
        for s in &self.sections {
            if let Some((k, _)) = s
                .keywords
                .iter()
                .find(|(k, w)| k.trim().is_empty() || w.is_nan() || **w <= 0.0)
            {
                return bad(format!(
                    "section {}: keyword {k:?} needs a weight above 0",
                    s.id
                ));
            }
        }
        for m in &self.milestones {
            if m.required.is_empty() {
                return bad(format!("milestone {} requires no section", m.id));
            }
            if let Some(s) = m.required.iter().find(|s| !SECTION_IDS.contains(s)) {
                return bad(format!("milestone {} requires unknown section {s}", m.id));
            }
        }
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            // chrono-tz is built with the zones of CHRONO_TZ_TIMEZONE_FILTER (.cargo/config.toml).
            let known: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
            return bad(format!(
                "unknown time zone {} (this build knows {})",
                self.timezone,
                known.join(", ")
            ));
        }
        self.money.validate().map_err(RulebookError::Invalid)?;
        Ok(())
    }

    pub fn milestone(&self, id: u8) -> Option<&Milestone> {
        self.milestones.iter().find(|m| m.id == id)
    }

    pub fn section(&self, id: SectionId) -> &SectionRule {
        self.sections
            .iter()
            .find(|s| s.id == id)
            .expect("validated: every section is defined")
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().expect("validated time zone")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_rulebook_matches_the_2026_rulebook() {
        let rb = Rulebook::embedded();
        assert_eq!(rb.year, 2026);
        let m1 = rb.milestone(1).unwrap();
        assert_eq!(m1.due, NaiveDate::from_ymd_opt(2026, 2, 15).unwrap());
        assert_eq!(m1.required, vec!['A', 'B', 'C', 'D', 'E', 'F']);
        let m2 = rb.milestone(2).unwrap();
        assert_eq!(m2.due, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        assert_eq!(m2.required.len(), 9);
        assert_eq!(rb.section('D').title, "Nuläge");
        assert!(rb.section('G').derived);
        assert_eq!(rb.data_sources.len(), 4);
    }

    #[test]
    fn the_embedded_json_is_the_toml_rulebook() {
        let toml = Rulebook::from_toml(include_str!("../../config/rulebook-2026.toml")).unwrap();
        assert_eq!(format!("{:?}", Rulebook::embedded()), format!("{toml:?}"));
    }

    #[test]
    fn key_ideas_and_other_headings_are_loaded_and_checked() {
        let rb = Rulebook::embedded();
        assert!(rb.min_heading_score > 0.0);
        assert!(rb.other_headings.iter().any(|o| o == "budget"));
        for id in ['A', 'B', 'C', 'D', 'E', 'F', 'H', 'I'] {
            assert!(!rb.section(id).keywords.is_empty(), "{id} has key ideas");
        }
        let text = include_str!("../../config/rulebook-2026.toml")
            .replace("\"bakgrund*\" = 3", "\"bakgrund*\" = -1");
        assert!(matches!(
            Rulebook::from_toml(&text),
            Err(RulebookError::Invalid(_))
        ));
    }

    #[test]
    fn time_zones_of_the_build_are_known_and_others_refused() {
        let text = include_str!("../../config/rulebook-2026.toml");
        let with = |tz: &str| {
            Rulebook::from_toml(&text.replace(
                "timezone = \"Europe/Stockholm\"",
                &format!("timezone = \"{tz}\""),
            ))
        };
        for tz in [
            "Europe/Stockholm",
            "Europe/Helsinki",
            "Europe/Oslo",
            "Europe/Copenhagen",
            "UTC",
            "Etc/UTC",
        ] {
            assert_eq!(with(tz).unwrap().tz().name(), tz);
        }
        // Europe/Berlin is known too: tzdata makes the Nordic zones links to it.
        for tz in ["Europe/Madrid", "America/New_York"] {
            assert!(with(tz).is_err(), "{tz}");
        }
        let Err(RulebookError::Invalid(e)) = with("America/New_York") else {
            panic!("a zone outside the build's set is refused");
        };
        assert!(
            e.contains("America/New_York") && e.contains("Europe/Oslo"),
            "{e}"
        );
    }

    #[test]
    fn rejects_a_rulebook_missing_a_section() {
        let text =
            include_str!("../../config/rulebook-2026.toml").replace("id = \"I\"", "id = \"Z\"");
        assert!(matches!(
            Rulebook::from_toml(&text),
            Err(RulebookError::Invalid(_)) | Err(RulebookError::Parse(_))
        ));
    }
}
