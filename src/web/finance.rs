//! The finance pages (`/utbetalningar`): the sealed payout batches with their totals, one
//! batch's lines, blocked clinics and files (served exactly as sealed), what the next run
//! would pay (the same preview as `vardval payouts preview`; nothing is written) and when it
//! runs, and the reclaim proposals waiting for a reviewer. Finance, reviewers and admins may
//! read them; only reviewers and admins decide a reclaim, through the same store call as
//! `vardval payouts reclaim accept|reject` (audited there).

use axum::Form;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::WebState;
use super::auth::Viewer;
use super::render::WebError;
use crate::domain::access::Need;
use crate::domain::cycle::{swedish_date, swedish_local};
use crate::domain::money::Ore;
use crate::domain::payout::{LineKind, Reclaim};
use crate::jobs::payout_status;
use crate::jobs::payouts::mime_of;
use crate::store::{BatchRow, ReclaimRow};

fn internal(e: anyhow::Error) -> WebError {
    WebError::Internal(format!("{e:#}"))
}

#[derive(Debug, Serialize)]
struct BatchView {
    number: i64,
    due_date: String,
    sealed_at: String,
    total: String,
    transfer: String,
    line_count: i64,
    blocked: i64,
    files_written: bool,
}

fn batch_view(state: &WebState, b: &BatchRow) -> BatchView {
    BatchView {
        number: b.number,
        due_date: swedish_date(b.due_date),
        sealed_at: swedish_local(b.sealed_at, state.rulebook().tz()),
        total: Ore(b.total_ore).to_string(),
        transfer: Ore(b.transfer_ore).to_string(),
        line_count: b.line_count,
        blocked: b.blocked,
        files_written: b.files_written_at.is_some(),
    }
}

/// A payout line as the pages show it (sealed or due next).
#[derive(Debug, Serialize)]
struct LineView {
    clinic_id: String,
    name: String,
    year: i32,
    instalment: u8,
    kind: &'static str,
    kind_sv: &'static str,
    amount: String,
    negative: bool,
    payee: String,
}

fn line_view(
    clinic_id: &str,
    name: &str,
    year: i32,
    instalment: u8,
    kind: LineKind,
    amount_ore: i64,
    payee: &str,
) -> LineView {
    LineView {
        clinic_id: clinic_id.to_string(),
        name: name.to_string(),
        year,
        instalment,
        kind: kind.as_str(),
        kind_sv: kind.swedish(),
        amount: Ore(amount_ore).to_string(),
        negative: amount_ore < 0,
        payee: payee.to_string(),
    }
}

#[derive(Debug, Serialize)]
struct ReclaimView {
    clinic_id: String,
    name: String,
    year: i32,
    amount: String,
    proposed_at: String,
}

fn reclaim_view(state: &WebState, r: &ReclaimRow, name: String) -> ReclaimView {
    ReclaimView {
        clinic_id: r.clinic_id.clone(),
        name,
        year: r.year,
        amount: Ore(r.amount_ore).to_string(),
        proposed_at: swedish_local(r.proposed_at, state.rulebook().tz()),
    }
}

async fn clinic_names(
    state: &WebState,
) -> Result<std::collections::BTreeMap<String, String>, WebError> {
    Ok(state
        .store()
        .clinics()
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect())
}

fn local(state: &WebState, t: DateTime<Utc>) -> String {
    swedish_local(t, state.rulebook().tz())
}

