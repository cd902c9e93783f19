//! Schedules and reminder policy, as pure functions (no I/O, no clock).
//!
//! # Cron in local time
//! A [`LocalCron`] is a `cron` crate expression (6 or 7 fields, seconds first, weekday
//! names such as `Mon`) evaluated on the *wall clock* of a time zone (Europe/Stockholm).
//! The expression is run over naive local times and each wall time is then mapped to one
//! instant:
//! - a wall time that exists once is that instant;
//! - a wall time that exists twice (autumn, 02:30 on 25 October 2026) is its *first*
//!   occurrence only, so a 02:30 job runs once that night, not twice;
//! - a wall time that does not exist (spring, 02:30 on 29 March 2026) is shifted forward by
//!   the gap (02:30 CET does not exist, so the slot is 03:30 CEST = 01:30Z): the job still
//!   runs once that night.
//!
//! Consecutive slots that map to the same instant count once.
//!
//! # Due slots
//! [`LocalCron::latest_in`] gives the latest slot in `(after, until]`: after downtime a job
//! runs once for its latest missed slot, not once per missed slot.
//!
//! # Reminder policy
//! [`reminder_points`] and [`reminders_due`] decide who gets which reminder: see there.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::grading::Grade;
use super::rulebook::{Rulebook, SectionId};

/// A cron expression evaluated on the wall clock of a time zone.
#[derive(Debug, Clone)]
pub struct LocalCron {
    expr: String,
    schedule: cron::Schedule,
    tz: Tz,
}

impl LocalCron {
    /// Parse `expr` (6/7 fields with seconds; weekday names recommended: in the `cron`
    /// crate 1 = Sunday). The 5-field form is rejected with a hint.
    pub fn parse(expr: &str, tz: Tz) -> Result<LocalCron, String> {
        let fields = expr.split_whitespace().count();
        if fields == 5 {
            return Err(format!(
                "cron expression {expr:?} has 5 fields; write seconds first, e.g. \"0 {expr}\""
            ));
        }
        let schedule = cron::Schedule::from_str(expr)
            .map_err(|e| format!("invalid cron expression {expr:?}: {e}"))?;
        Ok(LocalCron {
            expr: expr.to_string(),
            schedule,
            tz,
        })
    }

    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The instant a wall time stands for (see the module docs).
    pub fn instant(&self, wall: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&wall) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            LocalResult::None => {
                // In a gap: use the offset in force before the gap, which lands the same
                // distance after the gap's end.
                let before = wall - Duration::hours(3);
                let offset = match self.tz.from_local_datetime(&before) {
                    LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                        chrono::Offset::fix(t.offset()).local_minus_utc()
                    }
                    LocalResult::None => 0,
                };
                Utc.from_utc_datetime(&(wall - Duration::seconds(i64::from(offset))))
            }
        }
    }

    /// The first slot strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Start a few hours back in wall time so that gap-shifted slots are not missed.
        let start = after.with_timezone(&self.tz).naive_local() - Duration::hours(4);
        let start = Utc.from_utc_datetime(&start);
        self.schedule
            .after(&start)
            .take(10_000)
            .map(|w| self.instant(w.naive_utc()))
            .find(|t| *t > after)
    }

    /// The latest slot in `(after, until]`, if any.
    pub fn latest_in(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut cur = after;
        let mut latest = None;
        while let Some(t) = self.next_after(cur) {
            if t > until {
                break;
            }
            latest = Some(t);
            cur = t;
        }
        latest
    }

    /// The slots in `(after, until]`, in order (for tests and `schedule`).
    pub fn slots_in(&self, after: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        let mut cur = after;
        while let Some(t) = self.next_after(cur) {
            if t > until {
                break;
            }
            out.push(t);
            cur = t;
        }
        out
    }
}

/// When a reminder goes out relative to a milestone's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Offset {
    /// `n` days before the due date.
    Before(u32),
    /// The day after the due date.
    After,
}

impl Offset {
    /// Stable label used in dedupe keys and Message-IDs: `d14`, `d3`, `after`.
    pub fn label(self) -> String {
        match self {
            Offset::Before(n) => format!("d{n}"),
            Offset::After => "after".to_string(),
        }
    }
}

/// The reminder settings that the policy needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderPolicy {
    pub offsets_days: Vec<u32>,
    /// Local hour of the day the reminders go out.
    pub hour: u32,
    pub after_deadline: bool,
}

/// One point in time at which reminders for one milestone go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderPoint {
    pub milestone: u8,
    pub offset: Offset,
    pub at: DateTime<Utc>,
    /// The point stays applicable until this instant (the next point of the milestone, or a
    /// week after the after-deadline note): a late run still sends it, a much later one not.
    pub until: DateTime<Utc>,
}

