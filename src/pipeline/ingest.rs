//! One inbound message through the intake, in the order the exactly-once design needs:
//! archive the raw bytes, skip what the ledger already has, classify, read and pre-grade the
//! document, decide milestone and punctuality, and record message + submission + triage +
//! reply in ONE transaction. Moving the message in the mailbox is the caller's next step,
//! and only after this returned Ok.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::warn;

use super::plans::outbox_row;
pub(super) use super::plans::{Plan, PlannedReply};
use super::poison::{self, Guards, header_block};
use crate::domain::analysis::stored::StoredAnalysis;
use crate::domain::analysis::{Analysis, analyse, milestone_from_words};
use crate::domain::cycle;
use crate::domain::document::{Document, Format, TextSource};
use crate::domain::precheck::PrecheckRule;
use crate::domain::rulebook::Rulebook;
use crate::domain::submission;
use crate::extract::{self, ExtractError, Limits};
use crate::mail::parse::understand_with;
use crate::mail::registry::Clinic;
use crate::mail::{Attachment, Inbound, MailClass, MailPolicy};
use crate::ports::{Clock, Fetched, RawArchive};
use crate::reply::{Composer, Original, ReceiptFacts};
use crate::store::{
    AttemptStart, AttemptState, MessageClass, NewMessage, NewOutbox, NewSubmission, Store,
    StoreError, SubmissionKind,
};

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded now, with this class; `reply` says whether a reply was queued.
    Recorded {
        class: MessageClass,
        reply: bool,
        submission_id: Option<i64>,
        version: Option<i64>,
    },
    /// The ledger already had this message (a crash between commit and move): nothing new.
    AlreadyRecorded,
    /// Its attempts are used up (recorded with a triage item), or it was recorded earlier as
    /// `unparseable` or from its header only, and not yet moved: to be moved to the
    /// quarantine folder.
    Quarantined { reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot archive the raw message: {0}")]
    Archive(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("panic while {what}: {message}")]
    Panicked { what: &'static str, message: String },
    #[error("{detail}")]
    Died { detail: String },
    #[error("{what} took longer than the message budget of {budget:?} (hung)")]
    Hung {
        what: &'static str,
        budget: std::time::Duration,
    },
}

/// Everything the intake needs; built once by the composition root.
pub struct Pipeline {
    pub store: Store,
    pub archive: Arc<dyn RawArchive>,
    /// The clinic registry (reloaded when the ledger's changes; one snapshot per message).
    pub registry: super::registry::SharedRegistry,
    pub rulebook: Rulebook,
    pub composer: Composer,
    pub limits: Limits,
    pub max_message_bytes: u64,
    pub max_replies_per_hour: u32,
    pub max_replies_per_day: u32,
    pub own_addresses: Vec<String>,
    /// When a mail asks for a pre-check (Förhandskontroll) instead of submitting.
    pub precheck: PrecheckRule,
    pub mail_policy: MailPolicy,
    pub clock: Arc<dyn Clock>,
    /// Poison-mail and reply-loop guards.
    pub guards: Guards,
}

/// The analysed primary document of a submission.
pub(super) struct ReadDocument {
    pub(super) attachment: Attachment,
    pub(super) format: Format,
    /// The extracted document, kept to grade it again if the mail is for another milestone.
    pub(super) doc: Document,
    pub(super) analysis: Analysis,
}

/// Whether a recorded message goes to the quarantine folder instead of the processed one:
/// what could not be opened, or was read from its header only, is not "done" (it has a triage
/// item, and the mailbox keeps it set apart).
pub fn set_apart(class: MessageClass, f: &Fetched) -> bool {
    class == MessageClass::Unparseable || f.only_header_of.is_some()
}

/// How many of a message's documents are tried before giving up: a clinic sends a plan and
/// perhaps a few appendices, while a sender decides how many attachments a mail holds (a mail
/// of 30 000 tiny `.docx` parts made a 5 MB reply listing each of them).
pub const MAX_DOCUMENTS_TRIED: usize = 20;

/// The documents of a message: the first readable one, and the others.
pub(super) struct Reading {
    pub(super) read: Option<ReadDocument>,
    pub(super) unread: Unread,
}

/// The documents that were not read: why each tried one failed, and how many were not tried
/// at all (beyond [`MAX_DOCUMENTS_TRIED`]).
pub(super) struct Unread {
    pub(super) failures: Vec<(Attachment, ExtractError)>,
    pub(super) untried: usize,
}

fn read_documents(docs: &[Attachment], rb: &Rulebook, limits: &Limits) -> Reading {
    let mut failures = Vec::new();
    let untried = docs.len().saturating_sub(MAX_DOCUMENTS_TRIED);
    for a in docs.iter().take(MAX_DOCUMENTS_TRIED) {
        match extract::extract(&a.bytes, limits) {
            Ok(doc) => {
                let format = doc.format.unwrap_or(Format::Docx);
                let analysis = analyse(&doc, rb, None);
                return Reading {
                    read: Some(ReadDocument {
                        attachment: a.clone(),
                        format,
                        doc,
                        analysis,
                    }),
                    unread: Unread { failures, untried },
                };
            }
            Err(e) => failures.push((a.clone(), e)),
        }
    }
    Reading {
        read: None,
        unread: Unread { failures, untried },
    }
}

pub use crate::domain::submission::decide_milestone;

impl Pipeline {
    /// The message's documents read under the message's time budget (poison guard).
    pub(super) async fn read_bounded(
        &self,
        inbound: &Inbound,
        deadline: tokio::time::Instant,
    ) -> Result<Reading, IngestError> {
        let docs = inbound.documents.clone();
        let rb = self.rulebook.clone();
        let limits = self.limits.clone();
        let budget = self.guards.message_budget;
        poison::blocking("reading the document", deadline, budget, move || {
            read_documents(&docs, &rb, &limits)
        })
        .await
    }

    /// The milestone a read document is for, and its analysis graded for that milestone.
    pub(super) fn graded(
        &self,
        read: &ReadDocument,
        subject: &str,
        received_at: DateTime<Utc>,
    ) -> (u8, Analysis) {
        let rb = &self.rulebook;
        let milestone_id = decide_milestone(Some(&read.analysis), subject, received_at, rb);
        let analysis = if milestone_id == read.analysis.milestone {
            read.analysis.clone()
        } else {
            // Grade against the milestone the mail is really for.
            analyse(&read.doc, rb, Some(milestone_id))
        };
        (milestone_id, analysis)
    }

    /// Process one fetched message. Safe to call again for the same message after a crash.
    ///
    /// The attempt is committed before the message is parsed; a message that failed,
    /// panicked, hung or killed the process `max_attempts` times is quarantined without being
    /// parsed again (see [`super::poison`]).
    #[tracing::instrument(skip_all, fields(key = %f.source_key))]
    pub async fn ingest_one(&self, f: &Fetched) -> Result<Outcome, IngestError> {
        // 1. Archive before anything else (an oversize message from its file, in pieces).
        let archive = self.archive.clone();
        let (bytes, whole) = (f.bytes.clone(), f.whole_file.clone());
        let (sha, path) = tokio::task::spawn_blocking(move || match whole {
            Some(w) => {
                let put = archive.put_file(&w.path, w.temporary);
                if w.temporary && put.is_err() {
                    // A fresh copy comes with the next fetch.
                    let _ = std::fs::remove_file(&w.path);
                }
                put
            }
            None => archive.put(&bytes),
        })
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))??;
        // 2. Already recorded? (crash after commit, before the move)
        if let Some(row) = self.store.seen_source(&f.source_key).await? {
            if let Some(a) = self.store.attempt(&f.source_key).await?
                && a.state == AttemptState::Quarantined
            {
                return Ok(Outcome::Quarantined {
                    reason: a.last_error.unwrap_or_default(),
                });
            }
            if set_apart(row.class, f) {
                // Recorded, but its move to the quarantine folder did not happen yet.
                return Ok(Outcome::Quarantined { reason: row.reason });
            }
            return Ok(Outcome::AlreadyRecorded);
        }
        // 3. The attempt, committed before the message is parsed.
        let now = self.clock.now();
        let max = self.guards.max_attempts;
        let probe = self.guards.probe.clone();
        let (attempt, deaths) = match self
            .store
            .begin_attempt(&f.source_key, &sha, max, probe.is_none(), now)
            .await?
        {
            AttemptStart::Go { attempt, deaths } => (attempt, deaths),
            AttemptStart::Quarantine {
                attempts,
                last_error,
            } => {
                return self
                    .quarantine(f, &sha, &path, attempts, &last_error, now)
                    .await;
            }
        };
        let res = match (&probe, deaths > 0) {
            // A process died holding this message: parse it in a probe process first, so a
            // mail that kills its parser is counted (and quarantined) while the daemon lives,
            // and an outside kill is never held against the mail.
            (Some(exe), true) => {
                let raw = self.parse_input(f);
                let g = &self.guards;
                match poison::run_probe(exe, raw, &self.limits, g.message_budget, g.test_faults)
                    .await
                {
                    Ok(_) => self.process(f, &sha, &path, now).await,
                    Err(e) => Err(e),
                }
            }
            _ => self.process(f, &sha, &path, now).await,
        };
        match res {
            Ok(outcome) => {
                let done = self
                    .store
                    .end_attempt(&f.source_key, AttemptState::Done, None, true, now)
                    .await;
                if let Err(e) = done {
                    // The message is recorded; the ledger says so at the next look.
                    warn!("cannot record the end of the attempt: {e}");
                }
                Ok(outcome)
            }
            Err(e) => {
                let counts = e.counts_against_message();
                let error = e.to_string();
                warn!(attempt, counts, "attempt failed: {error}");
                self.store
                    .end_attempt(
                        &f.source_key,
                        AttemptState::Failed,
                        Some(&error),
                        counts,
                        now,
                    )
                    .await?;
                if counts && attempt >= i64::from(max.max(1)) {
                    return self.quarantine(f, &sha, &path, attempt, &error, now).await;
                }
                Err(e)
            }
        }
    }

    /// The message is larger than `max_message_bytes`: judged on its headers only (and, when
    /// the source fetched only those, set apart in the quarantine folder).
    fn oversize(&self, f: &Fetched) -> bool {
        f.only_header_of.is_some() || f.bytes.len() as u64 > self.max_message_bytes
    }

    /// What the parser gets: the whole message, or the header block of an oversize one.
    fn parse_input(&self, f: &Fetched) -> Vec<u8> {
        if self.oversize(f) {
            header_block(&f.bytes).to_vec()
        } else {
            f.bytes.clone()
        }
    }

    /// Classify, read and record one message whose attempt is running.
    async fn process(
        &self,
        f: &Fetched,
        sha: &str,
        path: &str,
        now: DateTime<Utc>,
    ) -> Result<Outcome, IngestError> {
        let budget = self.guards.message_budget;
        let deadline = tokio::time::Instant::now() + budget;
        // Classify (bounded: an oversize message is judged on its headers only).
        let oversize = self.oversize(f);
        let registry = self.registry.snapshot();
        let inbound = {
            let raw = self.parse_input(f);
            let registry = registry.clone();
            let own = self.own_addresses.clone();
            let faults = self.guards.test_faults;
            let policy = self.mail_policy.clone();
            poison::blocking("parsing the message", deadline, budget, move || {
                poison::test_fault(&raw, faults);
                understand_with(&raw, &registry, &own, &policy)
            })
            .await?
        };
        let mut message = NewMessage {
            source_key: f.source_key.clone(),
            sha256: sha.to_string(),
            archive_path: path.to_string(),
            received_at: f.received_at,
            mail_message_id: inbound.message_id.clone(),
            from_addr: inbound.from.clone(),
            subject: inbound.subject.clone(),
            class: message_class(inbound.class),
            clinic_id: inbound.clinic_id.clone(),
            reason: inbound.reason.clone(),
        };
        // Our own envelope copy of a reply came back: it proves the send.
        let own = |a: &String| self.own_addresses.iter().any(|o| o.eq_ignore_ascii_case(a));
        if let (Some(from), Some(mid)) = (&inbound.from, &inbound.message_id)
            && own(from)
            && super::outbox::confirm_copy(&self.store, mid, now).await?
        {
            message.reason = format!("our own copy of reply {mid}: confirms its delivery");
        }
        let clinic = inbound
            .clinic_id
            .as_deref()
            .and_then(|id| registry.get(id))
            .cloned();
        let precheck = self.precheck.reason(&inbound.subject, &inbound.recipients);
        let plan = match (inbound.class, clinic) {
            (MailClass::Submission | MailClass::NoDocument, Some(clinic)) if oversize => {
                self.plan_oversize(message, &inbound, &clinic, f, now)
            }
            (MailClass::Submission, Some(clinic)) => match precheck {
                Some(why) => {
                    self.plan_precheck(message, &inbound, &clinic, f, now, deadline, why)
                        .await?
                }
                None => {
                    self.plan_submission(message, &inbound, &clinic, f, now, deadline)
                        .await?
                }
            },
            (MailClass::NoDocument, Some(clinic)) => {
                self.plan_no_document(message, &inbound, &clinic, f, now)
            }
            (class, _) => Plan::record(message, triage_reason(class, &inbound)),
        };
        self.commit(plan, &inbound, now).await
    }

    pub(super) fn original<'a>(&self, inbound: &'a Inbound, to: &'a str) -> Original<'a> {
        Original {
            to,
            message_id: inbound.message_id.as_deref(),
            references: &inbound.references,
            subject: &inbound.subject,
        }
    }

    async fn plan_submission<'a>(
        &'a self,
        mut message: NewMessage,
        inbound: &'a Inbound,
        clinic: &Clinic,
        f: &Fetched,
        now: DateTime<Utc>,
        deadline: tokio::time::Instant,
    ) -> Result<Plan<'a>, IngestError> {
        // The same genuine plan again (same sender, Message-ID and document): recorded, never
        // answered twice. Another sender's mail, or an earlier copy that was not recorded as a
        // submission (failed DMARC, unknown sender), never shadows it.
        let shas: Vec<String> = inbound.documents.iter().map(|d| d.sha256.clone()).collect();
        if let (Some(mid), Some(from)) = (&inbound.message_id, &inbound.from)
            && let Some(prev) = self
                .store
                .find_submission_by_sender_mid(from, mid, &shas)
                .await?
        {
            message.class = MessageClass::Duplicate;
            message.reason = format!(
                "same sender, Message-ID and document as submission {} (version {} of milestone {})",
                prev.id, prev.version, prev.milestone
            );
            return Ok(Plan::record(message, None));
        }
        let reading = self.read_bounded(inbound, deadline).await?;
        let to = inbound.from.clone().unwrap_or_default();
        let Some(read) = reading.read else {
            return Ok(self.plan_unreadable(message, inbound, clinic, f, now, &reading.unread));
        };
        // The same document again (new Message-ID, same bytes): recorded, not answered.
        if let Some(prev) = self
            .store
            .find_submission_by_doc(&clinic.id, &read.attachment.sha256)
            .await?
        {
            message.class = MessageClass::Duplicate;
            message.reason = format!(
                "same document as submission {} (version {} of milestone {})",
                prev.id, prev.version, prev.milestone
            );
            return Ok(Plan::record(message, None));
        }
        let rb = &self.rulebook;
        let (milestone_id, analysis) = self.graded(&read, &inbound.subject, f.received_at);
        let milestone = rb
            .milestone(milestone_id)
            .expect("decided from the rulebook")
            .clone();
        let subject_note = milestone_from_words(&inbound.subject, rb)
            .filter(|m| *m != milestone_id)
            .and_then(|m| rb.milestone(m))
            .map(|m| {
                format!(
                    "Ämnesraden nämner {}, men dokumentet ser ut att vara en {}. Vi har registrerat det som {}.",
                    m.short, milestone.short, milestone.name.to_lowercase()
                )
            });
        let on_time = cycle::on_time(f.received_at, milestone.due, rb.tz());
        let earlier = self
            .store
            .latest_submission(&clinic.id, i64::from(milestone_id))
            .await?;
        let supplement =
            submission::is_supplement(earlier.is_some(), &inbound.subject, &self.rulebook);
        let kind = if supplement {
            SubmissionKind::Supplement
        } else {
            SubmissionKind::Submission
        };
        message.class = if supplement {
            MessageClass::Supplement
        } else {
            MessageClass::Submission
        };
        let stored = StoredAnalysis::from_analysis(
            &read.attachment.name,
            read.format,
            read.doc.source,
            &analysis,
        );
        let submission = NewSubmission {
            clinic_id: clinic.id.clone(),
            milestone: i64::from(milestone_id),
            kind,
            received_at: f.received_at,
            on_time,
            pre_grade: Some(analysis.grade),
            doc_sha256: read.attachment.sha256.clone(),
            doc_name: read.attachment.name.clone(),
            doc_format: Some(read.format.as_str().to_string()),
            analysis_json: stored.to_json(),
            error_kind: None,
            mail_message_id: inbound.message_id.clone(),
        };
        // The receipt quotes the version, which the transaction assigns: render it there.
        let composer = &self.composer;
        let to_owned = to.clone();
        let mid = inbound.message_id.clone();
        let refs = inbound.references.clone();
        let subject = inbound.subject.clone();
        let reference = reference_for(&f.source_key, &message.sha256);
        let clinic_name = clinic.name.clone();
        let doc_name = read.attachment.name.clone();
        let from_scan = read.doc.source == TextSource::Ocr;
        let received_at = f.received_at;
        let render = move |version: i64| -> Result<NewOutbox, String> {
            let facts = ReceiptFacts {
                clinic_name: &clinic_name,
                document_name: &doc_name,
                received_at,
                milestone: &milestone,
                on_time,
                version,
                supplement,
                analysis: &analysis,
                subject_note: subject_note.clone(),
                from_scan,
            };
            let original = Original {
                to: &to_owned,
                message_id: mid.as_deref(),
                references: &refs,
                subject: &subject,
            };
            let r = composer
                .receipt(&original, &facts, &reference, now)
                .map_err(|e| e.to_string())?;
            Ok(outbox_row("receipt", r))
        };
        Ok(Plan {
            message,
            submission: Some(submission),
            triage: None,
            reply: Some(PlannedReply {
                recipient: to.clone(),
                receipt: true,
                render: Box::new(render),
            }),
        })
    }
}

