//! Grading exactly as the rulebook defines it ("Regionens bedömning"): green when every
//! required section is approved, red when an approved description is missing for the
//! majority (more than half) of the required sections, yellow otherwise.

use serde::Serialize;

/// Per-section status of the pre-check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Present and really described.
    Ok,
    /// Heading present, but empty, a placeholder, template text or only a few words.
    Weak,
    /// Not there at all.
    Missing,
}

/// The traffic light.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum Grade {
    Green,
    Yellow,
    Red,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Green => "green",
            Grade::Yellow => "yellow",
            Grade::Red => "red",
        }
    }

    /// Swedish name used in mails and the web UI.
    pub fn swedish(self) -> &'static str {
        super::vocab::grade(self)
    }

    pub fn parse(s: &str) -> Option<Grade> {
        match s {
            "green" => Some(Grade::Green),
            "yellow" => Some(Grade::Yellow),
            "red" => Some(Grade::Red),
            _ => None,
        }
    }
}

/// Grade the statuses of the required sections.
pub fn grade(required: &[Status]) -> Grade {
    let not_ok = required.iter().filter(|s| **s != Status::Ok).count();
    if not_ok == 0 {
        Grade::Green
    } else if not_ok * 2 > required.len() {
        Grade::Red
    } else {
        Grade::Yellow
    }
}

/// G ("Stegen A–F ska vara väl beskrivna") is derived from A–F: ok when all are ok, missing
/// when none is, weak otherwise.
pub fn derive_g(a_to_f: &[Status]) -> Status {
    let ok = a_to_f.iter().filter(|s| **s == Status::Ok).count();
    if ok == a_to_f.len() {
        Status::Ok
    } else if ok == 0 {
        Status::Missing
    } else {
        Status::Weak
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn milestone_1_thresholds() {
        assert_eq!(grade(&[Ok, Ok, Ok, Ok, Ok, Ok]), Grade::Green);
        assert_eq!(grade(&[Ok, Ok, Ok, Ok, Ok, Weak]), Grade::Yellow);
        // exactly half not ok is not "more than half": yellow
        assert_eq!(grade(&[Ok, Ok, Ok, Weak, Missing, Weak]), Grade::Yellow);
        assert_eq!(grade(&[Ok, Ok, Missing, Weak, Missing, Weak]), Grade::Red);
    }

    #[test]
    fn milestone_2_thresholds() {
        let mut s = vec![Ok; 9];
        assert_eq!(grade(&s), Grade::Green);
        for x in s.iter_mut().take(4) {
            *x = Weak;
        }
        assert_eq!(grade(&s), Grade::Yellow);
        s[4] = Missing;
        assert_eq!(grade(&s), Grade::Red);
    }

    #[test]
    fn g_is_derived() {
        assert_eq!(derive_g(&[Ok; 6]), Ok);
        assert_eq!(derive_g(&[Ok, Ok, Ok, Ok, Ok, Weak]), Weak);
        assert_eq!(
            derive_g(&[Missing, Weak, Missing, Weak, Missing, Weak]),
            Missing
        );
    }

    fn status() -> impl Strategy<Value = Status> {
        prop_oneof![Just(Ok), Just(Weak), Just(Missing)]
    }

    proptest! {
        #[test]
        fn grade_matches_the_rulebook_definition(v in proptest::collection::vec(status(), 1..12)) {
            let bad = v.iter().filter(|s| **s != Ok).count();
            let g = grade(&v);
            prop_assert_eq!(g == Grade::Green, bad == 0);
            prop_assert_eq!(g == Grade::Red, 2 * bad > v.len());
        }
    }
}
