//! A bounded pool of keep-alive HTTP/1.1 connections to the target (hyper's client
//! connection, one handshake per connection), spread over 127.0.0.x source addresses.
//!
//! A request waits for a free connection, as it would in a client holding that many: in an
//! open-loop run that wait is part of its latency. A connection is opened when first
//! needed and again whenever the server has closed it (error), or may be closing it: one
//! idle longer than [`MAX_IDLE`] is not used again, like browsers and HTTP client
//! libraries do, since the server's keep-alive timeout (actix: 5 s) could close it while
//! the next request is on the way, and that request would fail through no fault of the
//! server.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::sockets::source_ip;

type Sender = SendRequest<Full<Bytes>>;

/// A connection idle longer than this is closed and opened anew before its next request:
/// well below the servers' keep-alive timeouts (actix: 5 s).
pub const MAX_IDLE: Duration = Duration::from_secs(2);

/// What a request needs besides its path.
#[derive(Debug, Clone, Default)]
pub struct Call {
    /// `Bearer ...`, ready to send.
    pub authorization: Option<HeaderValue>,
    /// A JSON body (PUT and POST).
    pub json: Option<Bytes>,
    /// Any other headers, e.g. `Idempotency-Key` on an order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// A complete answer: status and whole body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("cannot connect to the target")]
    Connect(#[source] std::io::Error),
    #[error("HTTP/1.1 handshake failed")]
    Handshake(#[source] hyper::Error),
    #[error("the request or its answer failed")]
    Exchange(#[source] hyper::Error),
    #[error("cannot build the request")]
    Request(#[source] hyper::http::Error),
}

pub struct Pool {
    target: SocketAddr,
    host: HeaderValue,
    sources: usize,
    max_idle: Duration,
    /// Free slots; a slot's connection is `None` until opened or after it broke.
    idle: Mutex<Vec<Slot>>,
    /// One permit per slot: holding a permit guarantees a slot in `idle`.
    permits: Semaphore,
}

struct Slot {
    index: usize,
    sender: Option<Sender>,
    /// When its connection last finished an exchange (or opened).
    idle_since: Instant,
}

/// A slot taken out of the pool; back on drop. A lease dropped mid-exchange (a timeout)
/// loses its connection: hyper closes a connection whose request future was dropped.
struct Lease<'a> {
    pool: &'a Pool,
    slot: Option<Slot>,
    busy: bool,
    _permit: SemaphorePermit<'a>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(mut slot) = self.slot.take() {
            if self.busy {
                slot.sender = None;
            }
            slot.idle_since = Instant::now();
            if let Ok(mut idle) = self.pool.idle.lock() {
                idle.push(slot);
            }
        }
    }
}

impl Pool {
    /// A pool of `connections` to `target`, opened from `sources` 127.0.0.x addresses in
    /// turn.
    pub fn new(target: SocketAddr, connections: usize, sources: usize) -> Pool {
        let connections = connections.max(1);
        let idle = (0..connections)
            .map(|index| Slot {
                index,
                sender: None,
                idle_since: Instant::now(),
            })
            .collect();
        Pool {
            target,
            // An address prints as a valid header value.
            host: HeaderValue::from_str(&target.to_string()).expect("an address is a valid host"),
            sources: sources.max(1),
            max_idle: MAX_IDLE,
            idle: Mutex::new(idle),
            permits: Semaphore::new(connections),
        }
    }

    /// The same pool with connections idle longer than `max_idle` opened anew.
    pub fn with_max_idle(mut self, max_idle: Duration) -> Pool {
        self.max_idle = max_idle;
        self
    }

    /// Opens every connection now, so a run does not start with a burst of handshakes.
    pub async fn open_all(&self) -> Result<(), ExchangeError> {
        let connections = self.permits.available_permits();
        let mut leases = Vec::with_capacity(connections);
        for _ in 0..connections {
            let mut lease = self.lease().await;
            lease.sender().await?;
            leases.push(lease);
        }
        Ok(())
    }

    async fn lease(&self) -> Lease<'_> {
        // The semaphore is never closed, so acquiring cannot fail.
        let permit = self
            .permits
            .acquire()
            .await
            .expect("the pool is never closed");
        let slot = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        Lease {
            pool: self,
            // A permit is only handed out with a slot free; `None` would mean a poisoned
            // lock, and such a lease just reconnects.
            slot: Some(slot.unwrap_or(Slot {
                index: 0,
                sender: None,
                idle_since: Instant::now(),
            })),
            busy: false,
            _permit: permit,
        }
    }

