//! Starts the desk beside the daemon in `vardval run` (when `[web] enabled`), under the same
//! cancellation token.

use std::sync::Arc;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::domain::rulebook::Rulebook;
use crate::ports::Clock;
use crate::ports::{Fetched, WholeFile};
use crate::store::MessageRow;
use crate::store::Store;
use crate::web::{Reingest, WebState, serve};

/// Bind `[web] listen` now (a busy port is an error at start-up) and serve until `token`.
pub async fn spawn(
    s: &Settings,
    store: Store,
    rulebook: Rulebook,
    clock: Arc<dyn Clock>,
    scheduler: Option<Arc<crate::jobs::scheduler::Scheduler>>,
    token: CancellationToken,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    let reingest = Arc::new(PipelineReingest {
        settings: s.clone(),
        clock: clock.clone(),
    });
    let archive = Arc::new(crate::adapters::archive::Archive::new(
        s.resolve(&s.archive.dir),
    ));
    let payouts = super::build_payouts(s, &rulebook)?;
    let mut state = WebState::build(s, store, rulebook, clock, archive)?
        .with_reingest(reingest)
        .with_payouts(payouts);
    if let Some(o) = &s.web.oidc {
        state = state.with_oidc(oidc_provider(s, o)?);
    }
    if let Some(sch) = scheduler {
        state = state.with_scheduler(sch);
    }
    let listener = tokio::net::TcpListener::bind(&s.web.listen)
        .await
        .with_context(|| format!("cannot listen on [web] listen = {}", s.web.listen))?;
    Ok(tokio::spawn(serve(state, listener, token)))
}

/// The identity provider of `[web.oidc]`: the client secret from its environment variable
/// (missing is an error at start-up), HTTP through the hyper adapter.
pub fn oidc_provider(
    s: &Settings,
    o: &crate::config::OidcSettings,
) -> anyhow::Result<crate::web::oidc::Provider> {
    let secret = std::env::var(&o.client_secret_env).with_context(|| {
        format!(
            "[web.oidc] client_secret_env = {:?}: that environment variable is not set",
            o.client_secret_env
        )
    })?;
    let redirect = o
        .redirect_url(s.web.public_url.as_deref())
        .context("[web.oidc] needs redirect_url or [web] public_url")?;
    let ca = o.ca_file.as_ref().map(|p| s.resolve(p));
    let http =
        crate::adapters::http::HyperHttp::new(ca.as_deref(), std::time::Duration::from_secs(10))?;
    Ok(crate::web::oidc::Provider::new(
        o.clone(),
        secret,
        redirect,
        Arc::new(http),
    ))
}

/// Records an assigned triage mail through a pipeline built for the purpose: its registry is
/// read from the ledger now, so it knows the address the assignment just taught it.
struct PipelineReingest {
    settings: Settings,
    clock: Arc<dyn Clock>,
}

impl Reingest for PipelineReingest {
    fn reingest<'a>(
        &'a self,
        message: &'a MessageRow,
        triage_id: i64,
    ) -> futures::future::BoxFuture<'a, anyhow::Result<String>> {
        Box::pin(reingest_triage(
            &self.settings,
            self.clock.clone(),
            message,
            triage_id,
        ))
    }
}

/// Record an assigned triage item's mail again through a pipeline built now (its registry
/// read from the ledger, so it knows the address just learned), keyed `triage:<id>` and with
/// the server's original receive time. Returns the outcome, for the log.
pub async fn reingest_triage(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    message: &MessageRow,
    triage_id: i64,
) -> anyhow::Result<String> {
    let p = super::build_pipeline(settings, clock).await?;
    // A mail over max_message_bytes is read as the sources read it: its header, and the
    // archived file itself for the archive step (never whole in memory).
    let archived = std::path::Path::new(&message.archive_path);
    let size = std::fs::metadata(archived).map(|m| m.len()).ok();
    let (bytes, only_header_of, whole_file) = match size {
        Some(len) if len > settings.limits.max_message_bytes() => (
            crate::adapters::maildir::read_header(archived)
                .with_context(|| format!("cannot read {}", archived.display()))?,
            Some(len),
            Some(WholeFile {
                path: archived.to_path_buf(),
                temporary: false,
            }),
        ),
        _ => (
            p.archive
                .get(&message.sha256)
                .with_context(|| format!("cannot read {} from the archive", message.sha256))?,
            None,
            None,
        ),
    };
    let outcome = p
        .ingest_one(&Fetched {
            source_key: format!("triage:{triage_id}"),
            bytes,
            received_at: message.received_at,
            handle: String::new(),
            only_header_of,
            whole_file,
        })
        .await;
    p.store.close().await;
    Ok(format!("{:?}", outcome?))
}
