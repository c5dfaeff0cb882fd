//! Google Play Real-time Developer Notifications: a Pub/Sub push whose `message.data` is
//! base64 JSON. Pub/Sub push cannot sign bodies without Google's OIDC (which needs Google's
//! keys online), so the push endpoint carries a shared token (`?token=` or a bearer
//! header), compared in constant time.
//!
//! An RTDN only says that something changed; the authoritative expiry comes from the Play
//! Developer API, which this server does not call, so expiries are estimated from the
//! product's period (and a 3-day grace period) and replaced by the next notification.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::notification::{Notification, WebhookError};
use super::products::{Store, by_store_id};
use super::state::Event;

const DAY_MS: i64 = 86_400_000;
/// The grace period assumed for IN_GRACE_PERIOD (Play's default for monthly plans).
const GRACE_MS: i64 = 3 * DAY_MS;

pub struct GooglePlay {
    push_token: String,
    package_name: String,
}

#[derive(Deserialize)]
struct Push {
    message: Message,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    data: String,
    message_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeveloperNotification {
    package_name: String,
    event_time_millis: String,
    #[serde(default)]
    subscription_notification: Option<SubscriptionNotification>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionNotification {
    notification_type: u32,
    purchase_token: String,
    subscription_id: String,
}

fn malformed(what: impl std::fmt::Display) -> WebhookError {
    WebhookError::Malformed(what.to_string())
}

impl GooglePlay {
    pub fn new(push_token: String, package_name: String) -> GooglePlay {
        GooglePlay {
            push_token,
            package_name,
        }
    }

    /// Checks the push's shared token.
    pub fn authenticate(&self, presented: Option<&str>) -> Result<(), WebhookError> {
        let ok: bool =
            presented.is_some_and(|p| p.as_bytes().ct_eq(self.push_token.as_bytes()).into());
        if ok {
            Ok(())
        } else {
            Err(WebhookError::Signature(
                "missing or wrong push token".into(),
            ))
        }
    }

    /// Reads a push; `Ok(None)` for test and one-time-product notifications.
    pub fn parse(&self, body: &[u8]) -> Result<(String, Option<Notification>), WebhookError> {
        let push: Push = serde_json::from_slice(body).map_err(malformed)?;
        let event_id = push.message.message_id.clone();
        let data = STANDARD.decode(&push.message.data).map_err(malformed)?;
        let note: DeveloperNotification = serde_json::from_slice(&data).map_err(malformed)?;
        if note.package_name != self.package_name {
            return Err(malformed(format!(
                "package `{}` is not this app",
                note.package_name
            )));
        }
        let at: i64 = note.event_time_millis.parse().map_err(malformed)?;
        let Some(sub) = note.subscription_notification else {
            return Ok((event_id, None));
        };
        let product = by_store_id(Store::GooglePlay, &sub.subscription_id)
            .ok_or_else(|| malformed(format!("unknown product `{}`", sub.subscription_id)))?;
        let period = i64::from(product.period_days.unwrap_or(30)) * DAY_MS;
        let trial = i64::from(product.trial_days) * DAY_MS;
        let event = match sub.notification_type {
            4 => Event::Purchased {
                expires_at: Some(at + trial + period),
                trial: false,
            },
            1 | 2 => Event::Renewed {
                expires_at: Some(at + period),
            },
            3 => Event::AutoRenewOff,
            5 => Event::RenewalFailed { grace_until: None },
            6 => Event::RenewalFailed {
                grace_until: Some(at + GRACE_MS),
            },
            7 => Event::AutoRenewOn,
            12 => Event::Revoked,
            13 => Event::Expired,
            _ => return Ok((event_id, None)),
        };
        Ok((
            event_id.clone(),
            Some(Notification {
                provider: Store::GooglePlay.as_str().into(),
                event_id,
                subscription_id: format!("googleplay:{}", sub.purchase_token),
                product_id: product.id.into(),
                user: None,
                event: event.for_product(product.trial_days > 0),
                at,
            }),
        ))
    }
}
