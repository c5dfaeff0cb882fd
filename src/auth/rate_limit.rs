//! Rate limits on the authentication routes: attempts per client address and per account,
//! each a keyed GCRA limiter (governor). A refusal carries how long to wait, for `Retry-After`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// Checks between sweeps of keys whose limits have fully recovered.
const SWEEP_EVERY: u64 = 4096;

pub struct LoginLimiter {
    per_ip: Keyed<IpAddr>,
    per_account: Keyed<String>,
    checks: AtomicU64,
}

/// Refused: try again after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for the header, at least one.
    pub fn seconds(&self) -> u64 {
        self.0.as_secs_f64().ceil().max(1.0) as u64
    }
}

impl LoginLimiter {
    pub fn new(per_ip_per_minute: u32, per_account_per_minute: u32) -> Self {
        // Settings validation keeps both above zero.
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        LoginLimiter {
            per_ip: RateLimiter::keyed(quota(per_ip_per_minute)),
            per_account: RateLimiter::keyed(quota(per_account_per_minute)),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts an attempt from `ip` (and against `account`, when known).
    pub fn check(&self, ip: IpAddr, account: Option<&str>) -> Result<(), RetryAfter> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.per_ip.retain_recent();
            self.per_account.retain_recent();
        }
        let clock = DefaultClock::default();
        let refused =
            |not_until: governor::NotUntil<_>| RetryAfter(not_until.wait_time_from(clock.now()));
        self.per_ip.check_key(&ip).map_err(refused)?;
        if let Some(account) = account {
            self.per_account
                .check_key(&account.to_lowercase())
                .map_err(refused)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_per_address_refuses_with_a_wait_and_spares_other_addresses() {
        let limiter = LoginLimiter::new(3, 100);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        for _ in 0..3 {
            assert!(limiter.check(a, None).is_ok());
        }
        let refused = limiter.check(a, None).unwrap_err();
        assert!(
            refused.seconds() >= 1 && refused.seconds() <= 60,
            "{refused:?}"
        );
        assert!(limiter.check(b, None).is_ok());
    }

    #[test]
    fn the_limit_per_account_holds_across_addresses_and_ignores_case() {
        let limiter = LoginLimiter::new(100, 2);
        let ips: Vec<IpAddr> = (1..=3)
            .map(|i| format!("127.0.1.{i}").parse().unwrap())
            .collect();
        assert!(limiter.check(ips[0], Some("ada@example.com")).is_ok());
        assert!(limiter.check(ips[1], Some("ADA@example.com")).is_ok());
        assert!(limiter.check(ips[2], Some("ada@example.com")).is_err());
        assert!(limiter.check(ips[2], Some("grace@example.com")).is_ok());
    }
}
