//! Deciding on a submission (`/inlamning/{id}/beslut`): the form (every section's verdict,
//! prefilled with the agent's reading; an optional grade; a comment), the preview of the
//! decision mail with its text editable, and sending. Everything goes through the review core
//! ([`crate::review::Desk`]): the decision, its mail in the outbox and the audit row are one
//! transaction there.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;

use super::WebState;
use super::auth::Viewer;
use super::render::WebError;
use crate::domain::access::Need;
use crate::domain::grading::Grade;
use crate::domain::review::{Overrides, SectionVerdict, stored_sections};
use crate::domain::rulebook::SECTION_IDS;
use crate::review::{DecisionRequest, DeskError, Draft};
use crate::store::StoreError;

#[derive(Debug, Serialize)]
struct SectionChoice {
    id: String,
    title: String,
    required: bool,
    /// The agent's reading.
    machine: &'static str,
    /// What the form has selected.
    chosen: &'static str,
}

fn verdict_sv(v: SectionVerdict) -> &'static str {
    match v {
        SectionVerdict::Ok => "godkänt",
        SectionVerdict::Weak => "svagt",
        SectionVerdict::Missing => "saknas",
    }
}

fn desk_error(e: DeskError) -> WebError {
    match e {
        DeskError::Store(StoreError::Superseded { newer_version, .. }) => {
            WebError::BadRequest(format!(
                "Det finns en nyare version (version {newer_version}). Bedöm den senaste versionen."
            ))
        }
        DeskError::Store(StoreError::DecidedMeanwhile { .. }) => WebError::BadRequest(
            "Ett nytt beslut har redan registrerats för inlämningen sedan du förhandsgranskade. \
             Öppna inlämningen igen för att se det."
                .into(),
        ),
        DeskError::Store(StoreError::PendingExists { proposed_by, .. }) => {
            WebError::BadRequest(format!(
                "Ett beslut från {proposed_by} väntar redan på en andra granskare. Bekräfta \
                 eller avvisa det på inlämningens sida först."
            ))
        }
        DeskError::NoSubmission(_) => WebError::NotFound,
        DeskError::Review(e) => {
            WebError::BadRequest(format!("Bedömningen gick inte att räkna fram: {e}"))
        }
        DeskError::NoRecipient(_) => WebError::BadRequest(
            "Inlämningen saknar avsändaradress, så beslutet kan inte mejlas.".into(),
        ),
        other => WebError::Internal(other.to_string()),
    }
}

/// The reviewer's choices from a posted form: sections that differ from the agent's reading,
/// the grade if set, the comment.
fn overrides_from(
    form: &HashMap<String, String>,
    machine: &std::collections::BTreeMap<char, SectionVerdict>,
) -> Overrides {
    let mut o = Overrides::default();
    for id in SECTION_IDS {
        if let Some(v) = form
            .get(&format!("section_{id}"))
            .and_then(|v| SectionVerdict::parse(v))
            && machine.get(&id) != Some(&v)
        {
            o.sections.insert(id, v);
        }
    }
    o.grade = form.get("grade").and_then(|g| Grade::parse(g));
    o
}

fn request(
    id: i64,
    viewer: &Viewer,
    form: &HashMap<String, String>,
    machine: &std::collections::BTreeMap<char, SectionVerdict>,
) -> DecisionRequest {
    DecisionRequest {
        submission_id: id,
        overrides: overrides_from(form, machine),
        comment: form
            .get("comment")
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty()),
        actor: format!("web:{}", viewer.username),
        send: true,
        edited_body: form
            .get("body")
            .map(|b| b.replace("\r\n", "\n"))
            .filter(|b| !b.trim().is_empty()),
        instalment: None,
        // Sending checks, in the decision's transaction, that no decision came in since
        // the preview.
        follows: form.get("after").and_then(|a| a.parse().ok()),
    }
}

async fn machine_reading(
    state: &WebState,
    id: i64,
) -> Result<std::collections::BTreeMap<char, SectionVerdict>, WebError> {
    let s = state
        .store()
        .submission(id)
        .await?
        .ok_or(WebError::NotFound)?;
    stored_sections(&s.analysis_json).map_err(|e| WebError::Internal(e.to_string()))
}

fn choices(
    state: &WebState,
    draft: &Draft,
    machine: &std::collections::BTreeMap<char, SectionVerdict>,
) -> Vec<SectionChoice> {
    let rb = state.rulebook();
    let required = rb
        .milestone(draft.submission.milestone as u8)
        .map(|m| m.required.clone())
        .unwrap_or_default();
    SECTION_IDS
        .iter()
        .map(|&id| SectionChoice {
            id: id.to_string(),
            title: rb.section(id).title.clone(),
            required: required.contains(&id),
            machine: machine.get(&id).map_or("missing", |v| v.as_str()),
            chosen: draft
                .derived
                .sections
                .get(&id)
                .map_or("missing", |v| v.as_str()),
        })
        .collect()
}

