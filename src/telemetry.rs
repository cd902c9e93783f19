//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default: `info` for this crate,
//! `warn` for the rest; the demo passes a quieter default so its summary stands out).
//!
//! `RUST_LOG` takes comma-separated `level` and `target=level` directives
//! (`warn,vardval=info,sqlx::query=debug`), read by `tracing_subscriber`'s `Targets` filter.
//! `EnvFilter` (span and field filters) is not used: its regex support switched on the full
//! DFA build in every regex of the program, which cost more CPU than analysing a small
//! document (docs/performance.md).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub fn init() {
    init_with("warn,lopdf=error,vardval=info");
}

/// The filter `RUST_LOG` asks for, or `default` when it is unset, empty or not understood.
pub fn filter(rust_log: Option<&str>, default: &str) -> Targets {
    rust_log
        .filter(|s| !s.trim().is_empty())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| default.parse().unwrap_or_default())
}

/// Set up logging with `default` as the filter when `RUST_LOG` is not set.
pub fn init_with(default: &str) {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref(), default);
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .with_writer(std::io::stderr)
                .with_target(false),
        )
        .with(filter)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_directives_and_the_default() {
        let f = filter(Some("warn,vardval=info,sqlx::query=debug"), "error");
        assert!(f.would_enable("vardval::pipeline", &Level::INFO));
        assert!(!f.would_enable("vardval::pipeline", &Level::DEBUG));
        assert!(f.would_enable("sqlx::query", &Level::DEBUG));
        assert!(f.would_enable("lopdf", &Level::WARN));
        assert!(!f.would_enable("lopdf", &Level::INFO));
        let d = filter(None, "warn,lopdf=error,vardval=info");
        assert!(!d.would_enable("lopdf", &Level::WARN));
        assert!(d.would_enable("vardval", &Level::INFO));
        let bad = filter(Some("vardval=loud"), "error");
        assert!(!bad.would_enable("vardval", &Level::WARN));
    }
}
