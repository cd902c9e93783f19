//! The reviewers' use cases, shared by the command line (`vardval review …`) and the web desk:
//! list what awaits a decision, draft a decision with its mail (a preview that records
//! nothing), record it (decision, mail in the outbox and audit row in one transaction), and
//! register a presentation at Utvecklingskraft. Under the two-person rule
//! (`[reviewers] two_person_rule`) a decision is proposed instead ([`Desk::propose`]) and only
//! counts, and its mail only goes, once a different reviewer countersigns it
//! ([`Desk::countersign`]); [`Desk::submit`] picks the path the configuration asks for.
//!
//! [`Desk`] holds the store and the composer; it never reads the clock (callers pass `now`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::countersign::{PendingDecision, PendingMail};
use crate::domain::grading::Grade;
use crate::domain::review::{Decision, Derived, Overrides, ReviewError, derive_decision};
use crate::reply::{Composer, DecisionFacts, DecisionMail, ReplyError};
use crate::store::{
    Countersigned, NewDecision, NewOutbox, Proposed, RecordedDecision, Store, StoreError,
    SubmissionRow,
};

/// The outbox `kind` of decision mails.
pub const DECISION_MAIL_KIND: &str = "decision";

/// Why a review action cannot be done. Messages start with "cannot …".
#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Review(#[from] ReviewError),
    #[error(transparent)]
    Reply(#[from] ReplyError),
    #[error("cannot find submission {0}")]
    NoSubmission(i64),
    #[error("cannot decide on milestone {0}: the cycle's rulebook has no such milestone")]
    NoMilestone(i64),
    #[error("cannot send the decision mail: submission {0} has no sender address")]
    NoRecipient(i64),
    #[error("cannot register a presentation for clinic {0}: no such clinic in the registry")]
    NoClinic(String),
    #[error(
        "cannot record the decision directly: the two-person rule is on, so a second reviewer must countersign it"
    )]
    TwoPersonRule,
}

/// One decision to draft or record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecisionRequest {
    pub submission_id: i64,
    /// Empty: confirm the pre-grade.
    pub overrides: Overrides,
    pub comment: Option<String>,
    /// `cli:<name>` or `web:<user>`.
    pub actor: String,
    /// Queue the decision mail in the decision's transaction.
    pub send: bool,
    /// The reviewer's edited mail text (replaces the template's body).
    pub edited_body: Option<String>,
    /// A line about the instalment for green mails (from the money work); `None`: none.
    pub instalment: Option<String>,
    /// The latest decision the reviewer saw (0: none): recording is refused if another came
    /// in since (the desk's preview → send). `None`: no such check (the command line).
    pub follows: Option<i64>,
}

/// A decision worked out but not recorded: what the desk shows before the reviewer commits.
#[derive(Debug, Clone)]
pub struct Draft {
    pub submission: SubmissionRow,
    pub clinic_name: String,
    pub derived: Derived,
    pub decision: NewDecision,
    /// The decision mail (`None` when the submission has no sender address).
    pub mail: Option<DecisionMail>,
}

/// What [`Desk::decide`] did.
#[derive(Debug, Clone)]
pub struct Decided {
    pub draft: Draft,
    pub recorded: RecordedDecision,
}

/// What [`Desk::propose`] did.
#[derive(Debug, Clone)]
pub struct ProposedDecision {
    pub draft: Draft,
    pub proposed: Proposed,
}

/// What [`Desk::submit`] did: recorded (the usual way) or waiting for a second reviewer.
#[derive(Debug, Clone)]
pub enum Submitted {
    Decided(Decided),
    Proposed(ProposedDecision),
}

