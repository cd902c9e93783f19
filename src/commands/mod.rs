//! The composition root: one module per subcommand. Only here are concrete adapters named.

pub mod check;
