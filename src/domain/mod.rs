//! The pure domain core: no I/O, no async, no clocks. Everything here is a function of its
//! inputs and the cycle's [`rulebook::Rulebook`].
//!
//! - [`document`]: the common document model (blocks) that extractors produce.
//! - [`rulebook`]: one cycle year's rules as data (milestones, sections, sources, money).
//! - [`analysis`]: reads a document like a reviewer: sections, baseline, goal, data sources.
//! - [`grading`]: green/yellow/red exactly as the rulebook defines it.
//! - [`cycle`]: due dates and on-time decisions in the cycle's time zone.
//! - [`ids`]: Swedish identifiers (org nr, bankgiro, plusgiro, IBAN, HSA-id), validated.
//! - [`clinics`]: the clinic registry file and what importing it changes.
//! - [`money`]: amounts in integer öre and the compensation rules.
//! - [`payout`]: what each clinic is owed now (payments, corrections, reclaims, blocked).
//! - [`precheck`]: when a mail asks for a pre-check (Förhandskontroll) instead of submitting.
//! - [`access`]: the desk's roles and what each may do.
//! - [`desk`]: the board: clinics × milestones, filters, sorting, the per-section view.
//! - [`board_year`]: which cycle years the ledger holds, and another year's dates.
//! - [`review`]: reviewer decisions (sections overridden, grade recomputed) and presentations.
//! - [`countersign`]: the two-person rule: pending decisions and who may countersign them.
//! - [`schedule`]: cron on the Stockholm wall clock (DST-safe due slots) and reminder policy.
//! - [`submission`]: which milestone a document answers; whether it is a supplement.
//! - [`vocab`]: the one Swedish vocabulary (grades, statuses, dates, error advice).

pub mod access;
pub mod analysis;
pub mod board_year;
pub mod clinics;
pub mod countersign;
pub mod cycle;
pub mod desk;
pub mod document;
pub mod grading;
pub mod ids;
pub mod money;
pub mod normalize;
pub mod payout;
pub mod precheck;
pub mod review;
pub mod rulebook;
pub mod schedule;
pub mod submission;
pub mod vocab;
