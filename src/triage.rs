//! The triage core: what a reviewer does with an item that waits for a human, the same from
//! the desk (`web::triage`) and the command line (`vardval triage …`): assign it to a clinic
//! (the registry learns the sender's address), reject it, or answer the sender by hand. Each
//! action is one ledger transaction with the item's resolution and its audit row; recording
//! the assigned mail again (so the plan in it counts, with its original receive time) is the
//! caller's next step through the intake pipeline.

use chrono::{DateTime, Utc};

use crate::reply::{Composer, MAX_ANSWER_BODY};
use crate::store::{Assignment, MessageRow, NewOutbox, Store, StoreError, TriageRow};

/// Why a triage action was not done.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error("no triage item {0}")]
    NotFound(i64),
    #[error("triage item {0} is already handled")]
    Handled(i64),
    #[error("no active clinic {0:?}")]
    UnknownClinic(String),
    #[error("the sender's address cannot be answered (missing, malformed or our own)")]
    NoAddress,
    #[error("the answer needs a subject and a text")]
    Empty,
    #[error("the answer is longer than {MAX_ANSWER_BODY} characters")]
    TooLong,
    #[error("cannot build the answer: {0}")]
    Build(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The item and its message.
pub async fn load(store: &Store, id: i64) -> Result<(TriageRow, MessageRow), TriageError> {
    let t = store
        .triage_item(id)
        .await?
        .ok_or(TriageError::NotFound(id))?;
    let m = store
        .message(t.message_row_id)
        .await?
        .ok_or(TriageError::NotFound(id))?;
    Ok((t, m))
}

/// The address an answer would go to: the sender's, when it is a plain mailbox and not our
/// own (no loops).
pub fn answer_address(composer: &Composer, m: &MessageRow) -> Option<String> {
    let own: &str = composer.from.email.as_ref();
    m.from_addr.clone().filter(|addr| {
        addr.parse::<lettre::Address>().is_ok_and(|a| {
            let a: &str = a.as_ref();
            !a.eq_ignore_ascii_case(own)
        })
    })
}

/// Assign item `id` to `clinic_id` (see [`Store::assign_triage`]); returns what it did and the
/// message, for recording it again.
pub async fn assign(
    store: &Store,
    id: i64,
    clinic_id: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(Assignment, MessageRow), TriageError> {
    let (_, m) = load(store, id).await?;
    let address = m.from_addr.clone().unwrap_or_default();
    match store
        .assign_triage(id, clinic_id.trim(), &address, by, now)
        .await
    {
        Ok(a) => Ok((a, m)),
        Err(StoreError::TriageNotFound { .. }) => Err(TriageError::Handled(id)),
        Err(StoreError::Decode { .. }) => Err(TriageError::UnknownClinic(clinic_id.into())),
        Err(e) => Err(e.into()),
    }
}

/// Reject item `id`.
pub async fn reject(
    store: &Store,
    id: i64,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(), TriageError> {
    load(store, id).await?;
    match store.reject_triage(id, by, now).await {
        Ok(()) => Ok(()),
        Err(StoreError::TriageNotFound { .. }) => Err(TriageError::Handled(id)),
        Err(e) => Err(e.into()),
    }
}

/// Answer item `id`'s sender with `subject` and `body` as written; returns the outbox row id.
pub async fn answer(
    store: &Store,
    composer: &Composer,
    id: i64,
    subject: &str,
    body: &str,
    by: &str,
    now: DateTime<Utc>,
) -> Result<i64, TriageError> {
    let (t, m) = load(store, id).await?;
    if t.resolved_at.is_some() {
        return Err(TriageError::Handled(id));
    }
    let to = answer_address(composer, &m).ok_or(TriageError::NoAddress)?;
    if subject.trim().is_empty() || body.trim().is_empty() {
        return Err(TriageError::Empty);
    }
    if body.chars().count() > MAX_ANSWER_BODY {
        return Err(TriageError::TooLong);
    }
    let reference = format!("vardval-answer-{id}-{}", now.timestamp());
    let mail = composer
        .triage_answer(
            &to,
            subject,
            body,
            m.mail_message_id.as_deref(),
            &reference,
            now,
        )
        .map_err(|e| TriageError::Build(e.to_string()))?;
    let row = NewOutbox {
        kind: "triage_answer".into(),
        recipient: to,
        subject: mail.subject,
        raw: mail.raw,
        mail_message_id: mail.message_id,
        ..Default::default()
    };
    match store.answer_triage(id, &row, by, now).await {
        Ok(outbox_id) => Ok(outbox_id),
        Err(StoreError::TriageNotFound { .. }) => Err(TriageError::Handled(id)),
        Err(e) => Err(e.into()),
    }
}
