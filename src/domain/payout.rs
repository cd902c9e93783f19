//! What each clinic is owed now, as a pure function of facts.
//!
//! Input ([`Facts`]): per clinic and cycle year the registry values (name, organisation
//! number, payee, listed inhabitants with their reference date) and the reviewers' facts
//! (milestone 1 confirmed green, milestone 2 confirmed, presentation registered, the reclaim
//! decision), plus every line already sealed in a batch and the money rules per year.
//! Output ([`Plan`]): the lines due now and the clinics that are blocked, with a reason.
//!
//! The model is *target minus paid*: for each instalment the clinic should by now have
//! received a target amount (instalment 1 once milestone 1 is confirmed green and no reclaim
//! was accepted; instalment 2 once the presentation is registered); what sealed batches
//! already paid is subtracted and the difference is the line. The first line of an instalment
//! is a `payment`; every later difference (inhabitants corrected, a decision reversed) is a
//! `correction`; an accepted reclaim takes instalment 1 back as a `reclaim` line. So an
//! instalment can never be paid twice, whatever the order of events, and a sealed batch is
//! never edited.
//!
//! Per clinic the lines of a batch are netted. A negative net that comes from corrections is
//! not payable (there is nothing to transfer it against): the clinic is blocked until a later
//! payment covers it. An accepted reclaim may make the net negative: finance invoices it.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ids::Payee;
use super::money::MoneyRules;

/// What a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    Payment,
    Correction,
    Reclaim,
}

impl LineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineKind::Payment => "payment",
            LineKind::Correction => "correction",
            LineKind::Reclaim => "reclaim",
        }
    }

    pub fn parse(s: &str) -> Option<LineKind> {
        match s {
            "payment" => Some(LineKind::Payment),
            "correction" => Some(LineKind::Correction),
            "reclaim" => Some(LineKind::Reclaim),
            _ => None,
        }
    }

    /// The Swedish word finance reads.
    pub fn swedish(self) -> &'static str {
        match self {
            LineKind::Payment => "utbetalning",
            LineKind::Correction => "korrigering",
            LineKind::Reclaim => "återkrav",
        }
    }
}

/// A reviewer's decision on a reclaim proposal (återkrav) of instalment 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reclaim {
    Proposed,
    Accepted,
    Rejected,
}

/// Listed inhabitants of a clinic for one cycle year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub count: u64,
    pub reference_date: NaiveDate,
}

/// Everything known about one clinic in one cycle year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicYear {
    pub clinic_id: String,
    pub year: i32,
    pub name: String,
    pub org_nr: Option<String>,
    /// The registry's payee text (`bg:…`, `pg:…`, `iban:…`), checked again here.
    pub payee: Option<String>,
    /// The listed inhabitants registered for exactly this year.
    pub listed: Option<Listed>,
    /// The latest confirmed decision on milestone 1 is green (a pre-grade never counts).
    pub plan_approved: bool,
    /// The latest confirmed decision on milestone 2 is green.
    pub report_approved: bool,
    /// The presentation at Utvecklingskraft is registered.
    pub presented: bool,
    pub reclaim: Option<Reclaim>,
}

/// A line already sealed in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidLine {
    pub clinic_id: String,
    pub year: i32,
    pub instalment: u8,
    pub kind: LineKind,
    pub amount_ore: i64,
}

/// The rules of one cycle year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearRules {
    pub money: MoneyRules,
    /// The end of milestone 2's due day (UTC): after it, a missing report may be reclaimed.
    pub report_due_end: DateTime<Utc>,
}

/// The input of [`plan`].
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub clinics: Vec<ClinicYear>,
    pub paid: Vec<PaidLine>,
    pub rules: BTreeMap<i32, YearRules>,
}

/// A line due now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DueLine {
    pub clinic_id: String,
    pub year: i32,
    pub instalment: u8,
    pub kind: LineKind,
    pub amount_ore: i64,
    /// Canonical payee text; empty when the clinic pays nothing in this batch and has none.
    pub payee: String,
    pub name: String,
    pub org_nr: Option<String>,
}

/// Why a clinic is not paid in this batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum BlockReason {
    BadPayee {
        detail: String,
    },
    MissingPayee,
    MissingListed {
        year: i32,
    },
    WrongReferenceDate {
        year: i32,
        expected: NaiveDate,
        found: NaiveDate,
    },
    NoRules {
        year: i32,
    },
    NegativeNet {
        net_ore: i64,
    },
    Overflow {
        year: i32,
    },
}

