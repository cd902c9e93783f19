//! The approver's summary: a self-contained HTML page (Swedish) rendered from
//! `templates/payouts.summary.html.j2` with what the batch pays, to whom, what is invoiced
//! (accepted reclaims), who is stopped and why, and the batch's SHA-256.

use chrono_tz::Tz;
use minijinja::{AutoEscape, Environment, context};

use super::{Batch, payee_parts};
use crate::domain::cycle::{swedish_date, swedish_local};
use crate::domain::money::Ore;

const TEMPLATE: &str = include_str!("../../templates/payouts.summary.html.j2");

fn payee_text(p: &str) -> String {
    let (kind, number) = payee_parts(p);
    if kind.is_empty() {
        number
    } else {
        format!("{kind} {number}")
    }
}

/// The HTML of a batch's summary.
pub fn write(batch: &Batch) -> String {
    let h = &batch.header;
    let tz: Tz = h.timezone.parse().unwrap_or(chrono_tz::Europe::Stockholm);
    let lines: Vec<_> = batch
        .lines
        .iter()
        .map(|l| {
            context! {
                seq => l.seq,
                clinic_id => &l.clinic_id,
                name => &l.name,
                year => l.year,
                instalment => l.instalment,
                kind => l.kind.swedish(),
                payee => payee_text(&l.payee),
                amount => Ore(l.amount_ore).to_string(),
                negative => l.amount_ore < 0,
                reference => &l.reference,
            }
        })
        .collect();
    let transfers = batch.transfers();
    let transfer_total: i64 = transfers.iter().map(|t| t.amount_ore).sum();
    let transfers: Vec<_> = transfers
        .iter()
        .map(|t| {
            context! {
                clinic_id => t.clinic_id,
                name => t.name,
                payee => payee_text(t.payee),
                amount => Ore(t.amount_ore).to_string(),
            }
        })
        .collect();
    let invoices = batch.invoices();
    let invoice_total: i64 = invoices.iter().map(|i| i.2).sum();
    let invoices: Vec<_> = invoices
        .iter()
        .map(|(c, n, a)| context! { clinic_id => c, name => n, amount => Ore(*a).to_string() })
        .collect();
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    let ctx = context! {
        number => h.number,
        due_date => swedish_date(h.due_date),
        sealed_at => swedish_local(h.sealed_at, tz),
        digest => batch.digest(),
        debtor => format!("{} ({})", h.debtor.name, h.debtor.iban),
        total => Ore(batch.total_ore()).to_string(),
        transfer_total => Ore(transfer_total).to_string(),
        invoice_total => Ore(invoice_total).to_string(),
        lines,
        transfers,
        invoices,
        blocked => &batch.blocked,
    };
    // The template is embedded and known to parse; a render error would be a bug in it.
    env.render_str(TEMPLATE, ctx).unwrap_or_else(|e| {
        format!("<!DOCTYPE html><p>Sammanställningen kunde inte skapas: {e}</p>")
    })
}
