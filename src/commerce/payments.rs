//! The web payment provider's webhooks (web purchases, and later product drops): JSON bodies
//! signed with HMAC-SHA256 in a `Fitpulse-Signature: t=<unix seconds>,v1=<hex>` header over
//! `"<t>.<body>"`. A signature older or newer than the tolerance is refused, so a captured
//! request cannot be replayed later; replays inside the window are caught by the event id.

use fitpulse_actors::domain::UserId;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::notification::{Notification, WebhookError};
use super::products::{Store, by_store_id};
use super::state::Event;

pub const SIGNATURE_HEADER: &str = "fitpulse-signature";

pub struct Payments {
    secret: String,
    tolerance_seconds: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    /// Unix seconds.
    created: i64,
    /// Read by the event's type: [`SubscriptionData`] or [`OrderData`].
    data: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionData {
    subscription_id: String,
    user_id: UserId,
    price_id: String,
    /// Unix seconds.
    #[serde(default)]
    current_period_end: Option<i64>,
    #[serde(default)]
    grace_until: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderData {
    order_id: uuid::Uuid,
}

/// What a verified payment event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEvent {
    Subscription(Notification),
    /// A product-drop order was paid.
    OrderPaid {
        order_id: uuid::Uuid,
    },
}

fn malformed(what: impl std::fmt::Display) -> WebhookError {
    WebhookError::Malformed(what.to_string())
}

/// The hex HMAC-SHA256 of `"<t>.<body>"`.
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Payments {
    pub fn new(secret: String, tolerance_seconds: u64) -> Payments {
        Payments {
            secret,
            tolerance_seconds,
        }
    }

    /// Checks the signature header against the raw body at `now` (Unix seconds).
    pub fn verify(&self, header: Option<&str>, body: &[u8], now: u64) -> Result<(), WebhookError> {
        let bad = |why: &str| WebhookError::Signature(why.into());
        let header = header.ok_or_else(|| bad("no signature header"))?;
        let (mut timestamp, mut signature) = (None, None);
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", t)) => timestamp = t.parse::<u64>().ok(),
                Some(("v1", v)) => signature = Some(v),
                _ => {}
            }
        }
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(bad("the header needs t= and v1="));
        };
        let expected = sign(&self.secret, timestamp, body);
        let matches: bool =
            subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), signature.as_bytes()).into();
        if !matches {
            return Err(bad("wrong signature"));
        }
        if now.abs_diff(timestamp) > self.tolerance_seconds {
            return Err(WebhookError::Stale);
        }
        Ok(())
    }

    /// Reads a verified body; `Ok(None)` for event types fitpulse does not act on.
    pub fn parse(&self, body: &[u8]) -> Result<(String, Option<PaymentEvent>), WebhookError> {
        let body: Body = serde_json::from_slice(body).map_err(malformed)?;
        if body.kind == "order.paid" {
            let data: OrderData = serde_json::from_value(body.data).map_err(malformed)?;
            return Ok((
                body.id,
                Some(PaymentEvent::OrderPaid {
                    order_id: data.order_id,
                }),
            ));
        }
        let secs = |s: i64| s * 1000;
        let subscription_kind = [
            "subscription.created",
            "subscription.renewed",
            "subscription.payment_failed",
            "subscription.canceled",
            "subscription.resumed",
            "subscription.expired",
            "charge.refunded",
        ];
        if !subscription_kind.contains(&body.kind.as_str()) {
            return Ok((body.id, None));
        }
        let data: SubscriptionData = serde_json::from_value(body.data).map_err(malformed)?;
        let event = match body.kind.as_str() {
            "subscription.created" => Event::Purchased {
                expires_at: data.current_period_end.map(secs),
                trial: false,
            },
            "subscription.renewed" => Event::Renewed {
                expires_at: data.current_period_end.map(secs),
            },
            "subscription.payment_failed" => Event::RenewalFailed {
                grace_until: data.grace_until.map(secs),
            },
            "subscription.canceled" => Event::AutoRenewOff,
            "subscription.resumed" => Event::AutoRenewOn,
            "subscription.expired" => Event::Expired,
            _ => Event::Refunded,
        };
        let product = by_store_id(Store::Web, &data.price_id)
            .ok_or_else(|| malformed(format!("unknown price `{}`", data.price_id)))?;
        Ok((
            body.id.clone(),
            Some(PaymentEvent::Subscription(Notification {
                provider: Store::Web.as_str().into(),
                event_id: body.id,
                subscription_id: format!("web:{}", data.subscription_id),
                product_id: product.id.into(),
                user: Some(data.user_id),
                event: event.for_product(product.trial_days > 0),
                at: secs(body.created),
            })),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_790_000_000;

    #[test]
    fn a_signed_body_verifies_and_anything_else_is_refused() {
        let payments = Payments::new("whsec_test".into(), 300);
        let body = br#"{"id":"evt_1"}"#;
        let header = format!("t={NOW},v1={}", sign("whsec_test", NOW, body));
        assert_eq!(payments.verify(Some(&header), body, NOW + 10), Ok(()));
        assert!(matches!(
            payments.verify(Some(&header), br#"{"id":"evt_2"}"#, NOW),
            Err(WebhookError::Signature(_))
        ));
        let other_key = format!("t={NOW},v1={}", sign("whsec_other", NOW, body));
        assert!(payments.verify(Some(&other_key), body, NOW).is_err());
        assert_eq!(
            payments.verify(Some(&header), body, NOW + 301),
            Err(WebhookError::Stale)
        );
        assert!(payments.verify(None, body, NOW).is_err());
        assert!(payments.verify(Some("v1=abc"), body, NOW).is_err());
    }
}
