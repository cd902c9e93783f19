//! Which cycle year a board shows: the configured year by default, any other year the ledger
//! holds on request. A year without a rulebook of its own is read with the configured
//! rulebook's dates moved to that year ([`rulebook_for_year`]); a submission belongs to the
//! year whose milestone window (six months either side of the due day,
//! [`super::desk::window`]) holds its receive time ([`cycle_year_of`]).
//!
//! Pure: the caller passes the rulebook, the submissions' milestones and receive times, and
//! the years the decisions carry.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use super::desk::window;
use super::rulebook::Rulebook;

/// Years a board may be asked for: far enough to hold any real ledger, near enough that every
/// date moves without overflow.
pub const YEARS: std::ops::RangeInclusive<i32> = 1990..=2200;

/// `date` moved by `years` (29 February becomes 28 February in a common year).
fn shift(date: NaiveDate, years: i32) -> Option<NaiveDate> {
    let y = date.year().checked_add(years)?;
    date.with_year(y)
        .or_else(|| NaiveDate::from_ymd_opt(y, date.month(), 28))
}

/// The rulebook of `year`: `rb` itself for its own year, otherwise the same rules with every
/// milestone's due date moved by the difference in years. `None` outside [`YEARS`].
pub fn rulebook_for_year(rb: &Rulebook, year: i32) -> Option<Rulebook> {
    if !YEARS.contains(&year) {
        return None;
    }
    let by = year - rb.year;
    let mut out = rb.clone();
    out.year = year;
    for m in &mut out.milestones {
        m.due = shift(m.due, by)?;
    }
    Some(out)
}

/// The cycle year a submission for `milestone` received at `t` belongs to, with `rb`'s due
/// dates moved year by year; `None` for a milestone the rulebook does not have.
pub fn cycle_year_of(rb: &Rulebook, milestone: u8, t: DateTime<Utc>) -> Option<i32> {
    let due = rb.milestone(milestone)?.due;
    let tz = rb.tz();
    let guess = t.with_timezone(&tz).year() - due.year();
    [guess, guess - 1, guess + 1].into_iter().find_map(|by| {
        let (from, to) = window(shift(due, by)?, tz);
        (from <= t && t < to).then_some(rb.year + by)
    })
}

/// The cycle years present in the ledger (by the submissions' receive times and the
/// decisions' years) and the configured year, ascending.
pub fn years_present(
    rb: &Rulebook,
    submissions: &[(i64, DateTime<Utc>)],
    decision_years: &[i32],
) -> Vec<i32> {
    let mut years: BTreeSet<i32> = decision_years.iter().copied().collect();
    years.insert(rb.year);
    for (m, t) in submissions {
        if let Some(y) = u8::try_from(*m).ok().and_then(|m| cycle_year_of(rb, m, *t)) {
            years.insert(y);
        }
    }
    years.into_iter().filter(|y| YEARS.contains(y)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn another_year_moves_the_due_dates() {
        let rb = Rulebook::embedded();
        let old = rulebook_for_year(&rb, 2023).unwrap();
        assert_eq!(old.year, 2023);
        assert_eq!(
            old.milestone(1).unwrap().due,
            NaiveDate::from_ymd_opt(2023, 2, 15).unwrap()
        );
        assert_eq!(
            old.milestone(2).unwrap().due,
            NaiveDate::from_ymd_opt(2023, 12, 1).unwrap()
        );
        let same = rulebook_for_year(&rb, 2026).unwrap();
        assert_eq!(same.milestone(2).unwrap().due, rb.milestone(2).unwrap().due);
        assert!(rulebook_for_year(&rb, 99_999).is_none());
        assert_eq!(
            shift(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(), 1),
            NaiveDate::from_ymd_opt(2025, 2, 28)
        );
    }

    #[test]
    fn submissions_belong_to_the_year_whose_window_holds_them() {
        let rb = Rulebook::embedded();
        // A plan in February 2024 and a late final report in January 2024 (for 2023).
        assert_eq!(cycle_year_of(&rb, 1, t("2024-02-10T09:00:00Z")), Some(2024));
        assert_eq!(cycle_year_of(&rb, 2, t("2024-01-20T09:00:00Z")), Some(2023));
        // An early plan in the autumn before counts for the next year.
        assert_eq!(cycle_year_of(&rb, 1, t("2025-10-01T09:00:00Z")), Some(2026));
        assert_eq!(cycle_year_of(&rb, 2, t("2025-10-01T09:00:00Z")), Some(2025));
        assert_eq!(cycle_year_of(&rb, 9, t("2025-10-01T09:00:00Z")), None);
        let years = years_present(
            &rb,
            &[
                (1, t("2022-02-01T09:00:00Z")),
                (2, t("2024-11-03T09:00:00Z")),
            ],
            &[2025],
        );
        assert_eq!(years, vec![2022, 2024, 2025, 2026]);
    }
}
