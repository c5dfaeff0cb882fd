//! Business time: when classes open, reservations lapse, messages start and events happen.
//! The server reads it from a [`Clock`]: the wall clock in production, a [`ManualClock`] in
//! tests, which moves only when the test says so, so a test of a timer neither waits in
//! real time nor races it. Monotonic `Instant`s stay where only a duration matters
//! (latencies, rate limits, heartbeats).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::{UnixMillis, now_millis};

/// A future that resolves once a clock reached a moment.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> UnixMillis;

    /// Resolves once [`Clock::now`] has reached `at` (at once when it already has).
    fn sleep_until(&self, at: UnixMillis) -> Sleep;
}

/// The clock every part of one node shares.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl SystemClock {
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> UnixMillis {
        now_millis()
    }

    fn sleep_until(&self, at: UnixMillis) -> Sleep {
        let wait = Duration::from_millis(u64::try_from(at - now_millis()).unwrap_or(0));
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that stands still until advanced; sleepers wake when it passes their moment.
#[derive(Debug)]
pub struct ManualClock {
    now: tokio::sync::watch::Sender<UnixMillis>,
}

impl ManualClock {
    pub fn starting_at(at: UnixMillis) -> Arc<ManualClock> {
        Arc::new(ManualClock {
            now: tokio::sync::watch::Sender::new(at),
        })
    }

    /// Moves the clock forward by `by`, waking every sleeper whose moment has come.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.now.send_modify(|now| *now = now.saturating_add(by));
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixMillis {
        *self.now.borrow()
    }

    fn sleep_until(&self, at: UnixMillis) -> Sleep {
        let mut moved = self.now.subscribe();
        Box::pin(async move {
            // The clock gone: nothing will ever be due again.
            if moved.wait_for(|now| *now >= at).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_sleepers_only_once_it_passes_their_moment() {
        let clock = ManualClock::starting_at(1_000);
        let (early, late) = (clock.sleep_until(1_500), clock.sleep_until(3_000));
        let (early, late) = (tokio::spawn(early), tokio::spawn(late));
        clock.advance(Duration::from_millis(600));
        early.await.expect("the early sleeper wakes");
        assert_eq!(clock.now(), 1_600);
        assert!(!late.is_finished(), "the late one sleeps on");
        clock.advance(Duration::from_secs(2));
        late.await.expect("the late sleeper wakes");
    }

    #[tokio::test]
    async fn a_moment_already_past_is_no_wait() {
        let clock = ManualClock::starting_at(5_000);
        clock.sleep_until(4_000).await;
        SystemClock.sleep_until(now_millis() - 1).await;
    }
}