fn page(
    state: &WebState,
    viewer: &Viewer,
    draft: &Draft,
    machine: &std::collections::BTreeMap<char, SectionVerdict>,
    form: &HashMap<String, String>,
    preview: bool,
) -> Result<Response, WebError> {
    let d = &draft.derived;
    let changed: Vec<String> = d
        .changed
        .iter()
        .map(|c| {
            format!(
                "{c}: {} → {}",
                machine.get(c).map_or("saknas", |v| verdict_sv(*v)),
                d.sections.get(c).map_or("saknas", |v| verdict_sv(*v))
            )
        })
        .collect();
    let sub = &draft.submission;
    state.templates().page(
        "decide.html",
        minijinja::context! {
            viewer,
            preview,
            id => sub.id,
            clinic_name => &draft.clinic_name,
            version => sub.version,
            milestone_name => state.rulebook().milestone(sub.milestone as u8).map(|m| m.name.clone()),
            pre_grade => sub.pre_grade.map(Grade::as_str),
            pre_grade_sv => sub.pre_grade.map(Grade::swedish),
            grade => d.grade.as_str(),
            grade_sv => d.grade.swedish(),
            grade_set => form.get("grade").cloned().unwrap_or_default(),
            agreed => d.agreed_with_pregrade,
            changed,
            sections => choices(state, draft, machine),
            comment => form.get("comment").cloned().unwrap_or_default(),
            mail => &draft.mail,
            after => form.get("after").cloned().unwrap_or_default(),
            two_person => state.desk().two_person_rule,
        },
    )
}

/// The id of the submission's latest decision (0: none).
async fn latest_decision(state: &WebState, id: i64) -> Result<i64, WebError> {
    Ok(state
        .store()
        .decision_for_submission(id)
        .await?
        .map_or(0, |d| d.id))
}

/// GET /inlamning/{id}/beslut: the form, prefilled with the agent's reading.
pub async fn form(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    viewer.require(Need::Review)?;
    let machine = machine_reading(&state, id).await?;
    let form = HashMap::new();
    let req = request(id, &viewer, &form, &machine);
    let draft = state
        .desk()
        .draft(&req, state.now())
        .await
        .map_err(desk_error)?;
    page(&state, &viewer, &draft, &machine, &form, false)
}

/// POST /inlamning/{id}/beslut/forhandsgranska: the decision worked out and its mail shown
/// for editing; nothing is recorded.
pub async fn preview(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    viewer.check_csrf(form.get("csrf").map(String::as_str))?;
    viewer.require(Need::Review)?;
    let machine = machine_reading(&state, id).await?;
    let mut req = request(id, &viewer, &form, &machine);
    req.edited_body = None;
    let draft = state
        .desk()
        .draft(&req, state.now())
        .await
        .map_err(desk_error)?;
    // The decision this preview follows: sending refuses if another came in between (a
    // second click on "Skicka", a colleague), so one preview sends at most one mail.
    let mut form = form;
    form.insert(
        "after".into(),
        latest_decision(&state, id).await?.to_string(),
    );
    page(&state, &viewer, &draft, &machine, &form, true)
}

/// POST /inlamning/{id}/beslut: record the decision and queue its mail (one transaction in
/// the review core), then back to the submission. Under the two-person rule the decision and
/// its mail wait there for a second reviewer instead ([`super::countersign`]).
pub async fn send(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    viewer.check_csrf(form.get("csrf").map(String::as_str))?;
    viewer.require(Need::Review)?;
    let after: i64 = form
        .get("after")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| {
            WebError::BadRequest("Förhandsgranska beslutet innan du skickar det.".into())
        })?;
    if latest_decision(&state, id).await? != after {
        return Err(WebError::BadRequest(
            "Ett nytt beslut har redan registrerats för inlämningen sedan du förhandsgranskade. \
             Öppna inlämningen igen för att se det."
                .into(),
        ));
    }
    let machine = machine_reading(&state, id).await?;
    let req = request(id, &viewer, &form, &machine);
    state
        .desk()
        .submit(&req, state.now())
        .await
        .map_err(desk_error)?;
    Ok(Redirect::to(&format!("/inlamning/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_sections_are_overrides() {
        let machine = std::collections::BTreeMap::from([
            ('A', SectionVerdict::Ok),
            ('D', SectionVerdict::Missing),
        ]);
        let form = HashMap::from([
            ("section_A".to_string(), "ok".to_string()),
            ("section_D".to_string(), "ok".to_string()),
            ("grade".to_string(), String::new()),
        ]);
        let o = overrides_from(&form, &machine);
        assert_eq!(
            o.sections,
            std::collections::BTreeMap::from([('D', SectionVerdict::Ok)])
        );
        assert_eq!(o.grade, None);
        let form = HashMap::from([("grade".to_string(), "red".to_string())]);
        assert_eq!(overrides_from(&form, &machine).grade, Some(Grade::Red));
    }
}
