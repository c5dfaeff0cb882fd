//! The open-loop engine behind `rest`, `spike` and `drop`: a rate profile fixes when each
//! request is due, each is sent when due whether or not earlier ones have answered, and its
//! latency counts from when it was due. A slow server therefore cannot hide its slowness
//! by slowing the generator down (no coordinated omission); when the generator itself
//! falls behind, it still sends every request and reports by how much it was late.
//!
//! A scenario hands the engine its requests (`Requests`: the i-th request, and the
//! `Verdict` on its answer); the engine sends and times them and answers a `Run`
//! (`tally`) from which the scenario writes its report.
//!
//! Tokio's timer rounds a wake-up to the next millisecond, which alone would add about
//! half a millisecond to every latency. The dispatcher therefore wakes up to `TIMER_SLACK`
//! before a request is due, and a request counts from the earlier of its due time and the
//! moment it was handed over: never later than it went out, so latency is never
//! understated.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::{Method, Uri};
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use super::profile::Profile;
use super::tally::{Ending, Run, Tally, micros};
use crate::LoadError;
use crate::pool::{Answer, Call, Pool};
use crate::progress::Progress;
use crate::report::micros_histogram;
use crate::target;
use crate::tokens::{KeyArgs, Minter};

/// How early the dispatcher may wake for a due request (the timer's resolution).
const TIMER_SLACK: Duration = Duration::from_millis(1);
/// Tokens minted for a run outlive it by this much (setup and checks after it).
const TOKEN_MARGIN: Duration = Duration::from_secs(3600);

/// How every open-loop scenario reaches the server.
#[derive(Debug, Clone, clap::Args)]
pub struct SendArgs {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Keep-alive connections; a request waits for a free one, and the wait counts in its
    /// latency.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// 127.0.0.x source addresses the connections are spread over.
    #[arg(long, default_value_t = 4)]
    pub sources: usize,
    /// A request with no whole answer this long after it was due is a timeout.
    #[arg(long, default_value = "5s")]
    pub timeout: humantime::Duration,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl SendArgs {
    /// The parameters every open-loop report shows.
    pub fn parameters(&self) -> Map<String, Value> {
        let value = json!({
            "target": self.target,
            "connections": self.connections,
            "sources": self.sources,
            "timeout": self.timeout.to_string(),
        });
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }
}

/// One request and what its answer is judged against.
#[derive(Debug)]
pub struct Request<E> {
    /// The part of the run it belongs to, timed apart (e.g. `catalog`, `order`).
    pub part: &'static str,
    pub method: Method,
    pub uri: Uri,
    pub call: Call,
    pub expect: E,
}

/// What an answer counts as.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The count it adds to, e.g. `ok`, `sold_out`, `wrong_body`, `http_500`.
    pub label: Cow<'static, str>,
    /// Whether it meets the scenario's bar.
    pub ok: bool,
    /// Why not, for the report's examples.
    pub note: Option<String>,
}

impl Verdict {
    pub fn ok(label: &'static str) -> Verdict {
        Verdict {
            label: Cow::Borrowed(label),
            ok: true,
            note: None,
        }
    }

    pub fn not_ok(label: impl Into<Cow<'static, str>>, note: impl Into<String>) -> Verdict {
        Verdict {
            label: label.into(),
            ok: false,
            note: Some(note.into()),
        }
    }

    /// A status the scenario did not expect: counted as `http_<status>`, with the start of
    /// its body as the note.
    pub fn status(answer: &Answer) -> Verdict {
        let body: String = String::from_utf8_lossy(&answer.body)
            .chars()
            .take(200)
            .collect();
        Verdict::not_ok(
            format!("http_{}", answer.status),
            format!("{}: {body}", answer.status),
        )
    }

    /// A body that does not show what was asked.
    pub fn wrong_body(reason: impl std::fmt::Display) -> Verdict {
        Verdict::not_ok("wrong_body", format!("wrong body: {reason}"))
    }
}

/// The requests of a run.
pub trait Requests: Send + Sync + 'static {
    type Expect: Send + Sync + 'static;

    /// The `i`-th request of the run.
    fn request(&self, i: u64) -> Arc<Request<Self::Expect>>;

    /// What the answer to `request` counts as. Runs after the answer's time is taken, so
    /// judging costs nothing in the latency.
    fn judge(&self, request: &Request<Self::Expect>, answer: &Answer) -> Verdict;
}

