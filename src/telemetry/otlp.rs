//! The span pipeline when `telemetry.otlp.endpoint` is set: a batch processor on a thread of
//! its own posts protobuf batches to `{endpoint}/v1/traces`, sampling new traces at
//! `sample_ratio` and following the caller's decision for traces that arrive with a
//! `traceparent`. The queue is bounded (spans beyond it are dropped, never held), so a
//! collector that is down costs a bounded amount of memory and no request any latency.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};

use crate::config::{OtlpSettings, traces_url};

/// Largest collector answer read; OTLP answers are a few bytes (a partial-success count).
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// Why the pipeline could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP span exporter: {0}")]
pub struct ExporterError(String);

/// The provider (kept to flush at exit) and the tracer the tracing layer records into.
pub struct Pipeline {
    pub provider: SdkTracerProvider,
    pub tracer: SdkTracer,
}

/// Builds the pipeline for `endpoint`. `node_id` becomes `service.instance.id`, so the
/// spans of one trace show which node did what.
pub fn pipeline(
    settings: &OtlpSettings,
    endpoint: &str,
    node_id: &str,
) -> Result<Pipeline, ExporterError> {
    let timeout = Duration::from_millis(settings.timeout_ms);
    let headers = settings
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(UreqClient::new(timeout))
        .with_endpoint(traces_url(endpoint))
        .with_timeout(timeout)
        .with_headers(headers)
        .build()
        .map_err(|e| ExporterError(e.to_string()))?;
    let resource = Resource::builder()
        .with_service_name("fitpulse")
        .with_attributes([
            KeyValue::new("service.instance.id", node_id.to_owned()),
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        ])
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            settings.sample_ratio,
        ))))
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("fitpulse");
    Ok(Pipeline { provider, tracer })
}

/// The exporter's HTTP client. The batch processor runs exports on its own thread and
/// waits for each, so a blocking client is what fits: no async runtime to lend it, and
/// nothing of the server's workers is used.
#[derive(Debug)]
struct UreqClient {
    agent: ureq::Agent,
}

impl UreqClient {
    fn new(timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // The exporter reads the status itself (and retries on 429/503).
            .http_status_as_error(false)
            .max_redirects(0)
            .build();
        UreqClient {
            agent: ureq::Agent::new_with_config(config),
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for UreqClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = request.map(|body| body.to_vec());
        let mut answer = self.agent.run(request)?;
        let body = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()?;
        let (parts, _) = answer.into_parts();
        Ok(Response::from_parts(parts, Bytes::from(body)))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// One exchange with a loopback listener: the request arrives as sent, the answer's
    /// status and body come back.
    #[tokio::test]
    async fn the_client_posts_the_body_and_returns_the_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while !seen.ends_with(b"payload") {
                let n = stream.read(&mut buf).expect("read");
                assert!(n > 0, "the client closed early");
                seen.extend_from_slice(&buf[..n]);
            }
            stream
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 4\r\n\r\nnope")
                .expect("write");
            String::from_utf8(seen).expect("text")
        });
        let client = UreqClient::new(Duration::from_secs(5));
        let request = Request::post(format!("http://{address}/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(Bytes::from_static(b"payload"))
            .expect("request");
        let answer = client.send_bytes(request).await.expect("answered");
        assert_eq!(answer.status(), 400);
        assert_eq!(answer.body().as_ref(), b"nope");
        let seen = server.join().expect("server");
        assert!(seen.starts_with("POST /v1/traces HTTP/1.1\r\n"), "{seen}");
        assert!(
            seen.to_ascii_lowercase()
                .contains("content-type: application/x-protobuf"),
            "{seen}"
        );
    }
}