/// One line of `vardval review list`: the latest version per clinic and milestone, with the
/// decision on that version, if any.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewRow {
    pub submission_id: i64,
    pub clinic_id: String,
    pub milestone: i64,
    pub version: i64,
    pub received_at: DateTime<Utc>,
    pub on_time: bool,
    pub pre_grade: Option<Grade>,
    /// The confirmed grade (the latest decision on this version).
    pub grade: Option<Grade>,
    pub decision_id: Option<i64>,
    pub decided_by: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The decision mail's outbox row, when one was queued.
    pub mail_outbox_id: Option<i64>,
    /// A decision on this version waiting for a second reviewer (two-person rule).
    pub pending_id: Option<i64>,
    pub pending_grade: Option<Grade>,
    pub pending_by: Option<String>,
}

/// The latest version per clinic and milestone, joined with the latest decision on it and
/// the decision waiting for a second reviewer, if any.
pub fn review_rows(
    subs: &[SubmissionRow],
    decisions: &[Decision],
    pending: &[PendingDecision],
) -> Vec<ReviewRow> {
    let mut latest: BTreeMap<(&str, i64), &SubmissionRow> = BTreeMap::new();
    for s in subs {
        let e = latest
            .entry((s.clinic_id.as_str(), s.milestone))
            .or_insert(s);
        if s.version > e.version {
            *e = s;
        }
    }
    let mut by_sub: BTreeMap<i64, &Decision> = BTreeMap::new();
    for d in decisions {
        let e = by_sub.entry(d.submission_id).or_insert(d);
        if d.id > e.id {
            *e = d;
        }
    }
    latest
        .values()
        .map(|s| {
            let d = by_sub.get(&s.id);
            let p = pending.iter().find(|p| p.submission_id == s.id);
            ReviewRow {
                submission_id: s.id,
                clinic_id: s.clinic_id.clone(),
                milestone: s.milestone,
                version: s.version,
                received_at: s.received_at,
                on_time: s.on_time,
                pre_grade: s.pre_grade,
                grade: d.map(|d| d.grade),
                decision_id: d.map(|d| d.id),
                decided_by: d.map(|d| d.decided_by.clone()),
                decided_at: d.map(|d| d.decided_at),
                mail_outbox_id: d.and_then(|d| d.mail_outbox_id),
                pending_id: p.map(|p| p.id),
                pending_grade: p.map(|p| p.grade),
                pending_by: p.map(|p| p.proposed_by.clone()),
            }
        })
        .collect()
}

/// The reviewers' desk: the ledger, the mail composer (templates, the cycle's rulebook, the
/// sender identity) and the coaches copied on red decisions.
pub struct Desk {
    pub store: Store,
    pub composer: Composer,
    pub coach_emails: Vec<String>,
    /// `[reviewers] two_person_rule`: decisions wait for a second reviewer's countersignature.
    pub two_person_rule: bool,
}

impl Desk {
    /// The cycle year (the rulebook's).
    pub fn year(&self) -> i32 {
        self.composer.rulebook.year
    }

    /// `vardval review list`: latest versions with their decisions of `year`.
    pub async fn list(&self, year: i32) -> Result<Vec<ReviewRow>, DeskError> {
        let subs = self.store.submissions().await?;
        let decisions = self.store.decisions(year).await?;
        let pending = self.store.open_pending().await?;
        Ok(review_rows(&subs, &decisions, &pending))
    }

