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
}

/// Whether a request was due while the rate was still climbing or once it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Ramp,
    Hold,
}

/// Arrival rate over time: linear from `from` to `to` req/s over `ramp` seconds, then `to`
/// for `hold` seconds. A steady run is one without a ramp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    from: f64,
    to: f64,
    ramp: f64,
    hold: f64,
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
        let length = ramp + hold;
        if length < Duration::from_secs(1) || length > MAX_LENGTH {
            return Err(ProfileError::Length);
        }
        Ok(Profile {
            from: f64::from(from),
            to: f64::from(rate),
            ramp: ramp.as_secs_f64(),
            hold: hold.as_secs_f64(),
        })
    }

    pub fn has_ramp(&self) -> bool {
        self.ramp > 0.0
    }

    pub fn hold_seconds(&self) -> f64 {
        self.hold
    }

    pub fn length(&self) -> Duration {
        Duration::from_secs_f64(self.ramp + self.hold)
    }

    /// Requests due during the ramp (the area under the rate line).
    fn ramp_requests(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.ramp
    }

    /// Requests in the whole run.
    pub fn total(&self) -> u64 {
        // The small addend keeps `rate * seconds` from losing its last request to rounding.
        (self.ramp_requests() + self.to * self.hold + 1e-6).floor() as u64
    }

    /// When request `i` is due, from the start of the run: the time at which the
    /// integral of the rate reaches `i`.
    pub fn due(&self, i: u64) -> Duration {
        let n = i as f64;
        let ramp_requests = self.ramp_requests();
        let seconds = if n < ramp_requests {
            // Solves from*t + a*t^2 = n with a = (to - from) / (2 * ramp), in the form that
            // stays exact when `from` or `a` is 0.
            let a = (self.to - self.from) / (2.0 * self.ramp);
            let root = self.from + (self.from * self.from + 4.0 * a * n).sqrt();
            if root > 0.0 { 2.0 * n / root } else { 0.0 }
        } else {
            self.ramp + (n - ramp_requests) / self.to
        };
        Duration::from_secs_f64(seconds.max(0.0))
    }

    pub fn phase(&self, due: Duration) -> Phase {
        if due.as_secs_f64() < self.ramp {
            Phase::Ramp
        } else {
            Phase::Hold
        }
    }

    /// The arrival rate `t` seconds in.
    pub fn rate_at(&self, t: f64) -> f64 {
        if t < self.ramp {
            self.from + (self.to - self.from) * t / self.ramp
        } else {
            self.to
        }
    }
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
    }
}
