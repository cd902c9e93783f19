//! The desk's registry pages over HTTP (the router called in-process): the list and a
//! clinic's history for admins and reviewers, roles refused, CSRF, the change form's
//! preview (nothing written), an applied change (list, history, audit log, the registry the
//! intake reloads) and refused text (nothing written). Every test runs on SQLite and on
//! PostgreSQL.

mod common;

use axum::http::StatusCode;
use vardval::domain::access::Role;
use vardval::pipeline::registry::SharedRegistry;
use vardval::ports::Clock;
use vardval::store::{AuditFilter, Store};
use vardval::web::auth::hash_password;

use common::desk::{Desk, PASSWORD, seed};
use common::webclient::{Client, Page};

/// The seeded desk plus an admin account `admin`.
async fn desk(url: &str, dir: &std::path::Path) -> Desk {
    let d = seed(url, dir, vardval::config::WebSettings::default()).await;
    let hash = hash_password(PASSWORD).unwrap();
    assert!(
        d.store
            .add_user("admin", Role::Admin, &hash, d.clock.now())
            .await
            .unwrap()
    );
    d
}

async fn signed_in(d: &Desk, user: &str) -> Client {
    let mut c = Client::new(d);
    let s = c.sign_in(user, PASSWORD).await;
    assert_eq!(s.status, StatusCode::SEE_OTHER, "{user} signs in");
    c
}

/// What the ledger's registry looks like, to show that a request wrote nothing.
#[derive(Debug, PartialEq)]
struct Ledger {
    stamp: String,
    history: usize,
    audit: usize,
    clinics: Vec<vardval::domain::clinics::ClinicRecord>,
}

async fn ledger(store: &Store) -> Ledger {
    Ledger {
        stamp: store.registry_stamp().await.unwrap(),
        history: store.clinic_history(None).await.unwrap().len(),
        audit: store
            .audit_list(100_000, &AuditFilter::default())
            .await
            .unwrap()
            .len(),
        clinics: store.clinics().await.unwrap(),
    }
}

/// The text of the page's `<textarea>`, unescaped.
fn textarea(p: &Page) -> String {
    let html = p.text();
    let start = html.find("<textarea").expect("a textarea");
    let open_end = start + html[start..].find('>').unwrap() + 1;
    let close = open_end + html[open_end..].find("</textarea>").unwrap();
    html[open_end..close]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// The value of the page's hidden field `name`.
fn hidden(p: &Page, name: &str) -> String {
    let html = p.text();
    let key = format!("name=\"{name}\" value=\"");
    let at = html.find(&key).unwrap_or_else(|| panic!("a field {name}")) + key.len();
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

/// `text` with the line of clinic `id` passed through `f` (the export's columns).
fn edit_line(text: &str, id: &str, f: impl Fn(Vec<String>) -> Vec<String>) -> String {
    let mut found = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{id},")) {
                found = true;
                f(l.split(',').map(str::to_string).collect()).join(",")
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(found, "{id} is in the export:\n{text}");
    out.join("\n") + "\n"
}

async fn admin_reads_the_list_and_a_clinics_history(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&url, dir.path()).await;
    let mut c = signed_in(&d, "admin").await;
    let list = c.get("/register").await;
    assert_eq!(list.status, StatusCode::OK);
    let html = list.text();
    assert!(html.contains("<a href=\"/register\" aria-current=\"page\">Registret</a>"));
    for (name, address, listed) in [
        (
            "Vårdcentralen Björkdalen",
            "kontakt@bjorkdalen.vc.test",
            "8423",
        ),
        ("Vårdcentralen Ekbacken", "@ekbacken.vc.test", "12876"),
        ("Vårdcentralen Källstorp", "kallstorp@vc.test", "4630"),
    ] {
        assert!(html.contains(name), "{name} listed");
        assert!(html.contains(address), "{address} listed");
        assert!(html.contains(&format!(">{listed}<")), "{listed} listed");
    }
    assert!(html.contains("10 aktiva av 10"));
    assert!(html.contains("<th scope=\"col\">Senast ändrad</th>"));
    assert!(html.contains("href=\"/register/bjorkdalen\""));
    assert!(
        html.contains("href=\"/register/andra\""),
        "admins may change"
    );
    // The fixture import was at 08:00 UTC = 09:00 in Stockholm, by "test".
    assert!(html.contains("23 februari 2026 kl. 09:00, test"), "{html}");

    let page = c.get("/register/bjorkdalen").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("<h1>Vårdcentralen Björkdalen</h1>"));
    assert!(html.contains("<th scope=\"row\">listade invånare 2026</th>"));
    assert!(
        html.contains("<td>–</td><td>8423</td>"),
        "added: none → 8423"
    );
    assert!(html.contains("kontakt@bjorkdalen.vc.test, verksamhetschef@bjorkdalen.vc.test"));
    assert_eq!(
        html.matches("<td>test</td>").count(),
        d.store
            .clinic_history(Some("bjorkdalen"))
            .await
            .unwrap()
            .len(),
        "one row per recorded change"
    );
    assert_eq!(
        c.get("/register/finns-inte").await.status,
        StatusCode::NOT_FOUND
    );
    d.store.close().await;
}

