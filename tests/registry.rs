//! The clinic registry in the ledger (issue 7): import (all or nothing, idempotent, with a
//! change report), history of who changed what, every refused input class naming its line,
//! the `[clinics] path` first import at start-up, export round trip — on SQLite and
//! PostgreSQL — and the `vardval clinics …` commands with the real binary, including the
//! intake recognising a clinic added by `clinics import`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;
use vardval::commands::{app, clinics};
use vardval::config::Settings;
use vardval::domain::clinics::Outcome;
use vardval::store::Store;

const HEAD: &str = "id,name,emails,listed_inhabitants,year,hsa_id,org_nr,payee\n";
const YEAR: i32 = 2026;

fn t(h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, h, 0, 0).unwrap()
}

fn first_file() -> String {
    format!(
        "{HEAD}ekbacken,Vårdcentralen Ekbacken,@ekbacken.vc.test,12876,,SE2321000057-1001,556036-0793,bg:5050-1055\n\
         sjoudden,Vårdcentralen Sjöudden,sjoudden@vc.test,5210,,,,iban:SE45 5000 0000 0583 9825 7466\n"
    )
}

async fn import_changes_nothing_the_second_time_and_reports_changes(url: String) {
    let store = Store::connect(&url).await.unwrap();
    let r = clinics::import_text(&store, &first_file(), YEAR, "anna", t(8))
        .await
        .unwrap();
    assert_eq!(r.written, 2);
    assert_eq!(r.count(Outcome::Added), 2);
    let all = store.clinics().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].id, "ekbacken");
    assert_eq!(all[0].payee.as_deref(), Some("bg:5050-1055"));
    assert_eq!(all[0].hsa_id.as_deref(), Some("SE2321000057-1001"));
    assert_eq!(all[0].inhabitants[&YEAR].count, 12876);
    assert_eq!(
        all[0].inhabitants[&YEAR].reference_date.to_string(),
        "2026-01-01"
    );
    assert_eq!(
        all[1].payee.as_deref(),
        Some("iban:SE4550000000058398257466")
    );
    let history_before = store.clinic_history(None).await.unwrap().len();

    // The same file again: nothing written, and it says so.
    let again = clinics::import_text(&store, &first_file(), YEAR, "anna", t(9))
        .await
        .unwrap();
    assert_eq!(again.written, 0);
    assert_eq!(again.count(Outcome::Unchanged), 2);
    assert!(clinics::render_report(&again).contains("Inga ändringar"));
    assert_eq!(
        store.clinic_history(None).await.unwrap().len(),
        history_before
    );

    // A change by someone else: name, payee, inhabitants for a new year; sjoudden not in the
    // file is kept.
    let next = format!(
        "{HEAD}ekbacken,Vårdcentralen Ekbacken Norra,@ekbacken.vc.test,13002,2027,SE2321000057-1001,556036-0793,pg:4-2\n"
    );
    let r = clinics::import_text(&store, &next, YEAR, "bertil", t(10))
        .await
        .unwrap();
    assert_eq!(r.written, 1);
    let ek = r.plans.iter().find(|p| p.id == "ekbacken").unwrap();
    assert_eq!(ek.outcome, Outcome::Changed);
    let fields: Vec<&str> = ek.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "name",
            "payee",
            "listed_inhabitants 2027",
            "reference_date 2027"
        ]
    );
    let sj = r.plans.iter().find(|p| p.id == "sjoudden").unwrap();
    assert_eq!(sj.outcome, Outcome::NotInFile);
    let report = clinics::render_report(&r);
    assert!(report.contains("ändrad         ekbacken"), "{report}");
    assert!(report.contains("payee: bg:5050-1055 -> pg:4-2"), "{report}");
    assert!(
        report.contains("finns inte i filen (behålls) sjoudden"),
        "{report}"
    );
    assert_eq!(store.clinics().await.unwrap().len(), 2);
    // Both years are kept.
    let ek_now = &store.clinics().await.unwrap()[0];
    assert_eq!(ek_now.inhabitants[&2026].count, 12876);
    assert_eq!(ek_now.inhabitants[&2027].count, 13002);

    // History: who changed what, and when.
    let h = store.clinic_history(Some("ekbacken")).await.unwrap();
    let payee: Vec<_> = h.iter().filter(|c| c.field == "payee").collect();
    assert_eq!(payee.len(), 2);
    assert_eq!(payee[0].changed_by, "anna");
    assert_eq!(payee[0].old_value, None);
    assert_eq!(payee[0].new_value.as_deref(), Some("bg:5050-1055"));
    assert_eq!(payee[1].changed_by, "bertil");
    assert_eq!(payee[1].changed_at, "2026-03-02T10:00:00.000Z");
    assert_eq!(payee[1].old_value.as_deref(), Some("bg:5050-1055"));
    assert_eq!(payee[1].new_value.as_deref(), Some("pg:4-2"));
    assert!(h.iter().all(|c| c.clinic_id == "ekbacken"));
    let all = store.clinic_history(None).await.unwrap();
    assert!(all.iter().any(|c| c.clinic_id == "sjoudden"));
    store.close().await;
}

