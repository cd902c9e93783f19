//! The last step of the intake: guard the planned reply, then record everything in one
//! transaction.
//!
//! The guard, in order: the recipient must be an address the mail library accepts (checked
//! BEFORE the transaction; an unusable one means no reply and a triage item); the same mail
//! delivered again (same raw bytes, or same sender and Message-ID) is answered once; the
//! loop guard holds back replies over the per-address and per-clinic limits. The receipt of
//! a genuine submission is never held back by a limit. A reply that cannot be rendered inside
//! the transaction never rolls the mail back: it is recorded again without the reply, with a
//! triage item saying why.

use chrono::{DateTime, Duration, Utc};
use tracing::{info, warn};

use super::ingest::{IngestError, Outcome, Pipeline, Plan, PlannedReply};
use crate::mail::Inbound;
use crate::store::{Intake, IntakeIds, MessageClass, NewMessage, StoreError};

/// Why a planned reply is not sent.
enum HoldBack {
    /// The recipient or the limits: a reviewer should know.
    Triage(String),
    /// This mail was answered before: recorded as a duplicate, nothing else.
    Repeat(String),
}

fn join(triage: Option<String>, why: String) -> Option<String> {
    Some(match triage {
        Some(t) if !t.is_empty() => format!("{t}; {why}"),
        _ => why,
    })
}

/// Whether a reply can be addressed to `recipient`: the composer's header parse (a mailbox)
/// and the transport's envelope parse (an address) must both accept it.
fn usable_recipient(recipient: &str) -> Result<(), String> {
    recipient
        .parse::<lettre::message::Mailbox>()
        .map_err(|e| e.to_string())?;
    recipient
        .parse::<lettre::Address>()
        .map_err(|e| e.to_string())?;
    Ok(())
}

impl Pipeline {
    pub(super) async fn commit(
        &self,
        plan: Plan<'_>,
        inbound: &Inbound,
        now: DateTime<Utc>,
    ) -> Result<Outcome, IngestError> {
        let Plan {
            mut message,
            submission,
            mut triage,
            mut reply,
        } = plan;
        // List/bulk/Auto-Submitted headers on a clinic's document: recorded, not answered,
        // and reviewers are told.
        if let Some(why) = &inbound.suppress_reply
            && message.class != MessageClass::Duplicate
        {
            triage = join(triage, why.clone());
            reply = None;
        }
        if let Some(r) = &reply {
            match self.hold_back(r, &message, now).await? {
                None => {}
                Some(HoldBack::Triage(why)) => {
                    warn!(recipient = %r.recipient, "reply suppressed: {why}");
                    triage = join(triage, why);
                    reply = None;
                }
                Some(HoldBack::Repeat(why)) => {
                    info!(recipient = %r.recipient, "reply suppressed: {why}");
                    message.class = MessageClass::Duplicate;
                    message.reason = why;
                    triage = None;
                    reply = None;
                }
            }
        }
        if reply.is_none() && message.class == MessageClass::Submission && triage.is_none() {
            message.reason = format!("{} (no reply)", message.reason);
        }
        let class = message.class;
        let mut intake = Intake {
            message,
            submission,
            triage_reason: triage,
            outbox: Vec::new(),
            now,
        };
        let res = self
            .store
            .commit_intake_with(&intake, |assigned| match &reply {
                None => Ok(Vec::new()),
                Some(r) => (r.render)(assigned.version.unwrap_or(1)).map(|m| vec![m]),
            })
            .await;
        let (res, has_reply) = match res {
            Err(StoreError::Render { detail, .. }) => {
                // The mail is recorded all the same, without the reply, for a reviewer.
                warn!("cannot build the reply: {detail}");
                intake.triage_reason = join(
                    intake.triage_reason.take(),
                    format!("the reply could not be built, none was sent: {detail}"),
                );
                (self.store.commit_intake(&intake).await, false)
            }
            other => (other, reply.is_some()),
        };
        self.outcome(res, class, has_reply, inbound)
    }

    fn outcome(
        &self,
        res: Result<IntakeIds, StoreError>,
        class: MessageClass,
        has_reply: bool,
        inbound: &Inbound,
    ) -> Result<Outcome, IngestError> {
        match res {
            Ok(ids) => {
                info!(class = %class, version = ?ids.version, reply = has_reply, from = ?inbound.from, "recorded");
                Ok(Outcome::Recorded {
                    class,
                    reply: has_reply,
                    submission_id: ids.submission_id,
                    version: ids.version,
                })
            }
            Err(StoreError::AlreadyRecorded { .. }) => Ok(Outcome::AlreadyRecorded),
            Err(e) => Err(e.into()),
        }
    }

    async fn hold_back(
        &self,
        r: &PlannedReply<'_>,
        message: &NewMessage,
        now: DateTime<Utc>,
    ) -> Result<Option<HoldBack>, StoreError> {
        if let Err(e) = usable_recipient(&r.recipient) {
            return Ok(Some(HoldBack::Triage(format!(
                "the sender address {:?} cannot receive a reply ({e}): no reply sent",
                r.recipient
            ))));
        }
        if r.receipt {
            // A genuine submission always gets its receipt.
            return Ok(None);
        }
        if let Some(prev) = self
            .store
            .find_repeat(
                message.class,
                &message.sha256,
                message.from_addr.as_deref(),
                message.mail_message_id.as_deref(),
            )
            .await?
        {
            return Ok(Some(HoldBack::Repeat(format!(
                "the same mail as message {} ({}), already answered",
                prev.id, prev.source_key
            ))));
        }
        let windows = [(Duration::hours(1), "hour"), (Duration::days(1), "day")];
        let per_address = [self.max_replies_per_hour, self.max_replies_per_day];
        let g = &self.guards;
        let per_clinic = [
            g.max_replies_per_clinic_per_hour,
            g.max_replies_per_clinic_per_day,
        ];
        for (i, (window, name)) in windows.into_iter().enumerate() {
            let since = now - window;
            let n = self.store.replies_to_since(&r.recipient, since).await?;
            if n >= i64::from(per_address[i]) {
                return Ok(Some(HoldBack::Triage(format!(
                    "rate limit: {n} replies to {} in the last {name}",
                    r.recipient
                ))));
            }
            if let Some(clinic) = &message.clinic_id {
                let n = self.store.replies_to_clinic_since(clinic, since).await?;
                if n >= i64::from(per_clinic[i]) {
                    return Ok(Some(HoldBack::Triage(format!(
                        "rate limit: {n} replies to clinic {clinic} in the last {name}"
                    ))));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::usable_recipient;

    #[test]
    fn recipients_lettre_refuses_are_unusable() {
        assert!(usable_recipient("kontakt@ekbacken.vc.test").is_ok());
        for bad in [
            "\"a b\"@ekbacken.vc.test",
            "a.@ekbacken.vc.test",
            "a@b@ekbacken.vc.test",
            "",
        ] {
            assert!(usable_recipient(bad).is_err(), "{bad}");
        }
    }
}
