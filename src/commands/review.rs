//! `vardval review list|confirm|override|countersign|reject-pending|presented`: the desk's
//! decisions on the command line,
//! recorded and audited exactly as the desk records them ([`crate::review::Desk`]). A CLI
//! actor is recorded as `cli:<name>`.

use std::path::Path;

use anyhow::Context;
use serde_json::json;

use super::app;
use crate::config::Settings;
use crate::domain::countersign::PendingDecision;
use crate::domain::review::Overrides;
use crate::ports::{Clock, SystemClock};
use crate::reply::{Composer, Templates};
use crate::review::{Decided, DecisionRequest, Desk, ProposedDecision, ReviewRow, Submitted};
use crate::store::Countersigned;

/// The actor name of a command-line user (`--as`, which must not be empty).
pub fn cli_actor(name: &str) -> anyhow::Result<String> {
    let name = name.trim();
    anyhow::ensure!(
        !name.is_empty(),
        "cannot record a decision without --as USER"
    );
    Ok(format!("cli:{name}"))
}

/// Build the desk from the settings: the ledger, the embedded templates, the cycle's rulebook,
/// `[smtp] from` as the sender and `[reviewers] coach_emails`.
pub async fn open_desk(s: &Settings) -> anyhow::Result<Desk> {
    let rulebook = app::load_rulebook(s)?;
    let store = app::open_store(s).await?;
    super::clinics::ensure_first_import(s, &store, rulebook.year, SystemClock.now()).await?;
    let from: lettre::message::Mailbox = s.smtp.from.parse().context("[smtp] from")?;
    Ok(Desk {
        store,
        composer: Composer {
            templates: Templates::load(None)?,
            rulebook,
            from,
        },
        coach_emails: s.reviewers.coach_emails.clone(),
        two_person_rule: s.reviewers.two_person_rule,
    })
}

async fn desk(config: &Path) -> anyhow::Result<Desk> {
    open_desk(&Settings::load(config)?).await
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn row_line(r: &ReviewRow) -> String {
    format!(
        "{}\t{}\tmilestone {}\tversion {}\t{}\t{}\tpre-grade {}\tconfirmed {}\t{}\t{}",
        r.submission_id,
        r.clinic_id,
        r.milestone,
        r.version,
        crate::store::ts(r.received_at),
        if r.on_time { "on time" } else { "late" },
        opt(r.pre_grade.map(|g| g.as_str())),
        opt(r.grade.map(|g| g.as_str())),
        opt(r.decided_by.as_deref()),
        opt(r.decided_at.map(crate::store::ts)),
    ) + &match (&r.pending_grade, &r.pending_by) {
        (Some(g), Some(by)) => format!(
            "\tawaiting a second reviewer: {} proposed by {by}",
            g.as_str()
        ),
        _ => String::new(),
    }
}

/// `review list`.
pub async fn list(config: &Path, year: Option<i32>, json: bool) -> anyhow::Result<()> {
    let d = desk(config).await?;
    let rows = d.list(year.unwrap_or(d.year())).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in &rows {
            println!("{}", row_line(r));
        }
    }
    d.store.close().await;
    Ok(())
}

/// What `confirm` and `override` print.
pub fn decided_json(d: &Decided) -> serde_json::Value {
    let dr = &d.draft;
    let r = &d.recorded;
    json!({
        "decision_id": r.id,
        "created": r.created,
        "submission_id": dr.submission.id,
        "clinic_id": dr.submission.clinic_id,
        "milestone": dr.submission.milestone,
        "version": dr.submission.version,
        "year": dr.decision.year,
        "grade": dr.decision.grade,
        "pre_grade": dr.decision.pre_grade,
        "computed_grade": dr.derived.computed_grade,
        "agreed_with_pregrade": dr.decision.agreed_with_pregrade,
        "sections": dr.decision.sections,
        "changed": dr.derived.changed.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "comment": dr.decision.comment,
        "decided_by": dr.decision.decided_by,
        "mail": {
            "outbox_id": r.mail_outbox_id,
            "queued_now": r.mail_queued,
            "to": dr.mail.as_ref().map(|m| m.to.clone()),
            "cc": dr.mail.as_ref().map(|m| m.cc.clone()).unwrap_or_default(),
            "subject": dr.mail.as_ref().map(|m| m.subject.clone()),
        },
    })
}

