//! Reminders and schedule (`/schema`): the scheduler's jobs with their last and next runs,
//! the pause switch for reminders (reviewers and admins; CSRF; audited in the same
//! transaction), and the reminders queued or skipped per clinic in the cycle year.

use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::WebState;
use super::auth::Viewer;
use super::render::WebError;
use crate::domain::access::Need;
use crate::domain::cycle::swedish_local;

/// At most this many reminder rows are read for the page.
const MAX_REMINDERS: i64 = 2000;

#[derive(Debug, Serialize)]
struct JobView {
    name: &'static str,
    schedule: String,
    next: String,
    last: String,
    outcome: String,
}

#[derive(Debug, Serialize, Default)]
struct ClinicReminders {
    clinic: String,
    sent: usize,
    waiting: usize,
    skipped: usize,
    failed: usize,
    last: String,
    lines: Vec<String>,
}

fn job_name(job: &str) -> &'static str {
    match job {
        "reminders" => "Påminnelser till vårdcentraler",
        "digest" => "Veckosammanfattning till granskarna",
        "payouts" => "Utbetalningsfiler till ekonomi",
        "reclaims" => "Förslag på återkrav",
        _ => "Annat jobb",
    }
}

fn step_text(milestone: u8, step: &str) -> String {
    let what = match milestone {
        1 => "projektplan",
        _ => "slutrapport",
    };
    match step {
        "after" => format!("{what}: efter sista dag"),
        "incomplete" => format!("{what}: komplettering saknas"),
        s => match s.strip_prefix('d') {
            Some(days) => format!("{what}: {days} dagar före sista dag"),
            None => format!("{what}: {s}"),
        },
    }
}

fn status_text(status: &str) -> &'static str {
    match status {
        "sent" => "skickad",
        "pending" | "sending" => "väntar i utkorgen",
        "skipped" => "hoppades över (pausat)",
        "failed" | "dead" => "kunde inte skickas",
        _ => "okänt",
    }
}

/// GET /schema
pub async fn page(State(state): State<WebState>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require(Need::Review)?;
    let tz = state.rulebook().tz();
    let now = state.now();
    let local = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(|| "–".to_string(), |t| swedish_local(t, tz))
    };
    let mut jobs = Vec::new();
    if let Some(sch) = state.scheduler() {
        let status = sch
            .status(now)
            .await
            .map_err(|e| WebError::Internal(format!("{e:#}")))?;
        for j in status {
            jobs.push(JobView {
                name: job_name(&j.job),
                schedule: j.schedule,
                next: local(j.next_at),
                last: local(j.last_due_at),
                outcome: j.last_outcome.unwrap_or_else(|| "–".into()),
            });
        }
    }
    let store = state.store();
    let paused_here = store.reminders_paused().await?;
    let paused_config = state.reminders_paused_in_config();
    let year = state.rulebook().year;
    let names: BTreeMap<String, String> = store
        .clinics()
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let mut per: BTreeMap<String, ClinicReminders> = BTreeMap::new();
    for r in store.reminder_log(year, MAX_REMINDERS).await? {
        let e = per.entry(r.clinic_id.clone()).or_default();
        if e.clinic.is_empty() {
            e.clinic = names
                .get(&r.clinic_id)
                .cloned()
                .unwrap_or(r.clinic_id.clone());
            e.last = swedish_local(r.at, tz);
        }
        match r.status.as_str() {
            "sent" => e.sent += 1,
            "skipped" => e.skipped += 1,
            "failed" | "dead" => e.failed += 1,
            _ => e.waiting += 1,
        }
        e.lines.push(format!(
            "{} – {} ({})",
            swedish_local(r.sent_at.unwrap_or(r.at), tz),
            step_text(r.milestone, &r.step),
            status_text(&r.status)
        ));
    }
    let mut clinics: Vec<ClinicReminders> = per.into_values().collect();
    clinics.sort_by(|a, b| a.clinic.cmp(&b.clinic));
    state.templates().page(
        "schedule.html",
        minijinja::context! {
            viewer, jobs, year, clinics,
            scheduler_on => state.scheduler().is_some(),
            paused_here, paused_config,
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct PauseForm {
    csrf: Option<String>,
    /// "1" pause, "0" resume.
    paus: String,
}

/// POST /schema/paus
pub async fn pause(
    State(state): State<WebState>,
    viewer: Viewer,
    Form(f): Form<PauseForm>,
) -> Result<Response, WebError> {
    viewer.require(Need::Review)?;
    viewer.check_csrf(f.csrf.as_deref())?;
    let paused = match f.paus.as_str() {
        "1" => true,
        "0" => false,
        _ => return Err(WebError::BadRequest("paus must be 1 or 0".into())),
    };
    let actor = format!("web:{}", viewer.username);
    state
        .store()
        .set_reminders_paused(paused, &actor, state.now())
        .await?;
    Ok(Redirect::to("/schema").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_and_statuses_read_as_swedish() {
        assert_eq!(step_text(1, "d14"), "projektplan: 14 dagar före sista dag");
        assert_eq!(step_text(2, "after"), "slutrapport: efter sista dag");
        assert_eq!(
            step_text(2, "incomplete"),
            "slutrapport: komplettering saknas"
        );
        assert_eq!(status_text("dead"), "kunde inte skickas");
        assert_eq!(job_name("digest"), "Veckosammanfattning till granskarna");
    }
}
