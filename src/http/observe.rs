//! Per-request observation middleware: assigns the request id (taken from a sane inbound
//! `x-request-id` or generated) and echoes it, opens the request span every log line inside
//! the request carries, records the HTTP metrics by route template, and gives error
//! responses made by the framework itself (405, routing errors) the catalogue's JSON shape.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use tracing::Instrument;

use super::error::{ErrorCode, error_body};
use crate::metrics::Metrics;

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the current request, readable by handlers from the request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Route label for requests that matched no route, so probes of random paths cannot
/// blow up the label set.
const UNMATCHED_ROUTE: &str = "unmatched";

/// Paths polled by kubelets and Prometheus; their completion lines are logged at debug.
const QUIET_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = inbound_request_id(&req).unwrap_or_else(new_request_id);
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().to_string();
    let quiet = QUIET_PATHS.contains(&req.path());
    let span = tracing::info_span!(
        "http_request",
        request_id = %request_id,
        method = %method,
        route = tracing::field::Empty,
        status = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    let traced = crate::telemetry::propagation::enabled();
    if traced {
        // Recorded only when traced, so log lines do not carry them.
        span.record("otel.kind", "server");
        crate::telemetry::propagation::follow_http(&span, req.headers());
    }
    req.extensions_mut().insert(RequestId(request_id.clone()));

    if let Some(m) = &metrics {
        m.http_requests_in_flight.inc();
    }
    let started = Instant::now();
    let outcome = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    if let Some(m) = &metrics {
        m.http_requests_in_flight.dec();
    }

    // Handlers' errors arrive as responses; an `Err` here comes from the framework before
    // a handler ran. It cannot be turned into a response without the request (which must
    // not be cloned before routing), so it is counted and passed on.
    let (status, route) = match &outcome {
        Ok(response) => (
            response.status(),
            response
                .request()
                .match_pattern()
                .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned()),
        ),
        Err(err) => (
            err.as_response_error().status_code(),
            UNMATCHED_ROUTE.to_owned(),
        ),
    };

    if let Some(m) = &metrics {
        m.http_requests_total
            .with_label_values(&[route.as_str(), method.as_str(), status.as_str()])
            .inc();
        m.http_request_duration_seconds
            .with_label_values(&[route.as_str(), method.as_str()])
            .observe(elapsed.as_secs_f64());
    }
    span.record("route", route.as_str());
    span.record("status", status.as_u16());
    if traced {
        crate::telemetry::propagation::rename(&span, format!("{method} {route}"));
        if status.is_server_error() {
            span.record("otel.status_code", "error");
        }
    }
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if quiet {
            tracing::debug!(latency_ms, "request completed");
        } else {
            tracing::info!(latency_ms, "request completed");
        }
    });

    let mut response = with_json_error_body(outcome?.map_into_boxed_body());
    // The id is 1-64 visible ASCII characters, so it is always a valid header value.
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

/// Accepts an upstream id (from a load balancer or the app) if it is short and plain.
fn inbound_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(REQUEST_ID_HEADER)?.to_str().ok()?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    (!value.is_empty() && value.len() <= 64 && value.chars().all(plain)).then(|| value.to_owned())
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Replaces the body of an error response that is not already JSON with the catalogue
/// shape, so clients see one error format whoever produced the error.
fn with_json_error_body(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = ErrorCode::from_status(status);
    response.map_body(|head, _old| {
        head.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        BoxBody::new(error_body(code, code.default_message(), None))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn a_plain_inbound_request_id_is_kept() {
        let req = TestRequest::default()
            .insert_header((REQUEST_ID_HEADER, "lb-1234.abc_DEF"))
            .to_srv_request();
        assert_eq!(inbound_request_id(&req).as_deref(), Some("lb-1234.abc_DEF"));
    }

    #[test]
    fn an_inbound_request_id_with_odd_characters_or_length_is_replaced() {
        for bad in ["has space", "quote\"", &"x".repeat(65), ""] {
            let req = TestRequest::default()
                .insert_header((REQUEST_ID_HEADER, bad))
                .to_srv_request();
            assert_eq!(inbound_request_id(&req), None, "{bad:?}");
        }
    }
}
