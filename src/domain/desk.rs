//! The reviewers' board as data: one row per clinic and milestone of a cycle year (pre-grade
//! beside the confirmed grade, on time / late / missing, version, days to the deadline), the
//! filters and sort orders of the page, and the per-section view (the share of clinics with
//! each section ok: a section that is weak almost everywhere is a programme problem).
//!
//! Pure: the caller passes the clinics, the latest submissions, the confirmed grades and
//! `today` (a date in the cycle's time zone).

use std::collections::BTreeMap;

use chrono::{DateTime, Months, NaiveDate, Utc};

use super::grading::{Grade, Status};
use super::rulebook::{Rulebook, SECTION_IDS, SectionId};

/// The latest submission of one clinic for one milestone, as the board needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    pub submission_id: i64,
    pub clinic_id: String,
    pub milestone: u8,
    pub version: i64,
    pub received_at: DateTime<Utc>,
    /// The milestone was met on time (by this or an earlier version).
    pub on_time: bool,
    pub pre_grade: Option<Grade>,
    /// Section statuses as the agent read them (empty when the document was unreadable).
    pub sections: BTreeMap<SectionId, Status>,
}

/// Where a clinic stands with a milestone's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Punctuality {
    OnTime,
    Late,
    /// Nothing arrived and the deadline has passed.
    Missing,
    /// Nothing arrived yet; the deadline is still ahead.
    Open,
}

impl Punctuality {
    pub fn as_str(self) -> &'static str {
        match self {
            Punctuality::OnTime => "on_time",
            Punctuality::Late => "late",
            Punctuality::Missing => "missing",
            Punctuality::Open => "open",
        }
    }

    pub fn swedish(self) -> &'static str {
        match self {
            Punctuality::OnTime => "i tid",
            Punctuality::Late => "sen",
            Punctuality::Missing => "saknas",
            Punctuality::Open => "inte inkommen",
        }
    }
}

/// One cell row of the board.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardRow {
    pub clinic_id: String,
    pub clinic_name: String,
    pub milestone: u8,
    pub latest: Option<Latest>,
    /// The reviewers' grade of the latest version, when decided.
    pub confirmed: Option<Grade>,
    pub punctuality: Punctuality,
    /// Whole days from `today` to the due day (negative once it has passed).
    pub days_to_deadline: i64,
}

impl BoardRow {
    /// A submission waits for a reviewer ("väntar på bekräftelse").
    pub fn waiting(&self) -> bool {
        self.latest.is_some() && self.confirmed.is_none()
    }
}

/// The board's filters (query string of the page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub milestone: Option<u8>,
    /// `waiting` (väntar på bekräftelse), `decided`, `late`, `missing`.
    pub state: Option<String>,
    pub pre_grade: Option<Grade>,
    /// Part of the clinic's id or name, case-insensitive.
    pub text: Option<String>,
}

/// The board's sort orders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    #[default]
    Clinic,
    PreGrade,
    Received,
    Deadline,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Sort> {
        match s {
            "clinic" => Some(Sort::Clinic),
            "pregrade" => Some(Sort::PreGrade),
            "received" => Some(Sort::Received),
            "deadline" => Some(Sort::Deadline),
            _ => None,
        }
    }
}

/// Which submissions count for a milestone of this cycle: received within six months
/// either side of its due day (local midnight to local midnight). Milestone 1 of one year and
/// milestone 2 of the year before both fall in an autumn, but they are different milestones.
pub fn window(due: NaiveDate, tz: chrono_tz::Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = due - Months::new(6);
    let to = due + Months::new(6);
    let start = |d: NaiveDate| super::cycle::due_end_utc(d.pred_opt().unwrap_or(d), tz);
    (start(from), start(to))
}

/// Build the rows: every clinic × every milestone of the rulebook.
pub fn board(
    rulebook: &Rulebook,
    clinics: &[(String, String)],
    latest: &[Latest],
    confirmed: &BTreeMap<i64, Grade>,
    today: NaiveDate,
) -> Vec<BoardRow> {
    let mut rows = Vec::with_capacity(clinics.len() * rulebook.milestones.len());
    for (id, name) in clinics {
        for m in &rulebook.milestones {
            let l = latest
                .iter()
                .find(|l| &l.clinic_id == id && l.milestone == m.id)
                .cloned();
            let days = (m.due - today).num_days();
            let punctuality = match &l {
                Some(l) if l.on_time => Punctuality::OnTime,
                Some(_) => Punctuality::Late,
                None if days < 0 => Punctuality::Missing,
                None => Punctuality::Open,
            };
            rows.push(BoardRow {
                clinic_id: id.clone(),
                clinic_name: name.clone(),
                milestone: m.id,
                confirmed: l
                    .as_ref()
                    .and_then(|l| confirmed.get(&l.submission_id).copied()),
                latest: l,
                punctuality,
                days_to_deadline: days,
            });
        }
    }
    rows
}

