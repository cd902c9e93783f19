//! Sign-in through a real OpenID provider (oidc-provider from npm, started on loopback by
//! each test; `tests/oidc/provider.mjs`), end to end: the desk's `/logga-in/oidc` sends the
//! browser to the provider, the test follows the provider's redirects as a browser would, and
//! hands the callback to the desk, which trades the code (PKCE, client secret) for tokens and
//! verifies the ID token. Cases: success (group and user mapping, session, audit, the state
//! used once), client_secret_basic, a tampered nonce, a provider that is not the configured
//! issuer, an authorization code that expired at the provider, a person with no mapped role,
//! a local account's name, a disabled account, a sign-in that took too long on the desk's
//! clock, a state from another browser, and the local form turned off; `vardval doctor`
//! against the provider. Every desk test runs on SQLite and on PostgreSQL.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use vardval::adapters::http::HyperHttp;
use vardval::config::{OidcSettings, TokenAuth, WebSettings};
use vardval::domain::access::Role;
use vardval::ports::Clock;
use vardval::store::{AuditFilter, AuditRow, OIDC_ACCOUNT};

use common::desk::{Desk, PASSWORD, seed};
use common::oidc::{self, Browser, Provider, desk_path};
use common::webclient::{Client, Page};

/// The seeded desk's clock at the start (common::desk::seed), where the provider's starts too.
fn start_time() -> chrono::DateTime<chrono::Utc> {
    common::desk::t("2026-02-23T08:00:00Z")
}

fn settings(op: &Provider, auth: TokenAuth) -> OidcSettings {
    toml::from_str::<OidcSettings>(&format!(
        r#"
        issuer = "http://127.0.0.1:{port}"
        client_id = "{id}"
        client_secret_env = "UNUSED_IN_TESTS"
        [groups]
        "grp-vardval-granskare" = "reviewer"
        [users]
        "Adam.Admin@rjl.test" = "admin"
        "#,
        port = op.port,
        id = op.client_id,
    ))
    .map(|mut s| {
        s.token_auth = auth;
        s
    })
    .unwrap()
}

/// A seeded desk signing in through `op`.
async fn desk_with(url: &str, dir: &std::path::Path, op: &Provider, auth: TokenAuth) -> Desk {
    desk_local(url, dir, op, auth, true).await
}

/// The same, with the local sign-in form on or off.
async fn desk_local(
    url: &str,
    dir: &std::path::Path,
    op: &Provider,
    auth: TokenAuth,
    local_login: bool,
) -> Desk {
    let oidc = settings(op, auth);
    let web = WebSettings {
        public_url: Some("http://127.0.0.1:8080".into()),
        oidc: Some(oidc.clone()),
        local_login,
        ..WebSettings::default()
    };
    web.validate().unwrap();
    let mut d = seed(url, dir, web).await;
    let http = HyperHttp::new(None, std::time::Duration::from_secs(10)).unwrap();
    let provider = vardval::web::oidc::Provider::new(
        oidc,
        op.client_secret.clone(),
        oidc::REDIRECT.into(),
        Arc::new(http),
    );
    d.state = d.state.with_oidc(provider);
    d
}

/// With `[web] local_login = false` the page offers only the provider, and the form's POST
/// is refused even with a valid account and token.
async fn local_sign_in_can_be_turned_off(url: String) {
    let op = oidc::start("127.0.0.1", "client_secret_post", start_time());
    let dir = tempfile::tempdir().unwrap();
    let d = desk_local(&url, dir.path(), &op, TokenAuth::ClientSecretPost, false).await;
    let mut c = Client::new(&d);
    let page = c.get("/logga-in").await;
    let html = page.text();
    assert!(html.contains("Logga in med regionens konto"));
    assert!(!html.contains("id=\"password\""), "no password form");
    // The local form's POST, with a token as the form would carry it.
    c.cookies.push(("vardval_login".into(), "t0k3n".into()));
    let r = c
        .post(
            "/logga-in",
            &[
                ("username", "granskare"),
                ("password", PASSWORD),
                ("csrf", "t0k3n"),
                ("next", "/tavla"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    no_session(&c, &r);
}

/// A provider started at the desk's time, and a seeded desk signing in through it.
async fn setup(
    url: &str,
    issuer_host: &str,
    auth: TokenAuth,
) -> (Provider, tempfile::TempDir, Desk) {
    let method = match auth {
        TokenAuth::ClientSecretPost => "client_secret_post",
        TokenAuth::ClientSecretBasic => "client_secret_basic",
    };
    let op = oidc::start(issuer_host, method, start_time());
    let dir = tempfile::tempdir().unwrap();
    let d = desk_with(url, dir.path(), &op, auth).await;
    (op, dir, d)
}

/// Sign in as `account` through the provider, untampered: the desk's answer to the callback.
async fn through_provider(c: &mut Client, op: &Provider, account: &str) -> Page {
    let back = to_callback(c, op, account, |u| u).await;
    c.get(&desk_path(&back)).await
}

/// Start at the desk, go through the provider as `account` (with `tamper` applied to the
/// authorization request), return the desk's callback address.
async fn to_callback(
    c: &mut Client,
    op: &Provider,
    account: &str,
    tamper: impl Fn(String) -> String,
) -> String {
    let start = c.get("/logga-in/oidc?next=/tavla").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.text());
    let auth = start.location.clone().unwrap();
    assert!(auth.starts_with(&op.issuer), "{auth}");
    for p in [
        "response_type=code",
        "code_challenge_method=S256",
        "code_challenge=",
        "nonce=",
        "state=",
        "scope=openid+profile+email",
    ] {
        assert!(auth.contains(p), "{p} in {auth}");
    }
    let url = tamper(format!("{auth}&login_hint={}", urlencode(account)));
    Browser::default().until_back_at_desk(&url).await
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)]).unwrap()[1..].to_string()
}

