//! The reminders job: at each run (due slot `at`), the reminder policy
//! ([`crate::domain::schedule::reminders_due`]) decides which clinic gets which reminder;
//! each becomes one outbox row per registered address, keyed by a dedupe key derived from
//! cycle year, milestone, offset and clinic (plus the address), so a unit is queued exactly
//! once even when a crashed run is taken over. Clinics registered only by whole domain have
//! no address to write to and are counted as unreachable. `paused = true` records each unit
//! as skipped: it is never sent later (no burst when the pause ends).

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
    /// Outbox rows queued now (one per address).
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
    for u in &units {
        let key = u.key(year);
        if ctx.reminders.paused {
            ctx.store.record_skip(&key, "reminders", at, now).await?;
            rep.paused += 1;
            continue;
        }
        if ctx.store.was_skipped(&key).await? {
            continue;
        }
        let Some(clinic) = ctx.registry.get(&u.clinic_id) else {
            continue;
        };
        if clinic.emails.is_empty() {
            rep.unreachable.push(clinic.id.clone());
            continue;
        }
        for (i, addr) in clinic.emails.iter().enumerate() {
            let row_key = format!("{key}:{addr}");
            if ctx.store.outbox_has_key(&row_key).await? {
                rep.already += 1;
                continue;
            }
            let mail = render(ctx, u, &clinic.name, addr, i, at, now)?;
            let not_before = rate_limited(ctx, &ctx.store, addr, now).await?;
            let o = NewOutbox {
                kind: "reminder".into(),
                dedupe_key: Some(row_key.clone()),
                recipient: addr.clone(),
                subject: mail.subject,
                raw: mail.raw,
                mail_message_id: mail.message_id,
                not_before,
            };
            match ctx.store.enqueue(&o, &row_key, now, None, None).await? {
                Some(_) => rep.queued += 1,
                None => rep.already += 1,
            }
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

/// Render one reminder to one address.
pub fn render(
    ctx: &JobContext,
    u: &ReminderUnit,
    clinic_name: &str,
    addr: &str,
    index: usize,
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
    let idx = index.to_string();
    let reference = reference(&[
        "reminder",
        &rb.year.to_string(),
        &format!("m{}", u.milestone),
        &offset,
        &u.clinic_id,
        &idx,
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
    ctx.mail.build("reminder", &ctxv, addr, &reference, now)
}
