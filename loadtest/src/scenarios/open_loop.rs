//! The open-loop engine behind `rest` and `spike`: a rate profile fixes when each request is
//! due, each is sent when due whether or not earlier ones have answered, and its latency
//! counts from when it was due. A slow server therefore cannot hide its slowness by slowing
//! the generator down (no coordinated omission); when the generator itself falls behind,
//! it still sends every request and reports by how much it was late.
//!
//! Tokio's timer rounds a wake-up to the next millisecond, which alone would add about
//! half a millisecond to every latency. The dispatcher therefore wakes up to `TIMER_SLACK`
//! before a request is due, and a request counts from the earlier of its due time and the
//! moment it was handed over: never later than it went out, so latency is never
//! understated.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::checks;
use super::mix::{Kind, Mix};
use super::profile::{Phase, Profile};
use super::workload::{Request, Workload};
use crate::LoadError;
use crate::pool::Pool;
use crate::progress::Progress;
use crate::report::{Latency, Report, micros_histogram};
use crate::target;
use crate::tokens::{KeyArgs, Minter};

/// Answers to not-ok requests kept as examples in the report.
const EXAMPLES: usize = 5;
/// How early the dispatcher may wake for a due request (the timer's resolution).
const TIMER_SLACK: Duration = Duration::from_millis(1);