async fn audits(d: &Desk, action: &str) -> Vec<AuditRow> {
    d.store
        .audit_list(
            50,
            &AuditFilter {
                action: Some(action.into()),
                ..AuditFilter::default()
            },
        )
        .await
        .unwrap()
}

async fn refusal_reason(d: &Desk) -> String {
    let rows = audits(d, "web.sign_in_refused").await;
    assert!(!rows.is_empty(), "the refusal is audited");
    rows[0].detail.clone()
}

fn no_session(c: &Client, page: &Page) {
    assert!(c.session().is_none(), "no session: {}", page.text());
}

async fn success_maps_roles_and_starts_a_session(url: String) {
    let (op, _dir, d) = setup(&url, "127.0.0.1", TokenAuth::ClientSecretPost).await;

    let mut c = Client::new(&d);
    let login = c.get("/logga-in").await;
    assert!(
        login.text().contains("Logga in med regionens konto"),
        "the sign-in page offers the provider"
    );
    let back = to_callback(&mut c, &op, "rut.granskare@rjl.test", |u| u).await;
    let done = c.get(&desk_path(&back)).await;
    if done.status != StatusCode::SEE_OTHER {
        panic!("refused: {:?}", audits(&d, "web.sign_in_refused").await);
    }
    assert_eq!(done.location.as_deref(), Some("/tavla"));
    assert!(c.session().is_some());
    assert!(
        !c.cookies.iter().any(|(k, _)| k == "vardval_oidc"),
        "the state cookie is cleared"
    );
    let board = c.get("/tavla").await;
    assert_eq!(board.status, StatusCode::OK);
    assert!(board.text().contains("rut.granskare@rjl.test"));

    let u = d
        .store
        .user("rut.granskare@rjl.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.role, Role::Reviewer, "from the group");
    assert_eq!(u.password_hash, OIDC_ACCOUNT);
    let signed = audits(&d, "web.sign_in").await;
    assert!(
        signed[0].detail.contains("\"method\":\"oidc\""),
        "{}",
        signed[0].detail
    );
    assert_eq!(signed[0].actor, "web:rut.granskare@rjl.test");

    // The callback again (a replayed address): the state was used.
    let again = c.get(&desk_path(&back)).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);

    // The local form cannot sign in an account of the provider's.
    let mut local = Client::new(&d);
    let refused = local.sign_in("rut.granskare@rjl.test", "").await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    // A user mapping (compared without case) wins over the groups.
    let mut a = Client::new(&d);
    let done = through_provider(&mut a, &op, "adam.admin@rjl.test").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text());
    let u = d.store.user("adam.admin@rjl.test").await.unwrap().unwrap();
    assert_eq!(u.role, Role::Admin);

    // Disabled here: the provider's yes is not enough.
    d.store
        .disable_user("adam.admin@rjl.test", d.clock.now())
        .await
        .unwrap();
    let mut a2 = Client::new(&d);
    let refused = through_provider(&mut a2, &op, "adam.admin@rjl.test").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.text().contains("avstängt"));
    no_session(&a2, &refused);
    assert!(refusal_reason(&d).await.contains("disabled"));
}

async fn client_secret_basic_works(url: String) {
    let (op, _dir, d) = setup(&url, "127.0.0.1", TokenAuth::ClientSecretBasic).await;
    let mut c = Client::new(&d);
    let done = through_provider(&mut c, &op, "rut.granskare@rjl.test").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.text());
    assert!(c.session().is_some());
}

