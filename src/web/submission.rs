//! The submission page (`/inlamning/{id}`): the document's sections as the agent read them
//! (heading found, status and why), baseline, goal and data sources, earlier versions with
//! what changed section by section, and the original file from the archive. A coach sees
//! only their clinics' submissions (others: 404, as for an unknown id).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::WebState;
use super::auth::Viewer;
use super::render::WebError;
use crate::domain::access::{Need, allows};
use crate::domain::analysis::stored::{StoredAnalysis, StoredSection};
use crate::domain::cycle::swedish_local;
use crate::domain::desk::sections_from_json;
use crate::domain::grading::{Grade, Status};
use crate::domain::rulebook::SECTION_IDS;
use crate::store::SubmissionRow;

#[derive(Debug, Serialize)]
struct SectionView {
    id: String,
    title: String,
    required: bool,
    status: &'static str,
    status_sv: &'static str,
    heading: Option<String>,
    excerpt: Option<String>,
    why: String,
    /// Status in the version before, when it differs.
    before: Option<&'static str>,
}

fn status_str(s: Status) -> (&'static str, &'static str) {
    match s {
        Status::Ok => ("ok", "godkänt"),
        Status::Weak => ("weak", "svagt"),
        Status::Missing => ("missing", "saknas"),
    }
}

/// Why the agent judged a section as it did, in Swedish.
fn why(status: Status, s: &StoredSection) -> String {
    let words = s.words;
    let rule = match s.matched_by.as_ref().map(|m| m.rule.as_str()) {
        Some("label") => "bokstaven i rubriken",
        Some("title") => "rubrikens ordalydelse",
        Some("synonym") => "en vanlig omskrivning av rubriken",
        Some("keywords" | "key_ideas") => "avsnittets nyckelord",
        _ => "innehållet",
    };
    match status {
        Status::Ok => format!("Rubriken känns igen på {rule}; {words} ord text."),
        Status::Weak => format!(
            "Rubriken finns (igenkänd på {rule}) men texten är kort eller en platshållare ({words} ord)."
        ),
        Status::Missing => "Ingen rubrik eller text för avsnittet hittades.".into(),
    }
}

#[derive(Debug, Serialize)]
struct VersionView {
    id: i64,
    version: i64,
    received: String,
    pre_grade_sv: Option<&'static str>,
    pre_grade: Option<&'static str>,
    current: bool,
    /// Sections whose status changed from this version to the next newer one.
    changes: Vec<String>,
}

