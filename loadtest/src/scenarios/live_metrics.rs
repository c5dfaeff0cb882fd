//! `live --metrics-per-second`: what each participant sends and what it measures.
//!
//! - `Cadence`: when participant i of n sends. Every participant sends at the same rate,
//!   each shifted by i/n of a period from a shared start, so the class as a whole sends at
//!   an even pace instead of n frames at the top of every second.
//! - `Ride`: the values sent, a plausible workout: cumulative output growing at the
//!   participant's own pace (0.1 to 0.3 kJ a second) and a rep count now and then.
//! - `GapStats`: the time between consecutive pushed frames of one kind (leaderboard,
//!   rank) as each participant receives them, gathered over all participants.
//! - `reply_of`: the id and outcome of a reply frame.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

use crate::report::micros_histogram;

/// A gap between pushes longer than this is counted apart: the server pushes the
/// leaderboard at most once a second, so a longer gap means a push came late or not at all.
pub const LONG_GAP: Duration = Duration::from_millis(1500);

/// When one participant sends, relative to the class's shared start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cadence {
    period: f64,
    offset: f64,
}

impl Cadence {
    /// Participant `index` of `participants` sending `per_second` frames a second; `None`
    /// when metrics are off (a rate of 0, or not a finite positive number).
    pub fn new(per_second: f64, index: usize, participants: usize) -> Option<Cadence> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return None;
        }
        let period = 1.0 / per_second;
        let share = (index % participants.max(1)) as f64 / participants.max(1) as f64;
        Some(Cadence {
            period,
            offset: period * share,
        })
    }

    /// When the `k`-th send (from 0) is due, after the shared start.
    pub fn due(&self, k: u64) -> Duration {
        Duration::from_secs_f64(self.offset + self.period * k as f64)
    }

    /// The first send due at or after `elapsed`: a participant that fell behind skips the
    /// sends it missed rather than catching up in a burst (which the server would refuse
    /// as too fast, and which would measure the generator, not the server).
    pub fn next_at_or_after(&self, elapsed: Duration) -> u64 {
        let k = ((elapsed.as_secs_f64() - self.offset) / self.period).ceil();
        if k > 0.0 { k as u64 } else { 0 }
    }
}

/// The workout one participant reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ride {
    /// Output gained per second, kJ.
    kj_per_second: f64,
    /// Reps per second, and every how many sends they are reported.
    reps_per_second: f64,
    reps_every: u64,
}

impl Ride {
    /// Participant `index`'s ride: paces spread over 0.1..0.3 kJ/s (and 0.2..0.5 reps/s)
    /// by the golden ratio, so neighbours differ and the board keeps reordering.
    pub fn of(index: usize) -> Ride {
        let spread = (index as f64 * 0.618_033_988_75).fract();
        Ride {
            kj_per_second: 0.1 + 0.2 * spread,
            reps_per_second: 0.2 + 0.3 * spread,
            reps_every: 3 + (index % 4) as u64,
        }
    }

    /// The `data` of the `k`-th `live.metric` frame, `elapsed` after the shared start:
    /// output cumulative since the start (so a late send reports what the time says, and
    /// the rate stays plausible), reps on every `reps_every`-th send.
    pub fn sample(&self, class_id: &str, k: u64, elapsed: Duration) -> Value {
        let seconds = elapsed.as_secs_f64();
        let output = (self.kj_per_second * seconds * 100.0).round() / 100.0;
        if k % self.reps_every == self.reps_every - 1 {
            let reps = (self.reps_per_second * seconds).floor() as u32;
            json!({ "class_id": class_id, "output": output, "reps": reps })
        } else {
            json!({ "class_id": class_id, "output": output })
        }
    }
}

/// The last arrival of one kind of frame at one participant.
#[derive(Debug, Default)]
pub struct LastArrival(Option<Instant>);

impl LastArrival {
    /// Records an arrival at `now`; answers the gap since the previous one.
    pub fn arrive(&mut self, now: Instant) -> Option<Duration> {
        let gap = self.0.map(|last| now.saturating_duration_since(last));
        self.0 = Some(now);
        gap
    }

    /// Forgets the previous arrival (a gap never spans the start of the measured phase).
    pub fn reset(&mut self) {
        self.0 = None;
    }
}

/// Gaps between consecutive frames of one kind, over all participants.
pub struct GapStats {
    micros: Histogram<u64>,
    long: u64,
}

impl Default for GapStats {
    fn default() -> Self {
        GapStats {
            micros: micros_histogram(),
            long: 0,
        }
    }
}

impl GapStats {
    pub fn record(&mut self, gap: Duration) {
        let micros = u64::try_from(gap.as_micros()).unwrap_or(u64::MAX);
        // Saturates at the histogram's top (10 minutes), far beyond any run's phase.
        self.micros.saturating_record(micros.max(1));
        if gap > LONG_GAP {
            self.long += 1;
        }
    }

    pub fn count(&self) -> u64 {
        self.micros.len()
    }

    /// Gaps longer than `LONG_GAP`.
    pub fn long(&self) -> u64 {
        self.long
    }

