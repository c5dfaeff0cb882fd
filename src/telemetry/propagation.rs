//! W3C trace context across process edges: `traceparent` (and `tracestate`) read from HTTP
//! requests and the socket upgrade, written into the headers of bus requests and read back
//! on the node that answers them, so one trace spans every node a request touched.
//! With tracing off, every function here returns at once.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::SpanContext;
use tracing_opentelemetry::OpenTelemetrySpanExt;

static ON: AtomicBool = AtomicBool::new(false);

/// Called once the trace layer is installed.
pub(super) fn switch_on() {
    ON.store(true, Ordering::Release);
}

/// Whether spans are exported by this process.
pub fn enabled() -> bool {
    ON.load(Ordering::Acquire)
}

/// Makes `span` a child of the caller's span named by the request's `traceparent`, if any.
pub fn follow_http(span: &tracing::Span, headers: &actix_web::http::header::HeaderMap) {
    if !enabled() || !headers.contains_key("traceparent") {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HttpHeaders(headers))
    });
    set_parent(span, parent);
}

/// The headers that carry the current span's context to another node; `None` when tracing
/// is off or nothing is being traced.
pub fn bus_headers() -> Option<async_nats::HeaderMap> {
    if !enabled() {
        return None;
    }
    let context = tracing::Span::current().context();
    let mut headers = async_nats::HeaderMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut NatsHeaders(&mut headers))
    });
    (!headers.is_empty()).then_some(headers)
}

/// Makes `span` a child of the span whose context `headers` carry, if any.
pub fn follow_bus(span: &tracing::Span, headers: Option<&async_nats::HeaderMap>) {
    let Some(headers) = headers.filter(|_| enabled()) else {
        return;
    };
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&NatsHeadersRead(headers))
    });
    set_parent(span, parent);
}

/// The current span's context, to link later spans to (a socket's frames to its upgrade);
/// `None` when tracing is off. Boxed: it is kept per socket.
pub fn current_link() -> Option<Box<SpanContext>> {
    if !enabled() {
        return None;
    }
    use opentelemetry::trace::TraceContextExt;
    let context = tracing::Span::current().context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then(|| Box::new(span_context))
}

/// Links `span` to `link` (see [`current_link`]).
pub fn add_link(span: &tracing::Span, link: Option<&SpanContext>) {
    if let Some(link) = link {
        span.add_link(link.clone());
    }
}

/// Names `span` once what it did is known (an HTTP span by its route template, found
/// after routing), whether or not its trace has started.
pub fn rename(span: &tracing::Span, name: String) {
    use opentelemetry::trace::TraceContextExt;
    span.context().span().update_name(name);
}

fn set_parent(span: &tracing::Span, parent: Context) {
    use opentelemetry::trace::TraceContextExt;
    if parent.span().span_context().is_valid() {
        // Fails only when the span is not recorded (disabled); nothing to join then.
        let _ = span.set_parent(parent);
    }
}

struct HttpHeaders<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for HttpHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

struct NatsHeaders<'a>(&'a mut async_nats::HeaderMap);

impl Injector for NatsHeaders<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key, value.as_str());
    }
}

struct NatsHeadersRead<'a>(&'a async_nats::HeaderMap);

impl Extractor for NatsHeadersRead<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|value| value.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(name, _)| name.as_ref()).collect()
    }
}