fn local_at(tz: Tz, day: NaiveDate, hour: u32) -> DateTime<Utc> {
    let wall = day.and_hms_opt(hour.min(23), 0, 0).expect("valid hour");
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => Utc.from_utc_datetime(&wall),
    }
}

/// All reminder points of a cycle year, sorted by time.
pub fn reminder_points(rb: &Rulebook, p: &ReminderPolicy) -> Vec<ReminderPoint> {
    let tz = rb.tz();
    let mut out = Vec::new();
    for m in &rb.milestones {
        let mut pts: Vec<(Offset, DateTime<Utc>)> = Vec::new();
        let mut offs = p.offsets_days.clone();
        offs.sort_unstable_by(|a, b| b.cmp(a));
        offs.dedup();
        for d in offs {
            let day = m.due - Duration::days(i64::from(d));
            pts.push((Offset::Before(d), local_at(tz, day, p.hour)));
        }
        if p.after_deadline {
            let day = m.due + Duration::days(1);
            pts.push((Offset::After, local_at(tz, day, p.hour)));
        }
        for i in 0..pts.len() {
            let (offset, at) = pts[i];
            let until = match pts.get(i + 1) {
                Some((_, next)) => *next,
                None => at + Duration::days(7),
            };
            out.push(ReminderPoint {
                milestone: m.id,
                offset,
                at,
                until,
            });
        }
    }
    out.sort_by_key(|r| (r.at, r.milestone));
    out
}

/// The latest submission of a clinic for a milestone, as far as reminders care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmittedState {
    pub received_at: DateTime<Utc>,
    /// `None`: the document could not be read.
    pub grade: Option<Grade>,
    /// Required sections the pre-check found missing or weak (rulebook order).
    pub lacking: Vec<SectionId>,
}

/// What a clinic is reminded of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReminderKind {
    /// Nothing has come in for the milestone.
    Missing,
    /// The latest submission was pre-graded red or yellow (or unreadable): name what is
    /// still lacking. Sent once per milestone, not at every offset.
    Incomplete { lacking: Vec<SectionId> },
}

/// One reminder to one clinic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderUnit {
    pub clinic_id: String,
    pub milestone: u8,
    pub offset: Offset,
    pub kind: ReminderKind,
}

impl ReminderUnit {
    /// The exactly-once key: one per clinic, milestone and offset (`Missing`), or one per
    /// clinic and milestone (`Incomplete`).
    pub fn key(&self, year: i32) -> String {
        match self.kind {
            ReminderKind::Missing => format!(
                "reminder:{year}:m{}:{}:{}",
                self.milestone,
                self.offset.label(),
                self.clinic_id
            ),
            ReminderKind::Incomplete { .. } => format!(
                "reminder:{year}:m{}:incomplete:{}",
                self.milestone, self.clinic_id
            ),
        }
    }
}

