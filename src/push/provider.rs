//! What a push provider (APNs, FCM) is to the rest of the server: it takes one rendered
//! notification for one device token and answers how that went, in the terms the outbox
//! acts on (sent, the token is dead, try again later, failed for good).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use fitpulse_actors::domain::UnixMillis;

/// How urgent a push is: `High` wakes the device now (APNs priority 10, FCM `HIGH`),
/// `Normal` may wait for a convenient time (APNs 5, FCM `NORMAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    High,
    Normal,
}

/// One notification as it goes to one device, already in the device's language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushMessage {
    pub title: String,
    pub body: String,
    /// Custom keys for the app (`kind`, ids, a deep link), all strings (FCM's rule).
    pub data: BTreeMap<String, String>,
    /// A newer push with the same id replaces the older one on the device (APNs
    /// `apns-collapse-id`, at most 64 bytes; FCM `collapse_key` / `tag`).
    pub collapse_id: Option<String>,
    /// After this instant the provider should not deliver it any more (APNs
    /// `apns-expiration`, FCM `ttl`); `None` delivers once or not at all.
    pub expires_at: Option<UnixMillis>,
    pub priority: Priority,
}

/// What a provider answered to one push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The provider accepted it.
    Sent,
    /// The token is no longer valid (APNs 410 / `BadDeviceToken` / `Unregistered`, FCM
    /// `UNREGISTERED` / `INVALID_ARGUMENT` about the token): the device is removed.
    InvalidToken { reason: String },
    /// Worth another attempt (429, 5xx, a network error or timeout), after `after` when
    /// the provider said so (`Retry-After`).
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// No attempt can succeed (a malformed request, bad credentials, a payload too big).
    Failed { reason: String },
}

impl SendOutcome {
    /// The `result` label of `fitpulse_push_sent_total`.
    pub fn label(&self) -> &'static str {
        match self {
            SendOutcome::Sent => "sent",
            SendOutcome::InvalidToken { .. } => "invalid_token",
            SendOutcome::Retry { .. } => "retry",
            SendOutcome::Failed { .. } => "failed",
        }
    }
}

/// A push provider for one platform.
#[async_trait]
pub trait PushProvider: Send + Sync {
    /// `apns` or `fcm`, the `provider` label of the metrics.
    fn name(&self) -> &'static str;
    /// Sends `message` to the device with `token`.
    async fn send(&self, token: &str, message: &PushMessage) -> SendOutcome;
}
