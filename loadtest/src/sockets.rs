//! Opening many WebSockets from one process: small buffers (tungstenite's defaults would
//! take 256 KiB per socket), and source addresses spread over 127.0.0.x so no single
//! address runs out of ephemeral ports (about 28k each).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub type Socket = WebSocketStream<TcpStream>;

/// How the scenarios open their sockets.
#[derive(Debug, Clone, clap::Args)]
pub struct SocketArgs {
    /// Per-socket read buffer.
    #[arg(long, default_value_t = 4096)]
    pub buffer_bytes: usize,
    /// Sockets per 127.0.0.x source address. Well under the ~28k ephemeral ports: binding
    /// a source port gets slow (and attach latency jumps to seconds) as the range fills.
    #[arg(long, default_value_t = 5_000)]
    pub sockets_per_source_ip: usize,
}

/// Failures counted by label, shared by a scenario's tasks.
#[derive(Default)]
pub struct Failures(std::sync::Mutex<std::collections::BTreeMap<String, u64>>);

impl Failures {
    pub fn count(&self, label: &str) {
        if let Ok(mut failures) = self.0.lock() {
            *failures.entry(label.to_owned()).or_default() += 1;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.lock().map(|f| f.values().sum()).unwrap_or(0)
    }

    pub fn by_label(&self) -> std::collections::BTreeMap<String, u64> {
        self.0.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

/// Why a socket did not get as far as `session.ready`.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("tcp connect failed")]
    Connect(#[source] std::io::Error),
    #[error("websocket handshake failed")]
    Handshake(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    #[error("closed before session.ready")]
    ClosedEarly(Option<u16>),
    #[error("no session.ready in time")]
    Timeout,
}

impl OpenError {
    /// A short label for counting failures.
    pub fn label(&self) -> String {
        match self {
            OpenError::Connect(_) => "failed_connect".into(),
            OpenError::Handshake(_) => "failed_handshake".into(),
            OpenError::ClosedEarly(code) => format!(
                "closed_early_{}",
                code.map_or("none".into(), |c| c.to_string())
            ),
            OpenError::Timeout => "failed_timeout".into(),
        }
    }
}

/// The `index`-th source address: 127.0.0.2, 127.0.0.3, ... each for `per_ip` sockets.
pub fn source_ip(index: usize, per_ip: usize) -> IpAddr {
    let n = (index / per_ip.max(1)) % 250;
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + n as u8))
}

pub fn small_buffers(bytes: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(bytes)
        .write_buffer_size(0)
        .max_write_buffer_size(bytes.max(64 * 1024))
}

/// Connects from `source` to `target`'s `/v1/ws` with `token` and waits for
/// `session.ready`.
pub async fn open(
    target: SocketAddr,
    source: IpAddr,
    token: &str,
    config: WebSocketConfig,
    timeout: Duration,
) -> Result<Socket, OpenError> {
    open_path(target, "/v1/ws", source, token, config, timeout).await
}

/// As `open`, at `path` (`/v1/ws` with a query, e.g. the app's `platform`).
pub async fn open_path(
    target: SocketAddr,
    path: &str,
    source: IpAddr,
    token: &str,
    config: WebSocketConfig,
    timeout: Duration,
) -> Result<Socket, OpenError> {
    let socket = TcpSocket::new_v4().map_err(OpenError::Connect)?;
    socket
        .bind(SocketAddr::new(source, 0))
        .map_err(OpenError::Connect)?;
    let stream = tokio::time::timeout(timeout, socket.connect(target))
        .await
        .map_err(|_| OpenError::Timeout)?
        .map_err(OpenError::Connect)?;
    stream.set_nodelay(true).map_err(OpenError::Connect)?;
    let mut request = format!("ws://{target}{path}")
        .into_client_request()
        .map_err(|e| OpenError::Handshake(Box::new(e)))?;
    let bearer = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|e| OpenError::Handshake(Box::new(e.into())))?;
    request.headers_mut().insert("authorization", bearer);
    let (mut ws, _) = tokio::time::timeout(
        timeout,
        tokio_tungstenite::client_async_with_config(request, stream, Some(config)),
    )
    .await
    .map_err(|_| OpenError::Timeout)?
    .map_err(|e| OpenError::Handshake(Box::new(e)))?;
    let first = tokio::time::timeout(timeout, ws.next())
        .await
        .map_err(|_| OpenError::Timeout)?;
    match first {
        Some(Ok(Message::Text(text))) if text.contains("\"session.ready\"") => Ok(ws),
        Some(Ok(Message::Close(frame))) => {
            Err(OpenError::ClosedEarly(frame.map(|f| f.code.into())))
        }
        _ => Err(OpenError::ClosedEarly(None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_rotate_every_per_ip_sockets_and_stay_on_loopback() {
        assert_eq!(source_ip(0, 20_000).to_string(), "127.0.0.2");
        assert_eq!(source_ip(19_999, 20_000).to_string(), "127.0.0.2");
        assert_eq!(source_ip(20_000, 20_000).to_string(), "127.0.0.3");
        assert!(
            (0..1_000_000)
                .step_by(997)
                .all(|i| source_ip(i, 1000).is_loopback())
        );
    }
}
