//! `connect`: ramps to N authenticated sockets (each its own user, so each holds a
//! session), holds them, and reports connect rate, errors, attach latency (TCP connect to
//! `session.ready`) and the server's resident memory per session.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fitpulse_actors::domain::UserId;
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::watch;

use crate::LoadError;
use crate::progress::Progress;
use crate::report::{Latency, Report, micros_histogram};
use crate::sockets::{self, Failures, SocketArgs, small_buffers};
use crate::target::{self, metric, rss_bytes};
use crate::tokens::{KeyArgs, Minter};

#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Sockets to open.
    #[arg(long, default_value_t = 1000)]
    pub sockets: usize,
    /// Sockets opened per second during the ramp.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// How long to hold them once all are open.
    #[arg(long, default_value = "10s")]
    pub hold: humantime::Duration,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// The server's pid, to read its resident memory from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    #[command(flatten)]
    pub socket: SocketArgs,
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Default)]
struct Stats {
    connected: AtomicU64,
    dropped: AtomicU64,
    failures: Failures,
}

impl Stats {
    fn failed(&self) -> u64 {
        self.failures.total()
    }
}

pub async fn run(args: ConnectArgs) -> Result<Report, LoadError> {
    let fd_limit = fitpulse::fd_limit::raise_open_files()?;
    let addr = target::parse_target(&args.target)?;
    let minter = Arc::new(Minter::new(&args.keys)?);
    let started_at = fitpulse_actors::events::rfc3339(fitpulse_actors::domain::now_millis());
    let rss_before = args.server_pid.and_then(rss_bytes);

    let stats = Arc::new(Stats::default());
    let latency = Arc::new(Mutex::new(micros_histogram()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let config = small_buffers(args.socket.buffer_bytes);
    let hold: Duration = args.hold.into();
    let ramp_estimate = Duration::from_secs_f64(args.sockets as f64 / f64::from(args.rate.max(1)));
    let token_ttl = (ramp_estimate + hold).as_secs() as i64 + 600;

    let progress = Progress::start("connect", {
        let stats = stats.clone();
        let total = args.sockets;
        move || {
            format!(
                "{}/{total} connected, {} failed, {} dropped",
                stats.connected.load(Ordering::Relaxed),
                stats.failed(),
                stats.dropped.load(Ordering::Relaxed)
            )
        }
    });

    let ramp_started = Instant::now();
    let tasks = super::ramp::ramp(args.sockets, args.rate, |index| {
        let source = sockets::source_ip(index, args.socket.sockets_per_source_ip);
        let (stats, latency, minter, mut stop) = (
            stats.clone(),
            latency.clone(),
            minter.clone(),
            stop_rx.clone(),
        );
        async move {
            let token = minter.member(UserId::random(), token_ttl);
            let opened = Instant::now();
            match sockets::open(addr, source, &token, config, Duration::from_secs(30)).await {
                Err(err) => {
                    stats.failures.count(&err.label());
                }
                Ok(mut ws) => {
                    let micros = opened.elapsed().as_micros().max(1) as u64;
                    if let Ok(mut histogram) = latency.lock() {
                        let _ = histogram.record(micros);
                    }
                    stats.connected.fetch_add(1, Ordering::Relaxed);
                    loop {
                        tokio::select! {
                            frame = ws.next() => match frame {
                                Some(Ok(_)) => {}
                                _ => {
                                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                                    return;
                                }
                            },
                            _ = stop.changed() => {
                                let _ = ws.close(None).await;
                                return;
                            }
                        }
                    }
                }
            }
        }
    })
    .await;
    // Every socket either connects or fails within its 30 s timeouts.
    let deadline = Instant::now() + Duration::from_secs(120);
    while (stats.connected.load(Ordering::Relaxed) + stats.failed()) < args.sockets as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ramp = ramp_started.elapsed();
    let connected = stats.connected.load(Ordering::Relaxed);

    // Let the server settle, then measure while everything is held.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = args.server_pid.and_then(rss_bytes);
    let server_metrics = target::get(addr, "/metrics").await.unwrap_or_default();
    tokio::time::sleep(hold).await;

    let _ = stop_tx.send(true);
    let closing = futures_util::future::join_all(tasks);
    let _ = tokio::time::timeout(Duration::from_secs(30), closing).await;
    progress.stop().await;

    let mut counts: BTreeMap<String, u64> = stats.failures.by_label();
    counts.insert("connected".into(), connected);
    counts.insert(
        "dropped_while_held".into(),
        stats.dropped.load(Ordering::Relaxed),
    );
    let mut figures = BTreeMap::new();
    figures.insert(
        "connect_rate_per_s".into(),
        connected as f64 / ramp.as_secs_f64().max(0.001),
    );
    figures.insert("fd_limit".into(), fd_limit as f64);
    if let Some(rss) = rss_bytes(std::process::id()) {
        figures.insert("loadtest_rss_mb".into(), rss as f64 / 1e6);
    }
    if let (Some(before), Some(after)) = (rss_before, rss_after) {
        figures.insert("server_rss_before_mb".into(), before as f64 / 1e6);
        figures.insert("server_rss_after_mb".into(), after as f64 / 1e6);
        if connected > 0 {
            figures.insert(
                "bytes_per_session".into(),
                after.saturating_sub(before) as f64 / connected as f64,
            );
        }
    }
    for (label, name) in [
        ("server_sessions_active", "fitpulse_sessions_active "),
        ("server_ws_connections", "fitpulse_ws_connections "),
    ] {
        if let Some(value) = metric(&server_metrics, name) {
            figures.insert(label.into(), value);
        }
    }
    let latency = latency
        .lock()
        .map(|h| Latency::from_micros(&h))
        .unwrap_or_default();
    Ok(Report {
        scenario: "connect".into(),
        parameters: json!({
            "target": args.target,
            "sockets": args.sockets,
            "rate": args.rate,
            "hold": args.hold.to_string(),
            "buffer_bytes": args.socket.buffer_bytes,
            "sockets_per_source_ip": args.socket.sockets_per_source_ip,
        }),
        counts,
        latency_ms: latency,
        latency_by: BTreeMap::new(),
        figures,
        failed: Vec::new(),
        started_at,
        host: crate::host_info(),
    })
}