/// GET /inlamning/{id}
pub async fn page(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    viewer.require(Need::Read)?;
    let store = state.store();
    let s = store
        .submission(id)
        .await?
        .filter(|s| state.scope(&viewer).allows(&s.clinic_id))
        .ok_or(WebError::NotFound)?;
    let rb = state.rulebook();
    let tz = rb.tz();
    let clinic_name = store
        .clinics()
        .await?
        .into_iter()
        .find(|c| c.id == s.clinic_id)
        .map(|c| c.name)
        .unwrap_or_else(|| s.clinic_id.clone());
    let message = store.message(s.message_row_id).await?;
    let versions = store.submission_versions(&s.clinic_id, s.milestone).await?;
    let previous: Option<&SubmissionRow> = versions.iter().find(|v| v.version < s.version);
    let before = previous.map(|p| sections_from_json(&p.analysis_json));
    let a = StoredAnalysis::parse(&s.analysis_json).ok();
    let milestone = rb.milestone(s.milestone as u8);
    let sections: Vec<SectionView> = a
        .iter()
        .flat_map(|a| a.sections.iter())
        .map(|(&sid, j)| {
            let status = Status::from(j.status);
            let (code, sv) = status_str(status);
            SectionView {
                id: sid.to_string(),
                title: rb.section(sid).title.clone(),
                required: milestone.is_some_and(|m| m.required.contains(&sid)),
                status: code,
                status_sv: sv,
                heading: j.heading.clone(),
                excerpt: j.excerpt.clone(),
                why: why(status, j),
                before: before
                    .as_ref()
                    .and_then(|b| b.get(&sid))
                    .filter(|b| **b != status)
                    .map(|b| status_str(*b).1),
            }
        })
        .collect();
    let version_views: Vec<VersionView> = versions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let newer = i.checked_sub(1).map(|j| &versions[j]);
            let changes = newer
                .map(|n| {
                    let (old, new) = (
                        sections_from_json(&v.analysis_json),
                        sections_from_json(&n.analysis_json),
                    );
                    SECTION_IDS
                        .iter()
                        .filter(|sid| old.get(sid) != new.get(sid))
                        .map(|sid| {
                            let f = |x: Option<&Status>| x.map(|s| status_str(*s).1).unwrap_or("–");
                            format!("{sid}: {} → {}", f(old.get(sid)), f(new.get(sid)))
                        })
                        .collect()
                })
                .unwrap_or_default();
            VersionView {
                id: v.id,
                version: v.version,
                received: swedish_local(v.received_at, tz),
                pre_grade: v.pre_grade.map(Grade::as_str),
                pre_grade_sv: v.pre_grade.map(Grade::swedish),
                current: v.id == s.id,
                changes,
            }
        })
        .collect();
    let latest_version = versions.first().map(|v| v.version) == Some(s.version);
    let decision = store.decision_for_submission(s.id).await?.map(|d| {
        minijinja::context! {
            grade => d.grade.as_str(),
            grade_sv => d.grade.swedish(),
            by => d.decided_by,
            at => swedish_local(d.decided_at, tz),
            comment => d.comment,
            agreed => d.agreed_with_pregrade,
            mail_queued => d.mail_outbox_id.is_some(),
        }
    });
    // A decision waiting for a second reviewer (two-person rule).
    let pending = super::countersign::pending_view(&state, &viewer, s.id).await?;
    // The clinic's payment status for the cycle year (reviewers, admins; not coaches).
    let payment = if allows(viewer.role, Need::Payouts) {
        Some(super::finance::clinic_status_view(&state, &s.clinic_id, rb.year).await?)
    } else {
        None
    };
    // The presentation at Utvecklingskraft (it makes instalment 2 due).
    let presentation = store
        .presentations(rb.year)
        .await?
        .into_iter()
        .find(|p| p.clinic_id == s.clinic_id)
        .map(|p| {
            minijinja::context! {
                by => p.registered_by,
                at => swedish_local(p.registered_at, tz),
                note => p.note,
            }
        });
    state.templates().page(
        "submission.html",
        minijinja::context! {
            viewer,
            may_review => viewer.may_review(),
            id => s.id,
            clinic_id => &s.clinic_id,
            clinic_name,
            presentation,
            year => rb.year,
            milestone => s.milestone,
            milestone_name => milestone.map(|m| m.name.clone()).unwrap_or_default(),
            version => s.version,
            latest_version,
            received => swedish_local(s.received_at, tz),
            on_time => s.on_time,
            pre_grade => s.pre_grade.map(Grade::as_str),
            pre_grade_sv => s.pre_grade.map(Grade::swedish),
            doc_name => &s.doc_name,
            doc_format => &s.doc_format,
            error_kind => &s.error_kind,
            from => message.as_ref().and_then(|m| m.from_addr.clone()),
            subject => message.as_ref().map(|m| m.subject.clone()),
            sections,
            baseline_found => a.as_ref().is_some_and(|a| a.baseline.found),
            baseline_values => a.as_ref().map(|a| a.baseline.values.clone()).unwrap_or_default(),
            baseline_excerpt => a.as_ref().and_then(|a| a.baseline.excerpt.clone()),
            goal_found => a.as_ref().is_some_and(|a| a.goal.found),
            goal_measurable => a.as_ref().is_some_and(|a| a.goal.measurable),
            goal_time_bound => a.as_ref().is_some_and(|a| a.goal.time_bound),
            goal_excerpt => a.as_ref().and_then(|a| a.goal.excerpt.clone()),
            data_sources => a.as_ref().map(|a| a.data_sources.clone()).unwrap_or_default(),
            notes => a.as_ref().map(|a| a.notes.clone()).unwrap_or_default(),
            ocr => a.as_ref().is_some_and(|a| a.document.source == "ocr"),
            h_points => a.as_ref().and_then(|a| a.h_points),
            versions => version_views,
            decision,
            pending,
            payment,
        },
    )
}

/// GET /inlamning/{id}/original: the document exactly as the clinic sent it, taken out of the
/// archived raw mail.
pub async fn original(
    State(state): State<WebState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    viewer.require(Need::Read)?;
    let store = state.store();
    // A clinic outside the viewer's scope (a coach's other clinics) is not found.
    let s = store
        .submission(id)
        .await?
        .filter(|s| state.scope(&viewer).allows(&s.clinic_id))
        .ok_or(WebError::NotFound)?;
    let m = store
        .message(s.message_row_id)
        .await?
        .ok_or(WebError::NotFound)?;
    let raw = state
        .archive()
        .get(&m.sha256)
        .map_err(|e| WebError::Internal(format!("archive {}: {e}", m.sha256)))?;
    let registry = crate::mail::registry::Registry::from_clinics(Vec::new())
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let inbound = crate::mail::parse::understand(&raw, &registry, &[]);
    let doc = inbound
        .documents
        .into_iter()
        .chain(inbound.appendices)
        .chain(inbound.other_parts)
        .find(|d| d.sha256 == s.doc_sha256)
        .ok_or(WebError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, attachment(&doc.name)),
        ],
        doc.bytes,
    )
        .into_response())
}

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266).
pub(super) fn attachment(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_are_safe() {
        assert_eq!(
            attachment("Plan \"Å\".docx"),
            "attachment; filename=\"Plan ___.docx\"; filename*=UTF-8''Plan%20%22%C3%85%22.docx"
        );
    }
}
