//! A reviewer's own answer to a triage item (a mail from an unknown sender, a failed DMARC
//! check, an unreadable document …): the draft offered on the desk (from the templates
//! `triage_answer.subject.j2` / `.txt.j2`) and the finished mail, threaded to the original.
//! Written by a person, so without `Auto-Submitted` (RFC 3834 is about automatic replies).

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use minijinja::context;

use super::{Composer, Reply, ReplyError, agent_message, thread_references, usable_id};
use crate::mail::clean::clean_text;

/// Longest subject a reviewer may send (characters).
pub const MAX_ANSWER_SUBJECT: usize = 200;
/// Longest body a reviewer may send (characters).
pub const MAX_ANSWER_BODY: usize = 20_000;

impl Composer {
    /// The draft: "Sv: <the original's subject, cleaned>" and a greeting signed by `reviewer`.
    pub fn triage_answer_draft(
        &self,
        original_subject: &str,
        reviewer: &str,
    ) -> Result<(String, String), ReplyError> {
        let ctx = context! {
            subject => clean_text(original_subject, 150),
            reviewer => clean_text(reviewer, 100),
        };
        let subject = self
            .templates
            .render("triage_answer.subject.j2", &ctx)?
            .trim()
            .to_string();
        let body = self.templates.render("triage_answer.txt.j2", &ctx)?;
        Ok((subject, body))
    }

    /// The answer as sent: `subject` and `body` as the reviewer wrote them (subject on one
    /// line, both bounded), in reply to `in_reply_to`, with Message-ID `<reference@our domain>`.
    pub fn triage_answer(
        &self,
        to: &str,
        subject: &str,
        body: &str,
        in_reply_to: Option<&str>,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<Reply, ReplyError> {
        let to_box: Mailbox = to
            .parse()
            .map_err(|e| ReplyError::Build(format!("recipient {to}: {e}")))?;
        let subject = clean_text(subject, MAX_ANSWER_SUBJECT);
        let body: String = body
            .replace("\r\n", "\n")
            .chars()
            .take(MAX_ANSWER_BODY)
            .collect();
        let message_id = format!("{reference}@{}", self.from.email.domain());
        let mut b = agent_message(&self.from, to_box, &subject, &message_id, now);
        if let Some(mid) = in_reply_to.and_then(usable_id) {
            b = b.in_reply_to(format!("<{mid}>"));
            b = b.references(thread_references(&[], mid).join(" "));
        }
        let msg = b.body(body).map_err(|e| ReplyError::Build(e.to_string()))?;
        Ok(Reply {
            to: to.to_string(),
            subject,
            message_id,
            raw: msg.formatted(),
        })
    }
}
