//! Arrival rate over time for the open-loop scenarios: when each request is due.

use std::time::Duration;

/// The longest run a profile may describe.
const MAX_LENGTH: Duration = Duration::from_secs(3600);
/// A spike reaches its rate in under a minute: that is the launch-day shape.
const MAX_RAMP: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("--rate must be at least 1 request per second")]
    NoRate,
    #[error("--from must not be above --rate")]
    FromAboveRate,
    #[error("--ramp must be under a minute")]
    LongRamp,
    #[error("a run lasts from 1 s to an hour")]
    Length,
    #[error("a run needs at least one arrival")]
    NoArrivals,
    #[error("--front-load must be from 1 (even) to {MAX_FRONT_LOAD}")]
    FrontLoad,
}

/// The steepest front-loaded curve: the rate starts at this many times the mean.
pub const MAX_FRONT_LOAD: u32 = 10;

/// Whether a request was due while the rate was still climbing or once it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Ramp,
    Hold,
}

/// Arrival rate over time: when each request of a run is due.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    shape: Shape,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// Linear from `from` to `to` req/s over `ramp` seconds, then `to` for `hold` seconds.
    /// A steady run is one without a ramp.
    Ramp {
        from: f64,
        to: f64,
        ramp: f64,
        hold: f64,
    },
    /// `count` arrivals within `window` seconds. The rate falls as `(1 - t/window)^(k-1)`
    /// from `k` times the mean to 0 at the end of the window: `k = 1` spreads them evenly,
    /// a larger `k` crowds them at the start, as buyers crowd the start of a sale.
    Spread { count: f64, window: f64, k: f64 },
}

impl Profile {
    pub fn steady(rate: u32, duration: Duration) -> Result<Profile, ProfileError> {
        Profile::spike(rate, rate, Duration::ZERO, duration)
    }

    pub fn spike(
        from: u32,
        rate: u32,
        ramp: Duration,
        hold: Duration,
    ) -> Result<Profile, ProfileError> {
        if rate == 0 {
            return Err(ProfileError::NoRate);
        }
        if from > rate {
            return Err(ProfileError::FromAboveRate);
        }
        if ramp >= MAX_RAMP {
            return Err(ProfileError::LongRamp);
        }
        check_length(ramp + hold)?;
        Ok(Profile {
            shape: Shape::Ramp {
                from: f64::from(from),
                to: f64::from(rate),
                ramp: ramp.as_secs_f64(),
                hold: hold.as_secs_f64(),
            },
        })
    }

    /// Exactly `count` arrivals within `window`, evenly (`front_load` 1) or crowded at the
    /// start (the rate starts at `front_load` times the mean and falls to 0).
    pub fn spread(count: u64, window: Duration, front_load: u32) -> Result<Profile, ProfileError> {
        if count == 0 {
            return Err(ProfileError::NoArrivals);
        }
        if !(1..=MAX_FRONT_LOAD).contains(&front_load) {
            return Err(ProfileError::FrontLoad);
        }
        check_length(window)?;
        Ok(Profile {
            shape: Shape::Spread {
                count: count as f64,
                window: window.as_secs_f64(),
                k: f64::from(front_load),
            },
        })
    }

    pub fn has_ramp(&self) -> bool {
        matches!(self.shape, Shape::Ramp { ramp, .. } if ramp > 0.0)
    }

    /// How long the rate holds after the ramp (a spread run is all hold).
    pub fn hold_seconds(&self) -> f64 {
        match self.shape {
            Shape::Ramp { hold, .. } => hold,
            Shape::Spread { window, .. } => window,
        }
    }

    pub fn length(&self) -> Duration {
        match self.shape {
            Shape::Ramp { ramp, hold, .. } => Duration::from_secs_f64(ramp + hold),
            Shape::Spread { window, .. } => Duration::from_secs_f64(window),
        }
    }

