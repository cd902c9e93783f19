//! `vardval clinics import|list|export|history`: the clinic registry in the ledger.
//!
//! An import is all or nothing: the file is parsed and compared with the ledger
//! ([`crate::domain::clinics`]) before anything is written, and a refused file writes nothing.
//! Clinics in the ledger but not in the file are kept and reported ("finns inte i filen");
//! deactivate one with the `active` column (`nej`). The `[clinics] path` CSV is imported once,
//! by `config`, when the ledger has no clinics yet ([`ensure_first_import`]).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::app;
use crate::config::Settings;
use crate::domain::clinics::{self, ClinicPlan, ClinicRecord, Outcome};
use crate::ports::{Clock, SystemClock};
use crate::store::Store;

/// What an import did.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub plans: Vec<ClinicPlan>,
    /// Clinics written (added or changed); 0 when the file changed nothing.
    pub written: usize,
}

impl ImportReport {
    pub fn count(&self, outcome: Outcome) -> usize {
        self.plans.iter().filter(|p| p.outcome == outcome).count()
    }
}

/// Validates `text` against the ledger and writes what changed, as `by`, at `now`.
/// `year` is the cycle year for lines without a `year`.
pub async fn import_text(
    store: &Store,
    text: &str,
    year: i32,
    by: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<ImportReport> {
    let lines = clinics::parse_file(text, year)?;
    let current = store.clinics().await?;
    let plans = clinics::plan(&current, &lines)?;
    let written = store.apply_clinic_plan(&plans, by, now).await?;
    Ok(ImportReport { plans, written })
}

/// The report printed after an import, in Swedish, one line per clinic.
pub fn render_report(r: &ImportReport) -> String {
    let mut out = String::new();
    for p in &r.plans {
        let _ = match p.outcome {
            Outcome::Added => writeln!(out, "  tillagd        {}", p.id),
            Outcome::Unchanged => writeln!(out, "  oförändrad     {}", p.id),
            Outcome::NotInFile => writeln!(out, "  finns inte i filen (behålls) {}", p.id),
            Outcome::Changed => {
                let fields: Vec<String> = p
                    .changes
                    .iter()
                    .map(|c| {
                        format!(
                            "{}: {} -> {}",
                            c.field,
                            c.old.as_deref().unwrap_or("–"),
                            c.new.as_deref().unwrap_or("–")
                        )
                    })
                    .collect();
                writeln!(out, "  ändrad         {} ({})", p.id, fields.join("; "))
            }
        };
    }
    if r.written == 0 {
        out.push_str("Inga ändringar: registret stämmer redan med filen.\n");
    } else {
        let _ = writeln!(
            out,
            "{} tillagda, {} ändrade, {} oförändrade, {} finns inte i filen.",
            r.count(Outcome::Added),
            r.count(Outcome::Changed),
            r.count(Outcome::Unchanged),
            r.count(Outcome::NotInFile)
        );
    }
    out
}

pub use crate::pipeline::registry::registry_from_records;

/// Imports the `[clinics] path` CSV, by `config`, when the ledger has no clinics yet.
pub async fn ensure_first_import(
    s: &Settings,
    store: &Store,
    year: i32,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<ImportReport>> {
    let Some(path) = &s.clinics.path else {
        return Ok(None);
    };
    if store.has_clinics().await? {
        return Ok(None);
    }
    let p = s.resolve(path);
    let text = std::fs::read_to_string(&p)
        .with_context(|| format!("cannot read clinic registry {}", p.display()))?;
    let r = match import_text(store, &text, year, "config", now).await {
        Ok(r) => r,
        // Another process starting at the same time (or a killed one whose transaction the
        // database committed late) imported first: the import is one transaction, so this one
        // wrote nothing, and the ledger is now the registry.
        Err(e) if store.has_clinics().await.unwrap_or(false) => {
            tracing::info!(error = %format!("{e:#}"), "the clinic registry was imported meanwhile");
            return Ok(None);
        }
        Err(e) => {
            return Err(e).with_context(|| format!("invalid clinic registry {}", p.display()));
        }
    };
    tracing::info!(clinics = r.written, file = %p.display(), "first import of the clinic registry");
    Ok(Some(r))
}

/// The registry without writing anything (for `doctor`): the ledger's clinics, or, while
/// the ledger has none, the `[clinics] path` file as the first import would read it.
pub async fn check_registry(s: &Settings, store: &Store, year: i32) -> anyhow::Result<String> {
    if store.has_clinics().await? {
        let reg = registry_from_records(&store.clinics().await?, year)?;
        return Ok(format!("{} active clinics in the database", reg.len()));
    }
    let path = s
        .clinics
        .path
        .as_ref()
        .context("no clinics in the database and no [clinics] path to import")?;
    let p = s.resolve(path);
    let text = std::fs::read_to_string(&p)
        .with_context(|| format!("cannot read clinic registry {}", p.display()))?;
    let plans = clinics::parse_file(&text, year)
        .and_then(|lines| clinics::plan(&[], &lines))
        .with_context(|| format!("invalid clinic registry {}", p.display()))?;
    Ok(format!(
        "{} clinics in {} (imported at the first start)",
        plans.len(),
        p.display()
    ))
}

/// The registry as CSV in the import's columns (one line per clinic, the inhabitants of
/// `year` or the latest year before it); importing it again changes nothing.
pub fn export_csv(records: &[ClinicRecord], year: i32) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "id",
        "name",
        "emails",
        "listed_inhabitants",
        "year",
        "reference_date",
        "hsa_id",
        "org_nr",
        "payee",
        "active",
    ])?;
    for r in records {
        let (y, count, date) = match r.inhabitants_for(year) {
            Some((y, i)) => (
                y.to_string(),
                i.count.to_string(),
                i.reference_date.to_string(),
            ),
            None => (year.to_string(), "0".into(), String::new()),
        };
        w.write_record([
            r.id.as_str(),
            &r.name,
            &r.addresses.join(";"),
            &count,
            &y,
            &date,
            r.hsa_id.as_deref().unwrap_or(""),
            r.org_nr.as_deref().unwrap_or(""),
            r.payee.as_deref().unwrap_or(""),
            if r.active { "ja" } else { "nej" },
        ])?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

fn record_json(r: &ClinicRecord) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "name": r.name,
        "emails": r.addresses,
        "hsa_id": r.hsa_id,
        "org_nr": r.org_nr,
        "payee": r.payee,
        "active": r.active,
        "listed_inhabitants": r.inhabitants.iter().map(|(y, i)| serde_json::json!({
            "year": y,
            "count": i.count,
            "reference_date": i.reference_date.to_string(),
        })).collect::<Vec<_>>(),
    })
}

