//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default: `info` for this crate,
//! `warn` for the rest; the demo passes a quieter default so its summary stands out).

pub fn init() {
    init_with("warn,lopdf=error,vardval=info");
}

/// Set up logging with `default` as the filter when `RUST_LOG` is not set.
pub fn init_with(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
