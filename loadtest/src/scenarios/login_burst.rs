//! `login-burst`: N password logins for unknown emails at once, spread over A source
//! addresses (within each address's login limit), while `/healthz` is probed every few
//! milliseconds. It measures what a stranger's burst costs: the server's resident memory
//! before, at its peak and after, how the logins were answered (400 wrong credentials, 429
//! hashing pool busy, anything else is a failure), and the probe's latency.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

use crate::LoadError;
use crate::report::{Latency, Report, micros_histogram};
use crate::target::{self, rss_bytes};

#[derive(Debug, Clone, clap::Args)]
pub struct LoginBurstArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Logins sent at once.
    #[arg(long, default_value_t = 500)]
    pub logins: usize,
    /// Source addresses (127.0.0.2 on) they come from.
    #[arg(long, default_value_t = 20)]
    pub addresses: usize,
    /// Time between two `/healthz` probes.
    #[arg(long, default_value = "10ms")]
    pub probe_every: humantime::Duration,
    /// The server's pid, to read its resident memory from /proc.
    #[arg(long)]
    pub server_pid: u32,
    /// Bars the run must meet: memory growth at the peak, and the probe's p99.
    #[arg(long, default_value_t = 200.0)]
    pub max_growth_mb: f64,
    #[arg(long, default_value_t = 50.0)]
    pub max_probe_p99_ms: f64,
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Sends one request from `source` on a fresh connection; answers the status.
async fn exchange(target: SocketAddr, source: IpAddr, request: String) -> std::io::Result<u16> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let mut stream = socket.connect(target).await?;
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    Ok(text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0))
}

fn login_request(target: SocketAddr, n: usize) -> String {
    let body = format!(
        "grant_type=password&username=burst-{n}-{}%40example.com&password=not-the-password",
        std::process::id()
    );
    format!(
        "POST /oauth/token HTTP/1.1\r\nhost: {target}\r\nconnection: close\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

pub async fn run(args: LoginBurstArgs) -> Result<Report, LoadError> {
    let addr = target::parse_target(&args.target)?;
    let started_at = fitpulse_actors::events::rfc3339(fitpulse_actors::domain::now_millis());
    let rss = || rss_bytes(args.server_pid).unwrap_or(0);
    let rss_before = rss();
    let peak = Arc::new(Mutex::new(rss_before));
    let done = Arc::new(AtomicBool::new(false));

    // The memory sampler: every 20 ms until the burst and its tail are over.
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), args.server_pid);
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                let now = rss_bytes(pid).unwrap_or(0);
                {
                    let mut peak = peak.lock().unwrap_or_else(|p| p.into_inner());
                    *peak = (*peak).max(now);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    // The probe: `/healthz` from 127.0.0.1 on a fresh connection each time.
    let probe = {
        let done = done.clone();
        let every: Duration = args.probe_every.into();
        tokio::spawn(async move {
            let mut histogram = micros_histogram();
            let mut failed = 0u64;
            let source = IpAddr::V4(Ipv4Addr::LOCALHOST);
            let request =
                format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
            while !done.load(Ordering::Relaxed) {
                let sent = Instant::now();
                match exchange(addr, source, request.clone()).await {
                    Ok(200) => {
                        let _ = histogram.record(sent.elapsed().as_micros().max(1) as u64);
                    }
                    _ => failed += 1,
                }
                tokio::time::sleep(every).await;
            }
            (histogram, failed)
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    let burst_started = Instant::now();
    let mut logins = Vec::with_capacity(args.logins);
    for n in 0..args.logins {
        let source = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            2 + (n % args.addresses.max(1)) as u8,
        ));
        let request = login_request(addr, n);
        logins.push(tokio::spawn(async move {
            let sent = Instant::now();
            let status = exchange(addr, source, request).await;
            (status, sent.elapsed())
        }));
    }
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut login_latency = micros_histogram();
    for login in logins {
        let (status, took) = login.await.unwrap_or((Ok(0), Duration::ZERO));
        let key = match status {
            Ok(400) => "wrong_credentials".to_owned(),
            Ok(429) => "refused_busy_429".to_owned(),
            Ok(other) => format!("unexpected_{other}"),
            Err(_) => "connection_failed".to_owned(),
        };
        *counts.entry(key).or_default() += 1;
        let _ = login_latency.record(took.as_micros().max(1) as u64);
    }
    let burst_seconds = burst_started.elapsed().as_secs_f64();
    // The tail: a second more of probing and sampling after the last answer.
    tokio::time::sleep(Duration::from_secs(1)).await;
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let (probes, probe_failures) = probe.await.unwrap_or((micros_histogram(), u64::MAX));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss();
    let rss_peak = *peak.lock().unwrap_or_else(|p| p.into_inner());

    let mb = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let growth = mb(rss_peak.saturating_sub(rss_before));
    let probe_latency = Latency::from_micros(&probes);
    counts.insert("healthz_probes".into(), probes.len());
    counts.insert("healthz_failed".into(), probe_failures);
    let mut failed = Vec::new();
    if growth > args.max_growth_mb {
        failed.push(format!(
            "memory grew {growth:.0} MB (bar {:.0})",
            args.max_growth_mb
        ));
    }
    if probe_latency.p99 > args.max_probe_p99_ms {
        failed.push(format!(
            "/healthz p99 {:.1} ms (bar {:.0})",
            probe_latency.p99, args.max_probe_p99_ms
        ));
    }
    if probe_failures > 0 {
        failed.push(format!("{probe_failures} /healthz probes failed"));
    }
    if counts
        .keys()
        .any(|k| k.starts_with("unexpected") || k == "connection_failed")
    {
        failed.push("some logins were answered with neither 400 nor 429".into());
    }
    Ok(Report {
        scenario: "login-burst".into(),
        parameters: json!({
            "logins": args.logins, "addresses": args.addresses,
            "probe_every_ms": Duration::from(args.probe_every).as_millis() as u64,
        }),
        counts,
        latency_ms: probe_latency,
        latency_by: [("login".to_owned(), Latency::from_micros(&login_latency))].into(),
        figures: [
            ("rss_before_mb".to_owned(), mb(rss_before)),
            ("rss_peak_mb".to_owned(), mb(rss_peak)),
            ("rss_after_mb".to_owned(), mb(rss_after)),
            ("rss_growth_at_peak_mb".to_owned(), growth),
            ("burst_seconds".to_owned(), burst_seconds),
        ]
        .into(),
        failed,
        started_at,
        host: crate::host_info(),
    })
}
