//! Replies to clinics: renders the Swedish templates in `templates/` and builds the complete
//! RFC 5322 message (threaded with In-Reply-To/References, `Auto-Submitted: auto-replied`,
//! a deterministic Message-ID), so the outbox stores exactly the bytes it will send. The
//! reviewers' decision mails are in [`decision`].

use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, header};
use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::domain::analysis::Analysis;
use crate::domain::grading::Status;
use crate::domain::rulebook::{Milestone, Rulebook};
use crate::domain::vocab::{self, date as swedish_date, local_time as swedish_local};
use crate::mail::clean::{MAX_QUOTED_CHARS, clean_text};

/// How many unreadable files a reply names one by one; the others are counted in one line.
pub const MAX_LISTED_DOCUMENTS: usize = 10;

mod decision;
mod manual;
pub use decision::{DecisionFacts, DecisionMail};
pub use manual::{MAX_ANSWER_BODY, MAX_ANSWER_SUBJECT};

/// At most this many Message-IDs in a reply's References (RFC 5322 §3.6.4 trimmed the way
/// mail clients do: the first one, then the most recent ones).
pub const MAX_REFERENCES: usize = 10;
/// A Message-ID longer than this (octets) is not copied into a reply.
pub const MAX_ID_OCTETS: usize = 250;

/// A sender's Message-ID fit to copy into our headers: no angle brackets, no whitespace or
/// control characters, ASCII, `left@right`, and not longer than [`MAX_ID_OCTETS`].
fn usable_id(id: &str) -> Option<&str> {
    let id = id.trim().trim_start_matches('<').trim_end_matches('>');
    (!id.is_empty()
        && id.len() <= MAX_ID_OCTETS
        && id.contains('@')
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"' | b'\\')))
    .then_some(id)
}

/// The References of a reply: the original's references plus its Message-ID, unusable ids
/// dropped, trimmed to the first one and the last `MAX_REFERENCES - 1`.
pub fn thread_references(references: &[String], message_id: &str) -> Vec<String> {
    let mut ids: Vec<&str> = references.iter().filter_map(|r| usable_id(r)).collect();
    ids.push(message_id);
    if ids.len() > MAX_REFERENCES {
        let tail = ids.split_off(ids.len() - (MAX_REFERENCES - 1));
        ids.truncate(1);
        ids.extend(tail);
    }
    ids.into_iter().map(|i| format!("<{i}>")).collect()
}

/// The templates shipped with the binary (from `templates/`).
const TEMPLATES: &[(&str, &str)] = &[
    (
        "receipt.subject.j2",
        include_str!("../templates/receipt.subject.j2"),
    ),
    (
        "receipt.txt.j2",
        include_str!("../templates/receipt.txt.j2"),
    ),
    (
        "unreadable.subject.j2",
        include_str!("../templates/unreadable.subject.j2"),
    ),
    (
        "unreadable.txt.j2",
        include_str!("../templates/unreadable.txt.j2"),
    ),
    (
        "no_document.subject.j2",
        include_str!("../templates/no_document.subject.j2"),
    ),
    (
        "no_document.txt.j2",
        include_str!("../templates/no_document.txt.j2"),
    ),
    (
        "analysis.txt.j2",
        include_str!("../templates/analysis.txt.j2"),
    ),
    (
        "precheck.subject.j2",
        include_str!("../templates/precheck.subject.j2"),
    ),
    (
        "precheck.txt.j2",
        include_str!("../templates/precheck.txt.j2"),
    ),
    (
        "decision.sections.txt.j2",
        include_str!("../templates/decision.sections.txt.j2"),
    ),
    (
        "decision.green.subject.j2",
        include_str!("../templates/decision.green.subject.j2"),
    ),
    (
        "decision.green.txt.j2",
        include_str!("../templates/decision.green.txt.j2"),
    ),
    (
        "decision.yellow.subject.j2",
        include_str!("../templates/decision.yellow.subject.j2"),
    ),
    (
        "decision.yellow.txt.j2",
        include_str!("../templates/decision.yellow.txt.j2"),
    ),
    (
        "decision.red.subject.j2",
        include_str!("../templates/decision.red.subject.j2"),
    ),
    (
        "decision.red.txt.j2",
        include_str!("../templates/decision.red.txt.j2"),
    ),
    (
        "triage_answer.subject.j2",
        include_str!("../templates/triage_answer.subject.j2"),
    ),
    (
        "triage_answer.txt.j2",
        include_str!("../templates/triage_answer.txt.j2"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ReplyError {
    #[error("cannot render template {0}: {1}")]
    Template(String, String),
    #[error("cannot build message: {0}")]
    Build(String),
}

/// A finished reply: subject, the Message-ID it carries and the raw bytes.
#[derive(Debug, Clone)]
pub struct Reply {
    pub to: String,
    pub subject: String,
    pub message_id: String,
    pub raw: Vec<u8>,
}

/// The template set; built once, at start-up (every template is parsed and checked).
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// The embedded templates, or those in `dir` when given (same file names).
    pub fn load(dir: Option<&std::path::Path>) -> Result<Templates, ReplyError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        for (name, text) in TEMPLATES {
            let body = match dir {
                Some(d) => std::fs::read_to_string(d.join(name))
                    .map_err(|e| ReplyError::Template(name.to_string(), e.to_string()))?,
                None => text.to_string(),
            };
            env.add_template_owned(name.to_string(), body)
                .map_err(|e| ReplyError::Template(name.to_string(), e.to_string()))?;
        }
        Ok(Templates { env })
    }

    fn render(&self, name: &str, ctx: &Value) -> Result<String, ReplyError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| ReplyError::Template(name.to_string(), e.to_string()))
    }
}