async fn open(config: &Path) -> anyhow::Result<(Settings, Store, i32)> {
    let s = Settings::load(config)?;
    let year = app::load_rulebook(&s)?.year;
    let store = app::open_store(&s).await?;
    Ok((s, store, year))
}

/// `clinics import FILE`: prints the report; an error names the line and writes nothing.
pub async fn import(config: &Path, file: &Path, by: &str) -> anyhow::Result<()> {
    let (s, store, year) = open(config).await?;
    // The configured file is the first import; do it before the new file is compared.
    ensure_first_import(&s, &store, year, SystemClock.now()).await?;
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("kan inte läsa {}", file.display()))?;
    let r = import_text(&store, &text, year, by, SystemClock.now())
        .await
        .with_context(|| format!("{} importerades inte, inget ändrades", file.display()))?;
    print!("{}", render_report(&r));
    store.close().await;
    Ok(())
}

/// `clinics list [--format json]`.
pub async fn list(config: &Path, json: bool) -> anyhow::Result<()> {
    let (s, store, year) = open(config).await?;
    ensure_first_import(&s, &store, year, SystemClock.now()).await?;
    let records = store.clinics().await?;
    if json {
        let v: Vec<_> = records.iter().map(record_json).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for r in &records {
            let inh = r
                .inhabitants_for(year)
                .map_or("–".to_string(), |(y, i)| format!("{} ({y})", i.count));
            println!(
                "{}\t{}\t{}\t{}\t{}",
                r.id,
                r.name,
                r.addresses.join(";"),
                inh,
                if r.active { "aktiv" } else { "inaktiv" }
            );
        }
    }
    store.close().await;
    Ok(())
}

/// `clinics export`: CSV on stdout.
pub async fn export(config: &Path) -> anyhow::Result<()> {
    let (s, store, year) = open(config).await?;
    ensure_first_import(&s, &store, year, SystemClock.now()).await?;
    print!("{}", export_csv(&store.clinics().await?, year)?);
    store.close().await;
    Ok(())
}

/// `clinics history [--clinic ID]`: one line per changed field, oldest first.
pub async fn history(config: &Path, clinic: Option<&str>, json: bool) -> anyhow::Result<()> {
    let (s, store, year) = open(config).await?;
    ensure_first_import(&s, &store, year, SystemClock.now()).await?;
    let rows = store.clinic_history(clinic).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for c in &rows {
            println!(
                "{}\t{}\t{}\t{}\t{} -> {}",
                c.changed_at,
                c.changed_by,
                c.clinic_id,
                c.field,
                c.old_value.as_deref().unwrap_or("–"),
                c.new_value.as_deref().unwrap_or("–")
            );
        }
    }
    store.close().await;
    Ok(())
}