async fn every_bad_input_is_refused_with_its_line_and_nothing_is_written(url: String) {
    let store = Store::connect(&url).await.unwrap();
    clinics::import_text(&store, &first_file(), YEAR, "anna", t(8))
        .await
        .unwrap();
    let before = (
        store.clinics().await.unwrap(),
        store.clinic_history(None).await.unwrap(),
    );
    let ok = "nyby,Vårdcentralen Nyby,kansli@nyby.vc.test,100,,,,";
    for (row, problem) in [
        (
            "dubbel,Dubbel,kansli@nyby.vc.test,1,,,,",
            "`kansli@nyby.vc.test` hör redan till `nyby` på rad 2",
        ),
        (
            "tjuv,Tjuv,@ekbacken.vc.test,1,,,,",
            "`@ekbacken.vc.test` hör redan till `ekbacken`, som redan finns i registret men inte i filen",
        ),
        (
            "x,X,x@x.test,1,,,556036-0794,",
            "organisationsnumret `556036-0794` har fel kontrollsiffra",
        ),
        (
            "x,X,x@x.test,1,,,,bg:5050-1056",
            "bankgironumret `5050-1056` har fel kontrollsiffra",
        ),
        (
            "x,X,x@x.test,1,,,,pg:4-3",
            "plusgironumret `4-3` har fel kontrollsiffra",
        ),
        (
            "x,X,x@x.test,1,,,,iban:SE4550000000058398257467",
            "IBAN `SE4550000000058398257467` har fel kontrollsiffror",
        ),
        ("x,X,x@x.test,1,,SE23-1,,", "HSA-id `SE23-1` har fel form"),
        (",X,x@x.test,1,,,,", "id saknas"),
        ("x,,x@x.test,1,,,,", "namn saknas för `x`"),
        (
            "x,X,x@x.test,tolv,,,,",
            "listed_inhabitants `tolv` ska vara ett heltal",
        ),
        (
            "x,X,x@x.test,-5,,,,",
            "listed_inhabitants `-5` ska vara ett heltal",
        ),
    ] {
        let text = format!("{HEAD}{ok}\n{row}\n");
        let e = clinics::import_text(&store, &text, YEAR, "anna", t(9))
            .await
            .expect_err(row);
        let msg = format!("{e:#}");
        assert!(msg.starts_with("rad 3: "), "{row}: {msg}");
        assert!(msg.contains(problem), "{row}: {msg}");
        let after = (
            store.clinics().await.unwrap(),
            store.clinic_history(None).await.unwrap(),
        );
        assert_eq!(after, before, "{row}: nothing written");
    }
    store.close().await;
}