async fn reviewers_read_only_and_coach_and_finance_are_refused(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&url, dir.path()).await;
    let before = ledger(&d.store).await;

    let mut r = signed_in(&d, "granskare").await;
    let list = r.get("/register").await;
    assert_eq!(list.status, StatusCode::OK);
    let html = list.text();
    assert!(html.contains("Vårdcentralen Sjöudden"));
    assert!(!html.contains("href=\"/register/andra\""), "no change link");
    assert_eq!(
        r.get("/register/sjoudden").await.status,
        StatusCode::OK,
        "a reviewer reads the history"
    );
    let csrf = list.csrf();
    assert_eq!(r.get("/register/andra").await.status, StatusCode::FORBIDDEN);
    let text =
        "id,name,emails,listed_inhabitants\nsjoudden,Vårdcentralen Sjöudden,sjoudden@vc.test,1\n";
    for path in ["/register/andra/forhandsgranska", "/register/andra"] {
        let p = r.post(path, &[("csrf", &csrf), ("text", text)]).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}");
        assert!(p.text().contains("Du har inte behörighet"));
    }

    for user in ["coach", "ekonomi"] {
        let mut c = signed_in(&d, user).await;
        for path in ["/register", "/register/sjoudden", "/register/andra"] {
            let p = c.get(path).await;
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{user} {path}");
            assert!(p.text().contains("Du har inte behörighet"));
        }
        let home = if user == "coach" {
            "/tavla"
        } else {
            "/utbetalningar"
        };
        let page = c.get(home).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(
            !page.text().contains("href=\"/register\""),
            "{user}: no link"
        );
    }
    let after = ledger(&d.store).await;
    assert_eq!(before.stamp, after.stamp);
    assert_eq!(before.history, after.history);
    assert_eq!(before.clinics, after.clinics);
    d.store.close().await;
}

async fn forms_without_csrf_are_refused(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&url, dir.path()).await;
    let mut c = signed_in(&d, "admin").await;
    let form = c.get("/register/andra").await;
    let text = edit_line(&textarea(&form), "sjoudden", |mut f| {
        f[3] = "9999".into();
        f
    });
    let before = ledger(&d.store).await;
    for path in ["/register/andra/forhandsgranska", "/register/andra"] {
        for csrf in [None, Some("fel-kod")] {
            let mut fields = vec![("text", text.as_str())];
            if let Some(t) = csrf {
                fields.push(("csrf", t));
            }
            let p = c.post(path, &fields).await;
            assert_eq!(p.status, StatusCode::FORBIDDEN, "{path} {csrf:?}");
            assert!(p.text().contains("säkerhetskod"));
        }
    }
    assert_eq!(ledger(&d.store).await, before, "nothing written");
    d.store.close().await;
}

