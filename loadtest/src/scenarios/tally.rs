//! What an open-loop run counted and timed: answers by the label their verdict gave them,
//! latency overall, per label, per request part and per profile phase, and how late the
//! dispatcher was. The engine records into a `Tally` while the run lasts; the scenario
//! reads the finished `Run` to write its report.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::open_loop::Verdict;
use super::profile::{Phase, Profile};
use crate::report::micros_histogram;
use crate::target;

/// Not-ok answers kept as examples in the report.
const EXAMPLES: usize = 5;

/// Counters the progress line reads, and the recordings, shared by the requests' tasks.
#[derive(Default)]
pub(super) struct Tally {
    pub sent: AtomicU64,
    pub answered: AtomicU64,
    pub not_ok: AtomicU64,
    pub in_flight: AtomicU64,
    pub max_lag_micros: AtomicU64,
    recorded: Mutex<Recorded>,
}

/// Everything recorded about the answers.
pub(super) struct Recorded {
    counts: BTreeMap<String, u64>,
    ok: u64,
    all: Histogram<u64>,
    by_label: BTreeMap<String, Histogram<u64>>,
    by_part: BTreeMap<&'static str, Histogram<u64>>,
    phases: [Histogram<u64>; 2],
    phase_answers: [u64; 2],
    last_answer: Duration,
    examples: Vec<String>,
}

impl Default for Recorded {
    fn default() -> Recorded {
        Recorded {
            counts: BTreeMap::new(),
            ok: 0,
            all: micros_histogram(),
            by_label: BTreeMap::new(),
            by_part: BTreeMap::new(),
            phases: std::array::from_fn(|_| micros_histogram()),
            phase_answers: [0; 2],
            last_answer: Duration::ZERO,
            examples: Vec::new(),
        }
    }
}

pub(super) fn micros(d: Duration) -> u64 {
    d.as_micros().clamp(1, u128::from(u64::MAX)) as u64
}

/// One request's end, as the engine saw it.
pub(super) struct Ending {
    /// `METHOD /path` of a not-ok request, for examples.
    pub line: String,
    pub part: &'static str,
    pub phase: Phase,
    pub verdict: Verdict,
    /// Whether the server answered at all (a timeout or a broken connection did not).
    pub answered: bool,
    /// From the request's origin (see `open_loop`) to its whole answer.
    pub latency: Duration,
    /// When the answer came, from the start.
    pub since_start: Duration,
}

impl Tally {
    pub fn record(&self, end: Ending) {
        if end.answered {
            self.answered.fetch_add(1, Ordering::Relaxed);
        }
        if !end.verdict.ok {
            self.not_ok.fetch_add(1, Ordering::Relaxed);
        }
        let Ok(mut r) = self.recorded.lock() else {
            return;
        };
        *r.counts.entry(end.verdict.label.to_string()).or_default() += 1;
        if end.verdict.ok {
            r.ok += 1;
        } else if r.examples.len() < EXAMPLES {
            let note = end.verdict.note.as_deref().unwrap_or(&end.verdict.label);
            let example = format!("{}: {note}", end.line);
            r.examples.push(example);
        }
        if end.answered {
            let us = micros(end.latency);
            let phase = end.phase as usize;
            // Values above the histogram's 10-minute bound cannot occur: requests time out.
            let _ = r.all.record(us);
            let _ = r
                .by_label
                .entry(end.verdict.label.to_string())
                .or_insert_with(micros_histogram)
                .record(us);
            let _ = r
                .by_part
                .entry(end.part)
                .or_insert_with(micros_histogram)
                .record(us);
            let _ = r.phases[phase].record(us);
            r.phase_answers[phase] += 1;
            r.last_answer = r.last_answer.max(end.since_start);
        }
    }

    /// What was recorded so far; later recordings start afresh.
    pub fn take(&self) -> Recorded {
        self.recorded
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default()
    }
}

/// A finished run.
pub struct Run {
    pub sent: u64,
    /// Requests by the label of their verdict (`ok`, `sold_out`, `http_500`, `timeout`).
    pub counts: BTreeMap<String, u64>,
    /// Requests whose verdict met the scenario's bar.
    pub ok: u64,
    /// Latency of every answered request, in µs.
    pub all: Histogram<u64>,
    pub by_label: BTreeMap<String, Histogram<u64>>,
    pub by_part: BTreeMap<&'static str, Histogram<u64>>,
    /// Latency of answers to requests due in the ramp and in the hold.
    pub phases: [Histogram<u64>; 2],
    pub phase_answers: [u64; 2],
    /// When the last answer came, from the start.
    pub last_answer: Duration,
    /// A few not-ok requests and why.
    pub examples: Vec<String>,
    /// How late the dispatcher handed requests over, in µs.
    pub lag: Histogram<u64>,
    pub fd_limit: u64,
    /// When the dispatcher started: wall clock (RFC 3339) and monotonic.
    pub started_at: String,
    pub start: Instant,
}

impl Run {
    pub(super) fn new(
        sent: u64,
        recorded: Recorded,
        lag: Histogram<u64>,
        fd_limit: u64,
        started_at: String,
        start: Instant,
    ) -> Run {
        Run {
            sent,
            counts: recorded.counts,
            ok: recorded.ok,
            all: recorded.all,
            by_label: recorded.by_label,
            by_part: recorded.by_part,
            phases: recorded.phases,
            phase_answers: recorded.phase_answers,
            last_answer: recorded.last_answer,
            examples: recorded.examples,
            lag,
            fd_limit,
            started_at,
            start,
        }
    }

    pub fn count(&self, label: &str) -> u64 {
        self.counts.get(label).copied().unwrap_or(0)
    }

    /// The figures every open-loop report shows: what was offered and achieved, and how
    /// late the generator itself was.
    pub fn figures(&self, profile: &Profile) -> BTreeMap<String, f64> {
        let answered: u64 = self.phase_answers.iter().sum();
        let ms = |us: u64| us as f64 / 1000.0;
        let mut figures = BTreeMap::from([
            ("requests_sent".to_owned(), self.sent as f64),
            (
                "offered_rate_per_s".to_owned(),
                profile.total() as f64 / profile.length().as_secs_f64(),
            ),
            (
                "achieved_rate_per_s".to_owned(),
                answered as f64 / self.last_answer.as_secs_f64().max(0.001),
            ),
            ("max_schedule_lag_ms".to_owned(), ms(self.lag.max())),
            (
                "schedule_lag_p50_ms".to_owned(),
                ms(self.lag.value_at_quantile(0.50)),
            ),
            (
                "schedule_lag_p99_ms".to_owned(),
                ms(self.lag.value_at_quantile(0.99)),
            ),
        ]);
        if profile.has_ramp() {
            figures.insert(
                "hold_achieved_rate_per_s".into(),
                self.phase_answers[1] as f64 / profile.hold_seconds().max(0.001),
            );
        }
        if let Some(rss) = target::rss_bytes(std::process::id()) {
            figures.insert("loadtest_rss_mb".into(), rss as f64 / 1e6);
        }
        figures
    }
}
