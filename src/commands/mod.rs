//! The composition root: one module per subcommand. Only here are concrete adapters named.

pub mod app;
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
