//! `vardval audit verify|list`: check the audit log's hash chain; read its newest rows.

use std::path::Path;

use super::app;
use crate::config::Settings;
use crate::store::AuditFilter;

/// `audit verify`: prints "ok, N rows" and returns true, or names the first bad row and
/// returns false (exit 1).
pub async fn verify(config: &Path, json: bool) -> anyhow::Result<bool> {
    let s = Settings::load(config)?;
    let store = app::open_store(&s).await?;
    let check = store.audit_verify().await;
    store.close().await;
    let check = check?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ok": check.ok(),
                "rows": check.rows,
                "first_bad": check.first_bad,
                "reason": check.reason,
            })
        );
    } else {
        match check.first_bad {
            None => println!("ok, {} rows", check.rows),
            Some(id) => println!(
                "audit log broken at row {id}: {} ({} rows before it verify)",
                check.reason.as_deref().unwrap_or("?"),
                check.rows
            ),
        }
    }
    Ok(check.ok())
}

/// `audit list`: the newest rows matching the filters, newest first.
pub async fn list(
    config: &Path,
    limit: i64,
    filter: &AuditFilter,
    json: bool,
) -> anyhow::Result<()> {
    let s = Settings::load(config)?;
    let store = app::open_store(&s).await?;
    let rows = store.audit_list(limit, filter).await;
    store.close().await;
    let rows = rows?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in &rows {
            println!(
                "{}\t{}\t{}\t{}\t{}\t{}",
                r.id, r.at, r.actor, r.action, r.subject, r.detail
            );
        }
    }
    Ok(())
}
