//! Whether each push provider is up, judged from the answers to real pushes (see
//! `dependencies`): a provider whose last [`DOWN_AFTER`] attempts all went unanswered or
//! answered "try later" (a network error or timeout, 429, 5xx) is down; any other answer
//! (sent, a dead token, a refusal of the request) shows it up.
//!
//! Real pushes, not a connection made only to probe: APNs treats connections opened and
//! closed over and over as an attack and asks for long-lived ones, and a TLS handshake
//! that succeeds says nothing of a provider answering 503 behind its load balancer. The
//! cost is that a provider nobody pushed to is reported as up, with no check time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fitpulse_actors::domain::UnixMillis;

use super::provider::SendOutcome;

/// Attempts in a row without a proper answer before a provider counts as down: one
/// timeout is noise, three in a row are not.
pub const DOWN_AFTER: u32 = 3;

/// What the last pushes say about one provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderStatus {
    pub up: bool,
    /// When the last push was answered or gave up; `None` before the first.
    pub checked_at: Option<UnixMillis>,
    /// Why the last failing attempt failed, while the provider fails.
    pub error: Option<String>,
}

#[derive(Default)]
struct Record {
    failing: u32,
    at: Option<UnixMillis>,
    error: Option<String>,
}

/// The providers' records; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct ProviderHealth {
    records: Arc<Mutex<HashMap<&'static str, Record>>>,
}

impl ProviderHealth {
    /// Notes how one push of `provider` ended at `at`.
    pub fn record(&self, provider: &'static str, outcome: &SendOutcome, at: UnixMillis) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let record = records.entry(provider).or_default();
        record.at = Some(at);
        match outcome {
            SendOutcome::Retry { reason, .. } => {
                record.failing = record.failing.saturating_add(1);
                record.error = Some(reason.clone());
            }
            _ => {
                record.failing = 0;
                record.error = None;
            }
        }
    }

    /// What the last pushes of `provider` say.
    pub fn status(&self, provider: &str) -> ProviderStatus {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        match records.get(provider) {
            Some(record) => ProviderStatus {
                up: record.failing < DOWN_AFTER,
                checked_at: record.at,
                error: record.error.clone(),
            },
            None => ProviderStatus {
                up: true,
                checked_at: None,
                error: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry() -> SendOutcome {
        SendOutcome::Retry {
            reason: "503 Service Unavailable".into(),
            after: None,
        }
    }

    #[test]
    fn a_provider_never_pushed_to_is_up_and_unchecked() {
        let health = ProviderHealth::default();
        assert_eq!(
            health.status("apns"),
            ProviderStatus {
                up: true,
                checked_at: None,
                error: None
            }
        );
    }

    #[test]
    fn failures_in_a_row_take_a_provider_down_and_one_answer_brings_it_back() {
        let health = ProviderHealth::default();
        for at in 1..DOWN_AFTER {
            health.record("apns", &retry(), i64::from(at));
            assert!(health.status("apns").up, "{at} failures are noise");
        }
        health.record("apns", &retry(), 10);
        let down = health.status("apns");
        assert!(!down.up);
        assert_eq!(down.checked_at, Some(10));
        assert_eq!(down.error.as_deref(), Some("503 Service Unavailable"));
        assert!(health.status("fcm").up, "providers are judged apart");

        health.record(
            "apns",
            &SendOutcome::InvalidToken {
                reason: "Unregistered".into(),
            },
            11,
        );
        let back = health.status("apns");
        assert!(back.up && back.error.is_none());
        assert_eq!(back.checked_at, Some(11));
    }

    #[test]
    fn a_refused_request_is_an_answer_not_an_outage() {
        let health = ProviderHealth::default();
        for at in 0..5 {
            health.record(
                "fcm",
                &SendOutcome::Failed {
                    reason: "400 INVALID_ARGUMENT".into(),
                },
                at,
            );
        }
        assert!(health.status("fcm").up);
    }
}
