//! The probe task: every interval it checks each configured dependency at once, each
//! check bounded by [`PROBE_TIMEOUT`] (or the interval, when shorter), and records the
//! outcomes in [`Dependencies`].

use std::sync::{Arc, Weak};
use std::time::Duration;

use fitpulse_actors::ports::bus::Bus;
use fitpulse_actors::ports::clock::SharedClock;
use fitpulse_actors::ports::store::HealthCheck;

use super::{Check, Dependencies, Dependency, smtp};
use crate::push::health::ProviderHealth;

/// The longest one check may take: a dependency slower than this to answer a ping is as
/// good as down for the requests waiting on it.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How one dependency is checked.
pub enum Probe {
    /// The store answers a ping.
    Store(Arc<dyn HealthCheck>),
    /// The bus is connected (always, for the local bus).
    Bus(Arc<dyn Bus>),
    /// The SMTP relay greets with 220.
    Smtp { host: String, port: u16 },
    /// The provider answered its last pushes (`apns` or `fcm`).
    Push {
        provider: &'static str,
        health: ProviderHealth,
    },
}

impl Probe {
    async fn check(&self, clock: &SharedClock, timeout: Duration) -> Check {
        let outcome = match self {
            Probe::Push { provider, health } => {
                let status = health.status(provider);
                return Check {
                    up: status.up,
                    checked_at: status.checked_at,
                    error: status.error,
                };
            }
            Probe::Bus(bus) => {
                if bus.connected() {
                    Ok(())
                } else {
                    Err("disconnected".to_owned())
                }
            }
            Probe::Store(store) => {
                bounded(timeout, async {
                    store.ping().await.map_err(|e| e.to_string())
                })
                .await
            }
            Probe::Smtp { host, port } => {
                bounded(timeout, async {
                    smtp::greets(host, *port).await.map_err(|e| e.to_string())
                })
                .await
            }
        };
        Check {
            up: outcome.is_ok(),
            checked_at: Some(clock.now()),
            error: outcome.err(),
        }
    }
}

/// `check` with an answer within `timeout`, or a timeout error.
async fn bounded(
    timeout: Duration,
    check: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), String> {
    tokio::time::timeout(timeout, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} ms", timeout.as_millis())))
}

/// The running probe; it stops when this is dropped.
pub struct Prober {
    dependencies: Arc<Dependencies>,
    probes: Vec<(Dependency, Probe)>,
    clock: SharedClock,
    timeout: Duration,
}

impl Prober {
    /// Checks `probes` every `every`, the first round at once.
    pub fn start(
        dependencies: Arc<Dependencies>,
        probes: Vec<(Dependency, Probe)>,
        clock: SharedClock,
        every: Duration,
    ) -> Arc<Prober> {
        let prober = Arc::new(Prober {
            dependencies,
            probes,
            clock,
            timeout: PROBE_TIMEOUT.min(every),
        });
        let this: Weak<Prober> = Arc::downgrade(&prober);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(prober) = this.upgrade() else {
                    return;
                };
                prober.round().await;
            }
        });
        prober
    }

    /// Checks every dependency at once, so one slow answer delays no other.
    async fn round(&self) {
        let checks = self.probes.iter().map(|(dependency, probe)| async move {
            (*dependency, probe.check(&self.clock, self.timeout).await)
        });
        for (dependency, check) in futures_util::future::join_all(checks).await {
            self.dependencies.record(dependency, check);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fitpulse_actors::ports::clock::ManualClock;

    #[tokio::test]
    async fn an_smtp_relay_that_does_not_answer_in_time_is_down_with_the_reason() {
        // Accepts connections (the backlog) but never greets.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = silent.local_addr().expect("address").port();
        let clock: SharedClock = ManualClock::starting_at(1_000);
        let probe = Probe::Smtp {
            host: "127.0.0.1".into(),
            port,
        };
        let check = probe.check(&clock, Duration::from_millis(50)).await;
        assert!(!check.up);
        assert_eq!(check.checked_at, Some(1_000));
        assert_eq!(check.error.as_deref(), Some("no answer within 50 ms"));
    }

    #[tokio::test]
    async fn a_push_provider_is_judged_by_its_last_answers_not_by_the_probe_time() {
        let health = ProviderHealth::default();
        let clock: SharedClock = ManualClock::starting_at(9_000);
        let probe = Probe::Push {
            provider: "fcm",
            health: health.clone(),
        };
        let before = probe.check(&clock, PROBE_TIMEOUT).await;
        assert_eq!((before.up, before.checked_at), (true, None));
        for at in 0..3 {
            health.record(
                "fcm",
                &crate::push::SendOutcome::Retry {
                    reason: "connection refused".into(),
                    after: None,
                },
                100 + at,
            );
        }
        let after = probe.check(&clock, PROBE_TIMEOUT).await;
        assert_eq!((after.up, after.checked_at), (false, Some(102)));
    }
}