    async fn connect(&self, index: usize) -> Result<Sender, ExchangeError> {
        let socket = TcpSocket::new_v4().map_err(ExchangeError::Connect)?;
        socket
            .bind(SocketAddr::new(source_ip(index % self.sources, 1), 0))
            .map_err(ExchangeError::Connect)?;
        let stream = socket
            .connect(self.target)
            .await
            .map_err(ExchangeError::Connect)?;
        stream.set_nodelay(true).map_err(ExchangeError::Connect)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(ExchangeError::Handshake)?;
        // The connection's own task reads and writes; its end shows on the sender.
        tokio::spawn(connection);
        Ok(sender)
    }

    fn request(
        &self,
        method: &Method,
        uri: &Uri,
        call: &Call,
    ) -> Result<Request<Full<Bytes>>, ExchangeError> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(uri.clone())
            .header(HOST, self.host.clone());
        if let Some(authorization) = &call.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        let body = match &call.json {
            Some(json) => {
                request = request.header(CONTENT_TYPE, "application/json");
                json.clone()
            }
            None => Bytes::new(),
        };
        request
            .body(Full::new(body))
            .map_err(ExchangeError::Request)
    }

    /// Sends one request on a free connection and reads the whole answer. A request the
    /// connection refused before sending (it had just closed) is sent again once on a new
    /// connection.
    pub async fn send(
        &self,
        method: &Method,
        uri: &Uri,
        call: &Call,
    ) -> Result<Answer, ExchangeError> {
        let mut lease = self.lease().await;
        let mut request = self.request(method, uri, call)?;
        let mut retried = false;
        lease.busy = true;
        let response = loop {
            let sender = lease.sender().await?;
            match sender.try_send_request(request).await {
                Ok(response) => break response,
                Err(mut err) => {
                    lease.drop_connection();
                    match err.take_message() {
                        Some(unsent) if !retried => {
                            retried = true;
                            request = unsent;
                        }
                        _ => return Err(ExchangeError::Exchange(err.into_error())),
                    }
                }
            }
        };
        let status = response.status().as_u16();
        let body = match response.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(err) => {
                lease.drop_connection();
                return Err(ExchangeError::Exchange(err));
            }
        };
        lease.busy = false;
        Ok(Answer { status, body })
    }
}

impl Lease<'_> {
    /// The slot's connection, opened if it has none, the server closed it or it was idle
    /// long enough for the server to be closing it.
    async fn sender(&mut self) -> Result<&mut Sender, ExchangeError> {
        // `lease` always fills the slot; it is only taken on drop.
        let slot = self.slot.as_mut().expect("a lease holds its slot");
        let fresh_enough = slot.idle_since.elapsed() <= self.pool.max_idle;
        let alive = match slot.sender.as_mut() {
            Some(sender) if fresh_enough => sender.ready().await.is_ok(),
            _ => false,
        };
        if !alive {
            slot.sender = None;
            let mut fresh = self.pool.connect(slot.index).await?;
            fresh.ready().await.map_err(ExchangeError::Handshake)?;
            slot.sender = Some(fresh);
        }
        Ok(slot.sender.as_mut().expect("alive or just opened"))
    }

    fn drop_connection(&mut self) {
        if let Some(slot) = self.slot.as_mut() {
            slot.sender = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A server that answers a connection's first request and closes the connection on
    /// reading its second, as a server does whose keep-alive timeout fires just as the
    /// next request arrives.
    async fn closing_on_second_request() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            for _ in 0..16 {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    for request in 0..2 {
                        let mut read = Vec::new();
                        while !read.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buffer).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => read.extend_from_slice(&buffer[..n]),
                            }
                        }
                        if request == 1 {
                            return;
                        }
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn two_requests_apart(pool: &Pool) -> Result<Answer, ExchangeError> {
        let uri: Uri = "/".parse().expect("uri");
        let first = pool.send(&Method::GET, &uri, &Call::default()).await;
        assert_eq!(first.expect("the first request is answered").status, 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
        pool.send(&Method::GET, &uri, &Call::default()).await
    }

    #[tokio::test]
    async fn a_connection_idle_past_the_bound_is_not_used_again() {
        let addr = closing_on_second_request().await;
        // Control: reused, the connection fails the request sent as the server closes it.
        let reusing = Pool::new(addr, 1, 1).with_max_idle(Duration::from_secs(60));
        let reused = two_requests_apart(&reusing).await;
        assert!(
            matches!(reused, Err(ExchangeError::Exchange(_))),
            "{reused:?}"
        );
        let pool = Pool::new(addr, 1, 1).with_max_idle(Duration::from_millis(50));
        let answer = two_requests_apart(&pool)
            .await
            .expect("sent on a new connection");
        assert_eq!((answer.status, &answer.body[..]), (200, &b"ok"[..]));
    }
}