    /// p50, p99 and max in milliseconds (zeros when there was no gap).
    pub fn percentiles_ms(&self) -> [(&'static str, f64); 3] {
        let ms = |us: u64| us as f64 / 1000.0;
        if self.micros.is_empty() {
            return [("p50", 0.0), ("p99", 0.0), ("max", 0.0)];
        }
        [
            ("p50", ms(self.micros.value_at_quantile(0.50))),
            ("p99", ms(self.micros.value_at_quantile(0.99))),
            ("max", ms(self.micros.max())),
        ]
    }
}

/// A reply frame's id, and its error code when refused; `None` for any other frame.
pub fn reply_of(text: &str) -> Option<(u64, Option<String>)> {
    if !text.contains("\"reply_to\":") {
        return None;
    }
    let frame: Value = serde_json::from_str(text).ok()?;
    let id = frame.get("reply_to")?.as_u64()?;
    let code = frame.get("error").map(|error| {
        error
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned()
    });
    Some((id, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_off_has_no_cadence() {
        assert_eq!(Cadence::new(0.0, 3, 10), None);
        assert_eq!(Cadence::new(-1.0, 3, 10), None);
        assert_eq!(Cadence::new(f64::NAN, 3, 10), None);
    }

    #[test]
    fn sends_spread_evenly_over_each_period_with_no_herd() {
        // 1,000 participants at 2 a second: 2,000 sends a second, 20 in every 10 ms.
        let (participants, rate) = (1000, 2.0);
        let mut buckets = [0u32; 100];
        for index in 0..participants {
            let cadence = Cadence::new(rate, index, participants).expect("on");
            for k in 0..2 {
                let due = cadence.due(k);
                assert!(due < Duration::from_secs(1), "{due:?}");
                buckets[(due.as_millis() / 10) as usize] += 1;
            }
        }
        assert!(buckets.iter().all(|&n| n == 20), "{buckets:?}");
    }

    #[test]
    fn one_participant_sends_at_its_rate() {
        let cadence = Cadence::new(4.0, 1, 2).expect("on");
        assert_eq!(cadence.due(0), Duration::from_millis(125));
        assert_eq!(cadence.due(1), Duration::from_millis(375));
        assert_eq!(cadence.due(8), Duration::from_millis(2125));
    }

    #[test]
    fn a_participant_behind_skips_the_sends_it_missed() {
        let cadence = Cadence::new(4.0, 1, 2).expect("on");
        assert_eq!(cadence.next_at_or_after(Duration::ZERO), 0);
        assert_eq!(cadence.next_at_or_after(Duration::from_millis(125)), 0);
        assert_eq!(cadence.next_at_or_after(Duration::from_millis(126)), 1);
        assert_eq!(cadence.next_at_or_after(Duration::from_millis(1000)), 4);
    }

    #[test]
    fn output_grows_at_a_plausible_pace_and_reps_come_now_and_then() {
        for index in 0..200 {
            let ride = Ride::of(index);
            assert!((0.1..=0.3).contains(&ride.kj_per_second), "{ride:?}");
            let mut last = 0.0;
            let mut with_reps = 0;
            for k in 0..20u64 {
                let sample = ride.sample("c", k, Duration::from_millis(500 * k));
                let output = sample["output"].as_f64().expect("output");
                assert!(output >= last, "output is cumulative");
                assert!(
                    output <= 0.3 * 0.5 * k as f64 + 0.01,
                    "{output} after {k} half-seconds"
                );
                last = output;
                with_reps += usize::from(sample.get("reps").is_some());
            }
            assert!(
                (3..=7).contains(&with_reps),
                "{with_reps} of 20 sends carry reps"
            );
        }
    }

    #[test]
    fn a_gap_is_the_time_since_the_previous_arrival_and_a_reset_forgets_it() {
        let start = Instant::now();
        let mut last = LastArrival::default();
        assert_eq!(last.arrive(start), None);
        let gap = last.arrive(start + Duration::from_millis(1001));
        assert_eq!(gap, Some(Duration::from_millis(1001)));
        last.reset();
        assert_eq!(last.arrive(start + Duration::from_secs(5)), None);
    }

    #[test]
    fn gap_statistics_give_percentiles_in_ms_and_count_long_gaps() {
        let mut stats = GapStats::default();
        assert_eq!(
            stats.percentiles_ms(),
            [("p50", 0.0), ("p99", 0.0), ("max", 0.0)]
        );
        for _ in 0..98 {
            stats.record(Duration::from_millis(1000));
        }
        stats.record(Duration::from_millis(1500));
        stats.record(Duration::from_millis(3000));
        assert_eq!(
            (stats.count(), stats.long()),
            (100, 1),
            "1.5 s itself is not long"
        );
        let [(_, p50), (_, p99), (_, max)] = stats.percentiles_ms();
        assert!((p50 - 1000.0).abs() < 1.0, "{p50}");
        assert!((p99 - 1500.0).abs() < 2.0, "{p99}");
        assert!((max - 3000.0).abs() < 3.0, "{max}");
    }

    #[test]
    fn replies_are_read_with_their_id_and_error_code() {
        assert_eq!(
            reply_of(r#"{"reply_to":1000,"ok":true,"data":{}}"#),
            Some((1000, None))
        );
        let refused = r#"{"reply_to":7,"error":{"code":"implausible_metric","message":"m"}}"#;
        assert_eq!(
            reply_of(refused),
            Some((7, Some("implausible_metric".into())))
        );
        assert_eq!(reply_of(r#"{"type":"live.rank","data":{}}"#), None);
    }
}
