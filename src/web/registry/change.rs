//! Changing the registry (`/register/andra`, admins only): the current registry as CSV in a
//! text box (the columns `vardval clinics export` writes), a preview of what an import would
//! do per clinic without writing, and the import itself through the CLI's own code path
//! ([`crate::commands::clinics::import_text`] as `web:<username>`), so the change history,
//! the per-clinic audit rows and the daemon's live registry reload work exactly as for
//! `vardval clinics import`. A refused text writes nothing and names its line.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::super::WebState;
use super::super::auth::Viewer;
use super::super::render::WebError;
use super::{field_text, value_text};
use crate::commands::clinics::{export_csv, import_text};
use crate::domain::access::Need;
use crate::domain::clinics::{self, ClinicPlan, FileError, Outcome};
use crate::store::NewAudit;

/// The most text the form takes (the region's whole registry is a few kilobytes).
pub const MAX_TEXT: usize = 1024 * 1024;

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    csrf: Option<String>,
    #[serde(default)]
    text: String,
    /// The registry stamp the preview was computed at; when present, the import is refused
    /// if the registry has changed since (a triage assignment, the CLI, another admin), so
    /// what is saved is what was previewed.
    stamp: Option<String>,
}

/// One clinic in the preview.
#[derive(Debug, Serialize)]
struct PlanView {
    id: String,
    name: String,
    /// tillagd, ändrad, avaktiverad, aktiverad igen, oförändrad, finns inte i texten.
    outcome: &'static str,
    /// CSS class: added, changed, unchanged, kept.
    class: &'static str,
    changes: Vec<String>,
}

/// Was the clinic's `active` flag turned to `to` ("ja"/"nej") by this plan?
fn active_became(p: &ClinicPlan, to: &str) -> bool {
    p.outcome == Outcome::Changed
        && p.changes
            .iter()
            .any(|c| c.field == "active" && c.new.as_deref() == Some(to))
}

fn plan_view(p: &ClinicPlan) -> PlanView {
    let (outcome, class) = match p.outcome {
        Outcome::Added => ("tillagd", "added"),
        Outcome::Changed if active_became(p, "nej") => ("avaktiverad", "changed"),
        Outcome::Changed if active_became(p, "ja") => ("aktiverad igen", "changed"),
        Outcome::Changed => ("ändrad", "changed"),
        Outcome::Unchanged => ("oförändrad", "unchanged"),
        Outcome::NotInFile => ("finns inte i texten (behålls som den är)", "kept"),
    };
    PlanView {
        id: p.id.clone(),
        name: p.record.name.clone(),
        outcome,
        class,
        changes: p
            .changes
            .iter()
            .map(|c| {
                format!(
                    "{}: {} → {}",
                    field_text(&c.field),
                    value_text(&c.field, c.old.as_deref()),
                    value_text(&c.field, c.new.as_deref())
                )
            })
            .collect(),
    }
}

/// The counts an import reports (and the audit row records).
#[derive(Debug, Serialize)]
struct Counts {
    added: usize,
    changed: usize,
    deactivated: usize,
    unchanged: usize,
    not_in_text: usize,
}

fn counts(plans: &[ClinicPlan]) -> Counts {
    let n = |o: Outcome| plans.iter().filter(|p| p.outcome == o).count();
    Counts {
        added: n(Outcome::Added),
        changed: n(Outcome::Changed),
        deactivated: plans.iter().filter(|p| active_became(p, "nej")).count(),
        unchanged: n(Outcome::Unchanged),
        not_in_text: n(Outcome::NotInFile),
    }
}

/// A refused text in Swedish, naming its line.
fn refusal(e: &FileError) -> String {
    if e.line == 0 {
        format!("Inget ändrades: {}.", e.problem)
    } else {
        format!("Inget ändrades. Rad {}: {}.", e.line, e.problem)
    }
}

/// The form page: `text` in the box, with a preview or a refusal when there is one.
fn form_page(
    state: &WebState,
    viewer: &Viewer,
    text: &str,
    preview: Option<(Vec<PlanView>, Counts, String)>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let (plans, counts, stamp) = match preview {
        Some((p, c, s)) => (Some(p), Some(c), Some(s)),
        None => (None, None, None),
    };
    let mut res = state.templates().page(
        "registry_edit.html",
        minijinja::context! {
            viewer, text, plans, counts, error, stamp,
            year => state.rulebook().year,
            max_kb => MAX_TEXT / 1024,
        },
    )?;
    *res.status_mut() = status;
    Ok(res)
}

fn too_large() -> String {
    format!(
        "Inget ändrades: texten är för stor; högst {} kB tas emot. Dela upp ändringen i flera omgångar.",
        MAX_TEXT / 1024
    )
}

/// Refuses a text above [`MAX_TEXT`] with the message to show.
fn bounded(text: &str) -> Result<(), String> {
    if text.len() > MAX_TEXT {
        Err(too_large())
    } else {
        Ok(())
    }
}

