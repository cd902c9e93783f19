//! Starts the desk beside the daemon in `vardval run` (when `[web] enabled`), under the same
//! cancellation token.

use std::sync::Arc;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::domain::rulebook::Rulebook;
use crate::ports::Clock;
use crate::store::Store;
use crate::web::{WebState, serve};

/// Bind `[web] listen` now (a busy port is an error at start-up) and serve until `token`.
pub async fn spawn(
    s: &Settings,
    store: Store,
    rulebook: Rulebook,
    clock: Arc<dyn Clock>,
    token: CancellationToken,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    let state = WebState::build(s, store, rulebook, clock)?;
    let listener = tokio::net::TcpListener::bind(&s.web.listen)
        .await
        .with_context(|| format!("cannot listen on [web] listen = {}", s.web.listen))?;
    Ok(tokio::spawn(serve(state, listener, token)))
}
