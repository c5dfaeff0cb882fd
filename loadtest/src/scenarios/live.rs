//! `live`: N participants join one class, a coach sends K cues; each cue carries its send
//! time (`t=<µs since the epoch>` in its text), so every participant measures delivery
//! latency on the same clock. Reports p50/p90/p99/max delivery (also per node and, for up
//! to 40 cues, per cue), frames per second and losses (cues that did not reach a
//! participant, which must be 0); with `--server-pid`, the server's CPU per delivered
//! frame from the first cue to the last frame, beside the generator's own (both share
//! the machine).
//!
//! With `--metrics-per-second R`, every participant also sends R `live.metric` frames a
//! second while the cues go out (`live_metrics`: an even cadence over the class, plausible
//! values), and reports what became of them (acked, refused by code) and how steadily the
//! pushes came back: the gaps between consecutive `live.leaderboard` frames, and between
//! `live.rank` frames, at each participant.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fitpulse_actors::domain::{Role, UserId, now_millis};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::cue_latency::CueLatency;
use super::live_metrics::{Cadence, GapStats, LONG_GAP, LastArrival, Ride, reply_of};
use crate::LoadError;
use crate::progress::Progress;
use crate::report::Report;
use crate::sockets::{self, Failures, SocketArgs, small_buffers};
use crate::target::{self, post_json};
use crate::tokens::{KeyArgs, Minter};

#[derive(Debug, Clone, clap::Args)]
pub struct LiveArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// More nodes of the same cluster (comma-separated): participants are spread over
    /// `--target` and these in turn; the class and its cues go through `--target`.
    #[arg(long, value_delimiter = ',')]
    pub spread: Vec<String>,
    #[arg(long, default_value_t = 1000)]
    pub participants: usize,
    #[arg(long, default_value_t = 20)]
    pub cues: usize,
    /// Time between cues.
    #[arg(long, default_value = "500ms")]
    pub cue_interval: humantime::Duration,
    /// Participants connected and joined per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// `live.metric` frames each participant sends per second while the cues go out
    /// (0: none). The server takes at most one per participant every 250 ms.
    #[arg(long, default_value_t = 0.0)]
    pub metrics_per_second: f64,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// The server's pid: its CPU time from the first cue to the last frame read is
    /// reported, in all and per delivered frame (`server_cpu_us_per_frame`).
    #[arg(long)]
    pub server_pid: Option<u32>,
    #[command(flatten)]
    pub socket: SocketArgs,
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// The reply id of a participant's `live.join`; its metrics count from `FIRST_METRIC_ID`.
const JOIN_ID: u64 = 1;
const FIRST_METRIC_ID: u64 = 1000;
/// How long the run waits for the replies to the last metrics.
const METRIC_REPLY_GRACE: Duration = Duration::from_secs(5);

/// Where the run is, for the participants' metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Joining: no metrics yet.
    Waiting,
    /// Sending, on cadences counted from this instant; pushes are measured.
    Sending(Instant),
    /// The cues are out: no more metrics, no more measuring.
    Done,
}

#[derive(Default)]
struct Stats {
    joined: AtomicU64,
    received: AtomicU64,
    failures: Failures,
    /// When the last cue arrived, in µs since the epoch.
    last_arrival: AtomicU64,
    metrics: MetricStats,
}

#[derive(Default)]
struct MetricStats {
    sent: AtomicU64,
    acked: AtomicU64,
    /// Refusals by error code (`rate_limited`, `implausible_metric`, ...).
    refused: Failures,
    /// Sends dropped because the participant fell behind its cadence.
    skipped: AtomicU64,
    leaderboard_gaps: Mutex<GapStats>,
    rank_gaps: Mutex<GapStats>,
    /// Participants that got no leaderboard frame at all while metrics flowed.
    leaderboard_silent: AtomicU64,
}

impl Stats {
    fn fail(&self, label: &str) {
        self.failures.count(label);
    }

    fn failed(&self) -> u64 {
        self.failures.total()
    }
}

/// The pushed frames whose gaps are measured (`"type":"x"` with its closing quote, so
/// `live.leaderboard` does not match `live.leaderboard.view`).
const LEADERBOARD: &str = "\"type\":\"live.leaderboard\"";
const RANK: &str = "\"type\":\"live.rank\"";

