//! The desk in headless Chromium over WebDriver (Debian's `chromium` + `chromium-driver`),
//! with axe-core run in every page (no serious or critical violation) and a screenshot of
//! every page saved to `docs/desk/`.
//!
//! Flows: sign in, board, open a submission, override a section, edit and send the decision
//! mail (it reaches the clinic's mailbox in the mail lab), triage assignment, the schedule
//! page's pause switch, a form without
//! its CSRF token refused, keyboard-only confirmation, a session expiring on the manual clock,
//! a finance user refused on a reviewer page, then the finance pages (what is due next, the
//! reclaims waiting, the batch sealed by a real payout run and its files), and the registry
//! as an admin (the list, a change previewed and saved, the clinic's history).
//!
//! A second test signs in through the Region's identity provider (a real oidc-provider on
//! loopback, tests/oidc/provider.mjs): the desk's button, the provider's page, back to the board.
//!
//! `VARDVAL_SKIP_BROWSER=1` skips (and says so); otherwise a missing browser, driver or
//! axe-core fails the test. `tests/run.sh` installs them. `VARDVAL_SKIP_MAIL=1` skips only the
//! mail-lab check.

mod common;
mod payouts_support;

use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vardval::config::WebSettings;
use vardval::ports::Transport;

use common::desk::{PASSWORD, seed};
use common::webdriver::{Browser, Driver, ENTER};

fn shots() -> PathBuf {
    common::root().join("docs/desk")
}

/// Screenshot the page as `name` and assert axe-core finds nothing serious in it.
async fn check_page(b: &Browser, axe: &str, name: &str) {
    b.screenshot(&shots().join(format!("{name}.png"))).await;
    let bad = b.axe_serious(axe).await;
    assert!(
        bad.is_empty(),
        "axe-core on {name} ({}): {bad:#?}",
        b.url().await
    );
}

async fn sign_in(b: &Browser, base: &str, user: &str) {
    b.goto(&format!("{base}/logga-in")).await;
    b.type_into("#username", user).await;
    b.type_into("#password", PASSWORD).await;
    b.click("form.login button[type=submit]").await;
    b.wait_for("Logga ut").await;
}

#[test]
fn desk_in_a_browser() {
    if std::env::var("VARDVAL_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("SKIPPED desk browser tests: VARDVAL_SKIP_BROWSER=1");
        return;
    }
    let rt = runtime();
    let r = rt.block_on(async { tokio::spawn(Box::pin(flows())).await });
    if let Err(e) = r {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A two-thread runtime; the flows are large futures and, unoptimised, polling them needs
/// more than the default 2 MiB of stack.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(32 << 20)
        .enable_all()
        .build()
        .unwrap()
}

/// Sign in through the Region's identity provider in the browser: the desk's button, the
/// provider's own page (a real oidc-provider on loopback), back to the board.
#[test]
fn oidc_sign_in_in_a_browser() {
    if std::env::var("VARDVAL_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("SKIPPED desk browser tests: VARDVAL_SKIP_BROWSER=1");
        return;
    }
    let rt = runtime();
    rt.block_on(oidc_flow());
}

async fn oidc_flow() {
    let axe = read_axe();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let callback = format!("{base}/oidc/callback");
    // The browser keeps the provider's cookies by the real time, so here both the provider
    // and (after seeding) the desk run on it.
    let real_now = vardval::ports::Clock::now(&vardval::ports::SystemClock);
    let op = common::oidc::start_with(&callback, "127.0.0.1", "client_secret_post", real_now);
    let oidc: vardval::config::OidcSettings = toml::from_str(&format!(
        "issuer = \"{}\"\nclient_id = \"{}\"\nclient_secret_env = \"UNUSED\"\n\
         [groups]\n\"grp-vardval-granskare\" = \"reviewer\"\n",
        op.issuer, op.client_id
    ))
    .unwrap();
    let web = WebSettings {
        public_url: Some(base.clone()),
        oidc: Some(oidc.clone()),
        ..WebSettings::default()
    };
    let mut d = seed(&url, dir.path(), web).await;
    d.clock.set(real_now);
    let http = vardval::adapters::http::HyperHttp::new(None, Duration::from_secs(10)).unwrap();
    d.state = d.state.with_oidc(vardval::web::oidc::Provider::new(
        oidc,
        op.client_secret.clone(),
        callback,
        std::sync::Arc::new(http),
    ));
    let token = CancellationToken::new();
    let server = tokio::spawn(vardval::web::serve(
        d.state.clone(),
        listener,
        token.clone(),
    ));
    let driver = Driver::start().await;
    let b = driver.session().await;

    b.goto(&format!("{base}/tavla")).await;
    b.wait_for("Logga in med regionens konto").await;
    check_page(&b, &axe, "01b-logga-in-regionens-konto").await;
    b.click("a.button").await;
    b.wait_for("Regionens inloggning (test)").await;
    assert!(b.url().await.starts_with(&op.issuer), "at the provider");
    b.type_into("#account", "rut.granskare@rjl.test").await;
    b.click("#sign-in").await;
    b.wait_for("Avsnitt över alla vårdcentraler").await;
    assert_eq!(
        b.url().await,
        format!("{base}/tavla"),
        "back where the person was going"
    );
    b.wait_for("rut.granskare@rjl.test (granskare)").await;
    check_page(&b, &axe, "02b-tavla-efter-regionens-inloggning").await;

    b.quit().await;
    token.cancel();
    server.await.unwrap().unwrap();
}

fn read_axe() -> String {
    let axe_path = common::root().join("tests/web/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&axe_path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (tests/run.sh installs axe-core; or set VARDVAL_SKIP_BROWSER=1)",
            axe_path.display()
        )
    })
}

