//! The plans for mail that is not a plain submission: a pre-check, an unreadable or oversize
//! document, a clinic mail without a document; and the plan type itself (what the commit
//! records: message, submission, triage item, reply).

use chrono::{DateTime, Utc};
use tracing::warn;

use super::ingest::{IngestError, Pipeline, Unread, reference_for};
use crate::domain::cycle;
use crate::domain::document::TextSource;
use crate::extract::ExtractError;
use crate::mail::registry::Clinic;
use crate::mail::{Attachment, Inbound};
use crate::ports::Fetched;
use crate::reply::{ReceiptFacts, Reply};
use crate::report;
use crate::store::{MessageClass, NewMessage, NewOutbox, NewSubmission};

impl Pipeline {
    /// Förhandskontroll: the document is read and graded like a submission and the clinic
    /// gets the analysis, but nothing is recorded against the milestone (no submission row,
    /// no version, no triage item): the ledger keeps the message with class `precheck`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn plan_precheck(
        &self,
        mut message: NewMessage,
        inbound: &Inbound,
        clinic: &Clinic,
        f: &Fetched,
        now: DateTime<Utc>,
        deadline: tokio::time::Instant,
        why: String,
    ) -> Result<Plan<'static>, IngestError> {
        let reading = self.read_bounded(inbound, deadline).await?;
        let to = inbound.from.clone().unwrap_or_default();
        let Some(read) = reading.read else {
            // The same "could not read" answer as for a submission, but nothing for reviewers.
            let mut plan = self.plan_unreadable(message, inbound, clinic, f, now, &reading.unread);
            plan.message.reason = format!("{why}; {}", plan.message.reason);
            plan.message.class = MessageClass::Precheck;
            plan.triage = None;
            return Ok(plan);
        };
        message.class = MessageClass::Precheck;
        message.reason = why;
        let rb = &self.rulebook;
        let (milestone_id, analysis) = self.graded(&read, &inbound.subject, f.received_at);
        let milestone = rb
            .milestone(milestone_id)
            .expect("decided from the rulebook");
        let facts = ReceiptFacts {
            clinic_name: &clinic.name,
            document_name: &read.attachment.name,
            received_at: f.received_at,
            milestone,
            on_time: cycle::on_time(f.received_at, milestone.due, rb.tz()),
            version: 0,
            supplement: false,
            analysis: &analysis,
            subject_note: None,
            from_scan: read.doc.source == TextSource::Ocr,
        };
        let reference = reference_for(&f.source_key, &message.sha256);
        let reply = self
            .composer
            .precheck(&self.original(inbound, &to), &facts, &reference, now);
        Ok(Plan::with_reply(message, None, &to, reply))
    }

    pub(super) fn plan_unreadable(
        &self,
        mut message: NewMessage,
        inbound: &Inbound,
        clinic: &Clinic,
        f: &Fetched,
        now: DateTime<Utc>,
        unread: &Unread,
    ) -> Plan<'static> {
        let Unread { failures, untried } = unread;
        let untried = *untried;
        let to = inbound.from.clone().unwrap_or_default();
        message.class = MessageClass::UnreadableDocument;
        let mut kinds = error_kinds(failures);
        if untried > 0 {
            kinds.push_str(&format!("; {untried} more not tried"));
        }
        message.reason = format!("no readable document: {kinds}");
        let docs: Vec<(String, String)> = failures
            .iter()
            .map(|(a, e)| (a.name.clone(), report::swedish_error(e)))
            .collect();
        let reference = reference_for(&f.source_key, &message.sha256);
        let reply = self.composer.unreadable(
            &self.original(inbound, &to),
            &clinic.name,
            f.received_at,
            &docs,
            untried,
            &reference,
            now,
        );
        let triage = Some(format!("document could not be read ({kinds})"));
        Plan::with_reply(message, triage, &to, reply)
    }

    pub(super) fn plan_no_document(
        &self,
        message: NewMessage,
        inbound: &Inbound,
        clinic: &Clinic,
        f: &Fetched,
        now: DateTime<Utc>,
    ) -> Plan<'static> {
        let to = inbound.from.clone().unwrap_or_default();
        let names: Vec<String> = inbound.other_parts.iter().map(|a| a.name.clone()).collect();
        let reference = reference_for(&f.source_key, &message.sha256);
        let reply = self.composer.no_document(
            &self.original(inbound, &to),
            &clinic.name,
            f.received_at,
            &names,
            &reference,
            now,
        );
        let triage = Some("clinic mail without a document: a reviewer should read it".to_string());
        Plan::with_reply(message, triage, &to, reply)
    }

    pub(super) fn plan_oversize(
        &self,
        mut message: NewMessage,
        inbound: &Inbound,
        clinic: &Clinic,
        f: &Fetched,
        now: DateTime<Utc>,
    ) -> Plan<'static> {
        message.class = MessageClass::UnreadableDocument;
        message.reason = format!(
            "message of {} bytes exceeds max_message_bytes {}",
            f.only_header_of.unwrap_or(f.bytes.len() as u64),
            self.max_message_bytes
        );
        match (f.only_header_of, &f.whole_file) {
            (None, _) => {}
            (Some(_), Some(_)) => {
                message.reason += "; only its header was read (the whole mail is archived and \
                                   in the quarantine folder)";
            }
            (Some(_), None) => {
                message.reason += "; only its header was fetched and archived, the whole mail \
                                   is in the quarantine folder";
            }
        }
        let to = inbound.from.clone().unwrap_or_default();
        let e = ExtractError::TooLarge(message.reason.clone());
        let docs = vec![("bifogade filer".to_string(), report::swedish_error(&e))];
        let reference = reference_for(&f.source_key, &message.sha256);
        let reply = self.composer.unreadable(
            &self.original(inbound, &to),
            &clinic.name,
            f.received_at,
            &docs,
            0,
            &reference,
            now,
        );
        let triage = Some(message.reason.clone());
        Plan::with_reply(message, triage, &to, reply)
    }
}

