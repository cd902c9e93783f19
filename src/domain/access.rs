//! Who may do what on the reviewers' desk: the four roles and the pages each may use, and
//! which clinics a viewer may read ([`ClinicScope`]: a coach only their own clinics).
//! Pure: the web layer asks these functions and refuses with 403 when they say no (404 for a
//! clinic outside the viewer's scope, so its existence is not revealed).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// A desk account's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Granskare: reads everything, decides, clears triage.
    Reviewer,
    /// Administratör: everything a reviewer may, plus the registry and accounts.
    Admin,
    /// Ekonomi: payouts; no reviewer pages.
    Finance,
    /// Coach: reads the board and the submissions, decides nothing.
    Coach,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Reviewer, Role::Admin, Role::Finance, Role::Coach];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
            Role::Finance => "finance",
            Role::Coach => "coach",
        }
    }

    /// The Swedish name shown on the pages.
    pub fn swedish(self) -> &'static str {
        match self {
            Role::Reviewer => "granskare",
            Role::Admin => "administratör",
            Role::Finance => "ekonomi",
            Role::Coach => "coach",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role {s:?} (reviewer, admin, finance or coach)"))
    }
}

/// What a page or form needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Reading the board and the submissions.
    Read,
    /// Deciding, sending decision mail, clearing triage, reading raw mail.
    Review,
    /// Reading the payout pages (batches, files, what is due) and a clinic's payment status.
    Payouts,
    /// Reading the clinic registry and its history (reviewers assign triage mail to clinics,
    /// so they see it; coaches and finance do not: it names every clinic's addresses and
    /// payee, which their work does not need).
    RegistryRead,
    /// Changing the clinic registry.
    RegistryChange,
}

/// May `role` use a page that needs `need`?
pub fn allows(role: Role, need: Need) -> bool {
    match need {
        Need::Read => matches!(role, Role::Reviewer | Role::Admin | Role::Coach),
        Need::Review => matches!(role, Role::Reviewer | Role::Admin),
        Need::Payouts => matches!(role, Role::Finance | Role::Reviewer | Role::Admin),
        Need::RegistryRead => matches!(role, Role::Reviewer | Role::Admin),
        Need::RegistryChange => role == Role::Admin,
    }
}

/// The clinics a viewer may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClinicScope {
    /// Reviewers and admins (and finance, on its own pages): every clinic.
    All,
    /// A coach: the clinics mapped to their account (possibly none).
    Only(BTreeSet<String>),
}

impl ClinicScope {
    /// The scope of `username` with `role`, given the coaches' clinics keyed by lower-cased
    /// username or e-mail address (`[reviewers] coach_clinics`). A coach who is not in the
    /// map reads no clinic.
    pub fn of(
        role: Role,
        username: &str,
        coach_clinics: &BTreeMap<String, BTreeSet<String>>,
    ) -> ClinicScope {
        match role {
            Role::Coach => ClinicScope::Only(
                coach_clinics
                    .get(&username.trim().to_lowercase())
                    .cloned()
                    .unwrap_or_default(),
            ),
            Role::Reviewer | Role::Admin | Role::Finance => ClinicScope::All,
        }
    }

    pub fn allows(&self, clinic_id: &str) -> bool {
        match self {
            ClinicScope::All => true,
            ClinicScope::Only(ids) => ids.contains(clinic_id),
        }
    }

    /// A coach without any clinic.
    pub fn is_empty(&self) -> bool {
        matches!(self, ClinicScope::Only(ids) if ids.is_empty())
    }
}

/// `[reviewers] coach_clinics` as the desk looks it up: keys lower-cased and trimmed.
pub fn coach_map(raw: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (who, ids) in raw {
        out.entry(who.trim().to_lowercase())
            .or_default()
            .extend(ids.iter().map(|i| i.trim().to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn finance_reads_no_reviewer_page_and_coach_decides_nothing() {
        assert!(!allows(Role::Finance, Need::Read));
        assert!(!allows(Role::Finance, Need::Review));
        assert!(allows(Role::Coach, Need::Read));
        assert!(!allows(Role::Coach, Need::Review));
        assert!(allows(Role::Reviewer, Need::Review));
        assert!(allows(Role::Admin, Need::Review));
    }

    #[test]
    fn payouts_are_for_finance_reviewers_and_admins_not_coaches() {
        assert!(allows(Role::Finance, Need::Payouts));
        assert!(allows(Role::Reviewer, Need::Payouts));
        assert!(allows(Role::Admin, Need::Payouts));
        assert!(!allows(Role::Coach, Need::Payouts));
    }

    #[test]
    fn the_registry_is_read_by_reviewers_and_admins_and_changed_by_admins_only() {
        let read: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| allows(*r, Need::RegistryRead))
            .collect();
        assert_eq!(read, [Role::Reviewer, Role::Admin]);
        let change: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| allows(*r, Need::RegistryChange))
            .collect();
        assert_eq!(change, [Role::Admin]);
    }

    #[test]
    fn a_coach_reads_only_their_clinics() {
        let raw = BTreeMap::from([
            ("Coach@RJL.test".to_string(), vec!["vc-a".to_string()]),
            ("coach@rjl.test".to_string(), vec![" vc-b ".to_string()]),
        ]);
        let map = coach_map(&raw);
        let s = ClinicScope::of(Role::Coach, "COACH@rjl.test", &map);
        assert!(s.allows("vc-a") && s.allows("vc-b") && !s.allows("vc-c"));
        assert!(!s.is_empty());
        let none = ClinicScope::of(Role::Coach, "other", &map);
        assert!(none.is_empty() && !none.allows("vc-a"));
        for r in [Role::Reviewer, Role::Admin, Role::Finance] {
            assert_eq!(ClinicScope::of(r, "coach@rjl.test", &map), ClinicScope::All);
        }
    }
}