/// The reminders that a run at `now` owes: for every reminder point with
/// `epoch <= at <= now < until`, each clinic in `clinics` gets
/// - nothing if it has a submission for the milestone that was pre-graded green;
/// - `Missing` if it has none received up to the point (the after-deadline note only goes
///   to clinics still missing);
/// - `Incomplete` if its latest submission is red, yellow or unreadable.
///
/// `latest` maps (clinic id, milestone) to the latest submission received so far.
pub fn reminders_due(
    points: &[ReminderPoint],
    clinics: &[String],
    latest: &BTreeMap<(String, u8), SubmittedState>,
    epoch: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<ReminderUnit> {
    let mut out = Vec::new();
    for p in points {
        if p.at < epoch || p.at > now || now >= p.until {
            continue;
        }
        for c in clinics {
            let state = latest
                .get(&(c.clone(), p.milestone))
                .filter(|s| s.received_at <= now);
            let kind = match state {
                None => ReminderKind::Missing,
                Some(s) if s.grade == Some(Grade::Green) => continue,
                Some(_) if p.offset == Offset::After => continue,
                Some(s) => ReminderKind::Incomplete {
                    lacking: s.lacking.clone(),
                },
            };
            out.push(ReminderUnit {
                clinic_id: c.clone(),
                milestone: p.milestone,
                offset: p.offset,
                kind,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn sthlm(expr: &str) -> LocalCron {
        LocalCron::parse(expr, chrono_tz::Europe::Stockholm).unwrap()
    }

    #[test]
    fn spring_forward_0230_runs_once_at_0330_cest() {
        let c = sthlm("0 30 2 * * *");
        let slots = c.slots_in(t("2026-03-28T12:00:00Z"), t("2026-03-30T12:00:00Z"));
        assert_eq!(
            slots,
            vec![
                // 02:30 CET on the 29th does not exist: 03:30 CEST.
                t("2026-03-29T01:30:00Z"),
                t("2026-03-30T00:30:00Z"),
            ]
        );
    }

    #[test]
    fn fall_back_0230_runs_once_not_twice() {
        let c = sthlm("0 30 2 * * *");
        let slots = c.slots_in(t("2026-10-24T12:00:00Z"), t("2026-10-26T12:00:00Z"));
        assert_eq!(
            slots,
            vec![t("2026-10-25T00:30:00Z"), t("2026-10-26T01:30:00Z")]
        );
    }

    #[test]
    fn digest_default_is_monday_0730_local_in_both_seasons() {
        let c = sthlm("0 30 7 * * Mon");
        assert_eq!(
            c.next_after(t("2026-01-01T00:00:00Z")),
            Some(t("2026-01-05T06:30:00Z"))
        );
        assert_eq!(
            c.next_after(t("2026-06-01T06:30:00Z")),
            Some(t("2026-06-08T05:30:00Z"))
        );
    }

    #[test]
    fn latest_missed_slot_only() {
        let c = sthlm("0 0 8 * * *");
        let l = c.latest_in(t("2026-01-01T00:00:00Z"), t("2026-01-10T12:00:00Z"));
        assert_eq!(l, Some(t("2026-01-10T07:00:00Z")));
        assert_eq!(
            c.latest_in(t("2026-01-10T07:00:00Z"), t("2026-01-10T12:00:00Z")),
            None
        );
    }

    #[test]
    fn five_fields_are_rejected_with_a_hint() {
        let e = LocalCron::parse("30 7 * * Mon", chrono_tz::Europe::Stockholm).unwrap_err();
        assert!(e.contains("seconds first"), "{e}");
    }

    fn policy() -> ReminderPolicy {
        ReminderPolicy {
            offsets_days: vec![3, 14],
            hour: 8,
            after_deadline: true,
        }
    }

    #[test]
    fn points_for_2026_are_at_0800_local() {
        let rb = Rulebook::embedded();
        let pts = reminder_points(&rb, &policy());
        let m1: Vec<_> = pts.iter().filter(|p| p.milestone == 1).collect();
        assert_eq!(m1.len(), 3);
        assert_eq!(m1[0].offset, Offset::Before(14));
        assert_eq!(m1[0].at, t("2026-02-01T07:00:00Z"));
        assert_eq!(m1[0].until, t("2026-02-12T07:00:00Z"));
        assert_eq!(m1[2].offset, Offset::After);
        assert_eq!(m1[2].at, t("2026-02-16T07:00:00Z"));
    }

    #[test]
    fn who_gets_what() {
        let rb = Rulebook::embedded();
        let pts = reminder_points(&rb, &policy());
        let clinics: Vec<String> = ["green", "red", "none", "late"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut latest = BTreeMap::new();
        latest.insert(
            ("green".to_string(), 1),
            SubmittedState {
                received_at: t("2026-01-20T10:00:00Z"),
                grade: Some(Grade::Green),
                lacking: vec![],
            },
        );
        latest.insert(
            ("red".to_string(), 1),
            SubmittedState {
                received_at: t("2026-01-20T10:00:00Z"),
                grade: Some(Grade::Red),
                lacking: vec!['D', 'E'],
            },
        );
        latest.insert(
            ("late".to_string(), 1),
            SubmittedState {
                received_at: t("2026-02-20T10:00:00Z"),
                grade: Some(Grade::Green),
                lacking: vec![],
            },
        );
        let epoch = t("2026-01-01T00:00:00Z");
        let at14 = reminders_due(&pts, &clinics, &latest, epoch, t("2026-02-01T07:00:00Z"));
        let got: Vec<(&str, &ReminderKind)> = at14
            .iter()
            .map(|u| (u.clinic_id.as_str(), &u.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "red",
                    &ReminderKind::Incomplete {
                        lacking: vec!['D', 'E']
                    }
                ),
                ("none", &ReminderKind::Missing),
                ("late", &ReminderKind::Missing),
            ]
        );
        // The incomplete reminder has the same key at every offset: sent once.
        let at3 = reminders_due(&pts, &clinics, &latest, epoch, t("2026-02-12T07:00:00Z"));
        assert_eq!(at14[0].key(2026), at3[0].key(2026));
        assert_ne!(at14[1].key(2026), at3[1].key(2026));
        // After the deadline: only those still missing.
        let after = reminders_due(&pts, &clinics, &latest, epoch, t("2026-02-16T07:00:00Z"));
        let ids: Vec<&str> = after.iter().map(|u| u.clinic_id.as_str()).collect();
        assert_eq!(ids, vec!["none", "late"]);
        // Before the ledger's epoch: not missed work.
        let fresh = reminders_due(
            &pts,
            &clinics,
            &latest,
            t("2026-02-05T00:00:00Z"),
            t("2026-02-05T08:00:00Z"),
        );
        assert!(fresh.is_empty());
    }
}