fn decided_text(d: &Decided) -> String {
    let dr = &d.draft;
    let r = &d.recorded;
    let mut out = format!(
        "decision {} on submission {} ({}, milestone {}, version {}): {} (pre-grade {}){}",
        r.id,
        dr.submission.id,
        dr.submission.clinic_id,
        dr.submission.milestone,
        dr.submission.version,
        dr.decision.grade.as_str(),
        opt(dr.decision.pre_grade.map(|g| g.as_str())),
        if r.created { "" } else { " [already recorded]" }
    );
    if !dr.derived.changed.is_empty() {
        let changed: String = dr.derived.changed.iter().collect();
        out.push_str(&format!("; sections changed: {changed}"));
    }
    match (r.mail_outbox_id, r.mail_queued, &dr.mail) {
        (Some(id), true, Some(m)) => out.push_str(&format!(
            "\nmail queued to {} (outbox {id})",
            m.recipients()
        )),
        (Some(id), false, _) => out.push_str(&format!("\nmail already queued (outbox {id})")),
        _ => out.push_str("\nno mail queued (add --send to send the decision mail)"),
    }
    out
}

/// `review confirm` and `review override`.
#[allow(clippy::too_many_arguments)]
pub async fn decide(
    config: &Path,
    submission: i64,
    by: &str,
    sections: &[String],
    grade: Option<crate::domain::grading::Grade>,
    comment: Option<String>,
    send: bool,
    json: bool,
) -> anyhow::Result<()> {
    let mut overrides = Overrides {
        grade,
        ..Overrides::default()
    };
    for s in sections {
        let (id, v) = Overrides::parse_section(s)?;
        overrides.sections.insert(id, v);
    }
    let actor = cli_actor(by)?;
    let d = desk(config).await?;
    let instalment =
        crate::jobs::payouts::instalment_line(&d.store, &d.composer.rulebook, submission).await?;
    let req = DecisionRequest {
        submission_id: submission,
        overrides,
        comment,
        actor,
        send,
        edited_body: None,
        instalment,
        follows: None,
    };
    let res = d.submit(&req, SystemClock.now()).await;
    d.store.close().await;
    match res? {
        Submitted::Decided(done) if json => {
            println!("{}", serde_json::to_string_pretty(&decided_json(&done))?)
        }
        Submitted::Decided(done) => println!("{}", decided_text(&done)),
        Submitted::Proposed(p) if json => {
            println!("{}", serde_json::to_string_pretty(&proposed_json(&p))?)
        }
        Submitted::Proposed(p) => println!("{}", proposed_text(&p)),
    }
    Ok(())
}

/// What `confirm` and `override` print under the two-person rule.
pub fn proposed_json(p: &ProposedDecision) -> serde_json::Value {
    let dr = &p.draft;
    json!({
        "pending_id": p.proposed.pending_id,
        "created": p.proposed.created,
        "state": "pending",
        "submission_id": dr.submission.id,
        "clinic_id": dr.submission.clinic_id,
        "milestone": dr.submission.milestone,
        "version": dr.submission.version,
        "year": dr.decision.year,
        "grade": dr.decision.grade,
        "pre_grade": dr.decision.pre_grade,
        "sections": dr.decision.sections,
        "comment": dr.decision.comment,
        "proposed_by": dr.decision.decided_by,
        "mail": dr.mail.as_ref().map(|m| json!({"to": m.to, "cc": m.cc, "subject": m.subject})),
    })
}

fn proposed_text(p: &ProposedDecision) -> String {
    let dr = &p.draft;
    format!(
        "decision on submission {} ({}, milestone {}, version {}): {} proposed{} (pending {})\n\
         awaiting a second reviewer: nothing counts or is sent until another reviewer runs \
         `vardval review countersign --submission {}` (or reject-pending)",
        dr.submission.id,
        dr.submission.clinic_id,
        dr.submission.milestone,
        dr.submission.version,
        dr.decision.grade.as_str(),
        if p.proposed.created {
            ""
        } else {
            " [already proposed]"
        },
        p.proposed.pending_id,
        dr.submission.id,
    )
}

