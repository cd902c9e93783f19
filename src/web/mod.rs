//! The reviewers' desk: an axum server with server-rendered Swedish pages (no script; forms
//! and links only), served by `vardval run` beside the daemon under the same cancellation
//! token.
//!
//! - [`auth`]: accounts (argon2id), sessions in the ledger, CSRF tokens, sign-in rate limits.
//! - [`oidc`]: sign-in with the Region's identity provider (OpenID Connect, code + PKCE).
//! - [`security`]: the security headers on every response.
//! - [`render`]: the minijinja templates under `templates/web/` and the error pages.
//! - [`board`], [`submission`], [`decide`], [`countersign`], [`triage`], [`finance`],
//!   [`schedule`], [`registry`]: the pages; decisions go through the
//!   review core ([`crate::review::Desk`]), never around it. Handlers stay thin; queries live in
//!   `crate::store`, rules in `crate::domain`.
//!
//! Entry points: [`WebState::build`] and [`serve`]. See `docs/desk.md`.

pub mod audit;
pub mod auth;
pub mod board;
pub mod countersign;
pub mod decide;
pub mod finance;
pub mod oidc;
pub mod registry;
pub mod render;
pub mod schedule;
pub mod security;
pub mod submission;
pub mod triage;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use crate::config::{Settings, WebSettings};
use crate::domain::rulebook::Rulebook;
use crate::ports::Clock;
use crate::ports::RawArchive;
use crate::reply::{Composer, Templates};
use crate::review::Desk;
use crate::store::Store;

/// Everything a handler needs. Cheap to clone.
#[derive(Clone)]
pub struct WebState {
    inner: Arc<Inner>,
}

struct Inner {
    /// The review core: the ledger, the mail composer (with the cycle's rulebook) and the
    /// coaches copied on red decisions.
    desk: Desk,
    clock: Arc<dyn Clock>,
    settings: WebSettings,
    archive: Arc<dyn RawArchive>,
    templates: render::Templates,
    /// Records a triage item's mail again once it has been assigned (set by the
    /// composition root; without it, an assignment only teaches the registry).
    reingest: Option<Arc<dyn Reingest>>,
    /// The payout settings and rulebooks (set by the composition root): without them the
    /// finance page shows the sealed batches but not what is due next.
    payouts: Option<crate::jobs::payouts::Payouts>,
    /// The identity provider for `[web.oidc]` sign-in (set by the composition root).
    oidc: Option<Arc<oidc::Provider>>,
    /// The daemon's scheduler, whose jobs the schedule page shows (set by the composition
    /// root; none with `[schedule] enabled = false`).
    scheduler: Option<Arc<crate::jobs::scheduler::Scheduler>>,
    /// `[reminders] paused` in the configuration (the page's switch cannot undo it).
    reminders_paused_in_config: bool,
    /// `[reviewers] coach_clinics`, keys lower-cased: the clinics each coach may read.
    coach_clinics: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
}

/// Reads an archived message again after a reviewer assigned it to a clinic, so that the plan
/// in it is recorded with the server's original receive time (and the clinic gets its
/// receipt). Implemented over the intake pipeline by the composition root.
pub trait Reingest: Send + Sync {
    /// `message` is the triage item's message; the key of the new record is
    /// `triage:<triage_id>`, so doing it twice records nothing new. Returns a short English
    /// description of the outcome, for the log.
    fn reingest<'a>(
        &'a self,
        message: &'a crate::store::MessageRow,
        triage_id: i64,
    ) -> futures::future::BoxFuture<'a, anyhow::Result<String>>;
}

impl WebState {
    /// The desk's state from the settings, an open ledger, the cycle's rulebook, a clock and
    /// the raw-message archive (for the original files and triage mail).
    pub fn build(
        settings: &Settings,
        store: Store,
        rulebook: Rulebook,
        clock: Arc<dyn Clock>,
        archive: Arc<dyn RawArchive>,
    ) -> anyhow::Result<WebState> {
        let from: lettre::message::Mailbox = settings.smtp.from.parse().context("[smtp] from")?;
        let desk = Desk {
            store,
            composer: Composer {
                templates: Templates::load(None)?,
                rulebook,
                from,
            },
            coach_emails: settings.reviewers.coach_emails.clone(),
            two_person_rule: settings.reviewers.two_person_rule,
        };
        let mut state = Self::new(settings.web.clone(), desk, clock, archive)?
            .with_coach_clinics(&settings.reviewers.coach_clinics);
        if let Some(inner) = Arc::get_mut(&mut state.inner) {
            inner.reminders_paused_in_config = settings.reminders.paused;
        }
        Ok(state)
    }

    /// The same from parts (tests).
    pub fn new(
        web: WebSettings,
        desk: Desk,
        clock: Arc<dyn Clock>,
        archive: Arc<dyn RawArchive>,
    ) -> anyhow::Result<WebState> {
        Ok(WebState {
            inner: Arc::new(Inner {
                desk,
                clock,
                settings: web,
                archive,
                templates: render::Templates::load()?,
                reingest: None,
                payouts: None,
                oidc: None,
                scheduler: None,
                reminders_paused_in_config: false,
                coach_clinics: Default::default(),
            }),
        })
    }

