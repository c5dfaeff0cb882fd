//! A verified store notification in provider-neutral form: what happened to which
//! subscription, when, and for whom if the store said. Webhook routes turn each provider's
//! body into one and queue it in the outbox; processing applies it (see `process`).

use fitpulse_actors::domain::{UnixMillis, UserId};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::products::Store;
use super::state::Event;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// `appstore`, `googleplay` or `payments`.
    pub provider: String,
    /// The provider's id of this notification, unique per provider.
    pub event_id: String,
    /// Our id of the subscription: the provider and its stable id
    /// (`appstore:<originalTransactionId>`).
    pub subscription_id: String,
    /// Our product id.
    pub product_id: String,
    /// The user, when the notification names one (App Store `appAccountToken`, the web
    /// provider's metadata); otherwise found through the purchase link.
    pub user: Option<UserId>,
    pub event: Event,
    /// When the provider says it happened.
    pub at: UnixMillis,
}

/// Namespace of outbox ids derived from provider event ids.
const WEBHOOK_NAMESPACE: Uuid = Uuid::from_u128(0x5f1c_0c5e_8a8e_4b7e_9d2b_6b1f_0a7c_3e21);

impl Notification {
    /// The outbox id of a provider's event: the same event always maps to the same id, so
    /// queueing it twice is a no-op.
    pub fn outbox_id(store: Store, event_id: &str) -> Uuid {
        Uuid::new_v5(
            &WEBHOOK_NAMESPACE,
            format!("{}:{event_id}", store.as_str()).as_bytes(),
        )
    }

    /// The outbox kind that processes it.
    pub fn outbox_kind(store: Store) -> String {
        format!("webhook.{}", store.as_str())
    }
}

/// Why a webhook body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("the signature does not verify: {0}")]
    Signature(String),
    #[error("the signed timestamp is outside the accepted window")]
    Stale,
    #[error("the body is malformed: {0}")]
    Malformed(String),
    #[error("this webhook is not configured on this server")]
    NotConfigured,
}