/// A reply whose bytes may depend on the version the transaction assigns.
pub(super) struct PlannedReply<'a> {
    pub(super) recipient: String,
    /// The receipt of a genuine submission: never held back by a rate limit.
    pub(super) receipt: bool,
    pub(super) render: Box<dyn Fn(i64) -> Result<NewOutbox, String> + Send + Sync + 'a>,
}

pub(super) struct Plan<'a> {
    pub(super) message: NewMessage,
    pub(super) submission: Option<NewSubmission>,
    pub(super) triage: Option<String>,
    pub(super) reply: Option<PlannedReply<'a>>,
}

impl<'a> Plan<'a> {
    pub(super) fn record(message: NewMessage, triage: Option<String>) -> Plan<'a> {
        Plan {
            message,
            submission: None,
            triage,
            reply: None,
        }
    }

    pub(super) fn with_reply(
        message: NewMessage,
        triage: Option<String>,
        to: &str,
        reply: Result<Reply, crate::reply::ReplyError>,
    ) -> Plan<'a> {
        match reply {
            Ok(r) => {
                let row = outbox_row("reply", r);
                Plan {
                    message,
                    submission: None,
                    triage,
                    reply: Some(PlannedReply {
                        recipient: to.to_string(),
                        receipt: false,
                        render: Box::new(move |_| Ok(row.clone())),
                    }),
                }
            }
            Err(e) => {
                warn!("cannot build reply: {e}");
                let t = format!(
                    "{}; reply could not be built: {e}",
                    triage.unwrap_or_default()
                );
                Plan::record(message, Some(t))
            }
        }
    }
}

pub(super) fn outbox_row(kind: &str, r: Reply) -> NewOutbox {
    NewOutbox {
        kind: kind.to_string(),
        dedupe_key: None,
        recipient: r.to,
        cc: Vec::new(),
        subject: r.subject,
        raw: r.raw,
        mail_message_id: r.message_id,
        not_before: None,
    }
}

/// The error kinds of failed documents, each once in first-seen order, with a count where it
/// occurred more than once: "corrupt", "corrupt, encrypted", "corrupt (3), no_text".
fn error_kinds(failures: &[(Attachment, ExtractError)]) -> String {
    let mut counted: Vec<(&str, usize)> = Vec::new();
    for (_, e) in failures {
        match counted.iter_mut().find(|(k, _)| *k == e.kind()) {
            Some((_, n)) => *n += 1,
            None => counted.push((e.kind(), 1)),
        }
    }
    counted
        .iter()
        .map(|(k, n)| {
            if *n > 1 {
                format!("{k} ({n})")
            } else {
                (*k).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}
