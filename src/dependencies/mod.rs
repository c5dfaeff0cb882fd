//! The services this node depends on and whether each answers, so "a third party is down"
//! shows within seconds: `fitpulse_dependency_up{dependency}` ([`gauge`]) and the
//! `dependencies` details of `/readyz`.
//!
//! [`probe`] checks every configured dependency each `ops.dependency_probe_seconds`, each
//! check bounded in time: the store answers a ping, the bus is connected, the SMTP relay
//! greets ([`smtp`]), and a push provider answered its last real pushes
//! (`push::health`). Only what is configured is watched: SMTP when `email.smtp.host` is
//! set, APNs and FCM when their credentials are. Until its first check a dependency
//! counts as up.
//!
//! Readiness does not follow these: it still asks only whether the node drains, the store
//! answers and the bus is connected, since a push provider or a mail relay being down is
//! no reason to take the node out of the load balancer.

pub mod gauge;
pub mod probe;
pub mod smtp;

use std::collections::BTreeMap;
use std::sync::RwLock;

use fitpulse_actors::domain::UnixMillis;

pub use gauge::DependencyGauge;
pub use probe::Prober;

/// One service the node depends on; the `dependency` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dependency {
    Store,
    Bus,
    Smtp,
    Apns,
    Fcm,
}

impl Dependency {
    pub fn as_str(self) -> &'static str {
        match self {
            Dependency::Store => "store",
            Dependency::Bus => "bus",
            Dependency::Smtp => "smtp",
            Dependency::Apns => "apns",
            Dependency::Fcm => "fcm",
        }
    }
}

/// The last word on one dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub up: bool,
    /// When it was last checked (business time); `None` before its first check.
    pub checked_at: Option<UnixMillis>,
    /// Why the last check failed, while it fails.
    pub error: Option<String>,
}

impl Check {
    /// What is known before the first check.
    fn unchecked() -> Check {
        Check {
            up: true,
            checked_at: None,
            error: None,
        }
    }
}

/// The configured dependencies and their last checks, shared by the probe (which writes)
/// and `/readyz` (which reads).
pub struct Dependencies {
    gauge: DependencyGauge,
    checks: RwLock<BTreeMap<Dependency, Check>>,
}

impl Dependencies {
    /// Watches `configured`, each up until checked.
    pub fn new(gauge: DependencyGauge, configured: &[Dependency]) -> Dependencies {
        let checks = configured
            .iter()
            .map(|dependency| {
                gauge.set(*dependency, true);
                (*dependency, Check::unchecked())
            })
            .collect();
        Dependencies {
            gauge,
            checks: RwLock::new(checks),
        }
    }

    /// Records a check of a configured dependency.
    pub fn record(&self, dependency: Dependency, check: Check) {
        let mut checks = self.checks.write().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = checks.get_mut(&dependency) {
            if entry.up && !check.up {
                tracing::warn!(
                    dependency = dependency.as_str(),
                    error = check.error.as_deref().unwrap_or(""),
                    "a dependency is down"
                );
            } else if !entry.up && check.up {
                tracing::info!(dependency = dependency.as_str(), "a dependency is up again");
            }
            self.gauge.set(dependency, check.up);
            *entry = check;
        }
    }

    /// Every configured dependency and its last check, in label order.
    pub fn snapshot(&self) -> Vec<(Dependency, Check)> {
        let checks = self.checks.read().unwrap_or_else(|e| e.into_inner());
        checks.iter().map(|(d, c)| (*d, c.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_dependencies_are_reported_and_exported() {
        let metrics = crate::metrics::Metrics::new();
        let deps = Dependencies::new(
            metrics.dependencies.clone(),
            &[Dependency::Store, Dependency::Smtp],
        );
        deps.record(
            Dependency::Smtp,
            Check {
                up: false,
                checked_at: Some(5),
                error: Some("cannot connect".into()),
            },
        );
        deps.record(
            Dependency::Apns,
            Check {
                up: false,
                checked_at: Some(5),
                error: None,
            },
        );
        let text = metrics.render();
        assert!(
            text.contains(r#"fitpulse_dependency_up{dependency="store"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"fitpulse_dependency_up{dependency="smtp"} 0"#));
        assert!(
            !text.contains(r#"dependency="apns""#),
            "not configured, not exported"
        );
        let listed: Vec<Dependency> = deps.snapshot().into_iter().map(|(d, _)| d).collect();
        assert_eq!(listed, [Dependency::Store, Dependency::Smtp]);
    }
}