impl BlockReason {
    /// The reason in Swedish, for the desk, the digest and the approver's summary.
    pub fn text(&self) -> String {
        match self {
            BlockReason::BadPayee { detail } => format!("felaktig betalningsmottagare: {detail}"),
            BlockReason::MissingPayee => {
                "betalningsmottagare (bankgiro, plusgiro eller IBAN) saknas i registret".into()
            }
            BlockReason::MissingListed { year } => {
                format!("antal listade invånare för {year} saknas i registret")
            }
            BlockReason::WrongReferenceDate {
                year,
                expected,
                found,
            } => format!(
                "listade invånare för {year} är räknade {found}, men ska vara räknade {expected}"
            ),
            BlockReason::NoRules { year } => {
                format!("ersättningsregler för {year} saknas i konfigurationen")
            }
            BlockReason::NegativeNet { net_ore } => format!(
                "negativ korrigering på {} är större än det som ska betalas ut; den dras av vid nästa utbetalning",
                super::money::Ore(-net_ore)
            ),
            BlockReason::Overflow { year } => format!("beloppet för {year} går inte att räkna ut"),
        }
    }
}

/// A clinic that is stopped in this batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocked {
    pub clinic_id: String,
    pub reason: BlockReason,
}

/// What is due now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Ordered by clinic, year, instalment, kind.
    pub lines: Vec<DueLine>,
    pub blocked: Vec<Blocked>,
}

impl Plan {
    pub fn total_ore(&self) -> i64 {
        self.lines.iter().map(|l| l.amount_ore).sum()
    }
}

/// What one clinic-year should have received by now, per instalment.
fn targets(c: &ClinicYear, rules: &MoneyRules) -> Result<[i64; 2], BlockReason> {
    let wants1 = c.plan_approved && c.reclaim != Some(Reclaim::Accepted);
    let wants2 = c.presented;
    if !wants1 && !wants2 {
        return Ok([0, 0]);
    }
    let listed = c
        .listed
        .ok_or(BlockReason::MissingListed { year: c.year })?;
    if let Some(expected) = rules.inhabitants_reference_date
        && expected != listed.reference_date
    {
        return Err(BlockReason::WrongReferenceDate {
            year: c.year,
            expected,
            found: listed.reference_date,
        });
    }
    let (a, b) = rules
        .instalments(listed.count)
        .ok_or(BlockReason::Overflow { year: c.year })?;
    Ok([if wants1 { a.0 } else { 0 }, if wants2 { b.0 } else { 0 }])
}

