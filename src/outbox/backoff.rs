//! Retry delays: exponential from a base, capped, with jitter so items that failed together
//! (an SMTP server that was down) do not all come back in the same instant.

use rand::Rng;

/// Exponential backoff with "equal jitter": the delay after the n-th failed attempt lies
/// between half and all of `min(max, base * 2^(n-1))`, so it never collapses to zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base_ms: u64,
    max_ms: u64,
}

impl Backoff {
    /// `base_ms` is the ceiling after the first failure; `max_ms` caps every ceiling.
    pub fn new(base_ms: u64, max_ms: u64) -> Backoff {
        Backoff {
            base_ms: base_ms.max(1),
            max_ms: max_ms.max(base_ms.max(1)),
        }
    }

    /// The largest delay after `failures` failed attempts (the first failure is 1).
    pub fn ceiling_ms(&self, failures: u32) -> u64 {
        let doublings = failures.saturating_sub(1).min(63);
        self.base_ms
            .checked_mul(1u64 << doublings)
            .map_or(self.max_ms, |ms| ms.min(self.max_ms))
    }

    /// The delay after `failures` failed attempts for a jitter draw `unit` in `[0, 1]`.
    pub fn delay_ms_at(&self, failures: u32, unit: f64) -> u64 {
        let ceiling = self.ceiling_ms(failures);
        let half = ceiling / 2;
        half + ((ceiling - half) as f64 * unit.clamp(0.0, 1.0)).round() as u64
    }

    /// The delay after `failures` failed attempts, with a random jitter.
    pub fn delay_ms(&self, failures: u32) -> u64 {
        self.delay_ms_at(failures, rand::thread_rng().r#gen::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_per_failure_from_the_base() {
        let backoff = Backoff::new(1_000, 300_000);
        let ceilings: Vec<u64> = (1..=6).map(|n| backoff.ceiling_ms(n)).collect();
        assert_eq!(ceilings, [1_000, 2_000, 4_000, 8_000, 16_000, 32_000]);
    }

    #[test]
    fn the_ceiling_stops_at_the_cap_and_never_overflows() {
        let backoff = Backoff::new(1_000, 300_000);
        assert_eq!(backoff.ceiling_ms(10), 300_000);
        assert_eq!(backoff.ceiling_ms(64), 300_000);
        assert_eq!(backoff.ceiling_ms(u32::MAX), 300_000);
    }

    #[test]
    fn jitter_keeps_the_delay_between_half_and_all_of_the_ceiling() {
        let backoff = Backoff::new(1_000, 300_000);
        assert_eq!(backoff.delay_ms_at(3, 0.0), 2_000);
        assert_eq!(backoff.delay_ms_at(3, 1.0), 4_000);
        assert_eq!(backoff.delay_ms_at(3, 0.5), 3_000);
        for _ in 0..1_000 {
            let delay = backoff.delay_ms(3);
            assert!((2_000..=4_000).contains(&delay), "{delay}");
        }
    }

    #[test]
    fn random_delays_are_spread_not_identical() {
        let backoff = Backoff::new(1_000, 300_000);
        let distinct: std::collections::HashSet<u64> =
            (0..100).map(|_| backoff.delay_ms(5)).collect();
        assert!(distinct.len() > 10, "{distinct:?}");
    }

    #[test]
    fn a_zero_base_still_waits_a_little_and_a_cap_below_the_base_is_raised() {
        assert_eq!(Backoff::new(0, 0).ceiling_ms(1), 1);
        assert_eq!(Backoff::new(500, 100).ceiling_ms(1), 500);
    }

    #[test]
    fn the_zeroth_failure_is_treated_as_the_first() {
        let backoff = Backoff::new(1_000, 300_000);
        assert_eq!(backoff.ceiling_ms(0), backoff.ceiling_ms(1));
    }
}
