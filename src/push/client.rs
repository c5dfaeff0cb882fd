//! The HTTPS client of one push provider. awc's client lives on a single-threaded actix
//! runtime while providers are called from any task, so each provider owns a thread running
//! one client (one connection pool, HTTP/2 streams multiplexed on it); requests reach it over
//! a bounded channel and answers come back on a oneshot. The thread ends when the provider
//! is dropped.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rustls::ClientConfig;
use tokio::sync::{mpsc, oneshot};

use super::error::PushSetupError;
use super::provider::SendOutcome;

/// Requests waiting for the connection thread; more wait on the channel (backpressure).
const QUEUE: usize = 1_024;
/// Provider answers are small JSON documents.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Idle connections to a provider are kept this long (APNs asks to keep them open).
const KEEP_ALIVE: Duration = Duration::from_secs(10 * 60);

/// One `POST`.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub url: String,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Bytes,
}

/// What the server answered.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    /// Whether the answer came over HTTP/2.
    pub http2: bool,
    /// `Retry-After` in seconds, when given.
    pub retry_after: Option<Duration>,
    pub body: Bytes,
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpFailure {
    /// The request itself is malformed (a header value that cannot be sent): no attempt
    /// can succeed.
    #[error("the request cannot be sent: {0}")]
    Request(String),
    /// Connecting, TLS, the exchange or the time limit failed: another attempt may work.
    #[error("{0}")]
    Network(String),
}

impl From<HttpFailure> for SendOutcome {
    /// A request that cannot be sent fails for good; a failed exchange is worth a retry.
    fn from(failure: HttpFailure) -> SendOutcome {
        match failure {
            HttpFailure::Request(reason) => SendOutcome::Failed { reason },
            HttpFailure::Network(reason) => SendOutcome::Retry {
                reason,
                after: None,
            },
        }
    }
}

struct Job {
    request: HttpRequest,
    answer: oneshot::Sender<Result<HttpAnswer, HttpFailure>>,
}

/// The handle on a provider's connection thread.
#[derive(Debug)]
pub struct HttpWorker {
    jobs: mpsc::Sender<Job>,
}

impl HttpWorker {
    /// Starts the thread of `provider` with a client over `tls`, each request bounded by
    /// `timeout` (connecting, TLS, the answer and its body).
    pub fn start(
        provider: &'static str,
        tls: Arc<ClientConfig>,
        timeout: Duration,
    ) -> Result<HttpWorker, PushSetupError> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let failed = |reason: String| PushSetupError::Worker { provider, reason };
        // The runtime is made on the thread (it cannot move between threads); the thread
        // says whether that worked before the constructor returns.
        let (started, start) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name(format!("push-{provider}"))
            .spawn(move || match actix_web::rt::Runtime::new() {
                Ok(runtime) => {
                    let _ = started.send(Ok(()));
                    runtime.block_on(serve(queue, tls, timeout));
                }
                Err(e) => {
                    let _ = started.send(Err(e.to_string()));
                }
            })
            .map_err(|e| failed(e.to_string()))?;
        start
            .recv()
            .map_err(|_| failed("the thread ended at once".into()))?
            .map_err(failed)?;
        Ok(HttpWorker { jobs })
    }

    /// Sends `request` and waits for the answer.
    pub async fn post(&self, request: HttpRequest) -> Result<HttpAnswer, HttpFailure> {
        let (answer, answered) = oneshot::channel();
        let stopped = || HttpFailure::Network("the push connection thread stopped".into());
        self.jobs
            .send(Job { request, answer })
            .await
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

/// The connection thread: one client, one task per request, until the handle is dropped.
async fn serve(mut queue: mpsc::Receiver<Job>, tls: Arc<ClientConfig>, timeout: Duration) {
    let connector = awc::Connector::new()
        .connector(no_delay_connector())
        .rustls_0_23(tls)
        .timeout(timeout)
        .handshake_timeout(timeout)
        .conn_keep_alive(KEEP_ALIVE)
        .conn_lifetime(Duration::from_secs(24 * 60 * 60));
    let client = awc::Client::builder()
        .connector(connector)
        .timeout(timeout)
        .disable_redirects()
        .finish();
    while let Some(job) = queue.recv().await {
        let client = client.clone();
        actix_web::rt::spawn(async move {
            let answer = match tokio::time::timeout(timeout, exchange(&client, job.request)).await {
                Ok(answer) => answer,
                Err(_) => Err(HttpFailure::Network(format!(
                    "no answer within {} ms",
                    timeout.as_millis()
                ))),
            };
            // The caller may have given up; its answer is then nobody's business.
            let _ = job.answer.send(answer);
        });
    }
}

/// awc's TCP connector with Nagle's algorithm off: an HTTP/2 request is a HEADERS and a
/// DATA frame, and with Nagle on the second waits for the peer's delayed ACK of the first
/// (40 ms on Linux), which caps a connection at a few hundred requests per second.
fn no_delay_connector() -> impl actix_service::Service<
    actix_tls::connect::ConnectInfo<awc::http::Uri>,
    Response = actix_tls::connect::Connection<awc::http::Uri, tokio::net::TcpStream>,
    Error = actix_tls::connect::ConnectError,
> + Clone {
    use actix_service::ServiceExt;
    actix_tls::connect::Connector::new(actix_tls::connect::Resolver::default())
        .service()
        .map(
            |connection: actix_tls::connect::Connection<awc::http::Uri, tokio::net::TcpStream>| {
                if let Err(err) = connection.io_ref().set_nodelay(true) {
                    tracing::debug!(error = %err, "cannot turn Nagle's algorithm off");
                }
                connection
            },
        )
}

async fn exchange(client: &awc::Client, request: HttpRequest) -> Result<HttpAnswer, HttpFailure> {
    use awc::error::SendRequestError;
    use awc::http::header::HeaderValue;

    let mut builder = client
        .post(&request.url)
        .insert_header(("content-type", request.content_type));
    for (name, value) in &request.headers {
        // From bytes: a UTF-8 value (a collapse id) is sent as it is; control characters
        // are refused.
        let value = HeaderValue::from_bytes(value.as_bytes())
            .map_err(|_| HttpFailure::Request(format!("the {name} header is not sendable")))?;
        builder = builder.insert_header((*name, value));
    }
    let mut response = builder.send_body(request.body).await.map_err(|e| match e {
        SendRequestError::Url(_) | SendRequestError::Http(_) => HttpFailure::Request(e.to_string()),
        e => HttpFailure::Network(e.to_string()),
    })?;
    let status = response.status().as_u16();
    let http2 = response.version() == awc::http::Version::HTTP_2;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(retry_after);
    let body = response
        .body()
        .limit(MAX_ANSWER_BYTES)
        .await
        .map_err(|e| HttpFailure::Network(format!("the answer's body: {e}")))?;
    Ok(HttpAnswer {
        status,
        http2,
        retry_after,
        body,
    })
}

/// A `Retry-After` of delay-seconds (both providers send seconds; an HTTP date is ignored).
pub fn retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_in_seconds_and_a_date_is_ignored() {
        assert_eq!(retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(retry_after("-1"), None);
    }
}
