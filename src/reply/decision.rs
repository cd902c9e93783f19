//! The reviewers' decision mail: green (approved, what happens next), yellow (what to add,
//! section by section in the rulebook's own questions), red (not approved, coaching offered
//! with the coaches in Cc). Rendered from `templates/decision.<grade>.{subject,txt}.j2`,
//! threaded to the clinic's submission mail, without `Auto-Submitted` (a person's decision).
//!
//! [`Composer::decision_mail`] only renders: the desk shows the result as a preview, lets the
//! reviewer edit the text, and passes the edited body back when the decision is recorded.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use minijinja::context;
use serde::Serialize;

use super::{Composer, ReplyError, agent_message, thread_references, usable_id};
use crate::domain::grading::Grade;
use crate::domain::review::SectionVerdict;
use crate::domain::rulebook::Milestone;
use crate::domain::vocab;
use crate::mail::clean::{MAX_QUOTED_CHARS, clean_text};

/// What a decision mail says.
#[derive(Debug, Clone)]
pub struct DecisionFacts<'a> {
    pub clinic_name: &'a str,
    pub milestone: &'a Milestone,
    /// The milestone after this one in the cycle, if any (green mails say what comes next).
    pub next_milestone: Option<&'a Milestone>,
    pub document_name: &'a str,
    pub version: i64,
    pub received_at: DateTime<Utc>,
    pub grade: Grade,
    /// The full section verdicts after the decision.
    pub sections: &'a BTreeMap<char, SectionVerdict>,
    /// The reviewer's comment to the clinic.
    pub comment: Option<&'a str>,
    /// A line about the instalment (amount, date), from the money work; `None` says nothing
    /// about amounts.
    pub instalment: Option<String>,
}

/// A rendered decision mail. `recipients()` is the outbox's `recipient` value: the clinic's
/// address first, then the Cc addresses, comma-separated (the sender splits it into the
/// envelope's recipients).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionMail {
    pub to: String,
    pub cc: Vec<String>,
    pub subject: String,
    /// The plain-text body as rendered (or as edited by the reviewer).
    pub body: String,
    pub message_id: String,
    #[serde(skip)]
    pub raw: Vec<u8>,
}

impl DecisionMail {
    pub fn recipients(&self) -> String {
        std::iter::once(self.to.as_str())
            .chain(self.cc.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[derive(Serialize)]
struct Line {
    id: String,
    title: String,
    verdict_sv: &'static str,
    questions: String,
}

impl Composer {
    /// Render the decision mail to `to` (the clinic's submitting address), in reply to the
    /// submission's `in_reply_to` Message-ID, with `cc` (for red: the coaches). With
    /// `edited_body`, that text is the body instead of the template's. Records nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn decision_mail(
        &self,
        to: &str,
        cc: &[String],
        in_reply_to: Option<&str>,
        f: &DecisionFacts<'_>,
        edited_body: Option<&str>,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<DecisionMail, ReplyError> {
        let lines: Vec<Line> = f
            .milestone
            .required
            .iter()
            .map(|&id| {
                let rule = self.rulebook.section(id);
                let v = f
                    .sections
                    .get(&id)
                    .copied()
                    .unwrap_or(SectionVerdict::Missing);
                Line {
                    id: id.to_string(),
                    title: rule.title.clone(),
                    verdict_sv: v.swedish(),
                    questions: rule.questions.join(" "),
                }
            })
            .collect();
        // G is "A–F well described": the lines for A–F already say what to add.
        let to_add: Vec<&Line> = lines
            .iter()
            .filter(|l| l.verdict_sv != SectionVerdict::Ok.swedish() && l.id != "G")
            .collect();
        let ctx = context! {
            clinic_name => f.clinic_name,
            milestone_id => f.milestone.id,
            milestone_short => f.milestone.short,
            milestone_name => f.milestone.name,
            next_milestone_name => f.next_milestone.map(|m| m.name.clone()),
            next_due_date => f.next_milestone.map(|m| vocab::date(m.due)),
            document_name => clean_text(f.document_name, MAX_QUOTED_CHARS),
            version => f.version,
            received_local => vocab::local_time(f.received_at, self.rulebook.tz()),
            grade_sv => f.grade.swedish(),
            sections => lines,
            to_add => to_add,
            comment => f.comment.map(str::trim).filter(|c| !c.is_empty()),
            coaches => cc.join(", "),
            instalment => f.instalment,
            reference => reference,
        };
        let kind = format!("decision.{}", f.grade.as_str());
        let subject = self
            .templates
            .render(&format!("{kind}.subject.j2"), &ctx)?
            .trim()
            .to_string();
        let body = match edited_body {
            Some(b) => b.replace("\r\n", "\n"),
            None => self.templates.render(&format!("{kind}.txt.j2"), &ctx)?,
        };
        let domain = self.from.email.domain().to_string();
        let message_id = format!("{reference}@{domain}");
        let parse = |a: &str| -> Result<Mailbox, ReplyError> {
            a.parse()
                .map_err(|e| ReplyError::Build(format!("recipient {a}: {e}")))
        };
        let mut b = agent_message(&self.from, parse(to)?, &subject, &message_id, now);
        for c in cc {
            b = b.cc(parse(c)?);
        }
        if let Some(mid) = in_reply_to.and_then(usable_id) {
            b = b.in_reply_to(format!("<{mid}>"));
            b = b.references(thread_references(&[], mid).join(" "));
        }
        let msg = b
            .body(body.clone())
            .map_err(|e| ReplyError::Build(e.to_string()))?;
        Ok(DecisionMail {
            to: to.to_string(),
            cc: cc.to_vec(),
            subject,
            body,
            message_id,
            raw: msg.formatted(),
        })
    }
}
