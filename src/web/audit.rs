//! The desk's own entries in the audit log: sign-in and sign-out. Decisions are audited by
//! the review core, triage actions by the store in their own transactions.

use serde_json::json;

use super::WebState;
use crate::store::NewAudit;

async fn append(state: &WebState, username: &str, action: &str, ip: &str) {
    let row = NewAudit::new(
        format!("web:{username}"),
        action,
        format!("user:{username}"),
        json!({ "ip": ip }),
    );
    // A failure to audit is logged, not shown: the session change itself has happened.
    if let Err(e) = state.store().audit_append(&row, state.now()).await {
        tracing::error!(%username, action, error = %e, "cannot write the audit row");
    }
}

/// Record a sign-in.
pub async fn signed_in(state: &WebState, username: &str, ip: &str) {
    tracing::info!(%username, %ip, "signed in");
    append(state, username, "web.sign_in", ip).await;
}

/// Record a sign-out.
pub async fn signed_out(state: &WebState, username: &str, ip: &str) {
    tracing::info!(%username, %ip, "signed out");
    append(state, username, "web.sign_out", ip).await;
}
