//! The two-person rule (`[reviewers] two_person_rule`): a reviewer's decision waits as a
//! [`PendingDecision`] until a *different* reviewer countersigns it (then it becomes the
//! decision that counts and its mail is sent) or rejects it (it is dropped).
//!
//! Pure: who counts as the same person ([`person`]) and who may countersign
//! ([`check_countersigner`]). The store applies the check again inside the countersigning
//! transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::grading::Grade;
use super::review::SectionVerdict;

/// Where a pending decision stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PendingState {
    /// Waiting for a second reviewer.
    Pending,
    /// A second reviewer confirmed it: it is a decision now (`decision_id`).
    Countersigned,
    /// A reviewer rejected it: the submission is undecided again.
    Rejected,
}

impl PendingState {
    pub fn as_str(self) -> &'static str {
        match self {
            PendingState::Pending => "pending",
            PendingState::Countersigned => "countersigned",
            PendingState::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<PendingState> {
        match s {
            "pending" => Some(PendingState::Pending),
            "countersigned" => Some(PendingState::Countersigned),
            "rejected" => Some(PendingState::Rejected),
            _ => None,
        }
    }
}

/// The decision mail kept with a pending decision, as the proposer saw (and perhaps edited) it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingMail {
    pub to: String,
    pub cc: Vec<String>,
    pub subject: String,
    /// The plain-text body (for the pages).
    pub body: String,
    /// The complete message that will be queued.
    #[serde(skip)]
    pub raw: Vec<u8>,
    pub message_id: String,
}

/// A decision proposed under the two-person rule: not a decision yet (it counts nowhere).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingDecision {
    pub id: i64,
    pub submission_id: i64,
    pub clinic_id: String,
    pub year: i32,
    pub milestone: u8,
    pub grade: Grade,
    pub sections: BTreeMap<char, SectionVerdict>,
    pub pre_grade: Option<Grade>,
    pub agreed_with_pregrade: bool,
    pub comment: Option<String>,
    /// `cli:<name>`, `web:<user>`.
    pub proposed_by: String,
    pub proposed_at: DateTime<Utc>,
    /// The submission's latest decision when proposed (0: none).
    pub follows: i64,
    pub mail: Option<PendingMail>,
    pub state: PendingState,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolve_comment: Option<String>,
    /// The decision it became (countersigned).
    pub decision_id: Option<i64>,
}

/// Why a countersignature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountersignError {
    #[error(
        "cannot countersign pending decision {id}: {by} proposed it; a different reviewer must confirm it"
    )]
    SamePerson { id: i64, by: String },
    #[error("cannot countersign pending decision {id}: it is already {state}")]
    Resolved { id: i64, state: &'static str },
}

/// The person behind an actor: `web:anna` and `cli:Anna` are the same person, `anna`. The
/// channel prefix (`web:`, `cli:`) is dropped and the name compared case-insensitively, so
/// nobody countersigns their own proposal by switching from the desk to the command line.
pub fn person(actor: &str) -> String {
    let name = actor
        .strip_prefix("web:")
        .or_else(|| actor.strip_prefix("cli:"))
        .unwrap_or(actor);
    name.trim().to_lowercase()
}

/// May `by` countersign `pending`? Only while it is pending, and only someone other than the
/// proposer.
pub fn check_countersigner(pending: &PendingDecision, by: &str) -> Result<(), CountersignError> {
    if pending.state != PendingState::Pending {
        return Err(CountersignError::Resolved {
            id: pending.id,
            state: pending.state.as_str(),
        });
    }
    if person(&pending.proposed_by) == person(by) {
        return Err(CountersignError::SamePerson {
            id: pending.id,
            by: pending.proposed_by.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(by: &str) -> PendingDecision {
        PendingDecision {
            id: 7,
            submission_id: 1,
            clinic_id: "vc-a".into(),
            year: 2026,
            milestone: 1,
            grade: Grade::Green,
            sections: BTreeMap::new(),
            pre_grade: Some(Grade::Green),
            agreed_with_pregrade: true,
            comment: None,
            proposed_by: by.into(),
            proposed_at: DateTime::<Utc>::MIN_UTC,
            follows: 0,
            mail: None,
            state: PendingState::Pending,
            resolved_by: None,
            resolved_at: None,
            resolve_comment: None,
            decision_id: None,
        }
    }

    #[test]
    fn the_proposer_cannot_countersign_on_any_channel() {
        let p = pending("web:anna");
        for same in ["web:anna", "cli:anna", "cli:Anna", "web:ANNA "] {
            assert!(
                matches!(
                    check_countersigner(&p, same),
                    Err(CountersignError::SamePerson { .. })
                ),
                "{same}"
            );
        }
        assert_eq!(check_countersigner(&p, "web:bo"), Ok(()));
        assert_eq!(check_countersigner(&p, "cli:bo"), Ok(()));
    }

    #[test]
    fn only_pending_can_be_countersigned() {
        let mut p = pending("web:anna");
        p.state = PendingState::Rejected;
        assert_eq!(
            check_countersigner(&p, "web:bo"),
            Err(CountersignError::Resolved {
                id: 7,
                state: "rejected"
            })
        );
        for s in [
            PendingState::Pending,
            PendingState::Countersigned,
            PendingState::Rejected,
        ] {
            assert_eq!(PendingState::parse(s.as_str()), Some(s));
        }
    }
}
