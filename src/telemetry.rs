//! Logging: human-readable by default, one JSON object per line for log collectors.

use std::io::IsTerminal;

use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::EnvFilter;

use crate::json_lines::JsonLines;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Coloured when stdout is a terminal; for people reading `kubectl logs`.
    #[default]
    Pretty,
    /// One JSON object per line with the fields flattened; for log pipelines and tests.
    Json,
}

/// Installs the global subscriber. `RUST_LOG` filters (default `info`). Logs go to stdout, where
/// container runtimes collect them, or to stderr for a command whose stdout is its output.
pub fn init(format: LogFormat, to_stderr: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, terminal) = if to_stderr {
        (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        )
    } else {
        (
            BoxMakeWriter::new(std::io::stdout),
            std::io::stdout().is_terminal(),
        )
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(terminal);
    // `try_init` fails only if a subscriber is already set (tests); keeping that one is right.
    let _ = match format {
        LogFormat::Pretty => builder.with_target(false).try_init(),
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines::new(
                tracing_subscriber::fmt::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false),
            ))
            .try_init(),
    };
}

/// Milliseconds since `start`, rounded to 0.1 ms: a stable, readable `elapsed_ms` log field
/// (instead of `1.5758180000000002`).
pub fn elapsed_ms(start: std::time::Instant) -> f64 {
    (start.elapsed().as_secs_f64() * 10_000.0).round() / 10.0
}
