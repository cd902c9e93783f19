//! The desk's own entries in the audit log: sign-in (and refused sign-in) and sign-out. Decisions are audited by
//! the review core, triage actions by the store in their own transactions.

use serde_json::json;

use super::WebState;
use crate::store::NewAudit;

async fn append(state: &WebState, username: &str, action: &str, detail: serde_json::Value) {
    let row = NewAudit::new(
        format!("web:{username}"),
        action,
        format!("user:{username}"),
        detail,
    );
    // A failure to audit is logged, not shown: the session change itself has happened.
    if let Err(e) = state.store().audit_append(&row, state.now()).await {
        tracing::error!(%username, action, error = %e, "cannot write the audit row");
    }
}

/// Record a sign-in (`method`: password or oidc).
pub async fn signed_in(state: &WebState, username: &str, ip: &str, method: &str) {
    tracing::info!(%username, %ip, method, "signed in");
    append(
        state,
        username,
        "web.sign_in",
        json!({ "ip": ip, "method": method }),
    )
    .await;
}

/// Record a refused sign-in through the identity provider and why (`username` empty when
/// the refusal came before anyone was named).
pub async fn sign_in_refused(state: &WebState, username: &str, ip: &str, method: &str, why: &str) {
    tracing::warn!(%username, %ip, method, why, "sign-in refused");
    append(
        state,
        username,
        "web.sign_in_refused",
        json!({ "ip": ip, "method": method, "reason": why }),
    )
    .await;
}

/// Record a sign-out.
pub async fn signed_out(state: &WebState, username: &str, ip: &str) {
    tracing::info!(%username, %ip, "signed out");
    append(state, username, "web.sign_out", json!({ "ip": ip })).await;
}