    /// Work out a decision and render its mail without recording anything (the preview).
    pub async fn draft(
        &self,
        req: &DecisionRequest,
        now: DateTime<Utc>,
    ) -> Result<Draft, DeskError> {
        let sub = self
            .store
            .submission(req.submission_id)
            .await?
            .ok_or(DeskError::NoSubmission(req.submission_id))?;
        if let Some(newer) = self
            .store
            .latest_submission(&sub.clinic_id, sub.milestone)
            .await?
            .filter(|n| n.version > sub.version)
        {
            return Err(StoreError::Superseded {
                submission_id: sub.id,
                newer_id: newer.id,
                newer_version: newer.version,
            }
            .into());
        }
        let rb = &self.composer.rulebook;
        let milestone = u8::try_from(sub.milestone)
            .ok()
            .and_then(|m| rb.milestone(m))
            .ok_or(DeskError::NoMilestone(sub.milestone))?;
        let next = rb.milestones.iter().find(|m| m.id == milestone.id + 1);
        let derived = derive_decision(
            &sub.analysis_json,
            sub.pre_grade,
            &milestone.required,
            &req.overrides,
        )?;
        let clinic_name = self
            .store
            .clinics()
            .await?
            .into_iter()
            .find(|c| c.id == sub.clinic_id)
            .map_or_else(|| sub.clinic_id.clone(), |c| c.name);
        let comment = req
            .comment
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(str::to_string);
        let decision = NewDecision {
            submission_id: sub.id,
            year: rb.year,
            grade: derived.grade,
            sections: derived.sections.clone(),
            pre_grade: sub.pre_grade,
            agreed_with_pregrade: derived.agreed_with_pregrade,
            comment: comment.clone(),
            decided_by: req.actor.clone(),
        };
        let cc: Vec<String> = if derived.grade == Grade::Red {
            self.coach_emails.clone()
        } else {
            Vec::new()
        };
        let mail = match self.store.submission_sender(sub.id).await? {
            Some(to) => {
                let facts = DecisionFacts {
                    clinic_name: &clinic_name,
                    milestone,
                    next_milestone: next,
                    document_name: &sub.doc_name,
                    version: sub.version,
                    received_at: sub.received_at,
                    grade: derived.grade,
                    sections: &derived.sections,
                    comment: comment.as_deref(),
                    instalment: req.instalment.clone(),
                };
                let reference = format!("beslut-{}-{}", sub.id, now.timestamp_millis());
                Some(self.composer.decision_mail(
                    &to,
                    &cc,
                    sub.mail_message_id.as_deref(),
                    &facts,
                    req.edited_body.as_deref(),
                    &reference,
                    now,
                )?)
            }
            None => None,
        };
        Ok(Draft {
            submission: sub,
            clinic_name,
            derived,
            decision,
            mail,
        })
    }

    /// Record the decision; with `req.send`, its mail goes into the outbox in the same
    /// transaction (once: the same decision again queues nothing new).
    pub async fn decide(
        &self,
        req: &DecisionRequest,
        now: DateTime<Utc>,
    ) -> Result<Decided, DeskError> {
        if self.two_person_rule {
            return Err(DeskError::TwoPersonRule);
        }
        let draft = self.draft(req, now).await?;
        let outbox = if req.send {
            let m = draft
                .mail
                .as_ref()
                .ok_or(DeskError::NoRecipient(req.submission_id))?;
            Some(NewOutbox {
                kind: DECISION_MAIL_KIND.to_string(),
                dedupe_key: None,
                recipient: m.to.clone(),
                cc: m.cc.clone(),
                subject: m.subject.clone(),
                raw: m.raw.clone(),
                mail_message_id: m.message_id.clone(),
                not_before: None,
            })
        } else {
            None
        };
        let recorded = self
            .store
            .record_decision_following(&draft.decision, outbox, now, req.follows)
            .await?;
        Ok(Decided { draft, recorded })
    }

    /// Record the decision the way the configuration asks: directly ([`Desk::decide`]) or,
    /// under the two-person rule, as waiting for a second reviewer ([`Desk::propose`]).
    pub async fn submit(
        &self,
        req: &DecisionRequest,
        now: DateTime<Utc>,
    ) -> Result<Submitted, DeskError> {
        if self.two_person_rule {
            Ok(Submitted::Proposed(self.propose(req, now).await?))
        } else {
            Ok(Submitted::Decided(self.decide(req, now).await?))
        }
    }

