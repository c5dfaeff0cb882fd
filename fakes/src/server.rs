//! A small HTTP/2-over-TLS server on `127.0.0.1`, port 0, running on a thread of its own
//! (so it serves whatever runtime, if any, the test uses) and stopped when dropped. A
//! connection that did not agree on `h2` in the TLS handshake is closed: HTTP/1.1 is
//! refused, as APNs refuses it. Each request's body is read whole (up to
//! [`MAX_BODY_BYTES`]) and handed to the fake's handler.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use rustls::ServerConfig;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

/// Larger request bodies are answered 413 without reaching the handler.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// One request as a handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Header names in lower case; a repeated header keeps its last value.
    pub headers: BTreeMap<String, String>,
    pub body: Bytes,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A handler's answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// An answer with a JSON body.
    pub fn json(status: u16, body: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What a fake does with a request.
pub type Handler = Arc<dyn Fn(Request) -> Response + Send + Sync>;

/// A running server; dropping it stops it and closes its connections.
pub struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// Listens on `127.0.0.1:0` with `tls` (which should offer only `h2`) and serves
    /// every request with `handler`.
    pub fn start(name: &str, tls: Arc<ServerConfig>, handler: Handler) -> io::Result<Server> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || runtime.block_on(serve(listener, tls, handler, stopped)))?;
        Ok(Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The accept loop ends at once; its runtime then drops every connection.
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    tls: Arc<ServerConfig>,
    handler: Handler,
    mut stopped: oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let acceptor = TlsAcceptor::from(tls);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                // As Apple's and Google's front ends: answers leave at once, not after
                // the client's delayed ACK of the previous segment (Nagle).
                let _ = tcp.set_nodelay(true);
                let (acceptor, handler) = (acceptor.clone(), handler.clone());
                tokio::spawn(async move {
                    // A client that goes away mid-connection is not the fake's problem.
                    let _ = connection(acceptor, tcp, handler).await;
                });
            }
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn connection(
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    handler: Handler,
) -> Result<(), BoxError> {
    let tls = acceptor.accept(tcp).await?;
    if tls.get_ref().1.alpn_protocol() != Some(b"h2".as_slice()) {
        // No HTTP/2 agreed (a client without ALPN): HTTP/1.1 is not served.
        return Ok(());
    }
    let mut connection = h2::server::handshake(tls).await?;
    while let Some(stream) = connection.accept().await {
        let (request, respond) = stream?;
        let handler = handler.clone();
        tokio::spawn(async move {
            let _ = exchange(request, respond, handler).await;
        });
    }
    Ok(())
}

async fn exchange(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    handler: Handler,
) -> Result<(), BoxError> {
    let (parts, mut body) = request.into_parts();
    let mut bytes = Vec::new();
    let mut too_large = false;
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if bytes.len() + chunk.len() > MAX_BODY_BYTES {
            too_large = true;
        } else {
            bytes.extend_from_slice(&chunk);
        }
    }
    let answer = if too_large {
        Response::json(413, &serde_json::json!({"reason": "PayloadTooLarge"}))
    } else {
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect();
        handler(Request {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            headers,
            body: Bytes::from(bytes),
        })
    };
    let mut head = http::Response::builder().status(answer.status);
    for (name, value) in &answer.headers {
        head = head.header(name.as_str(), value.as_str());
    }
    let head = head.body(())?;
    let mut stream = respond.send_response(head, answer.body.is_empty())?;
    if !answer.body.is_empty() {
        stream.send_data(Bytes::from(answer.body), true)?;
    }
    Ok(())
}
