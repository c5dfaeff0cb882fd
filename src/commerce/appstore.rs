//! App Store Server Notifications V2: `{"signedPayload": "<JWS>"}` whose payload holds the
//! notification type and, as JWSs of their own, the transaction and renewal info. All
//! three are verified through their `x5c` chain (see `jws`); the bundle id must be ours.
//! The user is the transaction's `appAccountToken` (apps set it to the fitpulse user id).
//! The notification's `environment` must be the one this server serves
//! (`commerce.appstore_environment`), so sandbox purchases never grant production access.

use fitpulse_actors::domain::UserId;
use serde::Deserialize;
use serde_json::Value;

use super::jws::ChainVerifier;
use super::notification::{Notification, WebhookError};
use super::products::{Store, by_store_id};
use super::state::Event;

pub struct AppStore {
    verifier: ChainVerifier,
    bundle_id: String,
    /// `Production` or `Sandbox`, as Apple spells it.
    environment: &'static str,
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "signedPayload")]
    signed_payload: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    notification_type: String,
    #[serde(default)]
    subtype: Option<String>,
    #[serde(rename = "notificationUUID")]
    notification_uuid: String,
    #[serde(default)]
    data: Option<Data>,
    signed_date: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    bundle_id: String,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    signed_transaction_info: Option<String>,
    #[serde(default)]
    signed_renewal_info: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Transaction {
    original_transaction_id: String,
    product_id: String,
    #[serde(default)]
    expires_date: Option<i64>,
    #[serde(default)]
    app_account_token: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Renewal {
    #[serde(default)]
    grace_period_expires_date: Option<i64>,
}

fn malformed(what: impl std::fmt::Display) -> WebhookError {
    WebhookError::Malformed(what.to_string())
}

impl AppStore {
    pub fn new(verifier: ChainVerifier, bundle_id: String, environment: &'static str) -> AppStore {
        AppStore {
            verifier,
            bundle_id,
            environment,
        }
    }

    fn verified<T: serde::de::DeserializeOwned>(
        &self,
        jws: &str,
        now: u64,
    ) -> Result<T, WebhookError> {
        let value: Value = self
            .verifier
            .verify(jws, now)
            .map_err(|e| WebhookError::Signature(e.to_string()))?;
        serde_json::from_value(value).map_err(malformed)
    }

    /// Verifies and reads a notification; `Ok(None)` for types that change no
    /// subscription (TEST, consumption requests, ...).
    pub fn parse(
        &self,
        body: &[u8],
        now_secs: u64,
    ) -> Result<(String, Option<Notification>), WebhookError> {
        let body: Body = serde_json::from_slice(body).map_err(malformed)?;
        let payload: Payload = self.verified(&body.signed_payload, now_secs)?;
        let event_id = payload.notification_uuid.clone();
        let Some(data) = payload.data else {
            return Ok((event_id, None));
        };
        if data.bundle_id != self.bundle_id {
            return Err(malformed(format!(
                "bundle `{}` is not this app",
                data.bundle_id
            )));
        }
        if data.environment.as_deref() != Some(self.environment) {
            return Err(malformed(format!(
                "environment `{}` is not this server's ({})",
                data.environment.as_deref().unwrap_or("none"),
                self.environment
            )));
        }
        let Some(transaction) = data.signed_transaction_info else {
            return Ok((event_id, None));
        };
        let transaction: Transaction = self.verified(&transaction, now_secs)?;
        let renewal: Renewal = match data.signed_renewal_info {
            Some(jws) => self.verified(&jws, now_secs)?,
            None => Renewal::default(),
        };
        let expires_at = transaction.expires_date;
        let event = match (
            payload.notification_type.as_str(),
            payload.subtype.as_deref(),
        ) {
            ("SUBSCRIBED", _) => Event::Purchased {
                expires_at,
                trial: false,
            },
            ("DID_RENEW", _) => Event::Renewed { expires_at },
            ("DID_FAIL_TO_RENEW", Some("GRACE_PERIOD")) => Event::RenewalFailed {
                grace_until: renewal.grace_period_expires_date,
            },
            ("DID_FAIL_TO_RENEW", _) => Event::RenewalFailed { grace_until: None },
            ("GRACE_PERIOD_EXPIRED", _) => Event::GraceExpired,
            ("EXPIRED", _) => Event::Expired,
            ("REFUND", _) => Event::Refunded,
            ("REVOKE", _) => Event::Revoked,
            ("DID_CHANGE_RENEWAL_STATUS", Some("AUTO_RENEW_DISABLED")) => Event::AutoRenewOff,
            ("DID_CHANGE_RENEWAL_STATUS", Some("AUTO_RENEW_ENABLED")) => Event::AutoRenewOn,
            _ => return Ok((event_id, None)),
        };
        let product = by_store_id(Store::AppStore, &transaction.product_id)
            .ok_or_else(|| malformed(format!("unknown product `{}`", transaction.product_id)))?;
        let user = transaction
            .app_account_token
            .as_deref()
            .and_then(|t| t.parse::<uuid::Uuid>().ok())
            .map(UserId::from_uuid);
        Ok((
            event_id.clone(),
            Some(Notification {
                provider: Store::AppStore.as_str().into(),
                event_id,
                subscription_id: format!("appstore:{}", transaction.original_transaction_id),
                product_id: product.id.into(),
                user,
                event: event.for_product(product.trial_days > 0),
                at: payload.signed_date,
            }),
        ))
    }
}