async fn a_wrong_nonce_is_refused(url: String) {
    let (op, _dir, d) = setup(&url, "127.0.0.1", TokenAuth::ClientSecretPost).await;
    let mut c = Client::new(&d);
    // Someone swaps the nonce in the authorization request: the provider signs the token
    // with that nonce, which is not this sign-in's.
    let back = to_callback(&mut c, &op, "rut.granskare@rjl.test", |u| {
        let mut url = url::Url::parse(&u).unwrap();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "nonce" {
                    "forged-nonce".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        url.to_string()
    })
    .await;
    let page = c.get(&desk_path(&back)).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.text());
    assert!(page.text().contains("Inloggningen kunde inte slutföras"));
    no_session(&c, &page);
    assert!(refusal_reason(&d).await.contains("nonce"));
}

async fn a_wrong_issuer_is_refused(url: String) {
    // The provider names itself http://localhost:PORT; the desk is configured with
    // http://127.0.0.1:PORT, whose discovery document therefore names another issuer.
    let (_op, _dir, d) = setup(&url, "localhost", TokenAuth::ClientSecretPost).await;
    let mut c = Client::new(&d);
    let page = c.get("/logga-in/oidc?next=/tavla").await;
    assert_eq!(page.status, StatusCode::BAD_GATEWAY, "{}", page.text());
    assert!(
        page.text()
            .contains("Det gick inte att nå regionens inloggning")
    );
    no_session(&c, &page);
    let why = refusal_reason(&d).await;
    assert!(why.contains("issuer") && why.contains("localhost"), "{why}");
}

async fn an_expired_code_is_refused(url: String) {
    let (op, _dir, d) = setup(&url, "127.0.0.1", TokenAuth::ClientSecretPost).await;
    let mut c = Client::new(&d);
    let back = to_callback(&mut c, &op, "rut.granskare@rjl.test", |u| u).await;
    // The code lives 60 s at the provider; its clock moves on two minutes.
    oidc::advance_clock(&op, 120).await;
    let page = c.get(&desk_path(&back)).await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED, "{}", page.text());
    no_session(&c, &page);
    let why = refusal_reason(&d).await;
    assert!(why.contains("invalid_grant"), "{why}");
}

async fn a_person_without_a_role_is_refused(url: String) {
    let (op, _dir, d) = setup(&url, "127.0.0.1", TokenAuth::ClientSecretPost).await;
    let mut c = Client::new(&d);
    let page = through_provider(&mut c, &op, "otto.obehorig@rjl.test").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.text());
    let text = page.text();
    assert!(text.contains("otto.obehorig@rjl.test") && text.contains("ingen roll"));
    no_session(&c, &page);
    assert!(
        d.store
            .user("otto.obehorig@rjl.test")
            .await
            .unwrap()
            .is_none()
    );
    let why = refusal_reason(&d).await;
    assert!(why.contains("no role"), "{why}");
    assert_eq!(
        audits(&d, "web.sign_in_refused").await[0].actor,
        "web:otto.obehorig@rjl.test"
    );
}

async fn a_local_account_is_not_taken_over(url: String) {
    let (op, _dir, d) = setup(&url, "127.0.0.1", TokenAuth::ClientSecretPost).await;
    let hash = vardval::web::auth::hash_password(PASSWORD).unwrap();
    assert!(
        d.store
            .add_user(
                "rut.granskare@rjl.test",
                Role::Finance,
                &hash,
                d.clock.now()
            )
            .await
            .unwrap()
    );
    let mut c = Client::new(&d);
    let page = through_provider(&mut c, &op, "rut.granskare@rjl.test").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.text());
    assert!(page.text().contains("lokalt konto"));
    no_session(&c, &page);
    let u = d
        .store
        .user("rut.granskare@rjl.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.role, Role::Finance, "the local account is untouched");
}

async fn a_slow_or_foreign_state_is_refused(url: String) {
    let (op, _dir, d) = setup(&url, "127.0.0.1", TokenAuth::ClientSecretPost).await;

    // Eleven minutes between leaving the desk and coming back (the desk's clock).
    let mut c = Client::new(&d);
    let back = to_callback(&mut c, &op, "rut.granskare@rjl.test", |u| u).await;
    d.clock.advance(std::time::Duration::from_secs(11 * 60));
    let page = c.get(&desk_path(&back)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text());
    no_session(&c, &page);
    assert!(refusal_reason(&d).await.contains("ten minutes"));

    // A callback started in another browser (login CSRF): this browser has no such state.
    let mut victim = Client::new(&d);
    let mut attacker = Client::new(&d);
    let back = to_callback(&mut attacker, &op, "rut.granskare@rjl.test", |u| u).await;
    let page = victim.get(&desk_path(&back)).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.text());
    no_session(&victim, &page);
    assert!(refusal_reason(&d).await.contains("not this browser's"));
}