/// Keep the rows the filter asks for, in the asked order (ties by clinic, then milestone).
pub fn filter_sort(rows: Vec<BoardRow>, f: &Filter, sort: Sort, descending: bool) -> Vec<BoardRow> {
    let text = f.text.as_deref().map(str::to_lowercase);
    let mut out: Vec<BoardRow> = rows
        .into_iter()
        .filter(|r| f.milestone.is_none_or(|m| r.milestone == m))
        .filter(|r| match f.state.as_deref() {
            Some("waiting") => r.waiting(),
            Some("decided") => r.confirmed.is_some(),
            Some("late") => r.punctuality == Punctuality::Late,
            Some("missing") => r.punctuality == Punctuality::Missing,
            _ => true,
        })
        .filter(|r| {
            f.pre_grade
                .is_none_or(|g| r.latest.as_ref().and_then(|l| l.pre_grade) == Some(g))
        })
        .filter(|r| {
            text.as_deref().is_none_or(|t| {
                r.clinic_id.to_lowercase().contains(t) || r.clinic_name.to_lowercase().contains(t)
            })
        })
        .collect();
    let by_clinic = |a: &BoardRow, b: &BoardRow| {
        a.clinic_name
            .cmp(&b.clinic_name)
            .then(a.clinic_id.cmp(&b.clinic_id))
            .then(a.milestone.cmp(&b.milestone))
    };
    out.sort_by(|a, b| {
        let primary = match sort {
            Sort::Clinic => std::cmp::Ordering::Equal,
            // Green first, no grade (nothing read) last.
            Sort::PreGrade => rank(a).cmp(&rank(b)),
            Sort::Received => received(a).cmp(&received(b)),
            Sort::Deadline => a.days_to_deadline.cmp(&b.days_to_deadline),
        };
        let primary = if descending {
            primary.reverse()
        } else {
            primary
        };
        let whole = primary.then_with(|| by_clinic(a, b));
        if descending && sort == Sort::Clinic {
            whole.reverse()
        } else {
            whole
        }
    });
    out
}

fn rank(r: &BoardRow) -> u8 {
    match r.latest.as_ref().and_then(|l| l.pre_grade) {
        Some(Grade::Green) => 0,
        Some(Grade::Yellow) => 1,
        Some(Grade::Red) => 2,
        None => 3,
    }
}

fn received(r: &BoardRow) -> Option<DateTime<Utc>> {
    r.latest.as_ref().map(|l| l.received_at)
}

/// One line of the per-section view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionShare {
    pub id: SectionId,
    pub title: String,
    /// Latest submissions (of the milestones requiring the section) with it ok …
    pub ok: usize,
    /// … out of this many.
    pub total: usize,
}

impl SectionShare {
    /// Whole per cent, rounded down; 0 when nothing was read.
    pub fn percent(&self) -> usize {
        (self.ok * 100).checked_div(self.total).unwrap_or(0)
    }
}

/// Per section A–I: how many of the latest read submissions have it ok, counting only
/// milestones that require the section.
pub fn section_shares(rulebook: &Rulebook, rows: &[BoardRow]) -> Vec<SectionShare> {
    SECTION_IDS
        .iter()
        .map(|&id| {
            let mut ok = 0;
            let mut total = 0;
            for l in rows.iter().filter_map(|r| r.latest.as_ref()) {
                let required = rulebook
                    .milestone(l.milestone)
                    .is_some_and(|m| m.required.contains(&id));
                if !required || l.sections.is_empty() {
                    continue;
                }
                total += 1;
                if l.sections.get(&id) == Some(&Status::Ok) {
                    ok += 1;
                }
            }
            SectionShare {
                id,
                title: rulebook.section(id).title.clone(),
                ok,
                total,
            }
        })
        .collect()
}

