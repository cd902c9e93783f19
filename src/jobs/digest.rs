//! The weekly digest to reviewers: what came in during the week before the due slot, what
//! waits for confirmation, open triage, clinics late or missing for milestones already due,
//! reminders sent and not sendable, dead letters, clinics stopped in the latest payout
//! batch and reclaim proposals waiting for a decision. One outbox row per reviewer, keyed
//! by the slot and the address (exactly once).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use minijinja::context;

use super::JobContext;
use super::mail::reference;
use crate::domain::vocab::date as swedish_date;
use crate::store::NewOutbox;

/// The facts of one digest (also what tests assert on).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DigestFacts {
    pub classes: BTreeMap<String, i64>,
    pub submissions: i64,
    pub prechecks: i64,
    pub unconfirmed: usize,
    pub triage_open: usize,
    /// Per milestone due before the slot: (missing clinic ids, late clinic ids).
    pub milestones: BTreeMap<u8, (Vec<String>, Vec<String>)>,
    pub reminders_sent: i64,
    pub reminders_pending: i64,
    pub reminders_dead: i64,
    pub domain_only: Vec<String>,
    pub dead_letters: i64,
    /// Clinics stopped in the latest payout batch sealed before the slot: (clinic, reason).
    pub payouts_blocked: Vec<(String, String)>,
    /// Reclaim proposals waiting for a reviewer's decision: (clinic, year).
    pub reclaims_open: Vec<(String, i32)>,
}

impl DigestFacts {
    pub fn empty_week(&self) -> bool {
        self.classes.is_empty()
            && self.reminders_sent + self.reminders_pending + self.reminders_dead == 0
    }
}

/// Gather the digest's facts for the week `[at - 7 days, at)`.
pub async fn facts(ctx: &JobContext, at: DateTime<Utc>) -> anyhow::Result<DigestFacts> {
    let from = at - Duration::days(7);
    let store = &ctx.store;
    let mut f = DigestFacts::default();
    for (class, n) in store.class_counts_between(from, at).await? {
        f.classes.insert(class, n);
    }
    f.submissions = f.classes.get("submission").copied().unwrap_or(0)
        + f.classes.get("supplement").copied().unwrap_or(0);
    f.prechecks = f.classes.get("precheck").copied().unwrap_or(0);
    let subs = store.submissions().await?;
    let subs: Vec<_> = subs.into_iter().filter(|s| s.received_at < at).collect();
    let mut latest = BTreeMap::new();
    for s in &subs {
        latest.insert((s.clinic_id.clone(), s.milestone), s);
    }
    // Waiting for a reviewer: the latest version has no decision (made before the slot).
    let decided: std::collections::BTreeSet<i64> = store
        .decisions(ctx.rulebook.year)
        .await?
        .into_iter()
        .filter(|d| d.decided_at < at)
        .map(|d| d.submission_id)
        .collect();
    f.unconfirmed = latest.values().filter(|s| !decided.contains(&s.id)).count();
    f.triage_open = store.triage_open().await?.len();
    let tz = ctx.rulebook.tz();
    let today = at.with_timezone(&tz).date_naive();
    for m in &ctx.rulebook.milestones {
        if m.due >= today {
            continue;
        }
        let mut missing = Vec::new();
        let mut late = Vec::new();
        for c in ctx.registry.snapshot().clinics() {
            let of_clinic: Vec<_> = subs
                .iter()
                .filter(|s| s.clinic_id == c.id && s.milestone == i64::from(m.id))
                .collect();
            if of_clinic.is_empty() {
                missing.push(c.id.clone());
            } else if !of_clinic.iter().any(|s| s.on_time) {
                late.push(c.id.clone());
            }
        }
        f.milestones.insert(m.id, (missing, late));
    }
    let r = store.outbox_kind_stats("reminder", from, at).await?;
    f.reminders_sent = r.sent;
    f.reminders_pending = r.pending;
    f.reminders_dead = r.dead;
    f.domain_only = ctx
        .registry
        .snapshot()
        .clinics()
        .iter()
        .filter(|c| c.emails.is_empty())
        .map(|c| c.id.clone())
        .collect();
    f.dead_letters = store.outbox_dead().await?;
    if let Some(b) = store
        .payout_batches()
        .await?
        .into_iter()
        .rfind(|b| b.sealed_at < at)
        && let Some((_, batch, _)) = store.payout_batch(b.id).await?
    {
        f.payouts_blocked = batch
            .blocked
            .into_iter()
            .map(|x| (x.clinic_id, x.reason))
            .collect();
    }
    f.reclaims_open = store
        .reclaims()
        .await?
        .into_iter()
        .filter(|r| r.state == crate::domain::payout::Reclaim::Proposed && r.proposed_at < at)
        .map(|r| (r.clinic_id, r.year))
        .collect();
    Ok(f)
}

/// What one digest run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DigestReport {
    pub queued: usize,
    pub already: usize,
}

/// Run the digest job for due slot `at`.
pub async fn run(
    ctx: &JobContext,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<DigestReport> {
    let f = facts(ctx, at).await?;
    let tz = ctx.rulebook.tz();
    let week_from = swedish_date((at - Duration::days(7)).with_timezone(&tz).date_naive());
    let week_to = swedish_date((at - Duration::seconds(1)).with_timezone(&tz).date_naive());
    let classes: Vec<minijinja::Value> = f
        .classes
        .iter()
        .map(|(c, n)| context! { class => c, n => n })
        .collect();
    let milestones: Vec<minijinja::Value> = f
        .milestones
        .iter()
        .filter_map(|(id, (missing, late))| {
            let m = ctx.rulebook.milestone(*id)?;
            Some(context! {
                name => m.name, due => swedish_date(m.due), missing => missing, late => late,
            })
        })
        .collect();
    let mut rep = DigestReport::default();
    let slot = at.format("%Y%m%dT%H%MZ").to_string();
    for addr in &ctx.reviewers {
        let key = format!("digest:{slot}:{addr}");
        if ctx.store.outbox_has_key(&key).await? {
            rep.already += 1;
            continue;
        }
        let reference = reference(&["digest", &slot, addr]);
        let v = context! {
            week_from => week_from, week_to => week_to, empty_week => f.empty_week(),
            classes => classes, submissions => f.submissions, prechecks => f.prechecks,
            unconfirmed => f.unconfirmed, triage_open => f.triage_open, milestones => milestones,
            reminders_sent => f.reminders_sent, reminders_pending => f.reminders_pending,
            reminders_dead => f.reminders_dead, domain_only => f.domain_only,
            dead_letters => f.dead_letters, reference => reference,
            payouts_blocked => f.payouts_blocked.iter()
                .map(|(c, r)| context! { clinic_id => c, reason => r })
                .collect::<Vec<_>>(),
            reclaims_open => f.reclaims_open.iter()
                .map(|(c, y)| format!("{c} ({y})"))
                .collect::<Vec<_>>(),
        };
        let mail = ctx
            .mail
            .build("digest", &v, std::slice::from_ref(addr), &reference, now)?;
        let o = NewOutbox {
            kind: "digest".into(),
            dedupe_key: Some(key.clone()),
            recipient: addr.clone(),
            cc: Vec::new(),
            subject: mail.subject,
            raw: mail.raw,
            mail_message_id: mail.message_id,
            not_before: None,
        };
        match ctx.store.enqueue(&o, &key, now, None, None).await? {
            Some(_) => rep.queued += 1,
            None => rep.already += 1,
        }
    }
    Ok(rep)
}
