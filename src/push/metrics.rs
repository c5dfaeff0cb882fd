//! The push metrics: what each provider was asked and answered, how long it took, and
//! which devices its answers removed. Every answer also goes to the providers' health
//! (`health`), which the dependency probe reads.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use fitpulse_actors::domain::UnixMillis;

use super::health::ProviderHealth;
use super::provider::SendOutcome;

/// The `provider` labels.
pub const PROVIDERS: [&str; 2] = ["apns", "fcm"];
/// The `result` labels of `fitpulse_push_sent_total`: delivered to the provider, refused
/// for a dead token, worth a retry (429, 5xx, a network error), or failed for good.
pub const RESULTS: [&str; 4] = ["sent", "invalid_token", "retry", "failed"];
/// The `reason` labels of removed devices: the providers' words for a dead token (anything
/// else is `other`, so a provider cannot grow the label set).
pub const REMOVAL_REASONS: [&str; 5] = [
    "Unregistered",
    "BadDeviceToken",
    "UNREGISTERED",
    "INVALID_ARGUMENT",
    "other",
];
/// The `reason` labels of notifications not pushed.
pub const SKIP_REASONS: [&str; 8] = [
    "stale",
    "category_off",
    "connected",
    "no_device",
    "quiet_hours_stale",
    "daily_cap",
    "no_provider",
    "other",
];
/// Latency buckets of a provider request: from a millisecond to ten seconds.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone)]
pub struct PushMetrics {
    sent_total: IntCounterVec,
    latency_seconds: HistogramVec,
    devices_removed_total: IntCounterVec,
    skipped_total: IntCounterVec,
    health: ProviderHealth,
}

impl PushMetrics {
    pub fn new(registry: &Registry) -> PushMetrics {
        let sent_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_push_sent_total",
                "Push requests to a provider, by provider and result",
            ),
            &["provider", "result"],
        )
        .expect("valid metric definition");
        let latency_seconds = HistogramVec::new(
            HistogramOpts::new(
                "fitpulse_push_latency_seconds",
                "Time from sending a push request to the provider's answer",
            )
            .buckets(BUCKETS.to_vec()),
            &["provider"],
        )
        .expect("valid metric definition");
        let devices_removed_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_push_devices_removed_total",
                "Devices removed because their provider said the token is no longer valid",
            ),
            &["provider", "reason"],
        )
        .expect("valid metric definition");
        let skipped_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_push_skipped_total",
                "Notifications not pushed, by reason (connected, category off, quiet hours, stale, capped)",
            ),
            &["reason"],
        )
        .expect("valid metric definition");
        for provider in PROVIDERS {
            for result in RESULTS {
                sent_total.with_label_values(&[provider, result]);
            }
            latency_seconds.with_label_values(&[provider]);
            for reason in REMOVAL_REASONS {
                devices_removed_total.with_label_values(&[provider, reason]);
            }
        }
        for reason in SKIP_REASONS {
            skipped_total.with_label_values(&[reason]);
        }
        for collector in [
            Box::new(sent_total.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency_seconds.clone()),
            Box::new(devices_removed_total.clone()),
            Box::new(skipped_total.clone()),
        ] {
            registry
                .register(collector)
                .expect("push metrics are registered once");
        }
        PushMetrics {
            sent_total,
            latency_seconds,
            devices_removed_total,
            skipped_total,
            health: ProviderHealth::default(),
        }
    }

    /// What the answers so far say about each provider.
    pub fn health(&self) -> &ProviderHealth {
        &self.health
    }

    /// Runs one push of `provider`, counts and times its answer, notes it in the
    /// provider's health as of `now` (the clock's time when it ended), and logs a failure.
    pub async fn measured(
        &self,
        provider: &'static str,
        attempt: impl std::future::Future<Output = SendOutcome>,
        now: impl FnOnce() -> UnixMillis,
    ) -> SendOutcome {
        let started = std::time::Instant::now();
        let outcome = attempt.await;
        self.sent(provider, outcome.label(), started.elapsed().as_secs_f64());
        self.health.record(provider, &outcome, now());
        match &outcome {
            SendOutcome::Failed { reason } => tracing::warn!(provider, %reason, "push failed"),
            outcome => tracing::debug!(provider, result = outcome.label(), "push"),
        }
        outcome
    }

    /// Counts one answer of `provider` (`result` one of [`RESULTS`]) that took `seconds`.
    pub fn sent(&self, provider: &'static str, result: &'static str, seconds: f64) {
        self.sent_total.with_label_values(&[provider, result]).inc();
        self.latency_seconds
            .with_label_values(&[provider])
            .observe(seconds);
    }

    /// Counts a device removed for a dead token; `reason` is the provider's word
    /// (`Unregistered`, `BadDeviceToken`, `UNREGISTERED`, `INVALID_ARGUMENT`).
    pub fn device_removed(&self, provider: &str, reason: &str) {
        let reason = bounded(&REMOVAL_REASONS, reason);
        self.devices_removed_total
            .with_label_values(&[provider, reason])
            .inc();
    }

    /// Counts a notification not pushed to a user, and why.
    pub fn skipped(&self, reason: &str) {
        let reason = bounded(&SKIP_REASONS, reason);
        self.skipped_total.with_label_values(&[reason]).inc();
    }
}

/// `value` when it is one of `known` (which ends in `other`), else `other`: a label set a
/// provider's answers cannot grow.
fn bounded(known: &[&'static str], value: &str) -> &'static str {
    known
        .iter()
        .copied()
        .find(|k| *k == value)
        .unwrap_or("other")
}
