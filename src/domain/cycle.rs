//! The cycle calendar: due dates are inclusive whole days in the cycle's time zone
//! (Europe/Stockholm): "senast den 15 februari" means received at or before 23:59:59 local
//! time. Times are UTC internally; this module converts at the edge of the day.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The first instant after the due day, in UTC: a message received strictly before this
/// instant is on time.
pub fn due_end_utc(due: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let next = due.checked_add_days(Days::new(1)).expect("date in range");
    let midnight = next.and_hms_opt(0, 0, 0).expect("valid time");
    // Midnight always exists in Europe/Stockholm (DST switches at 02:00/03:00); use the
    // earliest mapping for zones where it might be ambiguous, and fall back an hour when it
    // does not exist.
    match tz.from_local_datetime(&midnight).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => tz
            .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
            .earliest()
            .expect("an hour after a gap exists")
            .with_timezone(&Utc),
    }
}

/// Whether a message received at `received` (server receive time) meets the due day.
pub fn on_time(received: DateTime<Utc>, due: NaiveDate, tz: Tz) -> bool {
    received < due_end_utc(due, tz)
}

/// A UTC instant as Swedish local time for mails: "15 februari 2026 kl. 23:59"
/// (see [`super::vocab::local_time`]).
pub fn swedish_local(t: DateTime<Utc>, tz: Tz) -> String {
    super::vocab::local_time(t, tz)
}

/// A date in Swedish: "15 februari 2026" (see [`super::vocab::date`]).
pub fn swedish_date(d: NaiveDate) -> String {
    super::vocab::date(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Stockholm;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_whole_due_day_counts_in_stockholm_winter_time() {
        let due = NaiveDate::from_ymd_opt(2026, 2, 15).unwrap();
        // 23:59:59 CET = 22:59:59Z is on time; 00:00:00 CET on the 16th is late.
        assert!(on_time(utc("2026-02-15T22:59:59Z"), due, Stockholm));
        assert!(!on_time(utc("2026-02-15T23:00:00Z"), due, Stockholm));
        assert_eq!(due_end_utc(due, Stockholm), utc("2026-02-15T23:00:00Z"));
    }

    #[test]
    fn summer_time_shifts_the_utc_boundary() {
        let due = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        assert_eq!(due_end_utc(due, Stockholm), utc("2026-06-01T22:00:00Z"));
    }

    #[test]
    fn swedish_formatting() {
        assert_eq!(
            swedish_local(utc("2026-02-15T22:59:00Z"), Stockholm),
            "15 februari 2026 kl. 23:59"
        );
        assert_eq!(
            swedish_date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()),
            "1 december 2026"
        );
    }
}
