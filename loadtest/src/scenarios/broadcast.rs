//! `broadcast`: N authenticated sockets (each its own user, announcing itself as an iOS app
//! on version 2.0.0), then an admin posts one feature message to everyone, starting now.
//! Every socket times the `message.feature` frame carrying the new message's id from the
//! moment the POST was sent (one monotonic clock, in this process). Reports how many were
//! delivered (every connected socket must get it), the time until the last delivery,
//! delivery latency percentiles and frames per second (delivered / time to the last).
//!
//! Each run uses fresh users, so the server's per-user daily cap on feature messages
//! never holds a delivery back.
//!
//! Past one process's descriptors (a cluster of nodes, 19,000 sockets each), several
//! processes share one run: each is given the same `--at` (an instant, in ms since the
//! epoch) and `--title`; the one without `--listen-only` posts the message at that instant,
//! and every one times the frames of the message with that title from it (one machine, one
//! clock). Each writes its own report; the run's last delivery is the latest of theirs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fitpulse_actors::domain::{Role, UserId, now_millis};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use crate::LoadError;
use crate::progress::Progress;
use crate::report::{Latency, Report, micros_histogram};
use crate::sockets::{self, Failures, SocketArgs, small_buffers};
use crate::target::{self, metric, post_json, rss_bytes};
use crate::tokens::{KeyArgs, Minter};

/// The socket path: the client describes itself, as the apps do, for message targeting.
pub const SOCKET_PATH: &str = "/v1/ws?platform=ios&app_version=2.0.0";

#[derive(Debug, Clone, clap::Args)]
pub struct BroadcastArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Sockets to open (each a different user).
    #[arg(long, default_value_t = 1000)]
    pub sockets: usize,
    /// Sockets opened per second before the message is posted.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// How long to wait for the last delivery after the POST.
    #[arg(long, default_value = "60s")]
    pub wait: humantime::Duration,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// The server's pid, to read its resident memory from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// When the message is posted, in ms since the epoch (default: once every socket is
    /// connected). Deliveries are timed from this instant.
    #[arg(long)]
    pub at: Option<u64>,
    /// The message's title; frames are matched by it with `--listen-only`.
    #[arg(long, default_value = "fitpulse-loadtest broadcast")]
    pub title: String,
    /// Post nothing: time the message another process posts at `--at` with `--title`.
    #[arg(long, requires = "at")]
    pub listen_only: bool,
    #[command(flatten)]
    pub socket: SocketArgs,
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Default)]
struct Stats {
    connected: AtomicU64,
    /// `message.feature` frames of any id.
    features: AtomicU64,
    dropped: AtomicU64,
    failures: Failures,
    /// (message id, title, arrival) of every `message.feature` frame.
    arrivals: Mutex<Vec<(String, String, Instant)>>,
}

/// The message id and title of a `message.feature` frame
/// (`{"type":"message.feature","data":{"id":..,"title":..}}`).
fn feature_id(text: &str) -> Option<(String, String)> {
    if !text.contains("\"message.feature\"") {
        return None;
    }
    let frame: Value = serde_json::from_str(text).ok()?;
    if frame["type"] != "message.feature" {
        return None;
    }
    let id = frame["data"]["id"].as_str()?.to_owned();
    Some((id, frame["data"]["title"].as_str().unwrap_or("").to_owned()))
}

/// The local instant of `at` (ms since the epoch), if it is still ahead.
fn instant_of(at: u64) -> Option<Instant> {
    let now = now_millis() as u64;
    let ahead = at.checked_sub(now)?;
    Some(Instant::now() + Duration::from_millis(ahead))
}

