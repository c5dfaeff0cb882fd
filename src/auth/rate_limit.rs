//! Rate limits on the authentication routes: attempts per client address and per account,
//! each a keyed GCRA limiter (governor). A refusal carries how long to wait, for `Retry-After`.
//!
//! The account key is the canonical email the lookup uses ([`Email::parse`]: trimmed of any
//! Unicode space, lower-cased), so `" ada@x.io"`, `"ada@x.io\u{a0}"` and `"ADA@x.io"` share
//! one budget; input that is no email is keyed on its visible characters, lower-cased.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fitpulse_actors::domain::{Email, text};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

/// Checks between sweeps of keys whose limits have fully recovered.
const SWEEP_EVERY: u64 = 4096;

pub struct LoginLimiter {
    per_ip: Keyed<IpAddr>,
    per_account: Keyed<String>,
    /// Registrations per target email: a registration tells whether the email has an
    /// account (409), so probing emails is limited like guessing passwords.
    per_registration: Keyed<String>,
    /// Password-reset requests per target email: each one sends an email.
    per_reset: Keyed<String>,
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
            per_registration: RateLimiter::keyed(quota(per_account_per_minute)),
            per_reset: RateLimiter::keyed(Quota::per_hour(NonZeroU32::MIN)),
            checks: AtomicU64::new(0),
        }
    }

    /// Allows `per_hour` password-reset requests per email (one by default).
    pub fn with_resets_per_hour(mut self, per_hour: u32) -> Self {
        let per_hour = NonZeroU32::new(per_hour).unwrap_or(NonZeroU32::MIN);
        self.per_reset = RateLimiter::keyed(Quota::per_hour(per_hour));
        self
    }

    /// Counts a password-reset request from `ip` for `email`.
    pub fn check_reset(&self, ip: IpAddr, email: &str) -> Result<(), RetryAfter> {
        self.count(ip, Some((&self.per_reset, email)))
    }

    /// Counts an attempt from `ip` (and against `account`, when known).
    pub fn check(&self, ip: IpAddr, account: Option<&str>) -> Result<(), RetryAfter> {
        self.count(ip, account.map(|a| (&self.per_account, a)))
    }

    /// Counts a registration from `ip` for `email`.
    pub fn check_registration(&self, ip: IpAddr, email: &str) -> Result<(), RetryAfter> {
        self.count(ip, Some((&self.per_registration, email)))
    }

    fn count(&self, ip: IpAddr, keyed: Option<(&Keyed<String>, &str)>) -> Result<(), RetryAfter> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.per_ip.retain_recent();
            self.per_account.retain_recent();
            self.per_registration.retain_recent();
            self.per_reset.retain_recent();
        }
        // The limiter's own clock: making a new one probes the CPU on every call.
        let clock = self.per_ip.clock().clone();
        let refused =
            |not_until: governor::NotUntil<_>| RetryAfter(not_until.wait_time_from(clock.now()));
        self.per_ip.check_key(&ip).map_err(refused)?;
        if let Some((limiter, account)) = keyed {
            limiter.check_key(&account_key(account)).map_err(refused)?;
        }
        Ok(())
    }
}

/// The key an attempt against `raw` counts under: the email as the account lookup sees it.
pub fn account_key(raw: &str) -> String {
    match Email::parse(raw) {
        Ok(email) => email.as_str().to_owned(),
        Err(_) => raw
            .chars()
            .filter(|c| text::is_visible(*c))
            .collect::<String>()
            .to_lowercase(),
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

    #[test]
    fn padded_spellings_of_one_email_share_its_budget() {
        let limiter = LoginLimiter::new(100, 3);
        let ip: IpAddr = "127.0.2.1".parse().unwrap();
        for padded in [
            " ada@example.com",
            "ada@example.com\u{a0}",
            "\u{2003}ADA@example.com",
        ] {
            assert!(limiter.check(ip, Some(padded)).is_ok(), "{padded:?}");
        }
        assert!(limiter.check(ip, Some("ada@example.com")).is_err());
        assert_eq!(account_key("\u{200B}Not An Email"), "notanemail");
    }
}