/// What the reply answers.
pub struct Original<'a> {
    pub to: &'a str,
    pub message_id: Option<&'a str>,
    pub references: &'a [String],
    pub subject: &'a str,
}

/// Everything a receipt for a read document says.
pub struct ReceiptFacts<'a> {
    pub clinic_name: &'a str,
    pub document_name: &'a str,
    pub received_at: DateTime<Utc>,
    pub milestone: &'a Milestone,
    pub on_time: bool,
    pub version: i64,
    pub supplement: bool,
    pub analysis: &'a Analysis,
    /// Set when the subject names another milestone than the document (Swedish).
    pub subject_note: Option<String>,
    /// The text was read with OCR from a scan or photo: the check is less certain.
    pub from_scan: bool,
}

#[derive(Serialize)]
struct SectionLine {
    id: String,
    title: String,
    status_sv: &'static str,
    note: Option<String>,
    questions: String,
}

/// Builds replies for one sender identity.
pub struct Composer {
    pub templates: Templates,
    pub rulebook: Rulebook,
    pub from: Mailbox,
}

impl Composer {
    /// The receipt for a document that was read and pre-graded.
    pub fn receipt(
        &self,
        orig: &Original<'_>,
        f: &ReceiptFacts<'_>,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<Reply, ReplyError> {
        let ctx = self.document_context(f, reference, false);
        self.build("receipt", &ctx, orig, reference, now)
    }

    /// The answer to a pre-check (Förhandskontroll): the same analysis as a receipt, clearly
    /// not a submission, with how to submit. `f.version` and `f.supplement` are not used.
    pub fn precheck(
        &self,
        orig: &Original<'_>,
        f: &ReceiptFacts<'_>,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<Reply, ReplyError> {
        let ctx = self.document_context(f, reference, true);
        self.build("precheck", &ctx, orig, reference, now)
    }

    /// What the receipt and the pre-check reply say about a read document.
    fn document_context(&self, f: &ReceiptFacts<'_>, reference: &str, precheck: bool) -> Value {
        let tz = self.rulebook.tz();
        let a = f.analysis;
        let sections: Vec<SectionLine> = a
            .sections
            .iter()
            .filter(|s| s.required)
            .map(|s| {
                let rule = self.rulebook.section(s.id);
                let note = match (s.id, s.status) {
                    ('G', Status::Ok) => None,
                    ('G', _) => Some(vocab::DERIVED_G_NOTE.to_string()),
                    (_, Status::Weak) => Some(vocab::WEAK_SECTION_NOTE.to_string()),
                    _ => None,
                };
                SectionLine {
                    id: s.id.to_string(),
                    title: rule.title.clone(),
                    status_sv: vocab::status_phrase(s.status),
                    note,
                    questions: rule.questions.join(" "),
                }
            })
            .collect();
        let shortcomings: Vec<&SectionLine> = sections
            .iter()
            .filter(|s| s.status_sv != vocab::status_phrase(Status::Ok) && s.id != "G")
            .collect();
        context! {
            clinic_name => f.clinic_name,
            kind => if f.supplement { "supplement" } else { "submission" },
            milestone_short => f.milestone.short,
            milestone_name => f.milestone.name,
            document_name => clean_text(f.document_name, MAX_QUOTED_CHARS),
            received_local => swedish_local(f.received_at, tz),
            due_date => swedish_date(f.milestone.due),
            on_time => f.on_time,
            version => f.version,
            grade_sv => a.grade.swedish(),
            sections => sections,
            shortcomings => shortcomings,
            baseline_found => a.baseline.found,
            baseline_values => clean_text(&a.baseline.values.join(", "), 400),
            goal_text => vocab::goal_summary(a.goal.found, a.goal.measurable, a.goal.time_bound),
            subject_note => f.subject_note,
            from_scan => f.from_scan,
            data_sources => clean_text(&a.data_sources.join(", "), 400),
            notes => a.notes.iter().map(|n| clean_text(n, 400)).collect::<Vec<_>>(),
            reference => reference,
            precheck => precheck,
            submit_address => self.from.email.to_string(),
        }
    }