/// The posted form, or the message to show: a body above the server's limit (axum's
/// default, 2 MB) is refused before it is read whole.
fn posted(f: Result<Form<ChangeForm>, FormRejection>) -> Result<ChangeForm, String> {
    match f {
        Ok(Form(f)) => bounded(&f.text).map(|()| f),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(too_large()),
        Err(e) => {
            tracing::warn!(error = %e, "unreadable registry form");
            Err(
                "Inget ändrades: formuläret kunde inte läsas. Ladda om sidan och försök igen."
                    .into(),
            )
        }
    }
}

/// GET /register/andra
pub async fn form(State(state): State<WebState>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require(Need::RegistryChange)?;
    let records = state.store().clinics().await?;
    let text = export_csv(&records, state.rulebook().year)
        .map_err(|e| WebError::Internal(format!("export the registry: {e:#}")))?;
    form_page(&state, &viewer, &text, None, None)
}

/// POST /register/andra/forhandsgranska: what the import would do, nothing written.
pub async fn preview(
    State(state): State<WebState>,
    viewer: Viewer,
    f: Result<Form<ChangeForm>, FormRejection>,
) -> Result<Response, WebError> {
    viewer.require(Need::RegistryChange)?;
    let f = match posted(f) {
        Ok(f) => f,
        Err(msg) => return form_page(&state, &viewer, "", None, Some(msg)),
    };
    viewer.check_csrf(f.csrf.as_deref())?;
    // The stamp first: a change landing between the two reads makes the import refuse
    // (safe), never accept a plan the preview did not show.
    let stamp = state.store().registry_stamp().await?;
    let current = state.store().clinics().await?;
    match clinics::parse_file(&f.text, state.rulebook().year)
        .and_then(|lines| clinics::plan(&current, &lines))
    {
        Ok(plans) => {
            // What changes first, then what is kept as it is, then the unchanged.
            let mut views: Vec<PlanView> = plans.iter().map(plan_view).collect();
            views.sort_by_key(|v| match v.class {
                "added" | "changed" => 0,
                "kept" => 1,
                _ => 2,
            });
            form_page(
                &state,
                &viewer,
                &f.text,
                Some((views, counts(&plans), stamp)),
                None,
            )
        }
        Err(e) => form_page(&state, &viewer, &f.text, None, Some(refusal(&e))),
    }
}

/// POST /register/andra: the import, as `web:<username>`; then back to the list.
pub async fn apply(
    State(state): State<WebState>,
    viewer: Viewer,
    f: Result<Form<ChangeForm>, FormRejection>,
) -> Result<Response, WebError> {
    viewer.require(Need::RegistryChange)?;
    let f = match posted(f) {
        Ok(f) => f,
        Err(msg) => return form_page(&state, &viewer, "", None, Some(msg)),
    };
    viewer.check_csrf(f.csrf.as_deref())?;
    let by = format!("web:{}", viewer.username);
    let now = state.now();
    let store = state.store();
    if let Some(seen) = &f.stamp
        && *seen != store.registry_stamp().await?
    {
        let msg = "Inget ändrades: registret har ändrats sedan förhandsvisningen (någon annan \
                   har ändrat det, eller en adress har lagts till från Att hantera). \
                   Förhandsgranska igen och kontrollera ändringarna innan du sparar."
            .to_string();
        let mut res = form_page(&state, &viewer, &f.text, None, Some(msg))?;
        *res.status_mut() = StatusCode::CONFLICT;
        return Ok(res);
    }
    let report = match import_text(store, &f.text, state.rulebook().year, &by, now).await {
        Ok(r) => r,
        Err(e) => {
            return match e.downcast_ref::<FileError>() {
                Some(fe) => form_page(&state, &viewer, &f.text, None, Some(refusal(fe))),
                None => Err(WebError::Internal(format!("registry import: {e:#}"))),
            };
        }
    };
    let c = counts(&report.plans);
    tracing::info!(
        by,
        written = report.written,
        added = c.added,
        changed = c.changed,
        "registry changed from the desk"
    );
    // The clinics' own audit rows were written with the change; this row records the import
    // as a whole (also one that changed nothing).
    let row = NewAudit::new(
        by.as_str(),
        "registry.import",
        "registry",
        serde_json::json!({
            "written": report.written,
            "added": c.added,
            "changed": c.changed,
            "deactivated": c.deactivated,
            "unchanged": c.unchanged,
            "not_in_text": c.not_in_text,
            "bytes": f.text.len(),
        }),
    );
    if let Err(e) = store.audit_append(&row, now).await {
        tracing::error!(by, error = %e, "cannot write the registry import's audit row");
    }
    let to = format!(
        "/register?{}",
        serde_urlencoded::to_string([
            ("tillagda", c.added),
            ("andrade", c.changed),
            ("oforandrade", c.unchanged),
        ])
        .unwrap_or_default()
    );
    Ok(Redirect::to(&to).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_line() {
        let e = FileError {
            line: 3,
            problem: "id saknas".into(),
        };
        assert_eq!(refusal(&e), "Inget ändrades. Rad 3: id saknas.");
        assert!(bounded(&"x".repeat(MAX_TEXT + 1)).is_err());
        assert!(bounded("id,name").is_ok());
    }
}
