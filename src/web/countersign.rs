//! The two-person rule on the desk: a decision waiting for a second reviewer is shown on its
//! submission page (grade, comment, the mail as it will go, who proposed it) with
//! "Bekräfta och skicka" and "Avvisa" for reviewers; both are forms with the session's CSRF
//! token, need the reviewer role and go through the review core, which refuses the proposer's
//! own countersignature and writes the audit rows.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::WebState;
use super::auth::Viewer;
use super::render::WebError;
use crate::domain::access::Need;
use crate::domain::countersign::{CountersignError, PendingDecision, person};
use crate::domain::cycle::swedish_local;
use crate::review::DeskError;
use crate::store::StoreError;

/// The waiting decision as the submission page shows it (`None`: nothing waits).
pub async fn pending_view(
    state: &WebState,
    viewer: &Viewer,
    submission_id: i64,
) -> Result<Option<minijinja::Value>, WebError> {
    let Some(p) = state
        .store()
        .open_pending_for_submission(submission_id)
        .await?
    else {
        return Ok(None);
    };
    let tz = state.rulebook().tz();
    let own = person(&p.proposed_by) == person(&format!("web:{}", viewer.username));
    Ok(Some(minijinja::context! {
        id => p.id,
        grade => p.grade.as_str(),
        grade_sv => p.grade.swedish(),
        by => &p.proposed_by,
        at => swedish_local(p.proposed_at, tz),
        comment => &p.comment,
        agreed => p.agreed_with_pregrade,
        mail => &p.mail,
        own,
    }))
}

fn desk_error(e: DeskError) -> WebError {
    match e {
        DeskError::Store(StoreError::Countersign(CountersignError::SamePerson { .. })) => {
            WebError::BadRequest(
                "Du föreslog själv beslutet. En annan granskare behöver bekräfta det.".into(),
            )
        }
        DeskError::Store(
            StoreError::Countersign(CountersignError::Resolved { .. })
            | StoreError::PendingNotFound { .. },
        ) => WebError::BadRequest(
            "Beslutet har redan bekräftats eller avvisats av någon annan. Öppna inlämningen \
             igen för att se läget."
                .into(),
        ),
        DeskError::Store(StoreError::Superseded { newer_version, .. }) => {
            WebError::BadRequest(format!(
                "Det finns en nyare version (version {newer_version}). Avvisa förslaget och \
                 bedöm den senaste versionen."
            ))
        }
        DeskError::Store(StoreError::DecidedMeanwhile { .. }) => WebError::BadRequest(
            "Ett annat beslut har registrerats sedan förslaget gjordes. Avvisa förslaget och \
             öppna inlämningen igen."
                .into(),
        ),
        other => WebError::Internal(other.to_string()),
    }
}

/// The pending decision the form names, which must belong to the submission in the path.
async fn named_pending(
    state: &WebState,
    submission_id: i64,
    form: &HashMap<String, String>,
) -> Result<PendingDecision, WebError> {
    let id: i64 = form
        .get("pending")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| WebError::BadRequest("Formuläret saknar beslutets nummer.".into()))?;
    state
        .store()
        .pending_decision(id)
        .await?
        .filter(|p| p.submission_id == submission_id)
        .ok_or(WebError::NotFound)
}

/// POST /inlamning/{id}/beslut/bekrafta: a second reviewer confirms; the decision counts and
/// its mail is queued (one transaction in the store).
pub async fn countersign(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    viewer.check_csrf(form.get("csrf").map(String::as_str))?;
    viewer.require(Need::Review)?;
    let p = named_pending(&state, id, &form).await?;
    state
        .desk()
        .countersign(p.id, &format!("web:{}", viewer.username), state.now())
        .await
        .map_err(desk_error)?;
    Ok(Redirect::to(&format!("/inlamning/{id}")).into_response())
}

/// POST /inlamning/{id}/beslut/avvisa: the waiting decision is dropped (with an optional
/// comment); the submission is undecided again and nothing is sent.
pub async fn reject(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    viewer.check_csrf(form.get("csrf").map(String::as_str))?;
    viewer.require(Need::Review)?;
    let p = named_pending(&state, id, &form).await?;
    state
        .desk()
        .reject_pending(
            p.id,
            &format!("web:{}", viewer.username),
            form.get("comment").map(String::as_str),
            state.now(),
        )
        .await
        .map_err(desk_error)?;
    Ok(Redirect::to(&format!("/inlamning/{id}")).into_response())
}
