//! One module per subcommand. They build what they need through [`crate::app`], the
//! composition root (re-exported here as `commands::app` for older callers).

pub use crate::app;
pub mod audit;
pub mod check;
pub mod clinics;
pub mod demo;
pub mod doctor;
pub mod health;
pub mod payouts;
pub mod review;
pub mod run;
pub mod schedule;
pub mod status;
pub mod submissions;
pub mod triage;
pub mod users;
