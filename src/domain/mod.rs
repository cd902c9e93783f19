//! The pure domain core: no I/O, no async, no clocks. Everything here is a function of its
//! inputs and the cycle's [`rulebook::Rulebook`].
//!
//! - [`document`]: the common document model (blocks) that extractors produce.
//! - [`rulebook`]: one cycle year's rules as data (milestones, sections, sources, money).
//! - [`analysis`]: reads a document like a reviewer: sections, baseline, goal, data sources.
//! - [`grading`]: green/yellow/red exactly as the rulebook defines it.
//! - [`cycle`]: due dates and on-time decisions in the cycle's time zone.
//! - [`money`]: amounts in integer öre and the compensation rules.
//! - [`schedule`]: cron on the Stockholm wall clock (DST-safe due slots) and reminder policy.

pub mod analysis;
pub mod cycle;
pub mod document;
pub mod grading;
pub mod money;
pub mod normalize;
pub mod rulebook;
pub mod schedule;
