//! The one Swedish vocabulary: every word a person reads about a grade, a section's status, a
//! goal, a date or an unreadable file comes from here, so the receipt, the reminders, the
//! digest, the `check` report, the status page and the desk all say the same thing in the
//! same words. Longer texts live in `templates/`; this module holds the words they are built
//! from. Pure: no I/O, no clock.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use super::grading::{Grade, Status};

/// The months' names, January first (also the long forms the analysis looks for in goals).
pub(crate) const MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
];

/// The traffic light in running text: "grön", "gul", "röd".
pub fn grade(g: Grade) -> &'static str {
    match g {
        Grade::Green => "grön",
        Grade::Yellow => "gul",
        Grade::Red => "röd",
    }
}

/// The traffic light as a label (reports, tables): "GRÖN", "GUL", "RÖD".
pub fn grade_label(g: Grade) -> &'static str {
    match g {
        Grade::Green => "GRÖN",
        Grade::Yellow => "GUL",
        Grade::Red => "RÖD",
    }
}

/// A section's status in one word (tables, the `check` report): "ok", "svag", "saknas".
pub fn status_word(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Weak => "svag",
        Status::Missing => "saknas",
    }
}

/// A section's status in a sentence (mails): "beskrivet", "finns, men behöver utvecklas",
/// "saknas".
pub fn status_phrase(s: Status) -> &'static str {
    match s {
        Status::Ok => "beskrivet",
        Status::Weak => "finns, men behöver utvecklas",
        Status::Missing => "saknas",
    }
}

/// A reviewer's verdict on a section (decision mails, the desk): "godkänt", "behöver
/// utvecklas", "saknas".
pub fn verdict_phrase(s: Status) -> &'static str {
    match s {
        Status::Ok => "godkänt",
        Status::Weak => "behöver utvecklas",
        Status::Missing => "saknas",
    }
}

/// Why a section with a heading is weak.
pub const WEAK_SECTION_NOTE: &str =
    "Rubriken finns, men texten är tom, en platshållare eller bara några ord.";

/// Why G ("the steps A–F are well described") is not ok.
pub const DERIVED_G_NOTE: &str = "Följer av A–F: alla steg behöver vara väl beskrivna.";

/// What the pre-check found about the goal (section C).
pub fn goal_summary(found: bool, measurable: bool, time_bound: bool) -> &'static str {
    match (measurable, time_bound) {
        (true, true) => "mätbart och tidsatt",
        (true, false) => "mätbart, men vi hittade ingen tidpunkt (datum, månad och år)",
        (false, true) => "tidsatt, men vi hittade inget mätbart värde (tal, andel eller antal)",
        (false, false) if found => "vi hittade inget mätbart och tidsatt mål",
        (false, false) => "vi hittade inget mål i avsnitt C",
    }
}

/// Said wherever a report rests on OCR text.
pub const OCR_NOTE: &str = "Texten är maskinläst (OCR) från bilder av sidorna, till exempel en inskannad PDF eller ett foto. Kontrollen är därför mindre säker än för ett dokument med text.";

/// Advice fit to forward to a clinic whose file could not be read, by error kind
/// (`corrupt`, `encrypted`, `unsupported`, `too_large`, `no_text`; the `check` JSON's
/// `error.kind`).
pub fn unreadable_advice(kind: &str) -> &'static str {
    match kind {
        "corrupt" => {
            "Filen verkar vara skadad eller ofullständig och går inte att öppna. Spara dokumentet på nytt (Word, PDF eller ODT) och skicka det igen."
        }
        "encrypted" => {
            "Filen är lösenordsskyddad och kan inte läsas. Ta bort lösenordsskyddet och skicka dokumentet igen."
        }
        "unsupported" => {
            "Filtypen stöds inte. Skicka dokumentet som Word (.docx eller .doc), PDF, ODT, RTF eller som presentation (.pptx eller .odp)."
        }
        "too_large" => {
            "Filen är för stor eller för omfattande för att kontrolleras automatiskt. Skicka en mindre version av dokumentet, gärna utan stora bilder."
        }
        _ => {
            "Dokumentet innehåller ingen läsbar text, till exempel en inskannad bild. Skicka dokumentet som Word eller som en PDF med text."
        }
    }
}

/// On time or late, for a submission against its deadline.
pub fn punctuality(on_time: bool) -> &'static str {
    if on_time { "i tid" } else { "för sent" }
}

/// A UTC instant as Swedish local time: "15 februari 2026 kl. 23:59".
pub fn local_time(t: DateTime<Utc>, tz: Tz) -> String {
    let l = t.with_timezone(&tz);
    format!(
        "{} {} {} kl. {}",
        l.day(),
        MONTHS[l.month0() as usize],
        l.year(),
        l.format("%H:%M")
    )
}

/// A date in Swedish: "15 februari 2026".
pub fn date(d: NaiveDate) -> String {
    let t = Utc.from_utc_datetime(&d.and_hms_opt(12, 0, 0).expect("noon"));
    format!("{} {} {}", t.day(), MONTHS[t.month0() as usize], t.year())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Stockholm;

    #[test]
    fn dates_and_times_are_swedish_and_local() {
        let t = DateTime::parse_from_rfc3339("2026-02-15T22:59:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(local_time(t, Stockholm), "15 februari 2026 kl. 23:59");
        let summer = DateTime::parse_from_rfc3339("2026-07-01T06:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(local_time(summer, Stockholm), "1 juli 2026 kl. 08:00");
        assert_eq!(
            date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()),
            "1 december 2026"
        );
    }

    #[test]
    fn every_grade_and_status_has_distinct_words() {
        let grades = [Grade::Green, Grade::Yellow, Grade::Red];
        let mut words: Vec<_> = grades.iter().map(|g| grade(*g)).collect();
        words.dedup();
        assert_eq!(words.len(), 3);
        for g in grades {
            assert_eq!(grade_label(g), grade(g).to_uppercase());
        }
        let statuses = [Status::Ok, Status::Weak, Status::Missing];
        let mut short: Vec<_> = statuses.iter().map(|s| status_word(*s)).collect();
        short.dedup();
        assert_eq!(short.len(), 3);
        assert_ne!(status_phrase(Status::Ok), status_phrase(Status::Weak));
    }

    #[test]
    fn every_error_kind_has_its_own_advice() {
        let kinds = [
            "corrupt",
            "encrypted",
            "unsupported",
            "too_large",
            "no_text",
        ];
        let mut advice: Vec<_> = kinds.iter().map(|k| unreadable_advice(k)).collect();
        advice.sort_unstable();
        advice.dedup();
        assert_eq!(advice.len(), kinds.len());
    }
}
