//! The SMTP probe: connect and read the server's greeting, which must be a `220`, then say
//! `QUIT`. It proves the relay accepts connections and speaks SMTP without sending mail or
//! logging in; the caller bounds it in time.

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A greeting line longer than this is not an SMTP greeting.
const MAX_GREETING: u64 = 4 * 1024;

/// Why the SMTP server did not greet.
#[derive(Debug, thiserror::Error)]
pub enum SmtpProbeError {
    #[error("cannot connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("no greeting: {0}")]
    Read(#[source] std::io::Error),
    #[error("the connection closed before a greeting")]
    Closed,
    #[error("greeted with `{0}`, not 220")]
    NotReady(String),
}

/// Connects to `host:port` and reads its greeting.
pub async fn greets(host: &str, port: u16) -> Result<(), SmtpProbeError> {
    let stream = TcpStream::connect((host, port))
        .await
        .map_err(SmtpProbeError::Connect)?;
    let mut reader = BufReader::new(stream).take(MAX_GREETING);
    // A multi-line greeting (`220-...`) ends with the line `220 ...`; its first line
    // already says whether the server is ready.
    let mut line = String::new();
    let read = reader
        .read_line(&mut line)
        .await
        .map_err(SmtpProbeError::Read)?;
    if read == 0 {
        return Err(SmtpProbeError::Closed);
    }
    if !line.starts_with("220") {
        return Err(SmtpProbeError::NotReady(line.trim_end().to_owned()));
    }
    // Leaving politely is a courtesy to the server's logs, not part of the answer.
    let _ = reader.into_inner().get_mut().write_all(b"QUIT\r\n").await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server on loopback that writes `greeting` to its first connection and closes.
    async fn server(greeting: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move {
            if let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream.write_all(greeting).await;
                let _ = stream.shutdown().await;
            }
        });
        port
    }

    #[tokio::test]
    async fn a_220_greeting_is_ready() {
        let port = server(b"220 relay.example ESMTP ready\r\n").await;
        greets("127.0.0.1", port).await.expect("ready");
    }

    #[tokio::test]
    async fn another_greeting_or_none_is_not_ready() {
        let port = server(b"554 no service\r\n").await;
        assert!(matches!(
            greets("127.0.0.1", port).await,
            Err(SmtpProbeError::NotReady(line)) if line == "554 no service"
        ));
        let port = server(b"").await;
        assert!(matches!(
            greets("127.0.0.1", port).await,
            Err(SmtpProbeError::Closed)
        ));
    }

    #[tokio::test]
    async fn a_closed_port_cannot_be_reached() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        drop(listener);
        assert!(matches!(
            greets("127.0.0.1", port).await,
            Err(SmtpProbeError::Connect(_))
        ));
    }
}
