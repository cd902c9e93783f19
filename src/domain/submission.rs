//! What a submission is for: which milestone a document answers, and whether it supplements
//! an earlier one. Pure policy over the analysis, the mail's subject, the server's receive
//! time and the rulebook; the intake (`pipeline::ingest`) applies it.

use chrono::{DateTime, Utc};

use super::analysis::{Analysis, MilestoneSource, milestone_from_words};
use super::cycle;
use super::normalize::fold;
use super::rulebook::Rulebook;

/// The milestone of a submission: the document's own title, else the subject, else the
/// document's sections (H/I), else the cycle calendar (the next due milestone on or after the
/// receive day, or the last one).
pub fn decide_milestone(
    analysis: Option<&Analysis>,
    subject: &str,
    received_at: DateTime<Utc>,
    rb: &Rulebook,
) -> u8 {
    if let Some(a) = analysis
        && a.milestone_source == MilestoneSource::Title
    {
        return a.milestone;
    }
    if let Some(m) = milestone_from_words(subject, rb) {
        return m;
    }
    if let Some(a) = analysis
        && matches!(
            a.milestone_source,
            MilestoneSource::Sections | MilestoneSource::Furniture
        )
    {
        return a.milestone;
    }
    let tz = rb.tz();
    let mut ms: Vec<_> = rb.milestones.iter().collect();
    ms.sort_by_key(|m| m.due);
    ms.iter()
        .find(|m| cycle::on_time(received_at, m.due, tz))
        .or(ms.last())
        .map_or(1, |m| m.id)
}

/// Whether the subject says the mail supplements an earlier submission: one of the
/// rulebook's `supplement_words` ("komplettering", "reviderad", …) occurs in it, case- and
/// diacritic-insensitively.
pub fn says_supplement(subject: &str, rb: &Rulebook) -> bool {
    let f = fold(subject);
    rb.supplement_words.iter().any(|w| f.contains(&fold(w)))
}

/// A submission supplements an earlier one when the clinic already has a version for the
/// milestone, or when its subject says so.
pub fn is_supplement(has_earlier_version: bool, subject: &str, rb: &Rulebook) -> bool {
    has_earlier_version || says_supplement(subject, rb)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rb() -> Rulebook {
        Rulebook::from_toml(include_str!("../../config/rulebook-2026.toml")).unwrap()
    }

    #[test]
    fn supplement_words_come_from_the_rulebook() {
        let rb = rb();
        assert!(says_supplement("Komplettering av projektplan", &rb));
        assert!(says_supplement("Projektplan (REVIDERAD)", &rb));
        assert!(!says_supplement("Projektplan Vårdcentralen Ekbacken", &rb));
        assert!(is_supplement(true, "Projektplan", &rb));
        let mut other = rb.clone();
        other.supplement_words = vec!["tillägg".into()];
        assert!(!says_supplement("Komplettering av projektplan", &other));
        assert!(says_supplement("Tillagg till planen", &other));
    }

    #[test]
    fn the_calendar_decides_when_nothing_else_does() {
        let rb = rb();
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let m1 = rb.milestones.iter().find(|m| m.id == 1).unwrap().due;
        let before = t(&format!("{}T08:00:00Z", m1 - chrono::Duration::days(10)));
        assert_eq!(decide_milestone(None, "Vår plan", before, &rb), 1);
        let after = t(&format!("{}T08:00:00Z", m1 + chrono::Duration::days(10)));
        assert_eq!(decide_milestone(None, "Vår plan", after, &rb), 2);
        assert_eq!(decide_milestone(None, "Slutrapport", before, &rb), 2);
    }
}
