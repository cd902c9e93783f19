//! The payout settings: `[payouts]` (when, where, the payer, file formats, other cycle
//! years' rulebooks) and `[finance]` (who gets the files by mail). Amounts, shares and the
//! inhabitants' reference date are per cycle year in the rulebook's `[money]`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::payfiles::{CsvFormat, Debtor};

/// `[payouts]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PayoutSettings {
    /// Run payouts on the schedule at all (the CLI works either way).
    pub enabled: bool,
    /// Cron (seconds first) on the Stockholm wall clock; default 07:00 on 1 March and 1 June.
    pub schedule: String,
    /// Cron of the check that proposes reclaims after milestone 2's deadline (daily 06:00).
    pub reclaim_check: String,
    /// The ERP's pickup directory; files are written atomically (temp file + rename).
    /// `None`: files only go by mail.
    pub dir: Option<PathBuf>,
    /// File names: `<prefix>-<batch number, 4 digits>.csv|.pain001.xml|.html`.
    pub file_prefix: String,
    /// The reference text of a line: `{year}`, `{instalment}`, `{kind}`, `{clinic}`.
    pub reference: String,
    /// Rulebooks of other cycle years whose instalments are still paid (e.g. last year's
    /// for instalment 2 in June); the cycle's own rulebook is always included.
    pub rulebooks: Vec<PathBuf>,
    /// The CSV: separator (one character), BOM, decimal comma.
    pub csv_separator: String,
    pub csv_bom: bool,
    pub csv_decimal_comma: bool,
    /// The payer.
    pub debtor: Debtor,
}

impl Default for PayoutSettings {
    fn default() -> Self {
        PayoutSettings {
            enabled: true,
            schedule: "0 0 7 1 Mar,Jun *".into(),
            reclaim_check: "0 0 6 * * *".into(),
            dir: None,
            file_prefix: "vardval-utbetalning".into(),
            reference: "Vårdval {year} delutbetalning {instalment} {kind}".into(),
            rulebooks: vec![],
            csv_separator: ";".into(),
            csv_bom: true,
            csv_decimal_comma: true,
            debtor: Debtor::default(),
        }
    }
}

impl PayoutSettings {
    /// The CSV format, validated.
    pub fn csv(&self) -> Result<CsvFormat, String> {
        let mut chars = self.csv_separator.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if c != '"' && c != '\n' && c != '\r' => Ok(CsvFormat {
                separator: c,
                bom: self.csv_bom,
                decimal_comma: self.csv_decimal_comma,
            }),
            _ => Err(format!(
                "[payouts] csv_separator = {:?}: expected one character (not a quote or line break)",
                self.csv_separator
            )),
        }
    }

    /// Checks what a payout run needs (called when a run or preview starts, so that a
    /// deployment without payouts configured still starts).
    pub fn check_debtor(&self) -> Result<(), String> {
        let d = &self.debtor;
        if d.name.trim().is_empty() {
            return Err("[payouts.debtor] name is missing".into());
        }
        crate::domain::ids::org_nr(&d.org_nr)
            .map_err(|e| format!("[payouts.debtor] org_nr: {e}"))?;
        crate::domain::ids::iban(&d.iban).map_err(|e| format!("[payouts.debtor] iban: {e}"))?;
        let bic_ok =
            matches!(d.bic.len(), 8 | 11) && d.bic.bytes().all(|b| b.is_ascii_alphanumeric());
        if !bic_ok {
            return Err(format!(
                "[payouts.debtor] bic = {:?}: expected 8 or 11 letters and digits",
                d.bic
            ));
        }
        Ok(())
    }
}

/// `[finance]`: who receives the payout files.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FinanceSettings {
    pub emails: Vec<String>,
}