    /// Requests in the whole run.
    pub fn total(&self) -> u64 {
        match self.shape {
            Shape::Ramp {
                from,
                to,
                ramp,
                hold,
            } => {
                // The small addend keeps `rate * seconds` from losing its last request to
                // rounding.
                (ramp_requests(from, to, ramp) + to * hold + 1e-6).floor() as u64
            }
            Shape::Spread { count, .. } => count as u64,
        }
    }

    /// When request `i` is due, from the start of the run: the time at which the
    /// integral of the rate reaches `i`.
    pub fn due(&self, i: u64) -> Duration {
        let n = i as f64;
        let seconds = match self.shape {
            Shape::Ramp { from, to, ramp, .. } => {
                let ramp_requests = ramp_requests(from, to, ramp);
                if n < ramp_requests {
                    // Solves from*t + a*t^2 = n with a = (to - from) / (2 * ramp), in the
                    // form that stays exact when `from` or `a` is 0.
                    let a = (to - from) / (2.0 * ramp);
                    let root = from + (from * from + 4.0 * a * n).sqrt();
                    if root > 0.0 { 2.0 * n / root } else { 0.0 }
                } else {
                    ramp + (n - ramp_requests) / to
                }
            }
            // The integral of the rate is count * (1 - (1 - t/window)^k).
            Shape::Spread { count, window, k } => {
                window * (1.0 - (1.0 - (n / count).min(1.0)).powf(1.0 / k))
            }
        };
        Duration::from_secs_f64(seconds.max(0.0))
    }

    pub fn phase(&self, due: Duration) -> Phase {
        match self.shape {
            Shape::Ramp { ramp, .. } if due.as_secs_f64() < ramp => Phase::Ramp,
            _ => Phase::Hold,
        }
    }

    /// The arrival rate `t` seconds in.
    pub fn rate_at(&self, t: f64) -> f64 {
        match self.shape {
            Shape::Ramp { from, to, ramp, .. } if t < ramp => from + (to - from) * t / ramp,
            Shape::Ramp { to, .. } => to,
            Shape::Spread { count, window, k } if t < window => {
                k * count / window * (1.0 - t / window).powf(k - 1.0)
            }
            Shape::Spread { .. } => 0.0,
        }
    }
}

/// Requests due during a ramp (the area under the rate line).
fn ramp_requests(from: f64, to: f64, ramp: f64) -> f64 {
    (from + to) / 2.0 * ramp
}