async fn preview_writes_nothing_and_apply_changes_the_registry(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&url, dir.path()).await;
    let mut c = signed_in(&d, "admin").await;
    let form = c.get("/register/andra").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text().contains("<label for=\"text\">"));
    let current = textarea(&form);
    assert_eq!(
        current,
        vardval::commands::clinics::export_csv(&d.store.clinics().await.unwrap(), 2026).unwrap(),
        "the box holds the registry as `vardval clinics export` writes it"
    );
    let csrf = form.csrf();
    let snapshot =
        vardval::commands::clinics::registry_from_records(&d.store.clinics().await.unwrap(), 2026)
            .unwrap();
    let live = SharedRegistry::from_ledger(snapshot, 2026, d.store.registry_stamp().await.unwrap());
    assert!(live.snapshot().lookup("kansli@sjoudden.vc.test").is_none());

    // Sjöudden: more listed inhabitants and a new address.
    let changed = edit_line(&current, "sjoudden", |mut f| {
        f[2] = "sjoudden@vc.test;kansli@sjoudden.vc.test".into();
        f[3] = "5300".into();
        f
    });
    // The preview also shows a deactivation (not applied below).
    let with_deactivation = edit_line(&changed, "kallstorp", |mut f| {
        f[9] = "nej".into();
        f
    });
    let before = ledger(&d.store).await;
    let preview = c
        .post(
            "/register/andra/forhandsgranska",
            &[("csrf", &csrf), ("text", &with_deactivation)],
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text());
    let html = preview.text();
    assert!(
        html.contains(
            "Inget är sparat än. 0 tillagda, 2 ändrade (varav 1 avaktiverade), 8 oförändrade"
        ),
        "{html}"
    );
    assert!(
        html.contains("listade invånare 2026: 5210 → 5300"),
        "{html}"
    );
    assert!(
        html.contains("adresser: sjoudden@vc.test → kansli@sjoudden.vc.test, sjoudden@vc.test"),
        "{html}"
    );
    assert!(html.contains("<td>avaktiverad</td>"));
    let at = |id: &str| html.find(&format!("<small>({id})</small>")).unwrap();
    assert!(
        at("sjoudden") < at("alvsnas") && at("kallstorp") < at("alvsnas"),
        "what changes is listed before the unchanged"
    );
    assert!(html.contains("formaction=\"/register/andra\""));
    assert_eq!(textarea(&preview), with_deactivation, "the text is kept");
    assert_eq!(ledger(&d.store).await, before, "a preview writes nothing");

    // Saved as the browser does: the text and the stamp of its preview.
    let preview = c
        .post(
            "/register/andra/forhandsgranska",
            &[("csrf", &csrf), ("text", &changed)],
        )
        .await;
    let stamp = hidden(&preview, "stamp");
    assert_eq!(stamp, before.stamp);
    let applied = c
        .post(
            "/register/andra",
            &[("csrf", &csrf), ("text", &changed), ("stamp", &stamp)],
        )
        .await;
    assert_eq!(applied.status, StatusCode::SEE_OTHER, "{}", applied.text());
    let to = applied.location.unwrap();
    assert_eq!(to, "/register?tillagda=0&andrade=1&oforandrade=9");
    let list = c.get(&to).await.text();
    assert!(list.contains("Registret är uppdaterat: 0 tillagda, 1 ändrade"));
    assert!(list.contains("<li>kansli@sjoudden.vc.test</li>"));
    assert!(list.contains(">5300<"));
    assert!(list.contains("web:admin"), "the last change names who");

    let history = c.get("/register/sjoudden").await.text();
    assert!(history.contains("<td>5210</td><td>5300</td>"), "{history}");
    assert!(
        history.contains(
            "<td>sjoudden@vc.test</td><td>kansli@sjoudden.vc.test, sjoudden@vc.test</td>"
        )
    );
    assert_eq!(
        history.matches("<td>web:admin</td>").count(),
        2,
        "two fields changed"
    );

    // The ledger: one clinic changed, history rows by web:admin, the audit rows, the chain.
    let rows = d.store.clinic_history(Some("sjoudden")).await.unwrap();
    let by_admin: Vec<_> = rows
        .iter()
        .filter(|r| r.changed_by == "web:admin")
        .collect();
    assert_eq!(by_admin.len(), 2);
    let audit = d
        .store
        .audit_list(100_000, &AuditFilter::default())
        .await
        .unwrap();
    assert!(audit.iter().any(|a| a.actor == "web:admin"
        && a.action == "clinic.change"
        && a.subject == "clinic:sjoudden"));
    let import = audit
        .iter()
        .find(|a| a.action == "registry.import")
        .expect("the import's own audit row");
    assert_eq!(import.actor, "web:admin");
    let detail: serde_json::Value = serde_json::from_str(&import.detail).unwrap();
    assert_eq!(detail["written"], 1);
    assert_eq!(detail["changed"], 1);
    assert_eq!(detail["unchanged"], 9);
    assert!(d.store.audit_verify().await.unwrap().ok());
    let kallstorp = d.store.clinics().await.unwrap();
    assert!(
        kallstorp
            .iter()
            .find(|c| c.id == "kallstorp")
            .unwrap()
            .active,
        "the previewed deactivation was not applied"
    );

    // The intake's registry reloads by the stamp and knows the new address.
    assert_ne!(d.store.registry_stamp().await.unwrap(), before.stamp);
    assert!(live.refresh(&d.store).await.unwrap(), "reloaded");
    let reg = live.snapshot();
    let clinic = reg
        .lookup("kansli@sjoudden.vc.test")
        .expect("the new address");
    assert_eq!(clinic.id, "sjoudden");
    assert_eq!(clinic.listed_inhabitants, 5300);

    // The same text again changes nothing (and says so).
    let again = c
        .post("/register/andra", &[("csrf", &csrf), ("text", &changed)])
        .await;
    assert_eq!(
        again.location.as_deref(),
        Some("/register?tillagda=0&andrade=0&oforandrade=10")
    );
    assert_eq!(
        d.store
            .clinic_history(Some("sjoudden"))
            .await
            .unwrap()
            .len(),
        rows.len()
    );
    d.store.close().await;
}