/// The section statuses from a stored analysis (empty when it cannot be read).
pub fn sections_from_json(analysis_json: &str) -> BTreeMap<SectionId, Status> {
    super::analysis::stored::StoredAnalysis::parse(analysis_json)
        .map(|a| {
            a.sections
                .into_iter()
                .map(|(id, s)| (id, Status::from(s.status)))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn latest(id: i64, clinic: &str, m: u8, g: Grade, on_time: bool, day: u32) -> Latest {
        let mut sections = BTreeMap::new();
        for s in SECTION_IDS {
            sections.insert(s, if s == 'E' { Status::Weak } else { Status::Ok });
        }
        Latest {
            submission_id: id,
            clinic_id: clinic.into(),
            milestone: m,
            version: 1,
            received_at: Utc.with_ymd_and_hms(2026, 2, day, 9, 0, 0).unwrap(),
            on_time,
            pre_grade: Some(g),
            sections,
        }
    }

    fn clinics() -> Vec<(String, String)> {
        vec![
            ("VC1".into(), "Vårdcentralen Björkdalen".into()),
            ("VC2".into(), "Vårdcentralen Almsta".into()),
            ("VC3".into(), "Vårdcentralen Ekbacken".into()),
        ]
    }

    fn rows(today: NaiveDate) -> Vec<BoardRow> {
        let rb = Rulebook::embedded();
        let l = vec![
            latest(1, "VC1", 1, Grade::Yellow, true, 10),
            latest(2, "VC2", 1, Grade::Green, false, 16),
        ];
        let confirmed = BTreeMap::from([(2, Grade::Green)]);
        board(&rb, &clinics(), &l, &confirmed, today)
    }

    #[test]
    fn every_clinic_and_milestone_with_punctuality() {
        let rb = Rulebook::embedded();
        let due1 = rb.milestone(1).unwrap().due;
        let today = due1.succ_opt().unwrap();
        let r = rows(today);
        assert_eq!(r.len(), 3 * rb.milestones.len());
        let get = |c: &str, m: u8| r.iter().find(|r| r.clinic_id == c && r.milestone == m);
        assert_eq!(get("VC1", 1).unwrap().punctuality, Punctuality::OnTime);
        assert_eq!(get("VC2", 1).unwrap().punctuality, Punctuality::Late);
        assert_eq!(get("VC3", 1).unwrap().punctuality, Punctuality::Missing);
        assert_eq!(get("VC3", 2).unwrap().punctuality, Punctuality::Open);
        assert_eq!(get("VC1", 1).unwrap().days_to_deadline, -1);
        assert!(get("VC1", 1).unwrap().waiting());
        assert!(!get("VC2", 1).unwrap().waiting());
        assert_eq!(get("VC2", 1).unwrap().confirmed, Some(Grade::Green));
    }

    #[test]
    fn filters_and_sorts() {
        let rb = Rulebook::embedded();
        let today = rb.milestone(1).unwrap().due;
        let all = rows(today);
        let waiting = filter_sort(
            all.clone(),
            &Filter {
                state: Some("waiting".into()),
                ..Filter::default()
            },
            Sort::Clinic,
            false,
        );
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].clinic_id, "VC1");
        let m1 = Filter {
            milestone: Some(1),
            ..Filter::default()
        };
        let by_grade = filter_sort(all.clone(), &m1, Sort::PreGrade, false);
        let ids: Vec<&str> = by_grade.iter().map(|r| r.clinic_id.as_str()).collect();
        assert_eq!(ids, ["VC2", "VC1", "VC3"]);
        let by_name = filter_sort(all.clone(), &m1, Sort::Clinic, false);
        let ids: Vec<&str> = by_name.iter().map(|r| r.clinic_id.as_str()).collect();
        assert_eq!(ids, ["VC2", "VC1", "VC3"], "Almsta, Björkdalen, Ekbacken");
        let desc = filter_sort(all.clone(), &m1, Sort::Clinic, true);
        assert_eq!(desc[0].clinic_id, "VC3");
        let text = Filter {
            text: Some("EKBA".into()),
            ..Filter::default()
        };
        assert!(
            filter_sort(all, &text, Sort::Clinic, false)
                .iter()
                .all(|r| r.clinic_id == "VC3")
        );
    }

    #[test]
    fn section_view_counts_required_sections_of_read_documents() {
        let rb = Rulebook::embedded();
        let r = rows(rb.milestone(1).unwrap().due);
        let shares = section_shares(&rb, &r);
        let e = shares.iter().find(|s| s.id == 'E').unwrap();
        assert_eq!((e.ok, e.total), (0, 2));
        let a = shares.iter().find(|s| s.id == 'A').unwrap();
        assert_eq!((a.ok, a.total, a.percent()), (2, 2, 100));
        let h = shares.iter().find(|s| s.id == 'H').unwrap();
        assert_eq!(h.total, 0, "H is not required for milestone 1");
    }

    #[test]
    fn window_is_six_months_either_side_in_local_time() {
        let tz: chrono_tz::Tz = "Europe/Stockholm".parse().unwrap();
        let due = NaiveDate::from_ymd_opt(2026, 2, 15).unwrap();
        let (from, to) = window(due, tz);
        assert_eq!(from, Utc.with_ymd_and_hms(2025, 8, 14, 22, 0, 0).unwrap());
        assert_eq!(to, Utc.with_ymd_and_hms(2026, 8, 14, 22, 0, 0).unwrap());
    }

    #[test]
    fn sections_read_from_stored_analysis() {
        let s = sections_from_json(
            r#"{"document":{"file":"p.docx","format":"docx"},"milestone":1,"grade":"yellow",
               "sections":{"A":{"required":true,"status":"ok"},
                           "E":{"required":true,"status":"weak"},
                           "H":{"required":false,"status":"missing"}}}"#,
        );
        assert_eq!(s[&'A'], Status::Ok);
        assert_eq!(s[&'E'], Status::Weak);
        assert_eq!(s[&'H'], Status::Missing);
        assert!(sections_from_json("not json").is_empty());
    }
}
