//! Adapters at the edge: each implements a port from [`crate::ports`].
