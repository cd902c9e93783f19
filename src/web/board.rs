//! The board (`/tavla`): every clinic × milestone of a cycle year (the configured one, or
//! `?ar=` for any year the ledger holds) as a traffic-light table, filtered and sorted by the
//! query string, with a CSV export and the per-section view under it. The rows are built by `domain::desk`; this module only loads and shapes them.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::WebState;
use super::auth::Viewer;
use super::render::WebError;
use crate::domain::access::{ClinicScope, Need, Role};
use crate::domain::board_year;
use crate::domain::cycle::swedish_local;
use crate::domain::desk::{self, BoardRow, Filter, Latest, SectionShare, Sort};
use crate::domain::grading::Grade;
use crate::domain::rulebook::Rulebook;

/// GET /: reviewers and coaches go to the board; finance goes to the payouts.
pub async fn start(viewer: Viewer) -> Result<Response, WebError> {
    if viewer.role == Role::Finance {
        return Ok(Redirect::to("/utbetalningar").into_response());
    }
    Ok(Redirect::to("/tavla").into_response())
}

/// The board's query string.
#[derive(Debug, Default, Deserialize)]
pub struct BoardQuery {
    pub milestone: Option<String>,
    pub state: Option<String>,
    pub grade: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub dir: Option<String>,
    /// The cycle year (`?ar=2025`); default: the configured one.
    pub ar: Option<String>,
}

impl BoardQuery {
    fn filter(&self) -> Filter {
        fn nonempty(s: &Option<String>) -> Option<&str> {
            s.as_deref().map(str::trim).filter(|s| !s.is_empty())
        }
        Filter {
            milestone: nonempty(&self.milestone).and_then(|m| m.parse().ok()),
            state: nonempty(&self.state).map(str::to_string),
            pre_grade: nonempty(&self.grade).and_then(Grade::parse),
            text: nonempty(&self.q).map(str::to_string),
        }
    }
    fn sort(&self) -> Sort {
        self.sort
            .as_deref()
            .and_then(Sort::parse)
            .unwrap_or_default()
    }
    fn descending(&self) -> bool {
        self.dir.as_deref() == Some("desc")
    }
}

/// The board's cycle year and its rulebook (`?ar=`; default: the configured year), with the
/// years the ledger holds for the selector. A year the ledger does not hold is not found.
/// Another year's rulebook is the one configured for it under `[payouts] rulebooks`, else
/// the configured rulebook with its dates moved to that year.
pub async fn year_rulebook<'a>(
    state: &'a WebState,
    q: &BoardQuery,
) -> Result<(Cow<'a, Rulebook>, Vec<i32>), WebError> {
    let rb = state.rulebook();
    let store = state.store();
    let years = board_year::years_present(
        rb,
        &store.submission_times().await?,
        &store.decision_years().await?,
    );
    let year = match q.ar.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => rb.year,
        Some(a) => a.parse::<i32>().map_err(|_| WebError::NotFound)?,
    };
    if year == rb.year {
        return Ok((Cow::Borrowed(rb), years));
    }
    if !years.contains(&year) {
        return Err(WebError::NotFound);
    }
    let own = state
        .payouts()
        .and_then(|p| p.rulebooks.get(&year))
        .cloned();
    let other = own
        .or_else(|| board_year::rulebook_for_year(rb, year))
        .ok_or(WebError::NotFound)?;
    Ok((Cow::Owned(other), years))
}

/// The confirmed grade per submission id: the latest decision per clinic and milestone of
/// the cycle year (a decision on an older version does not count for a newer one).
async fn confirmed(state: &WebState, year: i32) -> Result<BTreeMap<i64, Grade>, WebError> {
    Ok(state
        .store()
        .current_decisions(year)
        .await?
        .into_iter()
        .map(|d| (d.submission_id, d.grade))
        .collect())
}

/// Load and build every row of the cycle year for the clinics in `scope` (a coach: their
/// own), otherwise unfiltered.
pub async fn load_rows(
    state: &WebState,
    rb: &Rulebook,
    scope: &ClinicScope,
) -> Result<Vec<BoardRow>, WebError> {
    let tz = rb.tz();
    let store = state.store();
    let clinics: Vec<(String, String)> = store
        .clinics()
        .await?
        .into_iter()
        .filter(|c| c.active && scope.allows(&c.id))
        .map(|c| (c.id, c.name))
        .collect();
    let mut latest = Vec::new();
    for m in &rb.milestones {
        let (from, to) = desk::window(m.due, tz);
        for (s, on_time) in store.latest_submissions(i64::from(m.id), from, to).await? {
            latest.push(Latest {
                submission_id: s.id,
                clinic_id: s.clinic_id,
                milestone: m.id,
                version: s.version,
                received_at: s.received_at,
                on_time,
                pre_grade: s.pre_grade,
                sections: desk::sections_from_json(&s.analysis_json),
            });
        }
    }
    let today = state.now().with_timezone(&tz).date_naive();
    Ok(desk::board(
        rb,
        &clinics,
        &latest,
        &confirmed(state, rb.year).await?,
        today,
    ))
}

/// One row as the template and the CSV see it.
#[derive(Debug, Serialize)]
pub struct RowView {
    clinic_id: String,
    clinic_name: String,
    milestone: u8,
    milestone_name: String,
    submission_id: Option<i64>,
    version: Option<i64>,
    received: Option<String>,
    pre_grade: Option<&'static str>,
    pre_grade_sv: Option<&'static str>,
    confirmed: Option<&'static str>,
    confirmed_sv: Option<&'static str>,
    punctuality: &'static str,
    punctuality_sv: &'static str,
    days_to_deadline: i64,
    waiting: bool,
    /// A decision on it waits for a second reviewer (two-person rule).
    second_reviewer: bool,
}

