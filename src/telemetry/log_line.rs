//! JSON log lines that name the trace they belong to: `trace_id` and `span_id` of the span
//! current when the line is written (the innermost, whether or not it is logged itself),
//! so a line found in the logs leads to its trace and back.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use tracing::{Event, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Wraps the JSON event format and adds the ids of the current span to each object.
pub struct WithTraceIds<F> {
    inner: F,
}

impl<F> WithTraceIds<F> {
    pub fn new(inner: F) -> Self {
        WithTraceIds { inner }
    }
}

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Read before the inner format locks any span's extensions: reading the context
        // takes the current span's extensions itself.
        let Some(ids) = current_ids() else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        writer.write_str(&with_ids(line, &ids))
    }
}

/// `(trace_id, span_id)` in W3C hex of the current span, when one is being traced.
fn current_ids() -> Option<(String, String)> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| {
        (
            span_context.trace_id().to_string(),
            span_context.span_id().to_string(),
        )
    })
}

/// Adds the two fields before the closing brace of the one JSON object on `line`.
fn with_ids(mut line: String, (trace_id, span_id): &(String, String)) -> String {
    let end = line.trim_end().len();
    if !line[..end].ends_with('}') {
        return line;
    }
    let close = end - 1;
    let separator = if line[..close].trim_end().ends_with('{') {
        ""
    } else {
        ","
    };
    line.insert_str(
        close,
        &format!("{separator}\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\""),
    );
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (String, String) {
        (
            "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            "00f067aa0ba902b7".into(),
        )
    }

    #[test]
    fn the_ids_join_the_object_and_the_line_stays_json() {
        let line = with_ids("{\"message\":\"hi\",\"level\":\"INFO\"}\n".into(), &ids());
        assert!(line.ends_with("}\n"), "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(value["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(value["span_id"], "00f067aa0ba902b7");
        assert_eq!(value["message"], "hi");
    }

    #[test]
    fn an_empty_object_gets_no_leading_comma() {
        let line = with_ids("{}\n".into(), &ids());
        let value: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(value["span_id"], "00f067aa0ba902b7");
    }

    #[test]
    fn a_line_that_is_not_an_object_is_left_alone() {
        assert_eq!(with_ids("plain\n".into(), &ids()), "plain\n");
    }
}
