//! Page rendering: the minijinja templates under `templates/web/` (embedded in the binary,
//! HTML auto-escaped), the stylesheet, and the error pages every handler returns through
//! [`WebError`].

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::Environment;
use serde::Serialize;

/// The desk's templates, parsed once.
pub struct Templates {
    env: Environment<'static>,
}

const SOURCES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/web/base.html")),
    ("login.html", include_str!("../../templates/web/login.html")),
    ("board.html", include_str!("../../templates/web/board.html")),
    (
        "submission.html",
        include_str!("../../templates/web/submission.html"),
    ),
    (
        "decide.html",
        include_str!("../../templates/web/decide.html"),
    ),
    (
        "triage.html",
        include_str!("../../templates/web/triage.html"),
    ),
    (
        "triage_item.html",
        include_str!("../../templates/web/triage_item.html"),
    ),
    (
        "finance.html",
        include_str!("../../templates/web/finance.html"),
    ),
    (
        "finance_batch.html",
        include_str!("../../templates/web/finance_batch.html"),
    ),
    (
        "schedule.html",
        include_str!("../../templates/web/schedule.html"),
    ),
    (
        "registry.html",
        include_str!("../../templates/web/registry.html"),
    ),
    (
        "registry_clinic.html",
        include_str!("../../templates/web/registry_clinic.html"),
    ),
    (
        "registry_edit.html",
        include_str!("../../templates/web/registry_edit.html"),
    ),
    ("error.html", include_str!("../../templates/web/error.html")),
];

const STYLESHEET: &str = include_str!("../../templates/web/desk.css");

impl Templates {
    pub fn load() -> anyhow::Result<Templates> {
        let mut env = Environment::new();
        for (name, src) in SOURCES {
            env.add_template(name, src)
                .map_err(|e| anyhow::anyhow!("cannot parse template web/{name}: {e}"))?;
        }
        Ok(Templates { env })
    }

    /// Render a page; a template error becomes a 500 page.
    pub fn page<S: Serialize>(&self, name: &str, ctx: S) -> Result<Response, WebError> {
        let t = self
            .env
            .get_template(name)
            .map_err(|e| WebError::Internal(format!("template {name}: {e}")))?;
        let html = t
            .render(ctx)
            .map_err(|e| WebError::Internal(format!("template {name}: {e:#}")))?;
        Ok(Html(html).into_response())
    }

    fn error_page(&self, status: StatusCode, title: &str, text: &str) -> Response {
        let html = self
            .env
            .get_template("error.html")
            .and_then(|t| t.render(minijinja::context! { title, text }))
            .unwrap_or_else(|_| {
                format!("<!doctype html><html lang=\"sv\"><title>{status}</title>")
            });
        (status, Html(html)).into_response()
    }
}

/// Why a request was not served. Each becomes a Swedish page with the right status.
#[derive(Debug)]
pub enum WebError {
    /// Not signed in (or the session expired): to the sign-in page, then back.
    SignIn {
        next: String,
    },
    /// Signed in, but the role may not use this page.
    Forbidden,
    /// A form without its CSRF token (or with a wrong one).
    Csrf,
    NotFound,
    /// Too many failed sign-ins (the page says when to try again).
    BadRequest(String),
    Internal(String),
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        WebError::Internal(e.to_string())
    }
}

/// Error pages need the templates; they are built once per process.
fn templates() -> &'static Templates {
    static T: std::sync::OnceLock<Templates> = std::sync::OnceLock::new();
    T.get_or_init(|| Templates::load().expect("embedded templates parse"))
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let t = templates();
        match self {
            WebError::SignIn { next } => {
                let to = format!(
                    "/logga-in?{}",
                    serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default()
                );
                Redirect::to(&to).into_response()
            }
            WebError::Forbidden => t.error_page(
                StatusCode::FORBIDDEN,
                "Du har inte behörighet till sidan",
                "Ditt konto har inte den roll som sidan kräver. Kontakta en administratör om du behöver komma åt den.",
            ),
            WebError::Csrf => t.error_page(
                StatusCode::FORBIDDEN,
                "Formuläret kunde inte tas emot",
                "Formuläret saknade en giltig säkerhetskod. Gå tillbaka, ladda om sidan och försök igen.",
            ),
            WebError::NotFound => t.error_page(
                StatusCode::NOT_FOUND,
                "Sidan finns inte",
                "Adressen leder inte till någon sida här. Börja om från tavlan.",
            ),
            WebError::BadRequest(text) => t.error_page(
                StatusCode::BAD_REQUEST,
                "Det gick inte att genomföra",
                &text,
            ),
            WebError::Internal(detail) => {
                tracing::error!(%detail, "desk request failed");
                t.error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Något gick fel",
                    "Sidan kunde inte visas just nu. Försök igen om en stund; felet är loggat.",
                )
            }
        }
    }
}

pub async fn not_found() -> WebError {
    WebError::NotFound
}

pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}
