//! Plausibility of self-reported metrics: bounds on each value and on how fast cumulative
//! output and reps may grow. A sample that breaks one is dropped with its reason; the class
//! counts a participant's rejections and takes a repeat offender off the public board.
//! Pure functions over business time, so the rules are tested without a class.

use std::time::Duration;

use super::leaderboard::Sample;
use crate::domain::UnixMillis;

/// The rules, from config (`live.plausibility.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    /// Cumulative output may grow at most this fast (kJ per second; 1 kJ/s is 1,000 W).
    pub max_output_per_second: f64,
    /// Cumulative reps may grow at most this fast.
    pub max_reps_per_minute: u32,
    /// Heart rate outside this range (bpm) is not a person working out.
    pub heart_rate: (u32, u32),
    /// Growth is judged over at least this long, so an app that reports in bursts (or a
    /// first sample a few seconds into the class) is not punished for its timing.
    pub min_window: Duration,
    /// Rejections after which a participant is off the public board.
    pub flag_after: u32,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_output_per_second: 2.5,
            max_reps_per_minute: 120,
            heart_rate: (30, 230),
            min_window: Duration::from_secs(10),
            flag_after: 3,
        }
    }
}

/// Why a sample was dropped: the label of `fitpulse_live_metrics_rejected_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Implausible {
    OutputDecreased,
    OutputRate,
    RepsDecreased,
    RepsRate,
    HeartRate,
}

impl Implausible {
    pub const ALL: [Implausible; 5] = [
        Implausible::OutputDecreased,
        Implausible::OutputRate,
        Implausible::RepsDecreased,
        Implausible::RepsRate,
        Implausible::HeartRate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Implausible::OutputDecreased => "output_decreased",
            Implausible::OutputRate => "output_rate",
            Implausible::RepsDecreased => "reps_decreased",
            Implausible::RepsRate => "reps_rate",
            Implausible::HeartRate => "heart_rate",
        }
    }
}

/// What the check compares a new sample against: the last accepted values and when they
/// were reported (the class's start before the first).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    pub output: f64,
    pub reps: u32,
    pub at: UnixMillis,
}

impl Baseline {
    pub fn start(at: UnixMillis) -> Baseline {
        Baseline {
            output: 0.0,
            reps: 0,
            at,
        }
    }

    /// The baseline after `sample` was accepted at `at`.
    pub fn after(&self, sample: &Sample, at: UnixMillis) -> Baseline {
        Baseline {
            output: sample.output.unwrap_or(self.output),
            reps: sample.reps.unwrap_or(self.reps),
            at: if sample.output.is_some() || sample.reps.is_some() {
                at
            } else {
                self.at
            },
        }
    }
}

/// Checks `sample`, reported at `now`, against the participant's `baseline`.
pub fn check(
    bounds: &Bounds,
    baseline: &Baseline,
    sample: &Sample,
    now: UnixMillis,
) -> Result<(), Implausible> {
    if let Some(hr) = sample.heart_rate
        && !(bounds.heart_rate.0..=bounds.heart_rate.1).contains(&hr)
    {
        return Err(Implausible::HeartRate);
    }
    let elapsed_ms = (now - baseline.at).max(0) as f64;
    let seconds = (elapsed_ms / 1000.0).max(bounds.min_window.as_secs_f64());
    if let Some(output) = sample.output {
        if output < baseline.output {
            return Err(Implausible::OutputDecreased);
        }
        if output - baseline.output > bounds.max_output_per_second * seconds {
            return Err(Implausible::OutputRate);
        }
    }
    if let Some(reps) = sample.reps {
        if reps < baseline.reps {
            return Err(Implausible::RepsDecreased);
        }
        let allowed = f64::from(bounds.max_reps_per_minute) * seconds / 60.0;
        if f64::from(reps - baseline.reps) > allowed {
            return Err(Implausible::RepsRate);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(kj: f64) -> Sample {
        Sample {
            output: Some(kj),
            ..Sample::default()
        }
    }

    #[test]
    fn output_may_grow_at_the_bounded_rate_over_the_window() {
        let bounds = Bounds::default();
        let start = Baseline::start(0);
        // Within the first 10 s window, 2.5 kJ/s allows 25 kJ.
        assert_eq!(check(&bounds, &start, &output(25.0), 1_000), Ok(()));
        assert_eq!(
            check(&bounds, &start, &output(25.5), 1_000),
            Err(Implausible::OutputRate)
        );
        // Sixty seconds in, 150 kJ.
        assert_eq!(check(&bounds, &start, &output(150.0), 60_000), Ok(()));
        assert_eq!(
            check(&bounds, &start, &output(100_000.0), 60_000),
            Err(Implausible::OutputRate),
            "the jump that topped the board"
        );
    }

    #[test]
    fn cumulative_values_never_go_down() {
        let bounds = Bounds::default();
        let base = Baseline {
            output: 50.0,
            reps: 40,
            at: 0,
        };
        assert_eq!(
            check(&bounds, &base, &output(49.0), 1_000),
            Err(Implausible::OutputDecreased)
        );
        let fewer = Sample {
            reps: Some(39),
            ..Sample::default()
        };
        assert_eq!(
            check(&bounds, &base, &fewer, 1_000),
            Err(Implausible::RepsDecreased)
        );
    }

    #[test]
    fn reps_per_minute_and_heart_rate_are_bounded() {
        let bounds = Bounds::default();
        let start = Baseline::start(0);
        let reps = |n| Sample {
            reps: Some(n),
            ..Sample::default()
        };
        // 120 a minute over the 10 s window: 20.
        assert_eq!(check(&bounds, &start, &reps(20), 0), Ok(()));
        assert_eq!(
            check(&bounds, &start, &reps(21), 0),
            Err(Implausible::RepsRate)
        );
        let hr = |bpm| Sample {
            heart_rate: Some(bpm),
            ..Sample::default()
        };
        assert_eq!(
            check(&bounds, &start, &hr(231), 0),
            Err(Implausible::HeartRate)
        );
        assert_eq!(
            check(&bounds, &start, &hr(29), 0),
            Err(Implausible::HeartRate)
        );
        assert_eq!(check(&bounds, &start, &hr(150), 0), Ok(()));
    }

    #[test]
    fn the_baseline_moves_only_with_the_values_it_judges() {
        let base = Baseline::start(0);
        let hr_only = Sample {
            heart_rate: Some(120),
            ..Sample::default()
        };
        assert_eq!(base.after(&hr_only, 5_000), base);
        let moved = base.after(&output(3.0), 5_000);
        assert_eq!((moved.output, moved.reps, moved.at), (3.0, 0, 5_000));
    }
}