fn check_length(length: Duration) -> Result<(), ProfileError> {
    if length < Duration::from_secs(1) || length > MAX_LENGTH {
        return Err(ProfileError::Length);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steady_profile_spaces_requests_evenly_and_counts_rate_times_duration() {
        let profile = Profile::steady(1000, Duration::from_secs(3)).expect("valid");
        assert_eq!(profile.total(), 3000);
        assert_eq!(profile.due(0), Duration::ZERO);
        assert_eq!(profile.due(500), Duration::from_millis(500));
        assert_eq!(profile.phase(profile.due(2999)), Phase::Hold);
        assert!(!profile.has_ramp());
    }

    #[test]
    fn a_spike_from_zero_fills_the_ramp_triangle_then_holds() {
        let profile = Profile::spike(0, 1000, Duration::from_secs(10), Duration::from_secs(5))
            .expect("valid");
        // 10 s ramping 0 -> 1000/s is 5,000 requests, then 5,000 more in the hold.
        assert_eq!(profile.total(), 10_000);
        assert_eq!(profile.due(0), Duration::ZERO);
        // Half the ramp's requests are due at 1/sqrt(2) of its length.
        let half = profile.due(2_500).as_secs_f64();
        assert!((half - 10.0 / 2f64.sqrt()).abs() < 1e-6, "{half}");
        assert_eq!(profile.phase(profile.due(4_999)), Phase::Ramp);
        assert_eq!(profile.phase(profile.due(5_000)), Phase::Hold);
        assert!((profile.due(7_500).as_secs_f64() - 12.5).abs() < 1e-9);
        // Due times never go backwards.
        let dues: Vec<Duration> = (0..10_000).map(|i| profile.due(i)).collect();
        assert!(dues.windows(2).all(|w| w[0] <= w[1]));
        assert!((profile.rate_at(5.0) - 500.0).abs() < 1e-9);
    }

    #[test]
    fn a_spike_from_a_base_rate_starts_at_that_rate() {
        let profile = Profile::spike(100, 300, Duration::from_secs(2), Duration::from_secs(1))
            .expect("valid");
        assert_eq!(profile.total(), 400 + 300);
        // At the start requests come at about 100/s.
        let first = profile.due(1).as_secs_f64();
        assert!((first - 0.01).abs() < 1e-4, "{first}");
    }

    #[test]
    fn profiles_outside_the_bounds_are_refused() {
        let s = Duration::from_secs;
        assert_eq!(Profile::steady(0, s(10)), Err(ProfileError::NoRate));
        assert_eq!(
            Profile::spike(0, 100, s(60), s(10)),
            Err(ProfileError::LongRamp)
        );
        assert_eq!(
            Profile::spike(200, 100, s(10), s(10)),
            Err(ProfileError::FromAboveRate)
        );
        assert_eq!(Profile::steady(10, s(0)), Err(ProfileError::Length));
        assert_eq!(Profile::steady(10, s(7200)), Err(ProfileError::Length));
        assert_eq!(Profile::spread(0, s(10), 1), Err(ProfileError::NoArrivals));
        assert_eq!(Profile::spread(10, s(10), 0), Err(ProfileError::FrontLoad));
        assert_eq!(Profile::spread(10, s(10), 11), Err(ProfileError::FrontLoad));
        assert_eq!(Profile::spread(10, s(0), 1), Err(ProfileError::Length));
    }

    #[test]
    fn an_even_spread_holds_exactly_count_arrivals_evenly_over_the_window() {
        // 10,000 in 60 s is not a whole rate per second; the count is still exact.
        let profile = Profile::spread(10_000, Duration::from_secs(60), 1).expect("valid");
        assert_eq!(profile.total(), 10_000);
        assert_eq!(profile.length(), Duration::from_secs(60));
        assert_eq!(profile.due(0), Duration::ZERO);
        assert!((profile.due(5_000).as_secs_f64() - 30.0).abs() < 1e-9);
        assert!(profile.due(9_999) < Duration::from_secs(60));
        assert!((profile.rate_at(10.0) - 10_000.0 / 60.0).abs() < 1e-9);
        assert!(!profile.has_ramp());
        assert_eq!(profile.phase(profile.due(9_999)), Phase::Hold);
    }

    #[test]
    fn a_front_loaded_spread_crowds_the_start_and_still_ends_within_the_window() {
        let profile = Profile::spread(10_000, Duration::from_secs(10), 2).expect("valid");
        assert_eq!(profile.total(), 10_000);
        // The rate falls linearly from twice the mean: a quarter of the buyers come in
        // the first 13.4% of the window, half in the first 29.3%.
        let quarter = profile.due(2_500).as_secs_f64();
        assert!(
            (quarter - 10.0 * (1.0 - 0.75f64.sqrt())).abs() < 1e-9,
            "{quarter}"
        );
        let half = profile.due(5_000).as_secs_f64();
        assert!((half - 10.0 * (1.0 - 0.5f64.sqrt())).abs() < 1e-9, "{half}");
        assert!((profile.rate_at(0.0) - 2_000.0).abs() < 1e-9);
        assert!(profile.rate_at(10.0).abs() < 1e-9);
        let dues: Vec<Duration> = (0..10_000).map(|i| profile.due(i)).collect();
        assert!(dues.windows(2).all(|w| w[0] <= w[1]));
        assert!(dues[9_999] < Duration::from_secs(10));
    }
}