async fn export_round_trips_through_import(url: String) {
    let store = Store::connect(&url).await.unwrap();
    let text = "id,name,emails,listed_inhabitants,year,reference_date,hsa_id,org_nr,payee,active\n\
         a,\"Vårdcentralen A, Norra\",x@a.vc.test;@a2.vc.test,10,2026,2025-11-01,SE2321000057-7,556036-0793,bg:505-1057,ja\n\
         b,Vårdcentralen B,@b.vc.test,20,2025,,,,,nej\n";
    clinics::import_text(&store, text, YEAR, "anna", t(8))
        .await
        .unwrap();
    let exported = clinics::export_csv(&store.clinics().await.unwrap(), YEAR).unwrap();
    assert!(exported.contains("2025-11-01"), "{exported}");
    let r = clinics::import_text(&store, &exported, YEAR, "bertil", t(9))
        .await
        .unwrap();
    assert_eq!(r.written, 0, "{exported}");
    assert_eq!(r.count(Outcome::Unchanged), 2);
    // The inactive clinic is kept but is not in the intake's registry.
    let reg = clinics::registry_from_records(&store.clinics().await.unwrap(), YEAR).unwrap();
    assert_eq!(reg.len(), 1);
    assert!(reg.lookup("y@b.vc.test").is_none());
    assert_eq!(reg.lookup("q@a2.vc.test").unwrap().id, "a");
    assert_eq!(reg.get("a").unwrap().listed_inhabitants, 10);
    store.close().await;
}

/// A Maildir + file-outbox configuration over `db_url`, with `[clinics] path` = `csv`.
fn config(dir: &Path, db_url: &str, csv: &Path) -> PathBuf {
    common::cli_config_with_registry(dir, db_url, csv, "[web]\nenabled = false")
}

/// The settings of [`config`] with a copy of the fixture registry in `dir` (returned, for the
/// test to change).
fn with_fixture_registry(dir: &Path, db_url: &str) -> (PathBuf, Settings) {
    let csv = dir.join("clinics.csv");
    std::fs::copy(common::root().join("fixtures/mail/clinics.csv"), &csv).unwrap();
    let s = Settings::load(&config(dir, db_url, &csv)).unwrap();
    (csv, s)
}

async fn config_path_is_the_first_import_at_start_up(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let (csv, s) = with_fixture_registry(dir.path(), &url);
    let store = app::open_store(&s).await.unwrap();
    assert!(!store.has_clinics().await.unwrap());
    let reg = app::load_registry(&s, &store, YEAR, t(8)).await.unwrap();
    let fixture = common::registry();
    assert_eq!(reg.len(), fixture.len());
    for c in fixture.clinics() {
        let got = reg.get(&c.id).unwrap();
        assert_eq!(got.listed_inhabitants, c.listed_inhabitants);
        let mut a = got.emails.clone();
        a.sort();
        let mut b = c.emails.clone();
        b.sort();
        assert_eq!(a, b, "{}", c.id);
        assert_eq!(got.domains, c.domains, "{}", c.id);
    }
    let h = store.clinic_history(None).await.unwrap();
    assert!(!h.is_empty() && h.iter().all(|c| c.changed_by == "config"));
    // Once the ledger has clinics the file is not read again: the ledger is the registry.
    std::fs::write(&csv, "id,name,emails,listed_inhabitants\n").unwrap();
    let again = app::load_registry(&s, &store, YEAR, t(9)).await.unwrap();
    assert_eq!(again.len(), fixture.len());
    assert_eq!(store.clinic_history(None).await.unwrap().len(), h.len());
    store.close().await;
}