/// GET /utbetalningar
pub async fn page(State(state): State<WebState>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.require(Need::Payouts)?;
    let store = state.store();
    let mut batches: Vec<BatchView> = store
        .payout_batches()
        .await?
        .iter()
        .map(|b| batch_view(&state, b))
        .collect();
    batches.reverse(); // newest first
    let names = clinic_names(&state).await?;
    let name_of = |id: &str| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let waiting: Vec<ReclaimView> = store
        .reclaims()
        .await?
        .iter()
        .filter(|r| r.state == Reclaim::Proposed)
        .map(|r| reclaim_view(&state, r, name_of(&r.clinic_id)))
        .collect();
    let due = match state.payouts() {
        Some(p) => Some(
            payout_status::due_next(store, p, state.now())
                .await
                .map_err(internal)?,
        ),
        None => None,
    };
    let due_ctx = due.as_ref().map(|d| {
        let lines: Vec<LineView> = d
            .plan
            .lines
            .iter()
            .map(|l| {
                line_view(
                    &l.clinic_id,
                    &l.name,
                    l.year,
                    l.instalment,
                    l.kind,
                    l.amount_ore,
                    &l.payee,
                )
            })
            .collect();
        let blocked: Vec<_> = d
            .plan
            .blocked
            .iter()
            .map(|b| {
                minijinja::context! {
                    clinic_id => &b.clinic_id,
                    name => name_of(&b.clinic_id),
                    reason => b.reason.text(),
                }
            })
            .collect();
        minijinja::context! {
            lines,
            blocked,
            total => Ore(d.plan.total_ore()).to_string(),
            next_run => d.next_run.map(|t| local(&state, t)),
        }
    });
    state.templates().page(
        "finance.html",
        minijinja::context! {
            viewer,
            may_review => viewer.may_review(),
            batches,
            waiting,
            due => due_ctx,
        },
    )
}

/// GET /utbetalningar/{number}
pub async fn batch(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(number): Path<i64>,
) -> Result<Response, WebError> {
    viewer.require(Need::Payouts)?;
    let store = state.store();
    let id = store
        .payout_batch_id(number)
        .await?
        .ok_or(WebError::NotFound)?;
    let (row, batch, files) = store.payout_batch(id).await?.ok_or(WebError::NotFound)?;
    let names = clinic_names(&state).await?;
    let lines: Vec<LineView> = batch
        .lines
        .iter()
        .map(|l| {
            line_view(
                &l.clinic_id,
                &l.name,
                l.year,
                l.instalment,
                l.kind,
                l.amount_ore,
                &l.payee,
            )
        })
        .collect();
    let blocked: Vec<_> = batch
        .blocked
        .iter()
        .map(|b| {
            minijinja::context! {
                clinic_id => &b.clinic_id,
                name => names.get(&b.clinic_id).cloned().unwrap_or_else(|| b.clinic_id.clone()),
                reason => &b.reason,
            }
        })
        .collect();
    let files: Vec<_> = files
        .iter()
        .map(|(name, bytes)| {
            minijinja::context! {
                name,
                segment => path_segment(name),
                kind => file_kind(name),
                bytes => bytes.len(),
            }
        })
        .collect();
    state.templates().page(
        "finance_batch.html",
        minijinja::context! {
            viewer,
            batch => batch_view(&state, &row),
            sha256 => &row.sha256,
            files_written_at => row.files_written_at.map(|t| local(&state, t)),
            lines,
            blocked,
            files,
        },
    )
}

/// `name` percent-encoded for one URL path segment.
fn path_segment(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A sealed file's kind in Swedish, by its name.
fn file_kind(name: &str) -> &'static str {
    if name.ends_with(".csv") {
        "CSV för ekonomisystemet"
    } else if name.ends_with(".xml") {
        "betalfil till banken (pain.001)"
    } else {
        "sammanställning för attest (HTML)"
    }
}

