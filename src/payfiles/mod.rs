//! The payout files of a sealed batch, as pure functions of it (no I/O, no clock): the ERP
//! CSV ([`csv`]), the ISO 20022 pain.001.001.09 credit transfer ([`pain001`]) and the
//! approver's HTML summary ([`summary`]). The same sealed batch always gives the same bytes.
//!
//! A [`Batch`] is what a payout run seals: its number, due date and seal time, the payer
//! and file format settings as they were at the seal ([`Header`]), the lines and the
//! blocked clinics. [`Batch::digest`] is the SHA-256 over the canonical text of its lines.

pub mod csv;
pub mod pain001;
pub mod summary;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::ids::Payee;
use crate::domain::payout::LineKind;

/// The payer (the region) as the bank knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Debtor {
    pub name: String,
    /// Organisation number, `NNNNNN-NNNN`.
    pub org_nr: String,
    /// The account the transfers are paid from.
    pub iban: String,
    /// The payer's bank (BIC), e.g. `ESSESESS`.
    pub bic: String,
    /// The initiating party's id as agreed with the bank (defaults to the org nr digits).
    #[serde(default)]
    pub initiating_party_id: Option<String>,
}

/// How the CSV is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvFormat {
    pub separator: char,
    pub bom: bool,
    pub decimal_comma: bool,
}

impl Default for CsvFormat {
    fn default() -> Self {
        CsvFormat {
            separator: ';',
            bom: true,
            decimal_comma: true,
        }
    }
}

/// Everything about a batch that is not its lines, frozen at the seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub number: i64,
    pub due_date: NaiveDate,
    pub sealed_at: DateTime<Utc>,
    pub debtor: Debtor,
    pub csv: CsvFormat,
    /// The file name stem, e.g. `vardval-utbetalning-0003`.
    pub stem: String,
    /// The time zone people read times in (the rulebook's, `Europe/Stockholm`).
    pub timezone: String,
}

/// One line of a sealed batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub seq: u32,
    pub clinic_id: String,
    pub name: String,
    pub org_nr: Option<String>,
    /// Canonical payee text (`bg:…`, `pg:…`, `iban:…`).
    pub payee: String,
    pub year: i32,
    pub instalment: u8,
    pub kind: LineKind,
    pub amount_ore: i64,
    pub reference: String,
}

/// A clinic stopped in this batch, with the reason in Swedish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedLine {
    pub clinic_id: String,
    pub reason: String,
}

/// A sealed batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub header: Header,
    pub lines: Vec<Line>,
    pub blocked: Vec<BlockedLine>,
}

/// One credit transfer: a clinic's net when it is positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer<'a> {
    pub clinic_id: &'a str,
    pub name: &'a str,
    pub payee: &'a str,
    pub amount_ore: i64,
    pub references: Vec<&'a str>,
    pub first_seq: u32,
}

impl Batch {
    pub fn total_ore(&self) -> i64 {
        self.lines.iter().map(|l| l.amount_ore).sum()
    }

    /// The canonical text the digest is taken over: one line per batch line, fields joined
    /// by U+001F, in sequence order.
    pub fn canonical(&self) -> String {
        let mut s = String::new();
        for l in &self.lines {
            let fields = [
                l.seq.to_string(),
                l.clinic_id.clone(),
                l.name.clone(),
                l.org_nr.clone().unwrap_or_default(),
                l.payee.clone(),
                l.year.to_string(),
                l.instalment.to_string(),
                l.kind.as_str().to_string(),
                l.amount_ore.to_string(),
                l.reference.clone(),
            ];
            s.push_str(&fields.join("\u{1f}"));
            s.push('\n');
        }
        s
    }

    /// SHA-256 over [`Batch::canonical`], lower-case hex.
    pub fn digest(&self) -> String {
        hex::encode(Sha256::digest(self.canonical().as_bytes()))
    }

    /// Per clinic, the net of its lines when positive (what the bank transfers), in the order
    /// of the clinics' first lines.
    pub fn transfers(&self) -> Vec<Transfer<'_>> {
        let mut by: BTreeMap<&str, Transfer<'_>> = BTreeMap::new();
        for l in &self.lines {
            let t = by.entry(l.clinic_id.as_str()).or_insert_with(|| Transfer {
                clinic_id: &l.clinic_id,
                name: &l.name,
                payee: &l.payee,
                amount_ore: 0,
                references: vec![],
                first_seq: l.seq,
            });
            t.amount_ore += l.amount_ore;
            t.references.push(&l.reference);
        }
        let mut out: Vec<Transfer<'_>> = by.into_values().filter(|t| t.amount_ore > 0).collect();
        out.sort_by_key(|t| t.first_seq);
        out
    }

    /// Per clinic, what is invoiced (a negative net from an accepted reclaim), as a positive
    /// amount.
    pub fn invoices(&self) -> Vec<(&str, &str, i64)> {
        let mut by: BTreeMap<&str, (&str, i64)> = BTreeMap::new();
        for l in &self.lines {
            by.entry(l.clinic_id.as_str()).or_insert((&l.name, 0)).1 += l.amount_ore;
        }
        by.into_iter()
            .filter(|(_, (_, a))| *a < 0)
            .map(|(c, (n, a))| (c, n, -a))
            .collect()
    }

    /// The files of this batch: (file name, bytes). An empty batch has none.
    pub fn files(&self) -> Result<Vec<(String, Vec<u8>)>, String> {
        if self.lines.is_empty() {
            return Ok(vec![]);
        }
        let stem = &self.header.stem;
        let mut out = vec![(format!("{stem}.csv"), csv::write(self))];
        if !self.transfers().is_empty() {
            out.push((
                format!("{stem}.pain001.xml"),
                pain001::write(self)?.into_bytes(),
            ));
        }
        out.push((format!("{stem}.html"), summary::write(self).into_bytes()));
        Ok(out)
    }
}

/// The payee type and number as finance reads them: (`bankgiro`, `5050-1055`).
pub fn payee_parts(payee: &str) -> (&'static str, String) {
    match Payee::parse(payee) {
        Ok(p @ Payee::Bankgiro(_)) => ("bankgiro", p.to_string()[3..].to_string()),
        Ok(p @ Payee::Plusgiro(_)) => ("plusgiro", p.to_string()[3..].to_string()),
        Ok(Payee::Iban(i)) => ("iban", i),
        Err(_) => ("", payee.to_string()),
    }
}

/// The reference text of a line from the configured template: `{year}`, `{instalment}`,
/// `{kind}` (Swedish word) and `{clinic}` are replaced.
pub fn reference(
    template: &str,
    clinic: &str,
    year: i32,
    instalment: u8,
    kind: LineKind,
) -> String {
    template
        .replace("{year}", &year.to_string())
        .replace("{instalment}", &instalment.to_string())
        .replace("{kind}", kind.swedish())
        .replace("{clinic}", clinic)
}

#[cfg(test)]
pub(crate) mod tests;
