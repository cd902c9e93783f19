//! The CSV finance's ERP imports: one row per batch line, the columns documented in
//! `docs/payouts.md`. UTF-8 with a BOM and `;` with decimal comma by default (Swedish
//! Excel), all three configurable; CRLF line ends; a field is quoted when it holds the
//! separator, a quote or a line break. Amounts come from öre by integer arithmetic.

use super::{Batch, payee_parts};
use crate::domain::money::Ore;

/// The header row, in column order.
pub const COLUMNS: [&str; 11] = [
    "batch",
    "vardcentral",
    "namn",
    "organisationsnummer",
    "mottagartyp",
    "mottagarnummer",
    "belopp",
    "cykelar",
    "delutbetalning",
    "typ",
    "referens",
];

fn field(out: &mut String, v: &str, sep: char) {
    if v.contains(sep) || v.contains('"') || v.contains('\n') || v.contains('\r') {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

fn row(out: &mut String, fields: &[String], sep: char) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(sep);
        }
        field(out, f, sep);
    }
    out.push_str("\r\n");
}

/// The CSV bytes of a batch.
pub fn write(batch: &Batch) -> Vec<u8> {
    let fmt = &batch.header.csv;
    let sep = fmt.separator;
    let mut out = String::new();
    if fmt.bom {
        out.push('\u{feff}');
    }
    row(
        &mut out,
        &COLUMNS.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        sep,
    );
    for l in &batch.lines {
        let (kind, number) = payee_parts(&l.payee);
        let amount = if fmt.decimal_comma {
            Ore(l.amount_ore).sek_decimal_comma()
        } else {
            Ore(l.amount_ore).sek_decimal()
        };
        row(
            &mut out,
            &[
                batch.header.number.to_string(),
                l.clinic_id.clone(),
                l.name.clone(),
                l.org_nr.clone().unwrap_or_default(),
                kind.to_string(),
                number,
                amount,
                l.year.to_string(),
                l.instalment.to_string(),
                l.kind.swedish().to_string(),
                l.reference.clone(),
            ],
            sep,
        );
    }
    out.into_bytes()
}