/// Daemons and CLI commands starting at once (or a killed daemon whose import the database
/// commits after the next one looked) all start, and the registry is imported once.
async fn processes_starting_at_once_import_the_registry_once(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let (_, s) = with_fixture_registry(dir.path(), &url);
    let first = app::open_store(&s).await.unwrap();
    let mut stores = vec![first];
    for _ in 0..5 {
        stores.push(app::open_store(&s).await.unwrap());
    }
    let loads = stores
        .iter()
        .map(|store| app::load_registry(&s, store, YEAR, t(8)));
    for r in futures::future::join_all(loads).await {
        let reg = r.expect("every start succeeds");
        assert_eq!(reg.len(), common::registry().len());
    }
    // Imported once: no clinic's field was written twice.
    let history = stores[0].clinic_history(None).await.unwrap();
    let mut fields: Vec<(&str, &str)> = history
        .iter()
        .map(|c| (c.clinic_id.as_str(), c.field.as_str()))
        .collect();
    let all = fields.len();
    fields.sort();
    fields.dedup();
    assert_eq!(fields.len(), all, "imported once");
    assert!(history.iter().all(|c| c.changed_by == "config"));
    for store in stores {
        store.close().await;
    }
}

async fn a_broken_config_registry_stops_the_start(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("clinics.csv");
    std::fs::write(
        &csv,
        "id,name,emails,listed_inhabitants\na,A,a@x.test,1\nb,B,a@x.test,2\n",
    )
    .unwrap();
    let s = Settings::load(&config(dir.path(), &url, &csv)).unwrap();
    let store = app::open_store(&s).await.unwrap();
    let e = app::load_registry(&s, &store, YEAR, t(8))
        .await
        .expect_err("duplicate address");
    let msg = format!("{e:#}");
    assert!(msg.contains("invalid clinic registry"), "{msg}");
    assert!(msg.contains("rad 3"), "{msg}");
    assert!(!store.has_clinics().await.unwrap());
    store.close().await;
}

both!(
    import_changes_nothing_the_second_time_and_reports_changes,
    every_bad_input_is_refused_with_its_line_and_nothing_is_written,
    export_round_trips_through_import,
    config_path_is_the_first_import_at_start_up,
    processes_starting_at_once_import_the_registry_once,
    a_broken_config_registry_stops_the_start,
);

// ---- the real binary (SQLite) ----

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vardval"))
}

fn run(args: &[&str], cfg: &Path) -> (bool, String, String) {
    let out = bin().args(args).arg("--config").arg(cfg).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A config whose `[clinics] path` lists only Björkdalen.
fn cli_setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("clinics.csv");
    std::fs::write(
        &csv,
        "id,name,emails,listed_inhabitants\n\
         bjorkdalen,Vårdcentralen Björkdalen,kontakt@bjorkdalen.vc.test,8423\n",
    )
    .unwrap();
    let cfg = config(dir.path(), "sqlite://vardval.db", &csv);
    (dir, cfg)
}