    /// Propose the decision for a second reviewer: it is kept with its composed (possibly
    /// edited) mail when `req.send`, counts nowhere and sends nothing until countersigned.
    pub async fn propose(
        &self,
        req: &DecisionRequest,
        now: DateTime<Utc>,
    ) -> Result<ProposedDecision, DeskError> {
        let draft = self.draft(req, now).await?;
        let mail = if req.send {
            let m = draft
                .mail
                .as_ref()
                .ok_or(DeskError::NoRecipient(req.submission_id))?;
            Some(PendingMail {
                to: m.to.clone(),
                cc: m.cc.clone(),
                subject: m.subject.clone(),
                body: m.body.clone(),
                raw: m.raw.clone(),
                message_id: m.message_id.clone(),
            })
        } else {
            None
        };
        let proposed = self
            .store
            .propose_decision(&draft.decision, mail.as_ref(), now, req.follows)
            .await?;
        Ok(ProposedDecision { draft, proposed })
    }

    /// A second reviewer confirms a pending decision: it becomes the decision that counts
    /// and its mail is queued, once, in one transaction. The proposer is refused.
    pub async fn countersign(
        &self,
        pending_id: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Countersigned, DeskError> {
        Ok(self
            .store
            .countersign_decision(pending_id, actor, now)
            .await?)
    }

    /// A reviewer rejects (or the proposer withdraws) a pending decision.
    pub async fn reject_pending(
        &self,
        pending_id: i64,
        actor: &str,
        comment: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<PendingDecision, DeskError> {
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        Ok(self
            .store
            .reject_pending(pending_id, actor, comment, now)
            .await?)
    }

    /// Register a clinic's presentation at Utvecklingskraft (idempotent; true when new).
    pub async fn presented(
        &self,
        clinic_id: &str,
        year: i32,
        actor: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, DeskError> {
        if !self
            .store
            .clinics()
            .await?
            .iter()
            .any(|c| c.id == clinic_id)
        {
            return Err(DeskError::NoClinic(clinic_id.to_string()));
        }
        Ok(self
            .store
            .record_presentation(clinic_id, year, actor, note, now)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SubmissionKind;

    fn sub(id: i64, clinic: &str, milestone: i64, version: i64) -> SubmissionRow {
        let t = DateTime::parse_from_rfc3339("2026-02-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        SubmissionRow {
            id,
            message_row_id: id,
            clinic_id: clinic.into(),
            milestone,
            version,
            kind: SubmissionKind::Submission,
            received_at: t,
            on_time: true,
            pre_grade: Some(Grade::Yellow),
            doc_sha256: String::new(),
            doc_name: String::new(),
            doc_format: None,
            analysis_json: "{}".into(),
            error_kind: None,
            mail_message_id: None,
            created_at: t,
            receipt_sent_at: None,
        }
    }

    fn decision(id: i64, submission_id: i64, grade: Grade) -> Decision {
        Decision {
            id,
            submission_id,
            clinic_id: String::new(),
            year: 2026,
            milestone: 1,
            grade,
            sections: BTreeMap::new(),
            pre_grade: None,
            agreed_with_pregrade: false,
            comment: None,
            decided_by: format!("cli:r{id}"),
            decided_at: DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            mail_outbox_id: None,
        }
    }

    #[test]
    fn rows_show_the_latest_version_and_its_latest_decision() {
        let subs = vec![
            sub(1, "a", 1, 1),
            sub(2, "a", 1, 2),
            sub(3, "b", 1, 1),
            sub(4, "a", 2, 1),
        ];
        let ds = vec![
            decision(1, 1, Grade::Green),
            decision(2, 3, Grade::Red),
            decision(3, 3, Grade::Yellow),
        ];
        let rows = review_rows(&subs, &ds, &[]);
        let ids: Vec<i64> = rows.iter().map(|r| r.submission_id).collect();
        assert_eq!(ids, vec![2, 4, 3]);
        // Version 2 of a/1 has no decision: the decision on version 1 does not carry over.
        assert_eq!(rows[0].grade, None);
        assert_eq!(rows[2].grade, Some(Grade::Yellow));
        assert_eq!(rows[2].decided_by.as_deref(), Some("cli:r3"));
    }
}
