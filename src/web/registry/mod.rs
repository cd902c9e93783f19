//! The registry (`/register`): the ledger's clinics for the cycle year (addresses, listed
//! inhabitants per year, payee, active, last change) and one clinic's full change history.
//! Reviewers and admins read it ([`Need::RegistryRead`]); only admins change it, through
//! [`change`] (the same import as `vardval clinics import`).

pub mod change;

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::WebState;
use super::auth::Viewer;
use super::render::WebError;
use crate::domain::access::{Need, allows};
use crate::domain::clinics::ClinicRecord;
use crate::domain::cycle::{swedish_date, swedish_local};
use crate::store::ClinicChangeRow;

/// One clinic as a row of the list.
#[derive(Debug, Serialize)]
struct ClinicRow {
    id: String,
    name: String,
    addresses: Vec<String>,
    /// The listed inhabitants of the cycle year, or of the latest year before it.
    listed: Option<u64>,
    /// The year `listed` is from, when it is not the cycle year.
    listed_year: Option<i32>,
    /// The other years the ledger has ("2025: 8100").
    other_years: Vec<String>,
    payee: Option<String>,
    active: bool,
    /// "23 februari 2026 kl. 09:00, web:admin".
    last_change: Option<String>,
}

/// A payee as people read it: `bg:5012-3456` → "Bankgiro 5012-3456".
fn payee_text(p: &str) -> String {
    match p.split_once(':') {
        Some(("bg", n)) => format!("Bankgiro {n}"),
        Some(("pg", n)) => format!("Plusgiro {n}"),
        Some(("iban", n)) => format!("IBAN {n}"),
        _ => p.to_string(),
    }
}

/// A stored change time (RFC 3339 UTC) in Swedish local time; the text as stored if it
/// cannot be read.
fn when(state: &WebState, at: &str) -> String {
    DateTime::parse_from_rfc3339(at).map_or_else(
        |_| at.to_string(),
        |t| swedish_local(t.with_timezone(&Utc), state.rulebook().tz()),
    )
}

fn clinic_row(
    state: &WebState,
    c: &ClinicRecord,
    year: i32,
    last: Option<&ClinicChangeRow>,
) -> ClinicRow {
    let shown = c.inhabitants_for(year);
    ClinicRow {
        id: c.id.clone(),
        name: c.name.clone(),
        addresses: c.addresses.clone(),
        listed: shown.map(|(_, i)| i.count),
        listed_year: shown.map(|(y, _)| y).filter(|y| *y != year),
        other_years: c
            .inhabitants
            .iter()
            .filter(|(y, _)| Some(**y) != shown.map(|(s, _)| s))
            .map(|(y, i)| format!("{y}: {}", i.count))
            .collect(),
        payee: c.payee.as_deref().map(payee_text),
        active: c.active,
        last_change: last.map(|l| format!("{}, {}", when(state, &l.changed_at), l.changed_by)),
    }
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    /// Set after an applied change: how many clinics were added, changed and unchanged.
    tillagda: Option<usize>,
    andrade: Option<usize>,
    oforandrade: Option<usize>,
}

/// GET /register
pub async fn list(
    State(state): State<WebState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    viewer.require(Need::RegistryRead)?;
    let store = state.store();
    let year = state.rulebook().year;
    let history = store.clinic_history(None).await?;
    let last: HashMap<&str, &ClinicChangeRow> =
        history.iter().map(|h| (h.clinic_id.as_str(), h)).collect();
    let clinics: Vec<ClinicRow> = store
        .clinics()
        .await?
        .iter()
        .map(|c| clinic_row(&state, c, year, last.get(c.id.as_str()).copied()))
        .collect();
    let active = clinics.iter().filter(|c| c.active).count();
    let done = q.andrade.map(|changed| {
        minijinja::context! {
            added => q.tillagda.unwrap_or(0), changed, unchanged => q.oforandrade.unwrap_or(0),
        }
    });
    state.templates().page(
        "registry.html",
        minijinja::context! {
            viewer, year, clinics, active, done,
            may_change => allows(viewer.role, Need::RegistryChange),
        },
    )
}

/// A field name of the change history in Swedish ("listed_inhabitants 2026" →
/// "listade invånare 2026").
fn field_text(field: &str) -> String {
    let (name, year) = field.split_once(' ').unwrap_or((field, ""));
    let sv = match name {
        "name" => "namn",
        "emails" => "adresser",
        "hsa_id" => "HSA-id",
        "org_nr" => "organisationsnummer",
        "payee" => "betalningsmottagare",
        "active" => "aktiv",
        "listed_inhabitants" => "listade invånare",
        "reference_date" => "referensdatum",
        other => other,
    };
    if year.is_empty() {
        sv.to_string()
    } else {
        format!("{sv} {year}")
    }
}

/// A stored field value as shown: addresses one per line, payees spelled out, dates in Swedish.
fn value_text(field: &str, v: Option<&str>) -> String {
    let Some(v) = v.filter(|v| !v.is_empty()) else {
        return "–".into();
    };
    match field.split_once(' ').map_or(field, |(n, _)| n) {
        "emails" => v.replace(';', ", "),
        "payee" => payee_text(v),
        "reference_date" => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map_or_else(|_| v.to_string(), swedish_date),
        _ => v.to_string(),
    }
}

#[derive(Debug, Serialize)]
struct ChangeView {
    when: String,
    by: String,
    field: String,
    old: String,
    new: String,
}

/// GET /register/{id}
pub async fn clinic(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    viewer.require(Need::RegistryRead)?;
    let store = state.store();
    let year = state.rulebook().year;
    let records = store.clinics().await?;
    let c = records
        .iter()
        .find(|c| c.id == id)
        .ok_or(WebError::NotFound)?;
    let history = store.clinic_history(Some(&id)).await?;
    let row = clinic_row(&state, c, year, history.last());
    // Newest first: the latest change is what an admin looks for.
    let changes: Vec<ChangeView> = history
        .iter()
        .rev()
        .map(|h| ChangeView {
            when: when(&state, &h.changed_at),
            by: h.changed_by.clone(),
            field: field_text(&h.field),
            old: value_text(&h.field, h.old_value.as_deref()),
            new: value_text(&h.field, h.new_value.as_deref()),
        })
        .collect();
    state.templates().page(
        "registry_clinic.html",
        minijinja::context! {
            viewer, year, clinic => row, changes,
            hsa_id => c.hsa_id, org_nr => c.org_nr,
            may_change => allows(viewer.role, Need::RegistryChange),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_values_read_in_swedish() {
        assert_eq!(
            field_text("listed_inhabitants 2026"),
            "listade invånare 2026"
        );
        assert_eq!(field_text("emails"), "adresser");
        assert_eq!(
            value_text("emails", Some("a@vc.test;b@vc.test")),
            "a@vc.test, b@vc.test"
        );
        assert_eq!(
            value_text("payee", Some("bg:5012-3456")),
            "Bankgiro 5012-3456"
        );
        assert_eq!(
            value_text("reference_date 2026", Some("2026-01-01")),
            "1 januari 2026"
        );
        assert_eq!(value_text("hsa_id", None), "–");
    }
}
