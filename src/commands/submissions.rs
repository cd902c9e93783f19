//! `vardval submissions --config F [--format json|text]`: one object per submission.

use std::path::Path;

use serde_json::json;

use super::app;
use crate::config::Settings;

pub async fn submissions(config: &Path, as_json: bool) -> anyhow::Result<()> {
    let s = Settings::load(config)?;
    let store = app::open_store(&s).await?;
    let rows = store.submissions().await?;
    let rfc =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if as_json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "clinic_id": r.clinic_id,
                    "milestone": r.milestone,
                    "version": r.version,
                    "kind": r.kind.as_str(),
                    "received_at": rfc(r.received_at),
                    "on_time": r.on_time,
                    "pre_grade": r.pre_grade.map(|g| g.as_str()),
                    "document": r.doc_name,
                    "document_sha256": r.doc_sha256,
                    "message_id": r.mail_message_id,
                    "receipt_sent_at": r.receipt_sent_at.map(rfc),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        println!(
            "{:<12} {:>2} {:>3} {:<20} {:<5} {:<7} dokument",
            "vårdcentral", "rm", "ver", "mottaget (UTC)", "i tid", "förhand"
        );
        for r in rows {
            println!(
                "{:<12} {:>2} {:>3} {:<20} {:<5} {:<7} {}",
                r.clinic_id,
                r.milestone,
                r.version,
                rfc(r.received_at),
                if r.on_time { "ja" } else { "nej" },
                r.pre_grade.map_or("-", |g| g.as_str()),
                crate::mail::clean::clean_text(&r.doc_name, crate::mail::clean::MAX_QUOTED_CHARS)
            );
        }
    }
    Ok(())
}