/// What both scenarios take besides their rate profile.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Keep-alive connections; a request waits for a free one, and the wait counts in its
    /// latency.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// 127.0.0.x source addresses the connections are spread over.
    #[arg(long, default_value_t = 4)]
    pub sources: usize,
    /// Weights of the request kinds.
    #[arg(long, default_value = "catalog=90,like=5,plan=5")]
    pub mix: Mix,
    /// Simulated users, each with a plan; every fourth has premium access.
    #[arg(long, default_value_t = 1000)]
    pub users: usize,
    /// The plan template every user follows.
    #[arg(long, default_value = "lose-weight-2-week-plan")]
    pub plan_template: String,
    /// A request with no whole answer this long after it was due is a timeout.
    #[arg(long, default_value = "5s")]
    pub timeout: humantime::Duration,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl LoadArgs {
    /// The parameters every report of these scenarios shows.
    pub fn parameters(&self) -> Map<String, Value> {
        let value = json!({
            "target": self.target,
            "connections": self.connections,
            "sources": self.sources,
            "mix": self.mix.to_string(),
            "users": self.users,
            "plan_template": self.plan_template,
            "timeout": self.timeout.to_string(),
        });
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

/// How one request ended.
enum Outcome {
    Ok,
    WrongBody(String),
    Status(u16, String),
    Timeout,
    ConnectError(String),
}

/// Everything counted and timed, shared by the requests' tasks.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    answered: AtomicU64,
    not_ok: AtomicU64,
    in_flight: AtomicU64,
    max_lag_micros: AtomicU64,
    recorded: Mutex<Recorded>,
}

struct Recorded {
    ok: u64,
    wrong_body: u64,
    timeout: u64,
    connect_error: u64,
    statuses: BTreeMap<u16, u64>,
    all: Histogram<u64>,
    kinds: [Histogram<u64>; 3],
    phases: [Histogram<u64>; 2],
    /// Answers to requests due in each phase.
    phase_answers: [u64; 2],
    /// When the last answer came, from the start.
    last_answer: Duration,
    examples: Vec<String>,
}

impl Default for Recorded {
    fn default() -> Recorded {
        Recorded {
            ok: 0,
            wrong_body: 0,
            timeout: 0,
            connect_error: 0,
            statuses: BTreeMap::new(),
            all: micros_histogram(),
            kinds: std::array::from_fn(|_| micros_histogram()),
            phases: std::array::from_fn(|_| micros_histogram()),
            phase_answers: [0; 2],
            last_answer: Duration::ZERO,
            examples: Vec::new(),
        }
    }
}

fn micros(d: Duration) -> u64 {
    d.as_micros().clamp(1, u128::from(u64::MAX)) as u64
}

impl Tally {
    /// `latency` is from the request's origin (see the module doc) to its whole answer;
    /// `since_start` is when the answer came.
    fn record(
        &self,
        request: &Request,
        phase: Phase,
        outcome: Outcome,
        latency: Duration,
        since_start: Duration,
    ) {
        let answered = matches!(
            outcome,
            Outcome::Ok | Outcome::WrongBody(_) | Outcome::Status(..)
        );
        if answered {
            self.answered.fetch_add(1, Ordering::Relaxed);
        }
        if !matches!(outcome, Outcome::Ok) {
            self.not_ok.fetch_add(1, Ordering::Relaxed);
        }
        let Ok(mut r) = self.recorded.lock() else {
            return;
        };
        let example = match outcome {
            Outcome::Ok => {
                r.ok += 1;
                None
            }
            Outcome::WrongBody(reason) => {
                r.wrong_body += 1;
                Some(format!("wrong body: {reason}"))
            }
            Outcome::Status(status, body) => {
                *r.statuses.entry(status).or_default() += 1;
                Some(format!("{status}: {body}"))
            }
            Outcome::Timeout => {
                r.timeout += 1;
                Some("timeout".to_owned())
            }
            Outcome::ConnectError(err) => {
                r.connect_error += 1;
                Some(format!("connection: {err}"))
            }
        };
        if let Some(example) = example
            && r.examples.len() < EXAMPLES
        {
            r.examples
                .push(format!("{} {}: {example}", request.method, request.uri));
        }
        if answered {
            let us = micros(latency);
            let phase = phase as usize;
            // Values above the histogram's 10-minute bound cannot occur: requests time out.
            let _ = r.all.record(us);
            let _ = r.kinds[request.kind.index()].record(us);
            let _ = r.phases[phase].record(us);
            r.phase_answers[phase] += 1;
            r.last_answer = r.last_answer.max(since_start);
        }
    }
}

/// Sends one request and judges its answer; the answer's time is taken before the check,
/// so checking costs nothing in the latency.
async fn exchange(pool: &Pool, request: &Request, deadline: Instant) -> (Outcome, Instant) {
    let sent = tokio::time::timeout_at(
        deadline,
        pool.send(&request.method, &request.uri, &request.call),
    )
    .await;
    let answered_at = Instant::now();
    let outcome = match sent {
        Err(_) => Outcome::Timeout,
        Ok(Err(err)) => Outcome::ConnectError(crate::error_chain(&err)),
        Ok(Ok(answer)) if answer.status != 200 => Outcome::Status(
            answer.status,
            String::from_utf8_lossy(&answer.body)
                .chars()
                .take(200)
                .collect(),
        ),
        Ok(Ok(answer)) => match checks::check(&request.expect, &answer.body) {
            Ok(()) => Outcome::Ok,
            Err(wrong) => Outcome::WrongBody(wrong.0),
        },
    };
    (outcome, answered_at)
}

/// Runs `profile` against the target and reports; `parameters` are the scenario's own.
pub async fn run(
    scenario: &'static str,
    args: &LoadArgs,
    profile: Profile,
    mut parameters: Map<String, Value>,
) -> Result<Report, LoadError> {
    let addr = target::parse_target(&args.target)?;
    let fd_limit = fitpulse::fd_limit::raise_open_files()?;
    let minter = Minter::new(&args.keys)?;
    let started_at = fitpulse_actors::events::rfc3339(fitpulse_actors::domain::now_millis());
    let timeout: Duration = args.timeout.into();
    let pool = Arc::new(Pool::new(addr, args.connections, args.sources));
    pool.open_all()
        .await
        .map_err(|source| super::workload::SetupError::Exchange {
            what: "opening connections".into(),
            source,
        })?;
    let ttl = (profile.length() + timeout).as_secs() as i64 + 3600;
    let workload = Arc::new(
        Workload::prepare(
            &pool,
            &minter,
            &args.mix,
            args.users,
            &args.plan_template,
            ttl,
        )
        .await?,
    );

    let total = profile.total();
    let tally = Arc::new(Tally::default());
    let start = Instant::now();
    let progress = Progress::start(scenario, {
        let tally = tally.clone();
        move || {
            format!(
                "{}/{total} sent ({:.0}/s due), {} answered, {} not ok, {} in flight, lag max {:.1} ms",
                tally.sent.load(Ordering::Relaxed),
                profile.rate_at(start.elapsed().as_secs_f64()),
                tally.answered.load(Ordering::Relaxed),
                tally.not_ok.load(Ordering::Relaxed),
                tally.in_flight.load(Ordering::Relaxed),
                tally.max_lag_micros.load(Ordering::Relaxed) as f64 / 1000.0,
            )
        }
    });

    // The dispatcher: one request per due time, never waiting for answers.
    let mut lag = micros_histogram();
    for i in 0..total {
        let due = profile.due(i);
        let due_at = start + due;
        if due_at > Instant::now() + TIMER_SLACK {
            tokio::time::sleep_until(due_at - TIMER_SLACK).await;
        }
        let handed_over = Instant::now();
        // Latency counts from here: the due time, or the hand-over if that came first.
        let origin = due_at.min(handed_over);
        let late = micros(handed_over.saturating_duration_since(due_at));
        let _ = lag.record(late);
        tally.max_lag_micros.fetch_max(late, Ordering::Relaxed);
        let request = workload.request(i);
        let phase = profile.phase(due);
        tally.sent.fetch_add(1, Ordering::Relaxed);
        tally.in_flight.fetch_add(1, Ordering::Relaxed);
        let (pool, tally) = (pool.clone(), tally.clone());
        tokio::spawn(async move {
            let (outcome, answered_at) = exchange(&pool, &request, origin + timeout).await;
            tally.record(
                &request,
                phase,
                outcome,
                answered_at.saturating_duration_since(origin),
                answered_at.saturating_duration_since(start),
            );
            tally.in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
    // Every request ends by its own deadline; the margin covers recording.
    let deadline = Instant::now() + timeout + Duration::from_secs(5);
    while tally.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    progress.stop().await;

    let learned = workload.learned();
    parameters.insert("fd_limit".into(), json!(fd_limit));
    Ok(report(
        scenario,
        &profile,
        &tally,
        &lag,
        Value::Object(parameters),
        started_at,
        learned,
    ))
}

fn report(
    scenario: &str,
    profile: &Profile,
    tally: &Tally,
    lag: &Histogram<u64>,
    parameters: Value,
    started_at: String,
    learned: super::workload::Learned,
) -> Report {
    let sent = tally.sent.load(Ordering::Relaxed);
    let empty = Recorded::default();
    let guard = tally.recorded.lock();
    let r = guard.as_deref().unwrap_or(&empty);
    let mut counts = BTreeMap::from([
        ("ok".to_owned(), r.ok),
        ("wrong_body".to_owned(), r.wrong_body),
        ("timeout".to_owned(), r.timeout),
        ("connect_error".to_owned(), r.connect_error),
    ]);
    for (status, count) in &r.statuses {
        counts.insert(format!("http_{status}"), *count);
    }
    let mut latency_by = BTreeMap::new();
    for kind in Kind::ALL {
        let histogram = &r.kinds[kind.index()];
        if !histogram.is_empty() {
            latency_by.insert(kind.as_str().to_owned(), Latency::from_micros(histogram));
        }
    }
    if profile.has_ramp() {
        latency_by.insert("ramp".into(), Latency::from_micros(&r.phases[0]));
        latency_by.insert("hold".into(), Latency::from_micros(&r.phases[1]));
    }
    let correct = if sent == 0 {
        0.0
    } else {
        r.ok as f64 / sent as f64
    };
    let answered: u64 = r.phase_answers.iter().sum();
    let mut figures = BTreeMap::from([
        ("requests_sent".to_owned(), sent as f64),
        (
            "offered_rate_per_s".to_owned(),
            profile.total() as f64 / profile.length().as_secs_f64(),
        ),
        (
            "achieved_rate_per_s".to_owned(),
            answered as f64 / r.last_answer.as_secs_f64().max(0.001),
        ),
        ("correct_fraction".to_owned(), correct),
        ("max_schedule_lag_ms".to_owned(), lag.max() as f64 / 1000.0),
        (
            "schedule_lag_p50_ms".to_owned(),
            lag.value_at_quantile(0.50) as f64 / 1000.0,
        ),
        (
            "schedule_lag_p99_ms".to_owned(),
            lag.value_at_quantile(0.99) as f64 / 1000.0,
        ),
        ("catalog_items".to_owned(), learned.catalog_items as f64),
        ("list_queries".to_owned(), learned.list_queries as f64),
    ]);
    if profile.has_ramp() {
        figures.insert(
            "hold_achieved_rate_per_s".into(),
            r.phase_answers[1] as f64 / profile.hold_seconds().max(0.001),
        );
    }
    if let Some(rss) = target::rss_bytes(std::process::id()) {
        figures.insert("loadtest_rss_mb".into(), rss as f64 / 1e6);
    }
    let mut failed = Vec::new();
    if sent == 0 || r.ok < sent {
        failed.push(format!(
            "{} of {sent} answers not correct (correct fraction {correct:.6}; the bar is 1)",
            sent - r.ok.min(sent)
        ));
        failed.extend(r.examples.iter().map(|e| format!("  e.g. {e}")));
    }
    Report {
        scenario: scenario.to_owned(),
        parameters,
        counts,
        latency_ms: Latency::from_micros(&r.all),
        latency_by,
        figures,
        failed,
        started_at,
        host: crate::host_info(),
    }
}
