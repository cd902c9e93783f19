//! The reminders job: at each run (due slot `at`), the reminder policy
//! ([`crate::domain::schedule::reminders_due`]) decides which clinic gets which reminder;
//! each becomes one mail to all of the clinic's registered addresses (one outbox row, one
//! stable Message-ID, every address an envelope recipient of one SMTP transaction), keyed by
//! a dedupe key derived from cycle year, milestone, offset and clinic, so a unit is queued
//! exactly once even when a crashed run is taken over. The per-recipient rate limits hold
//! for each address: the mail waits for the one that is furthest over its limit. Clinics
//! registered only by whole domain have no address to write to and are counted as
//! unreachable. `[reminders] paused = true`, or the pause switch on the desk's schedule page
//! (`Store::reminders_paused`), records each unit as skipped: it is never sent later (no
//! burst when the pause ends).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use minijinja::context;

use super::JobContext;
use super::mail::reference;
use crate::domain::rulebook::SectionId;
use crate::domain::schedule::{
    Offset, ReminderKind, ReminderPolicy, ReminderUnit, SubmittedState, reminder_points,
    reminders_due,
};
use crate::domain::vocab::date as swedish_date;
use crate::store::{NewOutbox, Store, SubmissionRow};

/// What one reminders run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReminderReport {
    /// Units (clinic × milestone × offset) the policy asked for.
    pub units: usize,
    /// Mails queued now (one per clinic and unit, to all of its addresses).
    pub queued: usize,
    /// Rows that were already queued (a taken-over run).
    pub already: usize,
    /// Clinic ids with no address (domain only).
    pub unreachable: Vec<String>,
    /// Units skipped because reminders are paused.
    pub paused: usize,
}

impl ReminderReport {
    pub fn outcome(&self) -> String {
        format!(
            "ok: {} reminders, {} queued, {} already queued, {} unreachable, {} paused",
            self.units,
            self.queued,
            self.already,
            self.unreachable.len(),
            self.paused
        )
    }
}

/// Required sections (except the derived G) not described well enough, from a stored
/// analysis of any schema version (nothing when it cannot be read).
pub fn lacking_sections(analysis_json: &str) -> Vec<SectionId> {
    crate::domain::analysis::stored::StoredAnalysis::parse(analysis_json)
        .map(|a| a.lacking_sections())
        .unwrap_or_default()
}

/// The latest submission per (clinic, milestone) received at or before `at`.
pub fn latest_states(
    subs: &[SubmissionRow],
    at: DateTime<Utc>,
) -> BTreeMap<(String, u8), SubmittedState> {
    let mut out = BTreeMap::new();
    for s in subs.iter().filter(|s| s.received_at <= at) {
        let Ok(m) = u8::try_from(s.milestone) else {
            continue;
        };
        out.insert(
            (s.clinic_id.clone(), m),
            SubmittedState {
                received_at: s.received_at,
                grade: s.pre_grade,
                lacking: lacking_sections(&s.analysis_json),
            },
        );
    }
    out
}

pub fn policy(ctx: &JobContext) -> ReminderPolicy {
    ReminderPolicy {
        offsets_days: ctx.reminders.offsets_days.clone(),
        hour: ctx.reminders.hour,
        after_deadline: ctx.reminders.after_deadline,
    }
}

/// The units due at `at` (the run's due slot), from the ledger's submissions.
pub async fn units_at(
    ctx: &JobContext,
    epoch: DateTime<Utc>,
    at: DateTime<Utc>,
) -> anyhow::Result<Vec<ReminderUnit>> {
    let points = reminder_points(&ctx.rulebook, &policy(ctx));
    let clinics: Vec<String> = ctx
        .registry
        .snapshot()
        .clinics()
        .iter()
        .map(|c| c.id.clone())
        .collect();
    let subs = ctx.store.submissions().await?;
    let latest = latest_states(&subs, at);
    Ok(reminders_due(&points, &clinics, &latest, epoch, at))
}

