//! Logs and traces. Logs: readable lines in a terminal, one JSON object per line in
//! production; every line inside a request carries the request's span fields, `request_id`
//! among them. Traces: when `telemetry.otlp.endpoint` is set, the spans of requests, socket
//! frames, session and class operations, store calls and bus requests are exported over
//! OTLP, a `traceparent` joins a caller's trace (HTTP, the socket upgrade, the bus between
//! nodes), and JSON lines carry `trace_id` and `span_id`.
//!
//! The spans traced but not logged are at debug level and reach only the trace layer, so
//! with tracing off they are disabled at their call sites and cost a branch. Which traces
//! are kept is decided when their first span is created ([`sampling`]), so an untraced
//! request costs the trace layer nothing.

mod log_line;
mod otlp;
pub mod propagation;
pub mod sampling;

use std::io::IsTerminal;

use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
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
    let ratio = pipeline.as_ref().map_or(0.0, |p| p.sample_ratio);
    let filter_level = filter.max_level_hint();
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
                    // Each of these costs a clock read or an allocation per span or per
                    // poll of a traced request; none says more than the span's name does.
                    .with_tracked_inactivity(false)
                    .with_threads(false)
                    .with_location(false)
                    .with_filter(sampling::HeadSampler::new(ratio)),
            ),
            Some(pipeline.provider),
        ),
        None => (None, None),
    };
    let log_level = filter_level;
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .is_ok();
    if installed && let Some(level) = log_level {
        // The trace layer raises the subscriber's level to debug for its own spans; records
        // of dependencies that use `log` (actix among them) would then all be built and
        // filtered one by one. Only the log lines' level lets them through.
        log::set_max_level(as_log(level));
    }
    if installed && provider.is_some() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        propagation::switch_on();
    }
    Ok(Telemetry { provider })
}

fn as_log(level: tracing::level_filters::LevelFilter) -> log::LevelFilter {
    use tracing::level_filters::LevelFilter;
    match level {
        LevelFilter::OFF => log::LevelFilter::Off,
        LevelFilter::ERROR => log::LevelFilter::Error,
        LevelFilter::WARN => log::LevelFilter::Warn,
        LevelFilter::INFO => log::LevelFilter::Info,
        LevelFilter::DEBUG => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}
