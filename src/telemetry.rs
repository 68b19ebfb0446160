//! Logging: JSON lines for log collectors (the container default) or human-readable
//! text for a terminal. The level comes from `RUST_LOG` (default `info` for the
//! operator, `warn` for the CLI).

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line, with the span fields (profile, namespace) included.
    #[default]
    Json,
    /// Human-readable text.
    Text,
}

/// Installs the global subscriber. Returns false when one was already installed (tests
/// start several operators in one process), which is harmless.
pub fn init(format: LogFormat) -> bool {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
            .is_ok(),
        LogFormat::Text => builder.try_init().is_ok(),
    }
}

/// The CLI's logging: human-readable on stderr, warnings and above unless `RUST_LOG`
/// says otherwise (stdout carries the report).
pub fn init_cli() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    // Only fails when a subscriber is already installed, which then logs instead.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