#[test]
fn cli_import_list_export_history() {
    let (dir, cfg) = cli_setup();
    let file = dir.path().join("ny.csv");
    std::fs::write(
        &file,
        format!(
            "{HEAD}sjoudden,Vårdcentralen Sjöudden,sjoudden@vc.test,5210,,,556036-0793,bg:5050-1055\n"
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let (ok, out, err) = run(&["clinics", "import", f, "--as", "anna"], &cfg);
    assert!(ok, "{err}");
    assert!(out.contains("tillagd        sjoudden"), "{out}");
    assert!(
        out.contains("finns inte i filen (behålls) bjorkdalen"),
        "{out}"
    );
    let (ok, out, _) = run(&["clinics", "import", f, "--as", "anna"], &cfg);
    assert!(ok);
    assert!(out.contains("Inga ändringar"), "{out}");

    let (ok, out, err) = run(&["clinics", "list", "--format", "json"], &cfg);
    assert!(ok, "{err}");
    let list: Vec<Value> = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = list.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["bjorkdalen", "sjoudden"]);
    assert_eq!(list[1]["payee"], "bg:5050-1055");
    assert_eq!(list[1]["listed_inhabitants"][0]["count"], 5210);
    assert_eq!(list[1]["listed_inhabitants"][0]["year"], 2026);

    let (ok, exported, err) = run(&["clinics", "export"], &cfg);
    assert!(ok, "{err}");
    let back = dir.path().join("export.csv");
    std::fs::write(&back, &exported).unwrap();
    let (ok, out, _) = run(
        &[
            "clinics",
            "import",
            back.to_str().unwrap(),
            "--as",
            "bertil",
        ],
        &cfg,
    );
    assert!(ok);
    assert!(out.contains("Inga ändringar"), "{exported}\n{out}");

    let (ok, out, _) = run(
        &[
            "clinics", "history", "--clinic", "sjoudden", "--format", "json",
        ],
        &cfg,
    );
    assert!(ok);
    let h: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert!(
        h.iter()
            .all(|c| c["changed_by"] == "anna" && c["clinic_id"] == "sjoudden")
    );
    assert!(
        h.iter()
            .any(|c| c["field"] == "org_nr" && c["new_value"] == "556036-0793")
    );
    let (ok, out, _) = run(&["clinics", "history"], &cfg);
    assert!(ok);
    assert!(out.contains("\tconfig\tbjorkdalen\tname\t"), "{out}");
}

#[test]
fn cli_refuses_a_bad_file_with_the_line_and_exit_code() {
    let (dir, cfg) = cli_setup();
    let file = dir.path().join("fel.csv");
    std::fs::write(
        &file,
        format!(
            "{HEAD}sjoudden,Vårdcentralen Sjöudden,sjoudden@vc.test,5210,,,,\n\
             nyby,Vårdcentralen Nyby,@nyby.vc.test,100,,,,bg:5050-1056\n"
        ),
    )
    .unwrap();
    let (ok, _, err) = run(&["clinics", "import", file.to_str().unwrap()], &cfg);
    assert!(!ok);
    assert!(err.contains("inget ändrades"), "{err}");
    assert!(
        err.contains("rad 3: bankgironumret `5050-1056` har fel kontrollsiffra"),
        "{err}"
    );
    let (ok, out, _) = run(&["clinics", "list", "--format", "json"], &cfg);
    assert!(ok);
    let list: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(list.len(), 1, "only the first import from the config");
}

#[test]
fn intake_recognises_a_clinic_added_by_import() {
    let (dir, cfg) = cli_setup();
    let file = dir.path().join("ny.csv");
    std::fs::write(
        &file,
        "id,name,emails,listed_inhabitants\nsjoudden,Vårdcentralen Sjöudden,sjoudden@vc.test,5210\n",
    )
    .unwrap();
    let (ok, _, err) = run(&["clinics", "import", file.to_str().unwrap()], &cfg);
    assert!(ok, "{err}");
    // Fixture 02 is a submission from sjoudden@vc.test, a clinic not in the config's CSV.
    let md = vardval::adapters::maildir::MaildirSource::new(
        dir.path().join("Maildir"),
        ".Behandlat",
        Duration::from_secs(1),
    );
    let f = common::mail_fixtures()
        .into_iter()
        .find(|f| f.expected["from"] == "sjoudden@vc.test")
        .unwrap();
    md.deliver(&f.name, &f.bytes, f.received).unwrap();
    let (ok, _, err) = run(&["run", "--once"], &cfg);
    assert!(ok, "{err}");
    let (ok, out, _) = run(&["submissions", "--format", "json"], &cfg);
    assert!(ok);
    let subs: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(subs.len(), 1, "{out}");
    assert_eq!(subs[0]["clinic_id"], "sjoudden");
}

#[test]
fn doctor_names_a_broken_registry_without_importing_it() {
    let (dir, cfg) = cli_setup();
    let (ok, out, _) = run(&["doctor"], &cfg);
    assert!(ok, "{out}");
    assert!(out.contains("ok    clinic registry: 1 clinics in"), "{out}");
    std::fs::write(
        dir.path().join("clinics.csv"),
        "id,name,emails,listed_inhabitants,org_nr\na,A,a@x.test,1,556036-0794\n",
    )
    .unwrap();
    let (ok, out, _) = run(&["doctor"], &cfg);
    assert!(!ok);
    assert!(out.contains("FEL   clinic registry"), "{out}");
    assert!(out.contains("rad 2: organisationsnumret"), "{out}");
}