fn view(rb: &Rulebook, r: &BoardRow, pending: &BTreeSet<i64>) -> RowView {
    let local = |t: DateTime<Utc>| swedish_local(t, rb.tz());
    let pre = r.latest.as_ref().and_then(|l| l.pre_grade);
    RowView {
        clinic_id: r.clinic_id.clone(),
        clinic_name: r.clinic_name.clone(),
        milestone: r.milestone,
        milestone_name: rb
            .milestone(r.milestone)
            .map(|m| m.short.clone())
            .unwrap_or_default(),
        submission_id: r.latest.as_ref().map(|l| l.submission_id),
        version: r.latest.as_ref().map(|l| l.version),
        received: r.latest.as_ref().map(|l| local(l.received_at)),
        pre_grade: pre.map(Grade::as_str),
        pre_grade_sv: pre.map(Grade::swedish),
        confirmed: r.confirmed.map(Grade::as_str),
        confirmed_sv: r.confirmed.map(Grade::swedish),
        punctuality: r.punctuality.as_str(),
        punctuality_sv: r.punctuality.swedish(),
        days_to_deadline: r.days_to_deadline,
        waiting: r.waiting(),
        second_reviewer: r
            .latest
            .as_ref()
            .is_some_and(|l| pending.contains(&l.submission_id)),
    }
}

#[derive(Debug, Serialize)]
struct ShareView {
    id: String,
    title: String,
    ok: usize,
    total: usize,
    percent: usize,
}

fn share_view(s: &SectionShare) -> ShareView {
    ShareView {
        id: s.id.to_string(),
        title: s.title.clone(),
        ok: s.ok,
        total: s.total,
        percent: s.percent(),
    }
}

/// The submissions with a decision waiting for a second reviewer.
async fn pending_ids(state: &WebState) -> Result<BTreeSet<i64>, WebError> {
    Ok(state
        .store()
        .open_pending()
        .await?
        .into_iter()
        .map(|p| p.submission_id)
        .collect())
}

/// GET /tavla
pub async fn board_page(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(q): Query<BoardQuery>,
) -> Result<Response, WebError> {
    viewer.require(Need::Read)?;
    let scope = state.scope(&viewer);
    let (rb, years) = year_rulebook(&state, &q).await?;
    let all = load_rows(&state, &rb, &scope).await?;
    let shares: Vec<ShareView> = desk::section_shares(&rb, &all)
        .iter()
        .map(share_view)
        .collect();
    let waiting = all.iter().filter(|r| r.waiting()).count();
    let pending = pending_ids(&state).await?;
    let rows: Vec<RowView> = desk::filter_sort(all, &q.filter(), q.sort(), q.descending())
        .iter()
        .map(|r| view(&rb, r, &pending))
        .collect();
    let milestones: Vec<_> = rb
        .milestones
        .iter()
        .map(|m| minijinja::context! { id => m.id, name => m.short.clone() })
        .collect();
    let csv_query = serde_urlencoded::to_string([
        ("milestone", q.milestone.clone().unwrap_or_default()),
        ("state", q.state.clone().unwrap_or_default()),
        ("grade", q.grade.clone().unwrap_or_default()),
        ("q", q.q.clone().unwrap_or_default()),
        ("sort", q.sort.clone().unwrap_or_default()),
        ("dir", q.dir.clone().unwrap_or_default()),
        ("ar", rb.year.to_string()),
    ])
    .unwrap_or_default();
    state.templates().page(
        "board.html",
        minijinja::context! {
            viewer, rows, shares, milestones, waiting, csv_query,
            no_clinics => scope.is_empty(),
            year => rb.year,
            years,
            configured_year => state.rulebook().year,
            f_milestone => q.milestone.unwrap_or_default(),
            f_state => q.state.unwrap_or_default(),
            f_grade => q.grade.unwrap_or_default(),
            f_q => q.q.unwrap_or_default(),
            f_sort => q.sort.unwrap_or_default(),
            f_dir => q.dir.unwrap_or_default(),
        },
    )
}

/// GET /tavla.csv: the filtered board as CSV (UTF-8 with BOM, for Excel).
pub async fn board_csv(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(q): Query<BoardQuery>,
) -> Result<Response, WebError> {
    viewer.require(Need::Read)?;
    let (rb, _) = year_rulebook(&state, &q).await?;
    let rows = desk::filter_sort(
        load_rows(&state, &rb, &state.scope(&viewer)).await?,
        &q.filter(),
        q.sort(),
        q.descending(),
    );
    let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    let internal = |e: csv::Error| WebError::Internal(format!("board csv: {e}"));
    w.write_record([
        "clinic_id",
        "clinic_name",
        "milestone",
        "version",
        "received",
        "punctuality",
        "pre_grade",
        "confirmed_grade",
        "days_to_deadline",
        "submission_id",
    ])
    .map_err(internal)?;
    let pending = pending_ids(&state).await?;
    for r in &rows {
        let v = view(&rb, r, &pending);
        w.write_record([
            v.clinic_id,
            v.clinic_name,
            v.milestone.to_string(),
            v.version.map(|n| n.to_string()).unwrap_or_default(),
            v.received.unwrap_or_default(),
            v.punctuality.to_string(),
            v.pre_grade.unwrap_or_default().to_string(),
            v.confirmed.unwrap_or_default().to_string(),
            v.days_to_deadline.to_string(),
            v.submission_id.map(|n| n.to_string()).unwrap_or_default(),
        ])
        .map_err(internal)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| WebError::Internal(format!("board csv: {e}")))?;
    let name = format!("attachment; filename=\"tavla-{}.csv\"", rb.year);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, name),
        ],
        bytes,
    )
        .into_response())
}