async fn a_change_after_the_preview_refuses_the_save(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&url, dir.path()).await;
    let mut c = signed_in(&d, "admin").await;
    let form = c.get("/register/andra").await;
    let csrf = form.csrf();
    let text = edit_line(&textarea(&form), "sjoudden", |mut f| {
        f[3] = "5300".into();
        f
    });
    let preview = c
        .post(
            "/register/andra/forhandsgranska",
            &[("csrf", &csrf), ("text", &text)],
        )
        .await;
    let stamp = hidden(&preview, "stamp");
    // Meanwhile the CLI changes another clinic.
    let cli = "id,name,emails,listed_inhabitants\nlonnhagen,Vårdcentralen Lönnhagen,lonnhagen@vc.test,3500\n";
    let now = d.clock.now();
    vardval::commands::clinics::import_text(&d.store, cli, 2026, "cli:someone", now)
        .await
        .unwrap();
    let before = ledger(&d.store).await;
    let stale = c
        .post(
            "/register/andra",
            &[("csrf", &csrf), ("text", &text), ("stamp", &stamp)],
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text());
    assert!(
        stale
            .text()
            .contains("registret har ändrats sedan förhandsvisningen")
    );
    assert_eq!(textarea(&stale), text, "the text is kept");
    assert_eq!(ledger(&d.store).await, before, "nothing written");
    // A new preview shows the registry as it is now (Lönnhagen's 3500 would go back to
    // 3480 with this text, and the preview says so); its stamp saves.
    let again = c
        .post(
            "/register/andra/forhandsgranska",
            &[("csrf", &csrf), ("text", &text)],
        )
        .await;
    assert!(again.text().contains("listade invånare 2026: 3500 → 3480"));
    let saved = c
        .post(
            "/register/andra",
            &[
                ("csrf", &csrf),
                ("text", &text),
                ("stamp", &hidden(&again, "stamp")),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    d.store.close().await;
}

async fn refused_text_changes_nothing(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let d = desk(&url, dir.path()).await;
    let mut c = signed_in(&d, "admin").await;
    let form = c.get("/register/andra").await;
    let csrf = form.csrf();
    let current = textarea(&form);
    // An address that is none on Sjöudden's line, and more inhabitants that must not be
    // written.
    let line_of = |id: &str| {
        1 + current
            .lines()
            .position(|l| l.starts_with(&format!("{id},")))
            .unwrap()
    };
    let bad_address = edit_line(&current, "sjoudden", |mut f| {
        f[2] = "inte en adress".into();
        f[3] = "7777".into();
        f
    });
    // Ekbacken claims Sjöudden's address (the later line of the two is named).
    let claimed = edit_line(&current, "ekbacken", |mut f| {
        f[2] = "sjoudden@vc.test".into();
        f
    });
    let (sj, ek) = (line_of("sjoudden"), line_of("ekbacken"));
    let claimed_says = if ek > sj {
        format!(
            "Inget ändrades. Rad {ek}: `sjoudden@vc.test` hör redan till `sjoudden` på rad {sj}"
        )
    } else {
        format!(
            "Inget ändrades. Rad {sj}: `sjoudden@vc.test` hör redan till `ekbacken` på rad {ek}"
        )
    };
    let too_long = format!("{current}{}", "x".repeat(1024 * 1024));
    let far_too_long = "x".repeat(3 * 1024 * 1024);
    let before = ledger(&d.store).await;
    for (text, says) in [
        (
            bad_address.as_str(),
            format!("Inget ändrades. Rad {sj}: `inte en adress` är ingen giltig adress"),
        ),
        (claimed.as_str(), claimed_says),
        (
            "id,namn\nx,y\n",
            "Inget ändrades. Rad 1: kolumnen `name` saknas i rubrikraden".into(),
        ),
        (too_long.as_str(), "högst 1024 kB".into()),
        (far_too_long.as_str(), "för stor".into()),
    ] {
        for path in ["/register/andra/forhandsgranska", "/register/andra"] {
            let p = c.post(path, &[("csrf", &csrf), ("text", text)]).await;
            assert_eq!(p.status, StatusCode::BAD_REQUEST, "{path}: {}", p.text());
            let html = p.text();
            assert!(html.contains("role=\"alert\""));
            let html = html.replace("&#x60;", "`").replace("&#x2f;", "/");
            assert!(html.contains(&says), "{path}: {says:?} in {html}");
            assert!(
                !html.contains("Spara ändringarna"),
                "no save without a preview"
            );
        }
    }
    assert_eq!(
        textarea(
            &c.post(
                "/register/andra",
                &[("csrf", &csrf), ("text", &bad_address)]
            )
            .await
        ),
        bad_address,
        "the text is kept to correct"
    );
    assert_eq!(ledger(&d.store).await, before, "nothing written");
    d.store.close().await;
}

both!(
    admin_reads_the_list_and_a_clinics_history,
    reviewers_read_only_and_coach_and_finance_are_refused,
    forms_without_csrf_are_refused,
    preview_writes_nothing_and_apply_changes_the_registry,
    refused_text_changes_nothing,
    a_change_after_the_preview_refuses_the_save,
);