/// GET /utbetalningar/{number}/filer/{name}: a sealed file, byte for byte as sealed.
pub async fn file(
    State(state): State<WebState>,
    viewer: Viewer,
    Path((number, name)): Path<(i64, String)>,
) -> Result<Response, WebError> {
    viewer.require(Need::Payouts)?;
    let store = state.store();
    let id = store
        .payout_batch_id(number)
        .await?
        .ok_or(WebError::NotFound)?;
    let (_, _, files) = store.payout_batch(id).await?.ok_or(WebError::NotFound)?;
    let (name, bytes) = files
        .into_iter()
        .find(|(n, _)| *n == name)
        .ok_or(WebError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, mime_of(&name).to_string()),
            (
                header::CONTENT_DISPOSITION,
                super::submission::attachment(&name),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct ReclaimForm {
    csrf: Option<String>,
    clinic: String,
    year: i32,
    /// `accept` or `reject`.
    decision: String,
    reason: String,
}

/// POST /utbetalningar/aterkrav: a reviewer accepts or rejects a reclaim proposal with a
/// reason (the store call of `vardval payouts reclaim`, audited as `web:USER`).
pub async fn decide_reclaim(
    State(state): State<WebState>,
    viewer: Viewer,
    Form(f): Form<ReclaimForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(f.csrf.as_deref())?;
    viewer.require(Need::Review)?;
    let accept = match f.decision.as_str() {
        "accept" => true,
        "reject" => false,
        _ => {
            return Err(WebError::BadRequest(
                "Välj om återkravet ska godkännas eller avslås.".into(),
            ));
        }
    };
    let reason = f.reason.trim();
    if reason.is_empty() {
        return Err(WebError::BadRequest(
            "Skriv ett skäl till beslutet om återkrav.".into(),
        ));
    }
    let by = format!("web:{}", viewer.username);
    let done = state
        .store()
        .decide_reclaim(&f.clinic, f.year, accept, &by, reason, state.now())
        .await?;
    if !done {
        return Err(WebError::BadRequest(
            "Det finns inget öppet förslag om återkrav för vårdcentralen och året; det kan redan vara beslutat."
                .into(),
        ));
    }
    Ok(Redirect::to("/utbetalningar").into_response())
}

#[derive(Debug, Deserialize)]
pub struct PresentationForm {
    csrf: Option<String>,
    note: Option<String>,
}

/// POST /inlamning/{id}/presentation: a reviewer registers that the submission's clinic
/// presented its work at Utvecklingskraft in the rulebook's cycle year (instalment 2 becomes
/// due); the same call as `vardval review presented`, audited as `web:USER`, idempotent.
pub async fn register_presentation(
    State(state): State<WebState>,
    viewer: Viewer,
    axum::extract::Path(id): axum::extract::Path<i64>,
    Form(f): Form<PresentationForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(f.csrf.as_deref())?;
    viewer.require(Need::Review)?;
    let s = state
        .store()
        .submission(id)
        .await?
        .ok_or(WebError::NotFound)?;
    let note = f.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let by = format!("web:{}", viewer.username);
    state
        .desk()
        .presented(&s.clinic_id, state.rulebook().year, &by, note, state.now())
        .await
        .map_err(|e| WebError::BadRequest(format!("Presentationen kunde inte registreras: {e}")))?;
    Ok(Redirect::to(&format!("/inlamning/{id}#betalning")).into_response())
}

/// The payment status of a clinic for a cycle year, shaped for the submission page.
pub async fn clinic_status_view(
    state: &WebState,
    clinic_id: &str,
    year: i32,
) -> Result<minijinja::Value, WebError> {
    let plan = match state.payouts() {
        Some(p) => Some(
            crate::jobs::payouts::preview(state.store(), p)
                .await
                .map_err(internal)?,
        ),
        None => None,
    };
    let s = payout_status::clinic_status(state.store(), plan.as_ref(), clinic_id, year)
        .await
        .map_err(internal)?;
    let date = |d: NaiveDate| swedish_date(d);
    let instalments: Vec<_> = s
        .instalments
        .iter()
        .map(|i| {
            let lines: Vec<_> = i
                .lines
                .iter()
                .map(|l| {
                    minijinja::context! {
                        batch => l.batch_number,
                        due_date => date(l.due_date),
                        kind_sv => l.kind.swedish(),
                        amount => Ore(l.amount_ore).to_string(),
                    }
                })
                .collect();
            minijinja::context! {
                instalment => i.instalment,
                paid => Ore(i.paid_ore).to_string(),
                anything_paid => !i.lines.is_empty(),
                due => (i.due_ore != 0).then(|| Ore(i.due_ore).to_string()),
                due_kinds => i.due_kinds.iter().map(|k| k.swedish()).collect::<Vec<_>>().join(", "),
                lines,
            }
        })
        .collect();
    let reclaim = s.reclaim.as_ref().map(|r| {
        let (code, sv) = match r.state {
            Reclaim::Proposed => ("proposed", "föreslaget, väntar på beslut av en granskare"),
            Reclaim::Accepted => ("accepted", "godkänt: dras tillbaka"),
            Reclaim::Rejected => ("rejected", "avslaget"),
        };
        minijinja::context! {
            state => code,
            state_sv => sv,
            amount => Ore(r.amount_ore).to_string(),
            decided_by => &r.decided_by,
            decided_at => r.decided_at.map(|t| local(state, t)),
            reason => &r.reason,
        }
    });
    Ok(minijinja::context! {
        year => s.year,
        instalments,
        blocked => s.blocked,
        reclaim,
        preview_available => plan.is_some(),
    })
}