/// The ledger class of a classified message (the intake refines it further).
fn message_class(c: MailClass) -> MessageClass {
    match c {
        MailClass::Submission => MessageClass::Submission,
        MailClass::NoDocument => MessageClass::NoDocument,
        MailClass::AutoReply => MessageClass::AutoReply,
        MailClass::Bounce => MessageClass::Bounce,
        MailClass::MailingList => MessageClass::MailingList,
        MailClass::UnknownSender => MessageClass::UnknownSender,
        MailClass::NeedsReview => MessageClass::NeedsReview,
        MailClass::Unparseable => MessageClass::Unparseable,
    }
}

/// Triage reasons for classes that get no automatic reply.
fn triage_reason(class: MailClass, inbound: &Inbound) -> Option<String> {
    match class {
        MailClass::UnknownSender => Some(format!(
            "unknown sender {}: not in the clinic registry",
            inbound.from.as_deref().unwrap_or("(none)")
        )),
        MailClass::NeedsReview => Some(format!("sender authentication failed: {}", inbound.reason)),
        MailClass::Unparseable => {
            Some("message could not be parsed; kept whole in the archive".into())
        }
        MailClass::Bounce => Some(format!("delivery failure report: {}", inbound.reason)),
        // A known clinic address we could not match to a registry entry cannot happen here;
        // submissions without a clinic are unknown senders.
        MailClass::Submission | MailClass::NoDocument => {
            Some("clinic not found in the registry".into())
        }
        MailClass::AutoReply | MailClass::MailingList => None,
    }
}

/// A short, stable reference for a reply: quoted in the text and used in its Message-ID, so a
/// re-run of the same message produces the same reply.
pub(super) fn reference_for(source_key: &str, sha: &str) -> String {
    let h = crate::util::sha256_hex(format!("{source_key}\n{sha}").as_bytes());
    format!("vv-{}", &h[..16])
}
