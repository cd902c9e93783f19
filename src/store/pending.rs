//! Decisions awaiting a second reviewer (the two-person rule; `docs/review.md`). A pending
//! decision counts nowhere (it is not in `decisions`, so neither the board nor the payouts
//! see it) and has nothing in the outbox. Countersigning writes the decision, its mail's
//! outbox row and the audit row in ONE transaction, exactly as
//! [`Store::record_decision_following`] does, and marks the pending row countersigned in the
//! same transaction: two reviewers countersigning at once record one decision and queue one
//! mail. Rejecting drops it (the row is kept, `rejected`, for the history).

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::any::AnyRow;

use super::audit::append_tx;
use super::reviews::{
    NewDecision, RecordedDecision, grade_col, latest_decision_tx, lock_latest_version,
    required_grade, sections_json, sections_of, write_decision,
};
use super::rows::col;
use super::{NewAudit, NewOutbox, Store, StoreError, parse_ts, q, ts};
use crate::domain::countersign::{PendingDecision, PendingMail, PendingState, check_countersigner};

const PENDING_COLS: &str = "id, submission_id, clinic_id, year, milestone, grade, sections_json, \
     pre_grade, agreed_with_pregrade, comment, proposed_by, proposed_at, follows, \
     mail_recipient, mail_cc, mail_subject, mail_body, mail_raw, mail_message_id, state, \
     resolved_by, resolved_at, resolve_comment, decision_id";

/// What [`Store::propose_decision`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proposed {
    pub pending_id: i64,
    /// False when the same person had already proposed the same decision (nothing written).
    pub created: bool,
}

/// What [`Store::countersign_decision`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Countersigned {
    pub pending: PendingDecision,
    pub recorded: RecordedDecision,
}

fn pending_row(r: &AnyRow) -> Result<PendingDecision, StoreError> {
    let sections: String = col(r, "sections_json")?;
    let at: String = col(r, "proposed_at")?;
    let resolved_at: Option<String> = col(r, "resolved_at")?;
    let state: String = col(r, "state")?;
    let recipient: Option<String> = col(r, "mail_recipient")?;
    let mail = match recipient {
        Some(to) => {
            let cc: String = col::<Option<String>>(r, "mail_cc")?.unwrap_or_default();
            Some(PendingMail {
                to,
                cc: cc
                    .split(',')
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect(),
                subject: col::<Option<String>>(r, "mail_subject")?.unwrap_or_default(),
                body: col::<Option<String>>(r, "mail_body")?.unwrap_or_default(),
                raw: col::<Option<Vec<u8>>>(r, "mail_raw")?.unwrap_or_default(),
                message_id: col::<Option<String>>(r, "mail_message_id")?.unwrap_or_default(),
            })
        }
        None => None,
    };
    Ok(PendingDecision {
        id: col(r, "id")?,
        submission_id: col(r, "submission_id")?,
        clinic_id: col(r, "clinic_id")?,
        year: col::<i64>(r, "year")? as i32,
        milestone: col::<i64>(r, "milestone")? as u8,
        grade: required_grade(r)?,
        sections: sections_of(&sections)?,
        pre_grade: grade_col(r, "pre_grade")?,
        agreed_with_pregrade: col::<i64>(r, "agreed_with_pregrade")? != 0,
        comment: col(r, "comment")?,
        proposed_by: col(r, "proposed_by")?,
        proposed_at: parse_ts("proposed_at", &at)?,
        follows: col(r, "follows")?,
        mail,
        state: PendingState::parse(&state).ok_or_else(|| StoreError::Decode {
            column: "state",
            detail: format!("unknown state {state:?}"),
        })?,
        resolved_by: col(r, "resolved_by")?,
        resolved_at: resolved_at
            .map(|t| parse_ts("resolved_at", &t))
            .transpose()?,
        resolve_comment: col(r, "resolve_comment")?,
        decision_id: col(r, "decision_id")?,
    })
}

async fn pending_tx(tx: &mut sqlx::AnyConnection, id: i64) -> Result<PendingDecision, StoreError> {
    let sql = format!("SELECT {PENDING_COLS} FROM pending_decisions WHERE id = $1");
    sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(q("read a pending decision"))?
        .map(|r| pending_row(&r))
        .transpose()?
        .ok_or(StoreError::PendingNotFound { id })
}

fn audit_detail(p: &PendingDecision) -> serde_json::Value {
    json!({
        "pending_id": p.id,
        "clinic_id": p.clinic_id,
        "year": p.year,
        "milestone": p.milestone,
        "grade": p.grade,
        "pre_grade": p.pre_grade,
        "agreed_with_pregrade": p.agreed_with_pregrade,
        "sections": p.sections,
        "comment": p.comment,
        "proposed_by": p.proposed_by,
        "mail_recipient": p.mail.as_ref().map(|m| m.to.clone()),
    })
}