/// Run the reminders job for due slot `at`.
pub async fn run(
    ctx: &JobContext,
    epoch: DateTime<Utc>,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<ReminderReport> {
    let units = units_at(ctx, epoch, at).await?;
    let mut rep = ReminderReport {
        units: units.len(),
        ..Default::default()
    };
    let year = ctx.rulebook.year;
    let registry = ctx.registry.snapshot();
    // Paused in the configuration, or by a reviewer on the desk's schedule page.
    let paused = ctx.reminders.paused || ctx.store.reminders_paused().await?;
    for u in &units {
        let key = u.key(year);
        if paused {
            ctx.store.record_skip(&key, "reminders", at, now).await?;
            rep.paused += 1;
            continue;
        }
        if ctx.store.was_skipped(&key).await? {
            continue;
        }
        let Some(clinic) = registry.get(&u.clinic_id) else {
            continue;
        };
        if clinic.emails.is_empty() {
            rep.unreachable.push(clinic.id.clone());
            continue;
        }
        // Also a unit queued per address by an earlier version (`<key>:<address>`).
        let mut queued = ctx.store.outbox_has_key(&key).await?;
        for addr in &clinic.emails {
            queued = queued || ctx.store.outbox_has_key(&format!("{key}:{addr}")).await?;
        }
        if queued {
            rep.already += 1;
            continue;
        }
        let mail = render(ctx, u, &clinic.name, &clinic.emails, at, now)?;
        // Each recipient's limits: the mail waits for the latest of them.
        let mut not_before = None;
        for addr in &clinic.emails {
            not_before = not_before.max(rate_limited(ctx, &ctx.store, addr, now).await?);
        }
        let (first, rest) = clinic.emails.split_first().expect("not empty (checked)");
        let o = NewOutbox {
            kind: "reminder".into(),
            dedupe_key: Some(key.clone()),
            recipient: first.clone(),
            cc: rest.to_vec(),
            subject: mail.subject,
            raw: mail.raw,
            mail_message_id: mail.message_id,
            not_before,
        };
        match ctx.store.enqueue(&o, &key, now, None, None).await? {
            Some(_) => rep.queued += 1,
            None => rep.already += 1,
        }
    }
    Ok(rep)
}

/// The per-recipient rate limits: over the hourly limit the row waits an hour, over the
/// daily limit a day (it is still sent exactly once).
async fn rate_limited(
    ctx: &JobContext,
    store: &Store,
    addr: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let day = store
        .replies_to_since(addr, now - Duration::days(1))
        .await?;
    if day >= i64::from(ctx.max_per_day) {
        return Ok(Some(now + Duration::days(1)));
    }
    let hour = store
        .replies_to_since(addr, now - Duration::hours(1))
        .await?;
    if hour >= i64::from(ctx.max_per_hour) {
        return Ok(Some(now + Duration::hours(1)));
    }
    Ok(None)
}

/// Render one reminder to all of a clinic's addresses.
pub fn render(
    ctx: &JobContext,
    u: &ReminderUnit,
    clinic_name: &str,
    to: &[String],
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<super::mail::Rendered> {
    let rb = &ctx.rulebook;
    let m = rb
        .milestone(u.milestone)
        .ok_or_else(|| anyhow::anyhow!("unknown milestone {}", u.milestone))?;
    let local_day = at.with_timezone(&rb.tz()).date_naive();
    let days = (m.due - local_day).num_days();
    let (kind, lacking) = match &u.kind {
        ReminderKind::Missing => ("missing", vec![]),
        ReminderKind::Incomplete { lacking } => ("incomplete", lacking.clone()),
    };
    let lacking: Vec<minijinja::Value> = lacking
        .iter()
        .map(|id| {
            let s = rb.section(*id);
            context! { id => id.to_string(), title => s.title, questions => s.questions.join(" ") }
        })
        .collect();
    let offset = match (&u.kind, u.offset) {
        (ReminderKind::Incomplete { .. }, _) => "incomplete".to_string(),
        (_, o) => o.label(),
    };
    let reference = reference(&[
        "reminder",
        &rb.year.to_string(),
        &format!("m{}", u.milestone),
        &offset,
        &u.clinic_id,
    ]);
    let ctxv = context! {
        clinic_name => clinic_name,
        kind => kind,
        after => u.offset == Offset::After,
        days => days,
        milestone_short => m.short,
        milestone_name => m.name,
        due_date => swedish_date(m.due),
        lacking => lacking,
        reference => reference,
    };
    ctx.mail.build("reminder", &ctxv, to, &reference, now)
}
