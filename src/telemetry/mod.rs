//! Logs and traces. Logs: readable lines in a terminal, one JSON object per line in
//! production; every line inside a request carries the request's span fields, `request_id`
//! among them. Traces: when `telemetry.otlp.endpoint` is set, the spans of requests, socket
//! frames, session and class operations, store calls and bus requests are exported over
//! OTLP, a `traceparent` joins a caller's trace (HTTP, the socket upgrade, the bus between
//! nodes), and JSON lines carry `trace_id` and `span_id`.
//!
//! The spans traced but not logged are at debug level and reach only the trace layer, so
//! with tracing off they are disabled at their call sites and cost a branch.

mod log_line;
mod otlp;
pub mod propagation;

use std::io::IsTerminal;

use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::level_filters::LevelFilter;
use tracing::subscriber::Interest;
use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::registry::Registry;
use tracing_subscriber::util::SubscriberInitExt;

pub use otlp::ExporterError;

use crate::config::{LogFormat, LogSettings, OtlpSettings};

/// Where log lines go: the server logs to stdout; one-shot commands log to stderr so their
/// own output (a token, a summary) stays clean on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Stdout,
    Stderr,
}

/// What to trace, for [`init_with_traces`].
pub struct Traces<'a> {
    pub settings: &'a OtlpSettings,
    /// Becomes `service.instance.id` of every span.
    pub node_id: &'a str,
}

/// Keeps the span exporter; [`Telemetry::shutdown`] sends what is still queued.
#[derive(Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn tracing(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the spans still queued (bounded by the export timeout) and stops exporting.
    pub fn shutdown(&self) {
        if let Some(provider) = &self.provider
            && let Err(err) = provider.shutdown()
        {
            eprintln!("fitpulse: exporting the last spans failed: {err}");
        }
    }
}

/// Installs the global subscriber. Call once per process; later calls are ignored so tests
/// that build several apps in one process can all ask for logs.
pub fn init(settings: &LogSettings) {
    init_to(settings, Output::Stdout);
}

pub fn init_to(settings: &LogSettings, output: Output) {
    let _ = install(settings, output, None);
}

/// Like [`init_to`], and exports spans when `traces.settings.endpoint` is set.
pub fn init_with_traces(
    settings: &LogSettings,
    output: Output,
    traces: Traces<'_>,
) -> Result<Telemetry, ExporterError> {
    let pipeline = match &traces.settings.endpoint {
        Some(endpoint) => Some(otlp::pipeline(traces.settings, endpoint, traces.node_id)?),
        None => None,
    };
    install(settings, output, pipeline)
}

fn install(
    settings: &LogSettings,
    output: Output,
    pipeline: Option<otlp::Pipeline>,
) -> Result<Telemetry, ExporterError> {
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
    let base = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_span_events(FmtSpan::NONE);
    let tracing_on = pipeline.is_some();
    let logs: Box<dyn Layer<Registry> + Send + Sync> = match settings.format {
        LogFormat::Json => {
            let json = base
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false);
            if tracing_on {
                let format = tracing_subscriber::fmt::format()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false);
                json.event_format(log_line::WithTraceIds::new(format))
                    .with_filter(filter)
                    .boxed()
            } else {
                json.with_filter(filter).boxed()
            }
        }
        LogFormat::Pretty => base
            .with_target(false)
            .with_ansi(terminal)
            .with_filter(filter)
            .boxed(),
    };
    let (traces, provider) = match pipeline {
        Some(pipeline) => (
            Some(
                tracing_opentelemetry::layer()
                    .with_tracer(pipeline.tracer)
                    .with_filter(TracedOnly),
            ),
            Some(pipeline.provider),
        ),
        None => (None, None),
    };
    if tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .is_ok()
        && provider.is_some()
    {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        propagation::switch_on();
    }
    Ok(Telemetry { provider })
}

/// What the trace layer sees: our own spans down to debug, and events from info up (they
/// become span events, so a warning shows on the span it happened in).
struct TracedOnly;

impl TracedOnly {
    fn wanted(metadata: &Metadata<'_>) -> bool {
        if metadata.is_span() {
            metadata.target().starts_with("fitpulse") && *metadata.level() <= Level::DEBUG
        } else {
            *metadata.level() <= Level::INFO
        }
    }
}

impl<S> Filter<S> for TracedOnly {
    fn enabled(&self, metadata: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        Self::wanted(metadata)
    }

    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if Self::wanted(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::DEBUG)
    }
}
