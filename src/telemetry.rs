//! Tracing setup: readable lines in a terminal, one JSON object per line in production.
//! Every line inside a request carries the request's span fields, `request_id` among them.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::config::{LogFormat, LogSettings};

/// Where log lines go: the server logs to stdout; one-shot commands log to stderr so their
/// own output (a token, a summary) stays clean on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Stdout,
    Stderr,
}

/// Installs the global subscriber. Call once per process; later calls are ignored so tests
/// that build several apps in one process can all ask for logs.
pub fn init(settings: &LogSettings) {
    init_to(settings, Output::Stdout);
}

pub fn init_to(settings: &LogSettings, output: Output) {
    let writer = match output {
        Output::Stdout => BoxMakeWriter::new(std::io::stdout),
        Output::Stderr => BoxMakeWriter::new(std::io::stderr),
    };
    let terminal = match output {
        Output::Stdout => std::io::stdout().is_terminal(),
        Output::Stderr => std::io::stderr().is_terminal(),
    };
    // The level was validated when the settings were loaded.
    let filter = EnvFilter::try_new(&settings.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_span_events(FmtSpan::NONE);
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.with_target(false).with_ansi(terminal).try_init(),
    };
}