impl Store {
    /// Record a decision as awaiting a second reviewer, with its composed mail, and an audit
    /// row (`decision.propose`), in one transaction. Nothing goes to the outbox.
    ///
    /// Refused like a decision: [`StoreError::Superseded`] for an older version,
    /// [`StoreError::DecidedMeanwhile`] when `follows` is given and another decision came in
    /// since. At most one decision per submission waits at a time: another open one is
    /// [`StoreError::PendingExists`], unless it is the same person's identical proposal
    /// (returned, `created: false`: a repeated command writes nothing).
    pub async fn propose_decision(
        &self,
        d: &NewDecision,
        mail: Option<&PendingMail>,
        now: DateTime<Utc>,
        follows: Option<i64>,
    ) -> Result<Proposed, StoreError> {
        let mut tx = self.begin_write().await.map_err(q("begin a proposal"))?;
        let at = lock_latest_version(&mut tx, self.backend, d.submission_id).await?;
        let latest = latest_decision_tx(&mut tx, d.submission_id)
            .await?
            .map_or(0, |l| l.id);
        if let Some(expected) = follows
            && expected != latest
        {
            return Err(StoreError::DecidedMeanwhile {
                submission_id: d.submission_id,
                expected,
                latest,
            });
        }
        let sql = format!(
            "SELECT {PENDING_COLS} FROM pending_decisions WHERE submission_id = $1 \
             AND state = 'pending'"
        );
        let open = sqlx::query(&sql)
            .bind(d.submission_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(q("look for a pending decision"))?
            .map(|r| pending_row(&r))
            .transpose()?;
        if let Some(p) = open {
            let same = crate::domain::countersign::person(&p.proposed_by)
                == crate::domain::countersign::person(&d.decided_by)
                && p.grade == d.grade
                && p.sections == d.sections
                && p.comment == d.comment;
            if same {
                return Ok(Proposed {
                    pending_id: p.id,
                    created: false,
                });
            }
            return Err(StoreError::PendingExists {
                submission_id: d.submission_id,
                pending_id: p.id,
                proposed_by: p.proposed_by,
            });
        }
        let row = sqlx::query(
            "INSERT INTO pending_decisions (submission_id, clinic_id, year, milestone, grade, \
             sections_json, pre_grade, agreed_with_pregrade, comment, proposed_by, proposed_at, \
             follows, mail_recipient, mail_cc, mail_subject, mail_body, mail_raw, \
             mail_message_id, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             $13, $14, $15, $16, $17, $18, 'pending') RETURNING id",
        )
        .bind(d.submission_id)
        .bind(&at.clinic_id)
        .bind(i64::from(d.year))
        .bind(at.milestone)
        .bind(d.grade.as_str())
        .bind(sections_json(&d.sections))
        .bind(d.pre_grade.map(|g| g.as_str()))
        .bind(i64::from(d.agreed_with_pregrade))
        .bind(d.comment.as_deref())
        .bind(&d.decided_by)
        .bind(ts(now))
        .bind(latest)
        .bind(mail.map(|m| m.to.clone()))
        .bind(mail.map(|m| m.cc.join(",")))
        .bind(mail.map(|m| m.subject.clone()))
        .bind(mail.map(|m| m.body.clone()))
        .bind(mail.map(|m| m.raw.clone()))
        .bind(mail.map(|m| m.message_id.clone()))
        .fetch_one(&mut *tx)
        .await
        .map_err(q("insert a pending decision"))?;
        let id: i64 = col(&row, "id")?;
        let p = pending_tx(&mut tx, id).await?;
        let mut detail = audit_detail(&p);
        detail["version"] = json!(at.version);
        let audit = NewAudit::new(
            &d.decided_by,
            "decision.propose",
            format!("submission:{}", d.submission_id),
            detail,
        );
        append_tx(&mut tx, self.backend, &audit, now).await?;
        tx.commit().await.map_err(q("commit a proposal"))?;
        Ok(Proposed {
            pending_id: id,
            created: true,
        })
    }

    /// A second reviewer (`by`, not the proposer: refused in the transaction) confirms a
    /// pending decision: in ONE transaction the decision is recorded (with the proposer as
    /// `decided_by`), its mail queued once (`dedupe_key` `decision:<id>`), the pending row
    /// marked countersigned and the audit row (`decision.countersign`) appended. Refused as a
    /// decision is (superseded, decided meanwhile), and with [`StoreError::Countersign`] when
    /// it is no longer pending (e.g. a colleague countersigned it a moment before).
    pub async fn countersign_decision(
        &self,
        pending_id: i64,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<Countersigned, StoreError> {
        let mut tx = self.begin_write().await.map_err(q("begin a countersign"))?;
        let p = pending_tx(&mut tx, pending_id).await?;
        check_countersigner(&p, by)?;
        // The version lock before the pending row's: the same order as a proposal.
        let at = lock_latest_version(&mut tx, self.backend, p.submission_id).await?;
        let claimed = sqlx::query(
            "UPDATE pending_decisions SET state = 'countersigned', resolved_by = $1, \
             resolved_at = $2 WHERE id = $3 AND state = 'pending'",
        )
        .bind(by)
        .bind(ts(now))
        .bind(pending_id)
        .execute(&mut *tx)
        .await
        .map_err(q("claim a pending decision"))?;
        if claimed.rows_affected() != 1 {
            // Someone resolved it between our read and the claim: say how.
            let now_state = pending_tx(&mut tx, pending_id).await?;
            check_countersigner(&now_state, by)?;
            return Err(StoreError::PendingNotFound { id: pending_id });
        }
        let decision = NewDecision {
            submission_id: p.submission_id,
            year: p.year,
            grade: p.grade,
            sections: p.sections.clone(),
            pre_grade: p.pre_grade,
            agreed_with_pregrade: p.agreed_with_pregrade,
            comment: p.comment.clone(),
            decided_by: p.proposed_by.clone(),
        };
        let mail = p.mail.as_ref().map(|m| NewOutbox {
            kind: crate::review::DECISION_MAIL_KIND.to_string(),
            dedupe_key: None,
            recipient: m.to.clone(),
            cc: m.cc.clone(),
            subject: m.subject.clone(),
            raw: m.raw.clone(),
            mail_message_id: m.message_id.clone(),
            not_before: None,
        });
        let (recorded, mut detail) =
            write_decision(&mut tx, &decision, mail.as_ref(), now, Some(p.follows), &at).await?;
        sqlx::query("UPDATE pending_decisions SET decision_id = $1 WHERE id = $2")
            .bind(recorded.id)
            .bind(pending_id)
            .execute(&mut *tx)
            .await
            .map_err(q("link the countersigned decision"))?;
        detail["pending_id"] = json!(pending_id);
        detail["proposed_by"] = json!(p.proposed_by);
        detail["created"] = json!(recorded.created);
        let audit = NewAudit::new(
            by,
            "decision.countersign",
            format!("submission:{}", p.submission_id),
            detail,
        );
        append_tx(&mut tx, self.backend, &audit, now).await?;
        let pending = pending_tx(&mut tx, pending_id).await?;
        tx.commit().await.map_err(q("commit a countersign"))?;
        Ok(Countersigned { pending, recorded })
    }

    /// A reviewer rejects a pending decision (the proposer may withdraw their own this way):
    /// it is dropped, the submission is undecided again, nothing is sent. Audited
    /// (`decision.reject`) in the same transaction. [`StoreError::Countersign`] when it is no
    /// longer pending.
    pub async fn reject_pending(
        &self,
        pending_id: i64,
        by: &str,
        comment: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<PendingDecision, StoreError> {
        let mut tx = self.begin_write().await.map_err(q("begin a rejection"))?;
        let done = sqlx::query(
            "UPDATE pending_decisions SET state = 'rejected', resolved_by = $1, \
             resolved_at = $2, resolve_comment = $3 WHERE id = $4 AND state = 'pending'",
        )
        .bind(by)
        .bind(ts(now))
        .bind(comment)
        .bind(pending_id)
        .execute(&mut *tx)
        .await
        .map_err(q("reject a pending decision"))?;
        let p = pending_tx(&mut tx, pending_id).await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::Countersign(
                crate::domain::countersign::CountersignError::Resolved {
                    id: pending_id,
                    state: p.state.as_str(),
                },
            ));
        }
        let mut detail = audit_detail(&p);
        detail["reason"] = json!(comment);
        let audit = NewAudit::new(
            by,
            "decision.reject",
            format!("submission:{}", p.submission_id),
            detail,
        );
        append_tx(&mut tx, self.backend, &audit, now).await?;
        tx.commit().await.map_err(q("commit a rejection"))?;
        Ok(p)
    }

    /// One pending decision (any state).
    pub async fn pending_decision(&self, id: i64) -> Result<Option<PendingDecision>, StoreError> {
        let sql = format!("SELECT {PENDING_COLS} FROM pending_decisions WHERE id = $1");
        sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("read a pending decision"))?
            .map(|r| pending_row(&r))
            .transpose()
    }

    /// The decision waiting for a second reviewer on one submission, if any.
    pub async fn open_pending_for_submission(
        &self,
        submission_id: i64,
    ) -> Result<Option<PendingDecision>, StoreError> {
        let sql = format!(
            "SELECT {PENDING_COLS} FROM pending_decisions WHERE submission_id = $1 \
             AND state = 'pending'"
        );
        sqlx::query(&sql)
            .bind(submission_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(q("look for a pending decision"))?
            .map(|r| pending_row(&r))
            .transpose()
    }

    /// Every decision waiting for a second reviewer, oldest first.
    pub async fn open_pending(&self) -> Result<Vec<PendingDecision>, StoreError> {
        let sql = format!(
            "SELECT {PENDING_COLS} FROM pending_decisions WHERE state = 'pending' ORDER BY id"
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .map_err(q("list pending decisions"))?;
        rows.iter().map(pending_row).collect()
    }
}
