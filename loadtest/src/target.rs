//! The server under test: its address, a tiny HTTP GET for `/metrics` (no client library
//! needed for that), and its resident memory from /proc.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("--target must look like http://127.0.0.1:8080 (a loopback address)")]
    BadTarget,
    #[error("cannot reach the server: {0}")]
    Io(#[from] std::io::Error),
}

/// Parses `http://host:port`; only loopback targets are accepted (load never leaves the
/// machine).
pub fn parse_target(target: &str) -> Result<SocketAddr, TargetError> {
    let rest = target
        .strip_prefix("http://")
        .ok_or(TargetError::BadTarget)?;
    let addr: SocketAddr = rest
        .trim_end_matches('/')
        .parse()
        .map_err(|_| TargetError::BadTarget)?;
    if !addr.ip().is_loopback() {
        return Err(TargetError::BadTarget);
    }
    Ok(addr)
}

/// `GET path` with `Connection: close`; answers the body.
pub async fn get(addr: SocketAddr, path: &str) -> Result<String, TargetError> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    Ok(text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default())
}

/// A metric's value from the Prometheus text (first line starting with `name`).
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(name)
            .and_then(|rest| rest.trim().parse().ok())
    })
}

/// Resident memory of `pid` in bytes (VmRSS).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// CPU time (user + system) process `pid` has used, from `/proc/<pid>/stat`, whose clock
/// ticks are USER_HZ (100 a second on Linux, whatever the kernel's own tick).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after its `)` are plain.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// `POST path` with a JSON body and a bearer token; answers the status and body.
pub async fn post_json(
    addr: SocketAddr,
    path: &str,
    token: &str,
    body: &serde_json::Value,
) -> Result<(u16, String), TargetError> {
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        assert!(parse_target("http://127.0.0.1:8080").is_ok());
        assert!(parse_target("http://127.0.0.5:9/").is_ok());
        for bad in [
            "http://10.0.0.1:8080",
            "127.0.0.1:8080",
            "https://127.0.0.1:1",
            "http://example.com:80",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn our_own_cpu_time_is_readable_and_grows() {
        let before = cpu_seconds(std::process::id()).expect("cpu");
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(cpu_seconds(std::process::id()).expect("cpu") >= before);
    }

    #[test]
    fn our_own_rss_is_readable() {
        assert!(rss_bytes(std::process::id()).expect("rss") > 0);
    }

    #[test]
    fn a_metric_is_read_by_name() {
        let text = "# HELP x\nfitpulse_sessions_active 42\nfitpulse_ws_connections 7\n";
        assert_eq!(metric(text, "fitpulse_sessions_active "), Some(42.0));
        assert_eq!(metric(text, "missing "), None);
    }
}