pub async fn run(args: BroadcastArgs) -> Result<Report, LoadError> {
    let fd_limit = fitpulse::fd_limit::raise_open_files()?;
    let addr = target::parse_target(&args.target)?;
    let minter = Arc::new(Minter::new(&args.keys)?);
    let started_at = fitpulse_actors::events::rfc3339(now_millis());
    let rss_before = args.server_pid.and_then(rss_bytes);
    let ramp_estimate = Duration::from_secs_f64(args.sockets as f64 / f64::from(args.rate.max(1)));
    let wait: Duration = args.wait.into();
    let ttl = (ramp_estimate + wait).as_secs() as i64 + 900;

    let stats = Arc::new(Stats::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let config = small_buffers(args.socket.buffer_bytes);
    let progress = Progress::start("broadcast", {
        let stats = stats.clone();
        let total = args.sockets;
        move || {
            format!(
                "{}/{total} connected, {} failed, {} dropped, {} delivered",
                stats.connected.load(Ordering::Relaxed),
                stats.failures.total(),
                stats.dropped.load(Ordering::Relaxed),
                stats.features.load(Ordering::Relaxed),
            )
        }
    });

    let ramp_started = Instant::now();
    let tasks = super::ramp::ramp(args.sockets, args.rate, |index| {
        let source = sockets::source_ip(index, args.socket.sockets_per_source_ip);
        let (stats, minter, mut stop) = (stats.clone(), minter.clone(), stop_rx.clone());
        async move {
            let token = minter.member(UserId::random(), ttl);
            let mut ws = match sockets::open_path(
                addr,
                SOCKET_PATH,
                source,
                &token,
                config,
                Duration::from_secs(30),
            )
            .await
            {
                Ok(ws) => ws,
                Err(err) => return stats.failures.count(&err.label()),
            };
            stats.connected.fetch_add(1, Ordering::Relaxed);
            loop {
                tokio::select! {
                    frame = ws.next() => match frame {
                        Some(Ok(Message::Text(text))) => {
                            let arrived = Instant::now();
                            if let Some((id, title)) = feature_id(&text) {
                                stats.features.fetch_add(1, Ordering::Relaxed);
                                if let Ok(mut arrivals) = stats.arrivals.lock() {
                                    arrivals.push((id, title, arrived));
                                }
                            }
                        }
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
    })
    .await;
    // Every socket either reaches session.ready or fails within its 30 s timeouts.
    let deadline = Instant::now() + Duration::from_secs(120);
    while stats.connected.load(Ordering::Relaxed) + stats.failures.total() < args.sockets as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ramp = ramp_started.elapsed();
    let connected = stats.connected.load(Ordering::Relaxed);
    let rss_connected = args.server_pid.and_then(rss_bytes);

    let posted = match args.at {
        Some(at) => {
            let posted = instant_of(at).ok_or_else(|| {
                std::io::Error::other(format!(
                    "--at {at} passed before the sockets were connected"
                ))
            })?;
            tokio::time::sleep_until(posted.into()).await;
            posted
        }
        None => Instant::now(),
    };
    // The message, to everyone, starting now, posted by an admin.
    let (message, answered) = if args.listen_only {
        (Sought::Title(args.title.clone()), Duration::ZERO)
    } else {
        let admin = minter.with_roles(UserId::random(), &[Role::Admin], ttl);
        let body = json!({
            "title": args.title,
            "body": format!("to {connected} sessions"),
            "expires_at": fitpulse_actors::events::rfc3339(now_millis() + 3_600_000),
            "segment": {},
        });
        let (status, answer) = post_json(addr, "/v1/admin/messages", &admin, &body).await?;
        let answered = posted.elapsed();
        let id = serde_json::from_str::<Value>(&answer)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_owned))
            .filter(|_| status == 201)
            .ok_or_else(|| {
                std::io::Error::other(format!("posting the message failed: {status} {answer}"))
            })?;
        (Sought::Id(id), answered)
    };

    let delivered_now = || {
        stats
            .arrivals
            .lock()
            .map(|a| {
                a.iter()
                    .filter(|(id, title, _)| message.is(id, title))
                    .count() as u64
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + wait;
    while delivered_now() < connected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rss_delivered = args.server_pid.and_then(rss_bytes);
    let server_metrics = target::get(addr, "/metrics").await.unwrap_or_default();

    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(
        Duration::from_secs(30),
        futures_util::future::join_all(tasks),
    )
    .await;
    progress.stop().await;

    let mut histogram = micros_histogram();
    let mut delivered = 0u64;
    let mut other = 0u64;
    let mut last = Duration::ZERO;
    if let Ok(arrivals) = stats.arrivals.lock() {
        for (id, title, at) in arrivals.iter() {
            if !message.is(id, title) {
                other += 1;
                continue;
            }
            let after = at.saturating_duration_since(posted);
            delivered += 1;
            last = last.max(after);
            let _ = histogram.record((after.as_micros() as u64).max(1));
        }
    }
    let missing = connected.saturating_sub(delivered);

    let mut counts: BTreeMap<String, u64> = stats.failures.by_label();
    counts.insert("connected".into(), connected);
    counts.insert("delivered".into(), delivered);
    counts.insert("missing".into(), missing);
    counts.insert(
        "dropped_before_end".into(),
        stats.dropped.load(Ordering::Relaxed),
    );
    if other > 0 {
        counts.insert("other_messages".into(), other);
    }
    let mut figures = BTreeMap::new();
    let last_ms = last.as_secs_f64() * 1000.0;
    figures.insert("time_to_last_delivery_ms".into(), last_ms);
    figures.insert(
        "frames_per_second".into(),
        if last.is_zero() {
            0.0
        } else {
            delivered as f64 / last.as_secs_f64()
        },
    );
    if !args.listen_only {
        figures.insert("post_answered_ms".into(), answered.as_secs_f64() * 1000.0);
    }
    figures.insert(
        "connect_rate_per_s".into(),
        connected as f64 / ramp.as_secs_f64().max(0.001),
    );
    for (name, q) in [
        ("latency_p25_ms", 0.25),
        ("latency_p75_ms", 0.75),
        ("latency_p95_ms", 0.95),
        ("latency_p99_9_ms", 0.999),
    ] {
        if !histogram.is_empty() {
            figures.insert(name.into(), histogram.value_at_quantile(q) as f64 / 1000.0);
        }
    }
    figures.insert("fd_limit".into(), fd_limit as f64);
    if let Some(rss) = rss_bytes(std::process::id()) {
        figures.insert("loadtest_rss_mb".into(), rss as f64 / 1e6);
    }
    for (name, rss) in [
        ("server_rss_before_mb", rss_before),
        ("server_rss_connected_mb", rss_connected),
        ("server_rss_delivered_mb", rss_delivered),
    ] {
        if let Some(rss) = rss {
            figures.insert(name.into(), rss as f64 / 1e6);
        }
    }
    if let Some(value) = metric(&server_metrics, "fitpulse_sessions_active ") {
        figures.insert("server_sessions_active".into(), value);
    }

    let mut failed = Vec::new();
    if connected < args.sockets as u64 {
        failed.push(format!(
            "only {connected} of {} sockets connected",
            args.sockets
        ));
    }
    if missing > 0 {
        failed.push(format!(
            "{missing} of {connected} connected sockets did not get the message within {}",
            args.wait
        ));
    }
    Ok(Report {
        scenario: "broadcast".into(),
        parameters: json!({
            "target": args.target,
            "sockets": args.sockets,
            "rate": args.rate,
            "wait": args.wait.to_string(),
            "socket_path": SOCKET_PATH,
            "buffer_bytes": args.socket.buffer_bytes,
            "sockets_per_source_ip": args.socket.sockets_per_source_ip,
            "message": message.to_string(),
            "at": args.at,
            "listen_only": args.listen_only,
        }),
        counts,
        latency_ms: Latency::from_micros(&histogram),
        latency_by: BTreeMap::new(),
        figures,
        failed,
        started_at,
        host: crate::host_info(),
    })
}

/// The message this run times: the one it posted, or the one another process posts.
enum Sought {
    Id(String),
    Title(String),
}

impl Sought {
    fn is(&self, id: &str, title: &str) -> bool {
        match self {
            Sought::Id(sought) => sought == id,
            Sought::Title(sought) => sought == title,
        }
    }
}

impl std::fmt::Display for Sought {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sought::Id(id) => write!(f, "{id}"),
            Sought::Title(title) => write!(f, "titled {title:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_id_is_read_from_feature_frames_only() {
        let frame = r#"{"seq":3,"type":"message.feature","at":"x","data":{"body":"b","id":"5f0c","title":"t"}}"#;
        assert_eq!(feature_id(frame), Some(("5f0c".to_owned(), "t".to_owned())));
        let state =
            r#"{"seq":4,"type":"message.state","data":{"id":"5f0c","note":"message.feature"}}"#;
        assert_eq!(feature_id(state), None);
        assert_eq!(feature_id(r#"{"type":"session.ready"}"#), None);
    }
}
