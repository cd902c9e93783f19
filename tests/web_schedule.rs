//! The desk's schedule page (`/schema`) over the application's own scheduler and ledger: the
//! jobs with their next runs, the pause switch (CSRF, roles, audited) that the reminders job
//! obeys, and the reminders per clinic (skipped while paused, queued after); the same switch
//! from `vardval reminders pause|resume`. Both databases.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use vardval::config::WebSettings;
use vardval::domain::access::Role;
use vardval::jobs::scheduler::JobKind;
use vardval::ports::Clock;
use vardval::store::AuditFilter;
use vardval::web::WebState;
use vardval::web::auth::hash_password;

use common::app::{Overrides, spawn_app};
use common::webclient::Client;

const CLINICS: &str = "id,name,emails,listed_inhabitants\n\
a,Vårdcentralen A,a@a.vc.test,100\n\
b,Vårdcentralen B,b@vc.test,100\n";

const PASSWORD: &str = "ett-långt-lösenord";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn client(state: &WebState) -> Client {
    Client {
        app: vardval::web::router(state.clone()),
        cookies: Vec::new(),
        ip: "192.0.2.20:50000".parse().unwrap(),
    }
}

async fn audit_actions(store: &vardval::store::Store) -> Vec<(String, String)> {
    store
        .audit_list(50, &AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.actor, r.action))
        .collect()
}

async fn pause_switch_is_obeyed_and_shown(url: String) {
    let app = spawn_app(
        &url,
        Overrides {
            clinics_csv: Some(CLINICS.into()),
            ..Default::default()
        },
    )
    .await;
    let sch = Arc::new(app.scheduler(&[(JobKind::Reminders, "0 0 8 * * *")]).await);
    let store = sch.ctx.store.clone();
    for (user, role) in [("granskare", Role::Reviewer), ("ekonomi", Role::Finance)] {
        let h = hash_password(PASSWORD).unwrap();
        assert!(
            store
                .add_user(user, role, &h, app.clock.now())
                .await
                .unwrap()
        );
    }
    let desk = common::desk::review_desk(&store, vec![], false);
    let archive = Arc::new(vardval::adapters::archive::Archive::new(
        app.path("archive"),
    ));
    let state = WebState::new(WebSettings::default(), desk, app.clock.clone(), archive)
        .unwrap()
        .with_scheduler(sch.clone());

    sch.tick(t("2026-01-01T00:00:00Z")).await.unwrap();
    let mut c = client(&state);
    assert_eq!(
        c.sign_in("granskare", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let page = c.get("/schema").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text());
    let html = page.text();
    assert!(html.contains("Påminnelser till vårdcentraler"), "{html}");
    assert!(html.contains("0 0 8 * * *"));
    assert!(html.contains("Inga påminnelser har gått ut ännu"));
    assert!(html.contains("Pausa påminnelserna"));

    // Pause: the form's token is needed.
    let no_token = c.post("/schema/paus", &[("paus", "1")]).await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(!store.reminders_paused().await.unwrap());
    let csrf = page.csrf();
    let r = c
        .post("/schema/paus", &[("paus", "1"), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(store.reminders_paused().await.unwrap());
    assert!(
        audit_actions(&store)
            .await
            .contains(&("web:granskare".into(), "reminders.pause".into()))
    );

    // The 14-day reminders fall due while paused: skipped, nothing queued.
    let r = sch.tick(t("2026-02-01T08:00:00Z")).await.unwrap();
    assert!(r.runs[0].outcome.starts_with("paused: 2"), "{r:?}");
    let html = c.get("/schema").await.text();
    assert!(html.contains("Påminnelserna är pausade"), "{html}");
    assert!(html.contains("Vårdcentralen A") && html.contains("hoppades över (pausat)"));

    // Resume; the 3-day reminders go out as usual (the skipped ones are not sent later).
    let csrf = c.get("/schema").await.csrf();
    let r = c
        .post("/schema/paus", &[("paus", "0"), ("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(!store.reminders_paused().await.unwrap());
    let r = sch.tick(t("2026-02-12T08:00:00Z")).await.unwrap();
    assert!(r.runs[0].outcome.contains("2 queued"), "{r:?}");
    let html = c.get("/schema").await.text();
    assert!(html.contains("väntar i utkorgen"), "{html}");
    assert!(
        html.contains("projektplan: 3 dagar före sista dag"),
        "{html}"
    );
    assert!(
        audit_actions(&store)
            .await
            .contains(&("web:granskare".into(), "reminders.resume".into()))
    );
    assert!(store.audit_verify().await.unwrap().ok());

    // The same switch from the command line, audited as the named person.
    let cli = |verb: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vardval"))
            .args(["reminders", verb, "--config"])
            .arg(&app.config)
            .args(["--as", "eva"])
            .output()
            .unwrap()
    };
    let out = cli("pause");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("nu pausade"));
    assert!(store.reminders_paused().await.unwrap());
    let out = cli("pause");
    assert!(String::from_utf8_lossy(&out.stdout).contains("redan pausade"));
    assert!(
        audit_actions(&store)
            .await
            .contains(&("cli:eva".into(), "reminders.pause".into()))
    );
    assert!(
        c.get("/schema")
            .await
            .text()
            .contains("Påminnelserna är pausade")
    );
    cli("resume");
    assert!(!store.reminders_paused().await.unwrap());

    // Finance may not see or switch it.
    let mut f = client(&state);
    f.sign_in("ekonomi", PASSWORD).await;
    assert_eq!(f.get("/schema").await.status, StatusCode::FORBIDDEN);
    sch.ctx.store.close().await;
}

both!(pause_switch_is_obeyed_and_shown);