    /// The reply for documents that could not be read; `documents` holds (name, Swedish
    /// reason), `untried` counts the files beyond those that were not tried at all. At most
    /// [`MAX_LISTED_DOCUMENTS`] are named; the rest are counted in one line.
    #[allow(clippy::too_many_arguments)]
    pub fn unreadable(
        &self,
        orig: &Original<'_>,
        clinic_name: &str,
        received_at: DateTime<Utc>,
        documents: &[(String, String)],
        untried: usize,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<Reply, ReplyError> {
        let docs: Vec<Value> = documents
            .iter()
            .take(MAX_LISTED_DOCUMENTS)
            .map(|(n, m)| context! { name => clean_text(n, MAX_QUOTED_CHARS), message => m })
            .collect();
        let more = documents.len() - docs.len() + untried;
        let ctx = context! {
            clinic_name => clinic_name,
            received_local => swedish_local(received_at, self.rulebook.tz()),
            documents => docs,
            more => more,
            reference => reference,
        };
        self.build("unreadable", &ctx, orig, reference, now)
    }

    /// The reply for a clinic mail without any document.
    pub fn no_document(
        &self,
        orig: &Original<'_>,
        clinic_name: &str,
        received_at: DateTime<Utc>,
        other_names: &[String],
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<Reply, ReplyError> {
        let ctx = context! {
            clinic_name => clinic_name,
            received_local => swedish_local(received_at, self.rulebook.tz()),
            other_names => clean_text(
                &other_names
                    .iter()
                    .map(|n| clean_text(n, MAX_QUOTED_CHARS))
                    .collect::<Vec<_>>()
                    .join(", "),
                4 * MAX_QUOTED_CHARS,
            ),
            reference => reference,
        };
        self.build("no_document", &ctx, orig, reference, now)
    }

    fn build(
        &self,
        kind: &str,
        ctx: &Value,
        orig: &Original<'_>,
        reference: &str,
        now: DateTime<Utc>,
    ) -> Result<Reply, ReplyError> {
        let subject = self
            .templates
            .render(&format!("{kind}.subject.j2"), ctx)?
            .trim()
            .to_string();
        let body = self.templates.render(&format!("{kind}.txt.j2"), ctx)?;
        let domain = self.from.email.domain().to_string();
        let message_id = format!("{reference}@{domain}");
        let to: Mailbox = orig
            .to
            .parse()
            .map_err(|e| ReplyError::Build(format!("recipient {}: {e}", orig.to)))?;
        let mut b = automatic_message(&self.from, to, &subject, &message_id, now, "auto-replied");
        if let Some(mid) = orig.message_id.and_then(usable_id) {
            b = b.in_reply_to(format!("<{mid}>"));
            b = b.references(thread_references(orig.references, mid).join(" "));
        }
        let msg = b.body(body).map_err(|e| ReplyError::Build(e.to_string()))?;
        Ok(Reply {
            to: orig.to.to_string(),
            subject,
            message_id,
            raw: msg.formatted(),
        })
    }
}

/// A plain-text message the agent writes by itself: From, To, Subject, a Message-ID of its
/// own, the Date, and RFC 3834 `Auto-Submitted` (`auto-replied` for answers to a mail,
/// `auto-generated` for the scheduler's reminders and digests).
pub(crate) fn automatic_message(
    from: &Mailbox,
    to: Mailbox,
    subject: &str,
    message_id: &str,
    now: DateTime<Utc>,
    auto_submitted: &str,
) -> lettre::message::MessageBuilder {
    agent_message(from, to, subject, message_id, now).header(AutoSubmitted(auto_submitted.into()))
}

/// The common part of every message the agent stores in the outbox: From, To, Subject, its
/// own Message-ID, the Date and a plain-text body. [`automatic_message`] adds
/// `Auto-Submitted`; a reviewer's decision mail (a person's message, sent on their command)
/// goes without it.
pub(crate) fn agent_message(
    from: &Mailbox,
    to: Mailbox,
    subject: &str,
    message_id: &str,
    now: DateTime<Utc>,
) -> lettre::message::MessageBuilder {
    lettre::Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .message_id(Some(format!("<{message_id}>")))
        .date(std::time::SystemTime::from(now))
        .header(ContentType::TEXT_PLAIN)
}

/// RFC 3834 `Auto-Submitted` header, which lettre does not have built in.
#[derive(Debug, Clone, PartialEq)]
struct AutoSubmitted(String);

impl header::Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }
    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted(s.to_string()))
    }
    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_trimmed_like_mail_clients_do() {
        let refs: Vec<String> = (0..5000).map(|i| format!("r{i}@vc.test")).collect();
        let t = thread_references(&refs, "m@vc.test");
        assert_eq!(t.len(), MAX_REFERENCES);
        assert_eq!(t[0], "<r0@vc.test>");
        assert_eq!(t[MAX_REFERENCES - 2], "<r4999@vc.test>");
        assert_eq!(t[MAX_REFERENCES - 1], "<m@vc.test>");
        let odd = vec![
            "a b@x".to_string(),
            "x".repeat(300) + "@vc.test",
            "no-at".into(),
            "ok@vc.test".into(),
        ];
        assert_eq!(
            thread_references(&odd, "m@vc.test"),
            vec!["<ok@vc.test>", "<m@vc.test>"]
        );
        assert_eq!(usable_id("<m\r\n@x>"), None);
    }
}
