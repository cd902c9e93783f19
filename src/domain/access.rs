//! Who may do what on the reviewers' desk: the four roles and the pages each may use.
//! Pure: the web layer asks these functions and refuses with 403 when they say no.

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
}
