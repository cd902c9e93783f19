//! `vardval demo`: the main job on embedded defaults. Copies `fixtures/mail/*.eml` into a
//! fresh Maildir under `var/demo`, runs the agent once over it with SQLite and a file outbox
//! (config/demo.toml), and prints what it did.

use std::path::{Path, PathBuf};

use std::collections::HashMap;

use anyhow::Context;
use chrono::{DateTime, Utc};

use super::run;
use crate::adapters::maildir::MaildirSource;
use crate::config::Settings;

pub async fn demo(config: &Path, fixtures: &Path) -> anyhow::Result<()> {
    let s = Settings::load(config)?;
    let var = s.resolve(Path::new("../var/demo"));
    if var.exists() {
        std::fs::remove_dir_all(&var).with_context(|| format!("cannot reset {}", var.display()))?;
    }
    let maildir = s.resolve(s.mailbox.path.as_ref().context("demo needs a Maildir")?);
    let md = MaildirSource::new(&maildir, &s.mailbox.processed_folder, s.poll_interval());
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures)
        .with_context(|| format!("cannot read {}", fixtures.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    let received = receive_times(&fixtures.join("expected.json"));
    for (i, f) in files.iter().enumerate() {
        let bytes = std::fs::read(f)?;
        let name = format!(
            "{:04}.{}.demo",
            i,
            f.file_stem().unwrap_or_default().to_string_lossy()
        );
        let file_name = f
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        md.deliver(&name, &bytes, received.get(&file_name).copied())?;
    }
    println!(
        "Demo: {} meddelanden från {} levererade till {}",
        files.len(),
        fixtures.display(),
        maildir.display()
    );
    let summary = run::run_settings(&s, true).await?;
    println!();
    run::print_summary(&summary);
    println!();
    super::submissions::submissions(config, false).await?;
    let out = s.resolve(s.smtp.dir.as_ref().context("demo uses a file outbox")?);
    println!();
    println!("Svaren finns som .eml-filer i {}", out.display());
    // Show the longest receipt: it has the most to say.
    let longest = std::fs::read_dir(&out)?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.metadata().ok()?.len(), e.path())))
        .max()
        .map(|(_, p)| p);
    if let Some(first) = longest {
        println!("Exempel ({}):\n", first.display());
        let raw = std::fs::read(&first).unwrap_or_default();
        if let Some(m) = mail_parser::MessageParser::default().parse(&raw) {
            println!(
                "Till: {}",
                m.to()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .unwrap_or("")
            );
            println!("Ämne: {}", m.subject().unwrap_or(""));
            println!(
                "Auto-Submitted: {}",
                m.header_raw("Auto-Submitted").unwrap_or("").trim()
            );
            println!();
            println!("{}", m.body_text(0).unwrap_or_default());
        }
    }
    show_schedule(&s).await
}

/// The scheduler's next runs, and one reminder as a clinic would read it (the 14-day
/// reminder for the last milestone, to the first clinic with an address).
async fn show_schedule(s: &Settings) -> anyhow::Result<()> {
    use crate::domain::schedule::{Offset, ReminderKind, ReminderUnit};
    use crate::ports::Clock;
    let p = super::app::build_pipeline(s, std::sync::Arc::new(crate::ports::SystemClock)).await?;
    let Some(sch) = super::app::build_scheduler(s, &p)? else {
        return Ok(());
    };
    let now = crate::ports::SystemClock.now();
    let tz = p.rulebook.tz();
    println!();
    println!("Schemalagda jobb (vardval schedule):");
    for j in sch.status(now).await? {
        println!(
            "  {:<10} nästa {}  ({})",
            j.job,
            j.next_at
                .map_or("–".into(), |t| crate::domain::vocab::local_time(t, tz)),
            j.schedule
        );
    }
    let (Some(clinic), Some(m)) = (
        p.registry.clinics().iter().find(|c| !c.emails.is_empty()),
        p.rulebook.milestones.last(),
    ) else {
        return Ok(());
    };
    let unit = ReminderUnit {
        clinic_id: clinic.id.clone(),
        milestone: m.id,
        offset: Offset::Before(14),
        kind: ReminderKind::Missing,
    };
    let at = crate::domain::schedule::reminder_points(
        &p.rulebook,
        &crate::jobs::reminders::policy(&sch.ctx),
    )
    .into_iter()
    .find(|pt| pt.milestone == m.id && pt.offset == Offset::Before(14))
    .map_or(now, |pt| pt.at);
    let mail = crate::jobs::reminders::render(
        &sch.ctx,
        &unit,
        &clinic.name,
        &clinic.emails[0],
        0,
        at,
        at,
    )?;
    println!();
    println!("Exempel på påminnelse (så som vårdcentralen läser den):\n");
    println!("Till: {}", mail.to);
    println!("Ämne: {}", mail.subject);
    if let Some(m) = mail_parser::MessageParser::default().parse(&mail.raw) {
        println!();
        println!("{}", m.body_text(0).unwrap_or_default());
    }
    p.store.close().await;
    Ok(())
}

/// The server receive time each fixture is meant to arrive at (`files.<name>.received` in
/// `expected.json`), so the demo shows on-time and late submissions as the 2026 cycle would
/// have seen them. The demo delivers with that time as the Maildir delivery time; files
/// without one are delivered now.
fn receive_times(path: &Path) -> HashMap<String, DateTime<Utc>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return HashMap::new();
    };
    v["files"]
        .as_object()
        .map(|files| {
            files
                .iter()
                .filter_map(|(name, f)| {
                    let t = DateTime::parse_from_rfc3339(f["received"].as_str()?).ok()?;
                    Some((name.clone(), t.with_timezone(&Utc)))
                })
                .collect()
        })
        .unwrap_or_default()
}