    /// With a way to record assigned triage mail again (see [`Reingest`]).
    pub fn with_reingest(self, r: Arc<dyn Reingest>) -> WebState {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| {
            panic!("with_reingest is called while building, before the state is shared")
        });
        WebState {
            inner: Arc::new(Inner {
                reingest: Some(r),
                ..inner
            }),
        }
    }

    /// With the payout settings (see [`Inner::payouts`]).
    pub fn with_payouts(self, p: crate::jobs::payouts::Payouts) -> WebState {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| {
            panic!("with_payouts is called while building, before the state is shared")
        });
        WebState {
            inner: Arc::new(Inner {
                payouts: Some(p),
                ..inner
            }),
        }
    }

    /// With sign-in through an OpenID provider (see [`oidc`]).
    pub fn with_oidc(self, p: oidc::Provider) -> WebState {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| {
            panic!("with_oidc is called while building, before the state is shared")
        });
        WebState {
            inner: Arc::new(Inner {
                oidc: Some(Arc::new(p)),
                ..inner
            }),
        }
    }

    /// With the daemon's scheduler (see [`schedule`]).
    pub fn with_scheduler(self, s: Arc<crate::jobs::scheduler::Scheduler>) -> WebState {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| {
            panic!("with_scheduler is called while building, before the state is shared")
        });
        WebState {
            inner: Arc::new(Inner {
                scheduler: Some(s),
                ..inner
            }),
        }
    }

    pub fn scheduler(&self) -> Option<&crate::jobs::scheduler::Scheduler> {
        self.inner.scheduler.as_deref()
    }

    pub fn reminders_paused_in_config(&self) -> bool {
        self.inner.reminders_paused_in_config
    }

    pub fn oidc(&self) -> Option<&oidc::Provider> {
        self.inner.oidc.as_deref()
    }

    /// With the coaches' clinics (`[reviewers] coach_clinics`).
    pub fn with_coach_clinics(
        self,
        raw: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> WebState {
        let inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| {
            panic!("with_coach_clinics is called while building, before the state is shared")
        });
        WebState {
            inner: Arc::new(Inner {
                coach_clinics: crate::domain::access::coach_map(raw),
                ..inner
            }),
        }
    }

    /// The clinics `viewer` may read (a coach: their own; everyone else: all).
    pub fn scope(&self, viewer: &auth::Viewer) -> crate::domain::access::ClinicScope {
        crate::domain::access::ClinicScope::of(
            viewer.role,
            &viewer.username,
            &self.inner.coach_clinics,
        )
    }

    pub fn payouts(&self) -> Option<&crate::jobs::payouts::Payouts> {
        self.inner.payouts.as_ref()
    }

    pub fn reingest(&self) -> Option<&Arc<dyn Reingest>> {
        self.inner.reingest.as_ref()
    }

    pub fn desk(&self) -> &Desk {
        &self.inner.desk
    }
    pub fn store(&self) -> &Store {
        &self.inner.desk.store
    }
    pub fn rulebook(&self) -> &Rulebook {
        &self.inner.desk.composer.rulebook
    }
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }
    pub fn settings(&self) -> &WebSettings {
        &self.inner.settings
    }
    pub fn archive(&self) -> &dyn RawArchive {
        self.inner.archive.as_ref()
    }
    pub fn templates(&self) -> &render::Templates {
        &self.inner.templates
    }
}

/// The desk's routes (Swedish paths), with the security headers on every response.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(board::start))
        .route("/logga-in", get(auth::login_page).post(auth::login))
        .route("/logga-in/oidc", get(oidc::start))
        .route("/oidc/callback", get(oidc::callback))
        .route("/logga-ut", post(auth::logout))
        .route("/tavla", get(board::board_page))
        .route("/tavla.csv", get(board::board_csv))
        .route("/inlamning/{id}", get(submission::page))
        .route("/inlamning/{id}/original", get(submission::original))
        .route(
            "/inlamning/{id}/beslut",
            get(decide::form).post(decide::send),
        )
        .route(
            "/inlamning/{id}/beslut/forhandsgranska",
            post(decide::preview),
        )
        .route(
            "/inlamning/{id}/beslut/bekrafta",
            post(countersign::countersign),
        )
        .route("/inlamning/{id}/beslut/avvisa", post(countersign::reject))
        .route("/schema", get(schedule::page))
        .route("/schema/paus", post(schedule::pause))
        .route("/att-hantera", get(triage::list))
        .route("/att-hantera/{id}", get(triage::item))
        .route("/att-hantera/{id}/tilldela", post(triage::assign))
        .route("/att-hantera/{id}/avvisa", post(triage::reject))
        .route("/att-hantera/{id}/svara", post(triage::answer))
        .route("/utbetalningar", get(finance::page))
        .route("/utbetalningar/aterkrav", post(finance::decide_reclaim))
        .route(
            "/inlamning/{id}/presentation",
            post(finance::register_presentation),
        )
        .route("/utbetalningar/{number}", get(finance::batch))
        .route("/utbetalningar/{number}/filer/{name}", get(finance::file))
        .route("/register", get(registry::list))
        .route(
            "/register/andra",
            get(registry::change::form).post(registry::change::apply),
        )
        .route(
            "/register/andra/forhandsgranska",
            post(registry::change::preview),
        )
        .route("/register/{id}", get(registry::clinic))
        .route("/desk.css", get(render::stylesheet))
        .fallback(render::not_found)
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(state)
}

/// Serve the desk on `listener` until `shutdown` is cancelled (in-flight requests finish).
pub async fn serve(
    state: WebState,
    listener: tokio::net::TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "desk listening");
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await?;
    Ok(())
}