async fn flows() {
    let axe = read_axe();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let web = WebSettings {
        session_minutes: 30,
        ..WebSettings::default()
    };
    let mut d = seed(&url, dir.path(), web).await;
    let drop_dir = dir.path().join("ekonomi");
    std::fs::create_dir_all(&drop_dir).unwrap();
    let payouts = payouts_support::payouts_for(&drop_dir);
    // The scheduler's standard jobs over the desk's ledger, for the schedule page.
    let ctx = payouts_support::job_context(&d.store, vec![], Some(payouts.clone()));
    let jobs = vardval::jobs::Scheduler::standard_jobs(&ctx, "0 30 7 * * Mon").unwrap();
    let scheduler = vardval::jobs::Scheduler {
        ctx,
        jobs,
        owner: "browser-test".into(),
        lease: chrono::Duration::minutes(10),
        tick_every: Duration::from_secs(60),
    };
    d.state = d
        .state
        .with_payouts(payouts.clone())
        .with_scheduler(std::sync::Arc::new(scheduler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let token = CancellationToken::new();
    let server = tokio::spawn(vardval::web::serve(
        d.state.clone(),
        listener,
        token.clone(),
    ));
    let driver = Driver::start().await;
    let b = driver.session().await;

    // Sign in: the board redirects to the sign-in page and back.
    b.goto(&format!("{base}/tavla")).await;
    assert!(b.url().await.contains("/logga-in?next=%2Ftavla"));
    check_page(&b, &axe, "01-logga-in").await;
    b.type_into("#username", "granskare").await;
    b.type_into("#password", PASSWORD).await;
    b.click("form.login button[type=submit]").await;
    b.wait_for("Avsnitt över alla vårdcentraler").await;
    assert_eq!(b.url().await, format!("{base}/tavla"));
    b.wait_for("Vårdcentralen Sjöudden").await;
    check_page(&b, &axe, "02-tavla").await;

    // Open Sjöudden's plan from the board.
    let subs = d.store.submissions().await.unwrap();
    let sj = subs.iter().find(|s| s.clinic_id == "sjoudden").unwrap();
    let bj = subs
        .iter()
        .find(|s| s.clinic_id == "bjorkdalen" && s.milestone == 1)
        .unwrap();
    b.click(&format!("a[href=\"/inlamning/{}\"]", sj.id)).await;
    b.wait_for("Avsnitt som agenten läste dem").await;
    assert_eq!(b.url().await, format!("{base}/inlamning/{}", sj.id));
    check_page(&b, &axe, "03-inlamning").await;

    // Override D, preview, edit the mail and send it.
    b.click(&format!("a[href=\"/inlamning/{}/beslut\"]", sj.id))
        .await;
    b.wait_for("Förhandsgranska beslutet").await;
    check_page(&b, &axe, "04-beslut").await;
    b.select("#section_D", "weak").await;
    b.type_into("#comment", "Beskriv gärna nuläget med era egna siffror.")
        .await;
    b.click("form.decide button[type=submit]").await;
    b.wait_for("Bedömning att skicka").await;
    let preview = b.source().await;
    assert!(preview.contains("Bedömning att skicka"), "{preview}");
    assert!(preview.contains("D: godkänt → svagt"));
    check_page(&b, &axe, "05-forhandsgranska").await;
    b.script(
        "const t = document.getElementById('body'); \
         t.value = t.value + '\\nHälsningar från granskaren Greta Exempelsson.'; return true;",
    )
    .await;
    b.click("button[formaction]").await;
    b.wait_for("Beslutsmejlet är lagt i utkorgen").await;
    assert_eq!(b.url().await, format!("{base}/inlamning/{}", sj.id));
    b.wait_for("Beslutsmejlet är lagt i utkorgen").await;
    let decision = d
        .store
        .decision_for_submission(sj.id)
        .await
        .unwrap()
        .expect("decision recorded");
    assert_eq!(decision.decided_by, "web:granskare");
    let row = d
        .store
        .outbox_row(decision.mail_outbox_id.unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&row.raw).contains("Greta Exempelsson"));

    // The decision mail reaches Sjöudden's mailbox in the mail lab.
    if let Some(lab) = common::lab::lab() {
        let _gate = lab.shared().await;
        let to: Vec<String> = row
            .recipient
            .split(',')
            .map(|s| s.trim().to_string())
            .collect();
        common::lab::plain_smtp(lab)
            .send("vardval@rjl.test", &to, &row.raw)
            .await
            .expect("send the decision through the lab's Postfix");
        let mid = row.mail_message_id.clone();
        common::lab::poll_until(
            "the decision mail in sjoudden@vc.test",
            Duration::from_secs(30),
            || {
                let mid = mid.clone();
                async move {
                    let inbox = common::lab::read_folder(lab, "sjoudden@vc.test", "INBOX").await;
                    inbox
                        .iter()
                        .find(|m| String::from_utf8_lossy(&m.bytes).contains(&mid))
                        .map(|m| String::from_utf8_lossy(&m.bytes).into_owned())
                        .ok_or_else(|| format!("{} messages, none with {mid}", inbox.len()))
                }
            },
        )
        .await;
    }

    // Triage: read the raw mail as text and assign it to a clinic.
    b.goto(&format!("{base}/att-hantera")).await;
    check_page(&b, &axe, "06-att-hantera").await;
    let item = d.store.triage_open().await.unwrap()[0].id;
    b.click(&format!("a[href=\"/att-hantera/{item}\"]")).await;
    b.wait_for("Meddelandet som text").await;
    b.wait_for("Message-ID: &lt;CAJk7Vb2").await;
    check_page(&b, &axe, "07-arende").await;
    b.select("#clinic", "sjoudden").await;
    b.click("form.assign button[type=submit]").await;
    b.wait_for("Inget väntar").await;
    assert!(d.store.triage_open().await.unwrap().is_empty());

    // The schedule: the jobs and their next runs; pause the reminders and start them again.
    b.goto(&format!("{base}/schema")).await;
    b.wait_for("Påminnelser till vårdcentraler").await;
    b.click("form[action=\"/schema/paus\"] button[type=submit]")
        .await;
    b.wait_for("Påminnelserna är pausade").await;
    assert!(d.store.reminders_paused().await.unwrap());
    check_page(&b, &axe, "07b-schema").await;
    b.click("form[action=\"/schema/paus\"] button[type=submit]")
        .await;
    b.wait_for("Pausa påminnelserna").await;
    assert!(!d.store.reminders_paused().await.unwrap());

    // A form whose CSRF token was removed is refused.
    b.goto(&format!("{base}/tavla")).await;
    b.script("document.querySelector('form.signout input[name=csrf]').remove(); return true;")
        .await;
    b.click("form.signout button[type=submit]").await;
    b.wait_for("Formuläret kunde inte tas emot").await;
    check_page(&b, &axe, "08-sakerhetskod-saknas").await;

    // Keyboard only: confirm Björkdalen's green plan from its page.
    b.goto(&format!("{base}/inlamning/{}", bj.id)).await;
    b.tab_to("Bekräfta eller ändra bedömning").await;
    b.press(ENTER).await;
    b.wait_for("Förhandsgranska beslutet").await;
    assert_eq!(b.url().await, format!("{base}/inlamning/{}/beslut", bj.id));
    b.tab_to("Förhandsgranska beslutet").await;
    b.press(ENTER).await;
    b.wait_for("Du bekräftar agentens förhandsbedömning").await;
    b.tab_to("Skicka beslutet").await;
    b.press(ENTER).await;
    b.wait_for("Beslutsmejlet är lagt i utkorgen").await;
    assert_eq!(b.url().await, format!("{base}/inlamning/{}", bj.id));
    let confirmed = d
        .store
        .decision_for_submission(bj.id)
        .await
        .unwrap()
        .expect("confirmed with the keyboard");
    assert!(confirmed.agreed_with_pregrade);

    // 31 idle minutes: the session has expired and the board asks for a sign-in again.
    d.clock.advance(Duration::from_secs(31 * 60));
    b.goto(&format!("{base}/tavla")).await;
    assert!(b.url().await.contains("/logga-in"), "{}", b.url().await);

    // Finance is refused on the reviewers' pages, with a Swedish page.
    sign_in(&b, &base, "ekonomi").await;
    b.goto(&format!("{base}/tavla")).await;
    b.wait_for("Du har inte behörighet till sidan").await;
    check_page(&b, &axe, "09-ingen-behorighet").await;

    // Finance: Björkdalen (its plan confirmed green above) gets a payee; the due-next preview
    // shows its instalment, then a real payout run seals batch 1 and its files.
    common::desk::give_bjorkdalen_a_payee(&d, 8423).await;
    b.goto(&format!("{base}/utbetalningar")).await;
    b.wait_for("Nästa schemalagda körning").await;
    b.wait_for("Ingen utbetalning är förseglad ännu").await;
    check_page(&b, &axe, "10-utbetalningar").await;
    let run = vardval::jobs::payouts::run(
        &d.store,
        &payouts,
        &payouts_support::mail(),
        payouts_support::at7(2026, 3, 1),
    )
    .await
    .unwrap();
    assert_eq!((run.number, run.lines), (1, 1), "{run:?}");
    b.goto(&format!("{base}/utbetalningar")).await;
    b.click("a[href=\"/utbetalningar/1\"]").await;
    b.wait_for("Stoppade vårdcentraler").await;
    b.wait_for("Vårdcentralen Björkdalen").await;
    assert_eq!(b.url().await, format!("{base}/utbetalningar/1"));
    check_page(&b, &axe, "11-utbetalning").await;
    b.script("document.querySelector('main').focus(); return true;")
        .await;
    b.tab_to("vardval-utbetalning-0001.csv").await;
    // The checker itself can fail: an input without a label is a critical violation.
    b.script(
        "const i = document.createElement('input'); i.type = 'text'; \
         document.querySelector('main').appendChild(i); return true;",
    )
    .await;
    let bad = b.axe_serious(&axe).await;
    assert!(
        bad.iter().any(|v| v.starts_with("label:")),
        "axe-core must flag an unlabelled input: {bad:?}"
    );

    // The registry (admin): the list, a change previewed and saved, the clinic's history.
    let hash = vardval::web::auth::hash_password(PASSWORD).unwrap();
    let admin = vardval::domain::access::Role::Admin;
    assert!(
        d.store
            .add_user(
                "admin",
                admin,
                &hash,
                vardval::ports::Clock::now(d.clock.as_ref())
            )
            .await
            .unwrap()
    );
    sign_in(&b, &base, "admin").await;
    b.goto(&format!("{base}/register")).await;
    b.wait_for("Vårdcentraler i registret").await;
    check_page(&b, &axe, "12-register").await;
    b.click("a[href=\"/register/andra\"]").await;
    b.wait_for("Registret som CSV").await;
    b.script(
        "const t = document.getElementById('text'); \
         t.value = t.value.split('\\n').map(l => { \
           if (!l.startsWith('sjoudden,')) return l; \
           const f = l.split(','); f[2] = f[2] + ';kansli@sjoudden.vc.test'; f[3] = '5300'; \
           return f.join(','); }).join('\\n'); return true;",
    )
    .await;
    b.click("form.registry-edit button[type=submit]").await;
    b.wait_for("Förhandsvisning: så här skulle registret ändras")
        .await;
    b.wait_for("listade invånare 2026: 5210 → 5300").await;
    check_page(&b, &axe, "13-register-andra").await;
    b.click("button[formaction=\"/register/andra\"]").await;
    b.wait_for("Registret är uppdaterat").await;
    b.click("a[href=\"/register/sjoudden\"]").await;
    b.wait_for("Alla ändringar av Vårdcentralen Sjöudden").await;
    b.wait_for("web:admin").await;
    check_page(&b, &axe, "14-register-historik").await;
    let sj_now = d.store.clinics().await.unwrap();
    let sj_now = sj_now.iter().find(|c| c.id == "sjoudden").unwrap();
    assert!(
        sj_now
            .addresses
            .contains(&"kansli@sjoudden.vc.test".to_string())
    );
    assert_eq!(sj_now.inhabitants[&2026].count, 5300);

    b.quit().await;
    drop(driver);
    token.cancel();
    server.await.unwrap().unwrap();
    d.store.close().await;
}