/// The engine, connected and ready: its pool and the key to mint tokens with, for the
/// scenario's setup and for its run.
pub struct Engine {
    pool: Arc<Pool>,
    minter: Minter,
    fd_limit: u64,
    timeout: Duration,
}

impl Engine {
    /// Checks the target is on loopback, raises the fd limit, loads the key and opens
    /// every connection (so a run does not start with a burst of handshakes).
    pub async fn start(args: &SendArgs) -> Result<Engine, LoadError> {
        let addr = target::parse_target(&args.target)?;
        let fd_limit = fitpulse::fd_limit::raise_open_files()?;
        let minter = Minter::new(&args.keys)?;
        let pool = Arc::new(Pool::new(addr, args.connections, args.sources));
        pool.open_all()
            .await
            .map_err(|source| super::workload::SetupError::Exchange {
                what: "opening connections".into(),
                source,
            })?;
        Ok(Engine {
            pool,
            minter,
            fd_limit,
            timeout: args.timeout.into(),
        })
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The pool, shared (for flows that send from tasks of their own).
    pub fn shared_pool(&self) -> Arc<Pool> {
        self.pool.clone()
    }

    pub fn minter(&self) -> &Minter {
        &self.minter
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Seconds a token minted for a run of `profile` stays valid: the run, its last
    /// request's timeout and a margin.
    pub fn token_ttl(&self, profile: &Profile) -> i64 {
        (profile.length() + self.timeout + TOKEN_MARGIN).as_secs() as i64
    }

    /// Sends every request of `profile` when it is due and waits for the last answer.
    pub async fn run<R: Requests>(
        &self,
        scenario: &'static str,
        profile: &Profile,
        requests: Arc<R>,
    ) -> Run {
        let started_at = fitpulse_actors::events::rfc3339(fitpulse_actors::domain::now_millis());
        let profile = *profile;
        let timeout = self.timeout;
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
            let request = requests.request(i);
            let phase = profile.phase(due);
            tally.sent.fetch_add(1, Ordering::Relaxed);
            tally.in_flight.fetch_add(1, Ordering::Relaxed);
            let (pool, tally, requests) = (self.pool.clone(), tally.clone(), requests.clone());
            tokio::spawn(async move {
                let (verdict, answered, answered_at) =
                    exchange(&pool, &*requests, &request, origin + timeout).await;
                // Only a not-ok request is named, in the report's examples.
                let line = if verdict.ok {
                    String::new()
                } else {
                    format!("{} {}", request.method, request.uri)
                };
                tally.record(Ending {
                    line,
                    part: request.part,
                    phase,
                    verdict,
                    answered,
                    latency: answered_at.saturating_duration_since(origin),
                    since_start: answered_at.saturating_duration_since(start),
                });
                tally.in_flight.fetch_sub(1, Ordering::Relaxed);
            });
        }
        // Every request ends by its own deadline; the margin covers recording.
        let deadline = Instant::now() + timeout + Duration::from_secs(5);
        while tally.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        progress.stop().await;
        let sent = tally.sent.load(Ordering::Relaxed);
        Run::new(sent, tally.take(), lag, self.fd_limit, started_at, start)
    }
}

/// Sends one request and judges its answer; the answer's time is taken before judging.
/// Answers the verdict, whether the server answered at all, and when.
async fn exchange<R: Requests>(
    pool: &Pool,
    requests: &R,
    request: &Request<R::Expect>,
    deadline: Instant,
) -> (Verdict, bool, Instant) {
    let sent = tokio::time::timeout_at(
        deadline,
        pool.send(&request.method, &request.uri, &request.call),
    )
    .await;
    let answered_at = Instant::now();
    match sent {
        Err(_) => (Verdict::not_ok("timeout", "timeout"), false, answered_at),
        Ok(Err(err)) => (
            Verdict::not_ok(
                "connect_error",
                format!("connection: {}", crate::error_chain(&err)),
            ),
            false,
            answered_at,
        ),
        Ok(Ok(answer)) => (requests.judge(request, &answer), true, answered_at),
    }
}