/// The decision waiting on `submission`, or a "cannot" error.
async fn open_pending(d: &Desk, submission: i64) -> anyhow::Result<PendingDecision> {
    d.store
        .open_pending_for_submission(submission)
        .await?
        .with_context(|| {
            format!("cannot find a decision awaiting a second reviewer on submission {submission}")
        })
}

fn countersigned_json(c: &Countersigned) -> serde_json::Value {
    json!({
        "pending_id": c.pending.id,
        "decision_id": c.recorded.id,
        "created": c.recorded.created,
        "submission_id": c.pending.submission_id,
        "clinic_id": c.pending.clinic_id,
        "grade": c.pending.grade,
        "proposed_by": c.pending.proposed_by,
        "countersigned_by": c.pending.resolved_by,
        "mail": {
            "outbox_id": c.recorded.mail_outbox_id,
            "queued_now": c.recorded.mail_queued,
            "to": c.pending.mail.as_ref().map(|m| m.to.clone()),
        },
    })
}

/// `review countersign`.
pub async fn countersign(
    config: &Path,
    submission: i64,
    by: &str,
    json: bool,
) -> anyhow::Result<()> {
    let actor = cli_actor(by)?;
    let d = desk(config).await?;
    let res = async {
        let p = open_pending(&d, submission).await?;
        Ok::<_, anyhow::Error>(d.countersign(p.id, &actor, SystemClock.now()).await?)
    }
    .await;
    d.store.close().await;
    let c = res?;
    if json {
        println!("{}", serde_json::to_string_pretty(&countersigned_json(&c))?);
    } else {
        let mail = match (c.recorded.mail_outbox_id, c.recorded.mail_queued) {
            (Some(id), true) => format!("mail queued (outbox {id})"),
            (Some(id), false) => format!("mail already queued (outbox {id})"),
            (None, _) => "no mail (none was composed)".to_string(),
        };
        println!(
            "decision {} on submission {}: {} proposed by {}, countersigned by {actor}; {mail}",
            c.recorded.id,
            c.pending.submission_id,
            c.pending.grade.as_str(),
            c.pending.proposed_by,
        );
    }
    Ok(())
}

/// `review reject-pending`.
pub async fn reject_pending(
    config: &Path,
    submission: i64,
    by: &str,
    comment: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let actor = cli_actor(by)?;
    let d = desk(config).await?;
    let res = async {
        let p = open_pending(&d, submission).await?;
        Ok::<_, anyhow::Error>(
            d.reject_pending(p.id, &actor, comment, SystemClock.now())
                .await?,
        )
    }
    .await;
    d.store.close().await;
    let p = res?;
    if json {
        println!(
            "{}",
            json!({
                "pending_id": p.id,
                "submission_id": p.submission_id,
                "state": p.state,
                "proposed_by": p.proposed_by,
                "rejected_by": p.resolved_by,
                "comment": p.resolve_comment,
            })
        );
    } else {
        println!(
            "pending decision {} on submission {} ({} proposed by {}) rejected; nothing was sent",
            p.id,
            p.submission_id,
            p.grade.as_str(),
            p.proposed_by
        );
    }
    Ok(())
}

/// `review presented`.
pub async fn presented(
    config: &Path,
    clinic: &str,
    year: i32,
    by: &str,
    note: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let actor = cli_actor(by)?;
    let d = desk(config).await?;
    let res = d
        .presented(clinic, year, &actor, note, SystemClock.now())
        .await;
    d.store.close().await;
    let new = res?;
    if json {
        println!(
            "{}",
            json!({"clinic_id": clinic, "year": year, "created": new})
        );
    } else if new {
        println!("presentation registered: {clinic} {year}");
    } else {
        println!("presentation already registered: {clinic} {year}");
    }
    Ok(())
}