fn epoch_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The send time of a cue frame (`..."type":"live.cue"...,"text":"t=123"...`), without
/// parsing the whole frame.
fn cue_sent_at(text: &str) -> Option<u64> {
    if !text.contains("\"live.cue\"") {
        return None;
    }
    let start = text.find("\"text\":\"t=")? + "\"text\":\"t=".len();
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

pub async fn run(args: LiveArgs) -> Result<Report, LoadError> {
    let fd_limit = fitpulse::fd_limit::raise_open_files()?;
    let addr = target::parse_target(&args.target)?;
    let mut nodes = vec![addr];
    for extra in &args.spread {
        nodes.push(target::parse_target(extra)?);
    }
    let nodes = Arc::new(nodes);
    let minter = Arc::new(Minter::new(&args.keys)?);
    let started_at = fitpulse_actors::events::rfc3339(now_millis());
    let ttl = 3600;

    // The class: scheduled a minute ahead, so its waiting room is open for joining.
    let coach = UserId::random();
    let coach_token = minter.with_roles(coach, &[Role::Member, Role::Coach], ttl);
    let starts = fitpulse_actors::events::rfc3339(now_millis() + 60_000);
    let body = json!({ "title": "loadtest", "scheduled_at": starts, "duration_minutes": 60 });
    let (status, created) = post_json(addr, "/v1/live/classes", &coach_token, &body).await?;
    let class_id = serde_json::from_str::<serde_json::Value>(&created)
        .ok()
        .and_then(|v| v["id"].as_str().map(str::to_owned))
        .filter(|_| status == 201)
        .ok_or_else(|| {
            std::io::Error::other(format!("scheduling the class failed: {status} {created}"))
        })?;

    let stats = Arc::new(Stats::default());
    let latency = Arc::new(CueLatency::new(nodes.len(), args.cues));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (phase_tx, phase_rx) = watch::channel(Phase::Waiting);
    let config = small_buffers(args.socket.buffer_bytes);
    let progress = Progress::start("live", {
        let stats = stats.clone();
        let total = args.participants;
        move || {
            format!(
                "{}/{total} joined, {} failed, {} cues delivered",
                stats.joined.load(Ordering::Relaxed),
                stats.failed(),
                stats.received.load(Ordering::Relaxed)
            )
        }
    });

    let tasks = super::ramp::ramp(args.participants, args.rate, |index| {
        let source = sockets::source_ip(index, args.socket.sockets_per_source_ip);
        let (stats, latency, minter, mut stop, mut phases) = (
            stats.clone(),
            latency.clone(),
            minter.clone(),
            stop_rx.clone(),
            phase_rx.clone(),
        );
        let class_id = class_id.clone();
        let node_index = index % nodes.len();
        let node = nodes[node_index];
        let cadence = Cadence::new(args.metrics_per_second, index, args.participants);
        let ride = Ride::of(index);
        async move {
            let token = minter.member(UserId::random(), ttl);
            let mut ws =
                match sockets::open(node, source, &token, config, Duration::from_secs(30)).await {
                    Ok(ws) => ws,
                    Err(err) => return stats.fail(&err.label()),
                };
            let join =
                json!({ "id": JOIN_ID, "type": "live.join", "data": { "class_id": class_id } });
            if ws
                .send(Message::Text(join.to_string().into()))
                .await
                .is_err()
            {
                return stats.fail("join_send_failed");
            }
            let metrics = &stats.metrics;
            let mut phase = *phases.borrow_and_update();
            // The next metric to send (from 0), and the last push of each kind.
            let mut next = 0u64;
            let (mut boards, mut ranks) = (LastArrival::default(), LastArrival::default());
            let mut saw_board = false;
            let mut phases_open = true;
            loop {
                let due = match (phase, cadence) {
                    (Phase::Sending(start), Some(cadence)) => Some(start + cadence.due(next)),
                    _ => None,
                };
                let send_due = async move {
                    match due {
                        Some(at) => tokio::time::sleep_until(at.into()).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    frame = ws.next() => match frame {
                        Some(Ok(Message::Text(text))) => {
                            if let Some((id, refused)) = reply_of(&text) {
                                match (id, refused) {
                                    (JOIN_ID, None) => {
                                        stats.joined.fetch_add(1, Ordering::Relaxed);
                                    }
                                    (JOIN_ID, Some(_)) => return stats.fail("join_refused"),
                                    (FIRST_METRIC_ID.., None) => {
                                        metrics.acked.fetch_add(1, Ordering::Relaxed);
                                    }
                                    (FIRST_METRIC_ID.., Some(code)) => metrics.refused.count(&code),
                                    _ => {}
                                }
                            } else if let Some(sent) = cue_sent_at(&text) {
                                let now = epoch_micros();
                                latency.record(node_index, sent, now);
                                stats.received.fetch_add(1, Ordering::Relaxed);
                                stats.last_arrival.fetch_max(now, Ordering::Relaxed);
                            } else if matches!(phase, Phase::Sending(_)) {
                                let now = Instant::now();
                                let (last, gaps) = if text.contains(LEADERBOARD) {
                                    saw_board = true;
                                    (&mut boards, &metrics.leaderboard_gaps)
                                } else if text.contains(RANK) {
                                    (&mut ranks, &metrics.rank_gaps)
                                } else {
                                    continue;
                                };
                                if let (Some(gap), Ok(mut gaps)) = (last.arrive(now), gaps.lock()) {
                                    gaps.record(gap);
                                }
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => return stats.fail("dropped"),
                    },
                    () = send_due => {
                        let (Phase::Sending(start), Some(cadence)) = (phase, cadence) else {
                            continue;
                        };
                        let elapsed = start.elapsed();
                        let frame = json!({
                            "id": FIRST_METRIC_ID + next,
                            "type": "live.metric",
                            "data": ride.sample(&class_id, next, elapsed),
                        });
                        if ws.send(Message::Text(frame.to_string().into())).await.is_err() {
                            return stats.fail("metric_send_failed");
                        }
                        metrics.sent.fetch_add(1, Ordering::Relaxed);
                        let after = cadence.next_at_or_after(start.elapsed()).max(next + 1);
                        metrics.skipped.fetch_add(after - next - 1, Ordering::Relaxed);
                        next = after;
                    }
                    changed = phases.changed(), if phases_open => {
                        if changed.is_err() {
                            phases_open = false;
                            continue;
                        }
                        phase = *phases.borrow_and_update();
                        match phase {
                            Phase::Sending(_) => {
                                boards.reset();
                                ranks.reset();
                                next = 0;
                            }
                            Phase::Done if cadence.is_some() && !saw_board => {
                                metrics.leaderboard_silent.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => {}
                        }
                    }
                    _ = stop.changed() => {
                        let _ = ws.close(None).await;
                        return;
                    }
                }
            }
        }
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while stats.joined.load(Ordering::Relaxed) + stats.failed() < args.participants as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let joined = stats.joined.load(Ordering::Relaxed);

    let start_path = format!("/v1/live/classes/{class_id}/start");
    let (status, answer) = post_json(addr, &start_path, &coach_token, &json!({})).await?;
    if status != 200 {
        return Err(
            std::io::Error::other(format!("starting the class failed: {status} {answer}")).into(),
        );
    }

    // The coach's socket; its replies are read and dropped by a task of their own.
    let mut coach_ws = sockets::open(
        addr,
        sockets::source_ip(0, 1),
        &coach_token,
        config,
        Duration::from_secs(30),
    )
    .await
    .map_err(|e| std::io::Error::other(format!("coach socket: {e}")))?;
    let interval: Duration = args.cue_interval.into();
    // Metrics flow while the cues go out, on cadences counted from now.
    let _ = phase_tx.send(Phase::Sending(Instant::now()));
    let cpu_at_first_cue = args.server_pid.and_then(target::cpu_seconds);
    let own_cpu_at_first_cue = target::cpu_seconds(std::process::id());
    let first_send = epoch_micros();
    for index in 0..args.cues {
        let cue = json!({
            "id": 100 + index,
            "type": "live.cue",
            "data": { "class_id": class_id, "text": format!("t={}", epoch_micros()) },
        });
        if coach_ws
            .send(Message::Text(cue.to_string().into()))
            .await
            .is_err()
        {
            break;
        }
        let pause = tokio::time::sleep(interval);
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = &mut pause => break,
                _ = coach_ws.next() => {}
            }
        }
    }
    let _ = phase_tx.send(Phase::Done);
    let metrics = &stats.metrics;
    let answered = || {
        metrics.acked.load(Ordering::Relaxed) + metrics.refused.total()
            >= metrics.sent.load(Ordering::Relaxed)
    };
    let deadline = Instant::now() + METRIC_REPLY_GRACE;
    while !answered() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expected = joined * args.cues as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.received.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = stats.received.load(Ordering::Relaxed);
    let cpu_at_last_frame = args.server_pid.and_then(target::cpu_seconds);
    let own_cpu_at_last_frame = target::cpu_seconds(std::process::id());
    let span = stats
        .last_arrival
        .load(Ordering::Relaxed)
        .saturating_sub(first_send)
        .max(1);
    let end_path = format!("/v1/live/classes/{class_id}/end");
    let _ = post_json(addr, &end_path, &coach_token, &json!({})).await;

    let _ = stop_tx.send(true);
    let _ = coach_ws.close(None).await;
    let _ = tokio::time::timeout(
        Duration::from_secs(30),
        futures_util::future::join_all(tasks),
    )
    .await;
    progress.stop().await;

    let mut counts: BTreeMap<String, u64> = stats.failures.by_label();
    counts.insert("joined".into(), joined);
    counts.insert("cues_sent".into(), args.cues as u64);
    counts.insert("frames_expected".into(), expected);
    counts.insert("frames_received".into(), received);
    counts.insert("lost".into(), expected.saturating_sub(received));
    let mut figures = BTreeMap::new();
    figures.insert(
        "frames_per_second".into(),
        received as f64 / (span as f64 / 1e6),
    );
    figures.insert("fd_limit".into(), fd_limit as f64);
    // The generator's own CPU over the same span: on one machine both sides share it.
    if let (Some(before), Some(after)) = (own_cpu_at_first_cue, own_cpu_at_last_frame) {
        figures.insert(
            "loadtest_cpu_us_per_frame".into(),
            (after - before) * 1e6 / received.max(1) as f64,
        );
    }
    if let (Some(before), Some(after)) = (cpu_at_first_cue, cpu_at_last_frame) {
        let cpu = after - before;
        figures.insert("server_cpu_seconds_cues".into(), cpu);
        figures.insert(
            "server_cpu_us_per_frame".into(),
            cpu * 1e6 / received.max(1) as f64,
        );
    }
    if args.metrics_per_second > 0.0 {
        metric_figures(metrics, &mut counts, &mut figures);
    }
    let (latency, latency_by) = latency.report();
    Ok(Report {
        scenario: "live".into(),
        parameters: json!({
            "target": args.target,
            "spread": args.spread,
            "participants": args.participants,
            "cues": args.cues,
            "cue_interval": args.cue_interval.to_string(),
            "rate": args.rate,
            "metrics_per_second": args.metrics_per_second,
        }),
        counts,
        latency_ms: latency,
        latency_by,
        figures,
        failed: Vec::new(),
        started_at,
        host: crate::host_info(),
    })
}

/// What became of the metrics, and the gaps between the pushes that came back.
fn metric_figures(
    metrics: &MetricStats,
    counts: &mut BTreeMap<String, u64>,
    figures: &mut BTreeMap<String, f64>,
) {
    let sent = metrics.sent.load(Ordering::Relaxed);
    let acked = metrics.acked.load(Ordering::Relaxed);
    let refused = metrics.refused.by_label();
    let answered = acked + refused.values().sum::<u64>();
    counts.insert("metrics_sent".into(), sent);
    counts.insert("metrics_acked".into(), acked);
    counts.insert("metrics_unanswered".into(), sent.saturating_sub(answered));
    counts.insert(
        "metrics_skipped".into(),
        metrics.skipped.load(Ordering::Relaxed),
    );
    for (code, n) in refused {
        counts.insert(format!("metrics_refused_{code}"), n);
    }
    counts.insert(
        "leaderboard_silent".into(),
        metrics.leaderboard_silent.load(Ordering::Relaxed),
    );
    let long = LONG_GAP.as_millis();
    for (name, gaps) in [
        ("leaderboard", &metrics.leaderboard_gaps),
        ("rank", &metrics.rank_gaps),
    ] {
        let Ok(gaps) = gaps.lock() else { continue };
        counts.insert(format!("{name}_gaps"), gaps.count());
        counts.insert(format!("{name}_gaps_over_{long}ms"), gaps.long());
        for (stat, ms) in gaps.percentiles_ms() {
            figures.insert(format!("{name}_gap_{stat}_ms"), ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_time_is_read_from_a_cue_frame_only() {
        let cue = r#"{"class_seq":2,"class_id":"c","type":"live.cue","at":"x","data":{"class_id":"c","text":"t=1769248800123456"}}"#;
        assert_eq!(cue_sent_at(cue), Some(1_769_248_800_123_456));
        let other = r#"{"type":"live.presence","data":{"text":"t=5"}}"#;
        assert_eq!(cue_sent_at(other), None);
    }
}
