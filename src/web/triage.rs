//! Triage (`/att-hantera`): the open items, one item with its raw mail shown as escaped text
//! only (no HTML, no remote content), and the three actions: assign to a clinic (the registry
//! learns the sender's address), reject, or answer the sender by hand (queued in the outbox,
//! threaded to the original, audited).

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::WebState;
use super::auth::Viewer;
use super::render::WebError;
use crate::domain::access::Need;
use crate::domain::cycle::swedish_local;
use crate::triage::TriageError;

/// At most this much of a raw mail is shown (the rest is cut, and the page says so).
const MAX_RAW_SHOWN: usize = 256 * 1024;

#[derive(Debug, Serialize)]
struct ItemView {
    id: i64,
    reason: String,
    created: String,
    received: String,
    from: Option<String>,
    subject: String,
    class: String,
}

async fn item_view(state: &WebState, t: &crate::store::TriageRow) -> Result<ItemView, WebError> {
    let tz = state.rulebook().tz();
    let m = state.store().message(t.message_row_id).await?;
    Ok(ItemView {
        id: t.id,
        reason: t.reason.clone(),
        created: swedish_local(t.created_at, tz),
        received: m
            .as_ref()
            .map(|m| swedish_local(m.received_at, tz))
            .unwrap_or_default(),
        from: m.as_ref().and_then(|m| m.from_addr.clone()),
        subject: m.as_ref().map(|m| m.subject.clone()).unwrap_or_default(),
        class: m.map(|m| m.class.to_string()).unwrap_or_default(),
    })
}

/// GET /att-hantera
pub async fn list(State(state): State<WebState>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require(Need::Review)?;
    let mut items = Vec::new();
    for t in state.store().triage_open().await? {
        items.push(item_view(&state, &t).await?);
    }
    state
        .templates()
        .page("triage.html", minijinja::context! { viewer, items })
}

/// GET /att-hantera/{id}
pub async fn item(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    viewer.require(Need::Review)?;
    let store = state.store();
    let t = store.triage_item(id).await?.ok_or(WebError::NotFound)?;
    let view = item_view(&state, &t).await?;
    let m = store
        .message(t.message_row_id)
        .await?
        .ok_or(WebError::NotFound)?;
    // Only the start is read: an archived mail may be of any size.
    let (raw, cut) = match state.archive().get_prefix(&m.sha256, MAX_RAW_SHOWN as u64) {
        Ok((shown, len)) => (
            String::from_utf8_lossy(&shown).into_owned(),
            len > MAX_RAW_SHOWN as u64,
        ),
        Err(e) => (
            format!("(Originalet kunde inte läsas ur arkivet: {e})"),
            false,
        ),
    };
    let clinics: Vec<_> = store
        .clinics()
        .await?
        .into_iter()
        .filter(|c| c.active)
        .map(|c| minijinja::context! { id => c.id, name => c.name })
        .collect();
    // The answer form's draft, when the sender's address is one we can write to.
    let answer_to = crate::triage::answer_address(&state.desk().composer, &m);
    let (answer_subject, answer_body) = match &answer_to {
        Some(_) => state
            .desk()
            .composer
            .triage_answer_draft(&m.subject, &viewer.username)
            .map_err(|e| WebError::Internal(e.to_string()))?,
        None => (String::new(), String::new()),
    };
    state.templates().page(
        "triage_item.html",
        minijinja::context! {
            viewer, item => view, raw, cut, clinics,
            resolved => t.resolved_at.is_some(),
            answer_to, answer_subject, answer_body,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    csrf: Option<String>,
    subject: Option<String>,
    body: Option<String>,
}

/// POST /att-hantera/{id}/svara
pub async fn answer(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<AnswerForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(f.csrf.as_deref())?;
    viewer.require(Need::Review)?;
    let by = format!("web:{}", viewer.username);
    crate::triage::answer(
        state.store(),
        &state.desk().composer,
        id,
        f.subject.as_deref().unwrap_or_default(),
        f.body.as_deref().unwrap_or_default(),
        &by,
        state.now(),
    )
    .await
    .map_err(refused)?;
    Ok(Redirect::to("/att-hantera").into_response())
}

#[derive(Debug, Deserialize)]
pub struct AssignForm {
    csrf: Option<String>,
    clinic: Option<String>,
}

/// The Swedish message for a refused triage action.
fn refused(e: TriageError) -> WebError {
    match e {
        TriageError::NotFound(_) => WebError::NotFound,
        TriageError::Handled(_) => WebError::BadRequest("Ärendet är redan hanterat.".into()),
        TriageError::UnknownClinic(_) => {
            WebError::BadRequest("Välj en vårdcentral i listan.".into())
        }
        TriageError::NoAddress => {
            WebError::BadRequest("Avsändarens adress går inte att svara på.".into())
        }
        TriageError::Empty => {
            WebError::BadRequest("Skriv både ett ämne och ett meddelande.".into())
        }
        TriageError::TooLong => WebError::BadRequest(format!(
            "Meddelandet är för långt (högst {} tecken).",
            crate::reply::MAX_ANSWER_BODY
        )),
        TriageError::Build(e) => WebError::BadRequest(format!("Svaret kunde inte skapas: {e}")),
        TriageError::Store(e) => e.into(),
    }
}

/// POST /att-hantera/{id}/tilldela
pub async fn assign(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<AssignForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(f.csrf.as_deref())?;
    viewer.require(Need::Review)?;
    let by = format!("web:{}", viewer.username);
    let clinic = f.clinic.unwrap_or_default();
    let (_, m) = crate::triage::assign(state.store(), id, &clinic, &by, state.now())
        .await
        .map_err(refused)?;
    // The plan in the mail is recorded now, with the original receive time.
    if let Some(r) = state.reingest() {
        match r.reingest(&m, id).await {
            Ok(outcome) => tracing::info!(triage = id, %outcome, "assigned mail recorded"),
            Err(e) => {
                tracing::error!(triage = id, error = %format!("{e:#}"), "cannot record assigned mail");
                return Err(WebError::BadRequest(
                    "Adressen är tillagd i registret, men mejlet kunde inte läsas in på nytt. \
                     Felet är loggat; be vårdcentralen skicka planen igen."
                        .into(),
                ));
            }
        }
    }
    Ok(Redirect::to("/att-hantera").into_response())
}

#[derive(Debug, Deserialize)]
pub struct RejectForm {
    csrf: Option<String>,
}

/// POST /att-hantera/{id}/avvisa
pub async fn reject(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(f): Form<RejectForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(f.csrf.as_deref())?;
    viewer.require(Need::Review)?;
    let by = format!("web:{}", viewer.username);
    crate::triage::reject(state.store(), id, &by, state.now())
        .await
        .map_err(refused)?;
    Ok(Redirect::to("/att-hantera").into_response())
}