/// The lines due now and the blocked clinics (see the module docs).
pub fn plan(facts: &Facts) -> Plan {
    // paid per (clinic, year, instalment): sum, and whether a payment line exists
    let mut paid: BTreeMap<(&str, i32, u8), (i64, bool)> = BTreeMap::new();
    for p in &facts.paid {
        let e = paid
            .entry((p.clinic_id.as_str(), p.year, p.instalment))
            .or_default();
        e.0 += p.amount_ore;
        e.1 |= p.kind == LineKind::Payment;
    }
    // candidate lines per clinic, and the first reason a clinic is blocked
    let mut per_clinic: BTreeMap<&str, (Vec<DueLine>, Option<BlockReason>)> = BTreeMap::new();
    let mut clinics: Vec<&ClinicYear> = facts.clinics.iter().collect();
    clinics.sort_by(|a, b| (&a.clinic_id, a.year).cmp(&(&b.clinic_id, b.year)));
    for c in clinics {
        let entry = per_clinic.entry(c.clinic_id.as_str()).or_default();
        let already = |k: u8| {
            paid.get(&(c.clinic_id.as_str(), c.year, k))
                .copied()
                .unwrap_or((0, false))
        };
        let anything_paid = already(1).0 != 0 || already(2).0 != 0;
        let target = match facts.rules.get(&c.year) {
            None => Err(BlockReason::NoRules { year: c.year }),
            Some(r) => targets(c, &r.money),
        };
        let target = match target {
            Ok(t) => t,
            Err(reason) => {
                // nothing to do for a clinic-year that wants nothing and got nothing
                let wants = c.plan_approved || c.presented || anything_paid;
                if wants && entry.1.is_none() {
                    entry.1 = Some(reason);
                }
                continue;
            }
        };
        for k in [1u8, 2u8] {
            let (sum, had_payment) = already(k);
            let delta = target[usize::from(k - 1)] - sum;
            if delta == 0 {
                continue;
            }
            let kind = if k == 1 && c.reclaim == Some(Reclaim::Accepted) && delta < 0 {
                LineKind::Reclaim
            } else if !had_payment && delta > 0 {
                LineKind::Payment
            } else {
                LineKind::Correction
            };
            entry.0.push(DueLine {
                clinic_id: c.clinic_id.clone(),
                year: c.year,
                instalment: k,
                kind,
                amount_ore: delta,
                payee: c.payee.clone().unwrap_or_default(),
                name: c.name.clone(),
                org_nr: c.org_nr.clone(),
            });
        }
    }
    let mut out = Plan::default();
    for (clinic_id, (lines, reason)) in per_clinic {
        if let Some(reason) = reason {
            out.blocked.push(Blocked {
                clinic_id: clinic_id.to_string(),
                reason,
            });
            continue;
        }
        if lines.is_empty() {
            continue;
        }
        let reclaim: i64 = lines
            .iter()
            .filter(|l| l.kind == LineKind::Reclaim)
            .map(|l| l.amount_ore)
            .sum();
        let rest: i64 = lines
            .iter()
            .filter(|l| l.kind != LineKind::Reclaim)
            .map(|l| l.amount_ore)
            .sum();
        if rest < 0 {
            out.blocked.push(Blocked {
                clinic_id: clinic_id.to_string(),
                reason: BlockReason::NegativeNet { net_ore: rest },
            });
            continue;
        }
        if rest + reclaim > 0 {
            // something is transferred: the payee must be valid
            let payee = lines[0].payee.clone();
            if payee.is_empty() {
                out.blocked.push(Blocked {
                    clinic_id: clinic_id.to_string(),
                    reason: BlockReason::MissingPayee,
                });
                continue;
            }
            if let Err(e) = Payee::parse(&payee) {
                out.blocked.push(Blocked {
                    clinic_id: clinic_id.to_string(),
                    reason: BlockReason::BadPayee {
                        detail: e.to_string(),
                    },
                });
                continue;
            }
        }
        out.lines.extend(lines);
    }
    out
}

/// The net a clinic receives in one batch (positive: transferred; negative: invoiced).
pub fn net_per_clinic<'a>(
    lines: impl IntoIterator<Item = (&'a str, i64)>,
) -> BTreeMap<&'a str, i64> {
    let mut out: BTreeMap<&str, i64> = BTreeMap::new();
    for (c, a) in lines {
        *out.entry(c).or_default() += a;
    }
    out
}

/// The clinic-years that should get a reclaim proposal at `now`: milestone 2 is not confirmed
/// after its deadline, instalment 1 was paid (net positive) and no proposal exists yet.
pub fn reclaim_candidates(facts: &Facts, now: DateTime<Utc>) -> Vec<(String, i32)> {
    let mut paid1: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for p in facts.paid.iter().filter(|p| p.instalment == 1) {
        *paid1.entry((p.clinic_id.as_str(), p.year)).or_default() += p.amount_ore;
    }
    let mut out: Vec<(String, i32)> = facts
        .clinics
        .iter()
        .filter(|c| {
            c.reclaim.is_none()
                && !c.report_approved
                && facts
                    .rules
                    .get(&c.year)
                    .is_some_and(|r| now > r.report_due_end)
                && paid1
                    .get(&(c.clinic_id.as_str(), c.year))
                    .is_some_and(|&a| a > 0)
        })
        .map(|c| (c.clinic_id.clone(), c.year))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The sentence about an instalment's amount for the clinic's decision mail (Swedish), e.g.
/// "Beloppet är 90 000,00 kr (50 % av årsersättningen 180 000,00 kr för 8 000 listade
/// invånare)." `None` without listed inhabitants or for another instalment number.
pub fn instalment_text(money: &MoneyRules, instalment: u8, listed: Option<u64>) -> Option<String> {
    let listed = listed?;
    let amount = money.instalment(instalment, listed)?;
    let yearly = money.yearly(listed)?;
    let share = if instalment == 1 {
        u32::from(money.first_instalment_percent)
    } else {
        100 - u32::from(money.first_instalment_percent)
    };
    Some(format!(
        "Beloppet är {amount} ({share} % av årsersättningen {yearly} för {listed} listade invånare)."
    ))
}

#[cfg(test)]
#[path = "payout_tests.rs"]
mod tests;
