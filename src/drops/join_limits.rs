//! How often one user and one client address may join waiting rooms: a keyed GCRA
//! budget (governor) for each, so a script hammering the join costs a bounded amount and
//! tells its owner when to come back. Joining again keeps one's place, so the limits cost
//! an honest buyer nothing.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fitpulse_actors::domain::UserId;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Checks between sweeps of keys whose budgets have fully recovered.
const SWEEP_EVERY: u64 = 4096;

pub struct JoinLimits {
    per_user: DefaultKeyedRateLimiter<UserId>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
}

impl JoinLimits {
    /// Budgets per minute (settings validation keeps both above zero).
    pub fn new(per_user_per_minute: u32, per_ip_per_minute: u32) -> JoinLimits {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        JoinLimits {
            per_user: RateLimiter::keyed(quota(per_user_per_minute)),
            per_ip: RateLimiter::keyed(quota(per_ip_per_minute)),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts a join by `user` from `ip`; `Err` is how long to wait.
    pub fn check(&self, user: UserId, ip: IpAddr) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.per_user.retain_recent();
            self.per_ip.retain_recent();
        }
        let clock = DefaultClock::default();
        let wait = |not_until: governor::NotUntil<_>| not_until.wait_time_from(clock.now());
        self.per_ip.check_key(&ip).map_err(wait)?;
        self.per_user.check_key(&user).map_err(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_and_an_address_each_have_a_budget() {
        let limits = JoinLimits::new(2, 3);
        let (a, b) = (UserId::random(), UserId::random());
        let (here, there): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        assert!(limits.check(a, here).is_ok());
        assert!(limits.check(a, here).is_ok());
        let wait = limits.check(a, there).expect_err("a's budget is spent");
        assert!(wait > Duration::ZERO);
        // b on the same address: the address has one join left, then none.
        assert!(limits.check(b, here).is_ok());
        assert!(
            limits.check(b, here).is_err(),
            "the address's budget is spent"
        );
        assert!(limits.check(b, there).is_ok(), "b from elsewhere still may");
    }
}