/// The ledger's side: a pending sign-in is taken once, the expired ones are swept, and no
/// more than the limit are kept.
async fn pending_sign_ins_are_bounded_and_single_use(url: String) {
    let store = vardval::store::Store::connect(&url).await.unwrap();
    let now = start_time();
    let p = |n: &str, minutes: i64| vardval::store::OidcPending {
        state_hash: n.into(),
        nonce: format!("nonce-{n}"),
        code_verifier: format!("verifier-{n}"),
        next_path: "/tavla".into(),
        expires_at: now + chrono::Duration::minutes(minutes),
    };
    assert!(store.start_oidc(&p("a", 10), now, 2).await.unwrap());
    assert!(store.start_oidc(&p("b", 1), now, 2).await.unwrap());
    assert!(
        !store.start_oidc(&p("c", 10), now, 2).await.unwrap(),
        "the limit holds"
    );
    // Two minutes on, b has expired and is swept: room for c.
    let later = now + chrono::Duration::minutes(2);
    assert!(store.start_oidc(&p("c", 10), later, 2).await.unwrap());
    assert!(store.take_oidc("b").await.unwrap().is_none(), "swept");
    let a = store.take_oidc("a").await.unwrap().unwrap();
    assert_eq!(a.nonce, "nonce-a");
    assert_eq!(a.code_verifier, "verifier-a");
    assert_eq!(a.expires_at, now + chrono::Duration::minutes(10));
    assert!(store.take_oidc("a").await.unwrap().is_none(), "taken once");
}

both!(
    pending_sign_ins_are_bounded_and_single_use,
    local_sign_in_can_be_turned_off,
    success_maps_roles_and_starts_a_session,
    client_secret_basic_works,
    a_wrong_nonce_is_refused,
    a_wrong_issuer_is_refused,
    an_expired_code_is_refused,
    a_person_without_a_role_is_refused,
    a_local_account_is_not_taken_over,
    a_slow_or_foreign_state_is_refused,
);

/// A configuration for `vardval doctor` with `[web.oidc]` pointing at `op`.
fn doctor_config(dir: &std::path::Path, op: &Provider) -> std::path::PathBuf {
    let extra = format!(
        "[web]\nenabled = false\npublic_url = \"http://127.0.0.1:8080\"\n[web.oidc]\n\
         issuer = \"http://127.0.0.1:{}\"\nclient_id = \"{}\"\n\
         client_secret_env = \"VARDVAL_TEST_OIDC_SECRET\"\n[web.oidc.groups]\n\
         \"grp-vardval-granskare\" = \"reviewer\"",
        op.port, op.client_id
    );
    common::cli_config(dir, "sqlite://vardval.db", &extra)
}

fn doctor(cfg: &std::path::Path, secret: Option<&str>) -> (bool, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vardval"));
    cmd.args(["doctor", "--config"]).arg(cfg);
    cmd.env_remove("VARDVAL_TEST_OIDC_SECRET");
    if let Some(s) = secret {
        cmd.env("VARDVAL_TEST_OIDC_SECRET", s);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `vardval doctor` reads the provider's discovery document and keys, and names what is wrong.
#[test]
fn doctor_checks_the_sign_in_provider() {
    let now = vardval::ports::Clock::now(&vardval::ports::SystemClock);
    let dir = tempfile::tempdir().unwrap();
    let op = oidc::start("127.0.0.1", "client_secret_post", now);
    let cfg = doctor_config(dir.path(), &op);
    let (ok, text) = doctor(&cfg, Some(&op.client_secret));
    assert!(ok, "{text}");
    assert!(
        text.contains("ok    sign-in provider ([web.oidc]): issuer http://127.0.0.1:")
            && text.contains("1 signing keys"),
        "{text}"
    );
    let (ok, text) = doctor(&cfg, None);
    assert!(!ok);
    assert!(
        text.contains("FEL   sign-in provider") && text.contains("VARDVAL_TEST_OIDC_SECRET"),
        "{text}"
    );
    // A provider that names another issuer.
    let other = oidc::start("localhost", "client_secret_post", now);
    let cfg = doctor_config(dir.path(), &other);
    let (ok, text) = doctor(&cfg, Some("x"));
    assert!(!ok);
    assert!(
        text.contains("FEL   sign-in provider") && text.contains("names issuer"),
        "{text}"
    );
}
