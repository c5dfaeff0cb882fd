//! Store and payment webhooks: `POST /v1/webhooks/appstore`, `/googleplay`, `/payments`.
//! Each body is verified (JWS chain, push token, HMAC with timestamp tolerance), turned
//! into a provider-neutral notification and queued in the outbox under an id derived from
//! the provider's event id, then answered at once: `{"status":"accepted"}`, or
//! `"duplicate"` for an event seen before (nothing changes), or `"ignored"` for types that
//! change no subscription. Refused bodies change nothing.

use actix_web::{HttpRequest, HttpResponse, web};
use fitpulse_actors::domain::UnixMillis;
use fitpulse_actors::ports::clock::SharedClock;
use fitpulse_actors::ports::commerce::OutboxItem;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::caller::bearer_token;
use super::error::require_json;
use super::views::object_schema;
use super::{ApiError, Contracts, ErrorCode};
use crate::commerce::Webhooks;
use crate::commerce::notification::{Notification, WebhookError};
use crate::commerce::payments::{PaymentEvent, SIGNATURE_HEADER};
use crate::commerce::products::Store;
use crate::drops::ORDER_PAYMENT_KIND;
use crate::metrics::{Metrics, WebhookProvider, WebhookResult};
use crate::store::Stores;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/webhooks/appstore").post(appstore))
        .service(web::resource("/v1/webhooks/googleplay").post(googleplay))
        .service(web::resource("/v1/webhooks/payments").post(payments));
}

/// The bodies are the providers' own formats, verified and parsed in `commerce`; their
/// schemas only name them.
pub fn contracts(c: &mut Contracts) {
    let refused: &[u16] = &[400, 401, 415, 503];
    c.post("/v1/webhooks/appstore")
        .body::<AppStoreNotification>()
        .ok::<WebhookAnswer>()
        .errors(refused);
    c.post("/v1/webhooks/googleplay")
        .body::<GooglePlayPush>()
        .ok::<WebhookAnswer>()
        .errors(refused);
    c.post("/v1/webhooks/payments")
        .body::<PaymentEventBody>()
        .ok::<WebhookAnswer>()
        .errors(refused);
}

object_schema! {
    /// An App Store Server Notification v2: `{"signedPayload": "<JWS>"}`.
    AppStoreNotification
}

object_schema! {
    /// A Google Cloud Pub/Sub push of a Play real-time developer notification.
    GooglePlayPush
}

object_schema! {
    /// A payment provider event, signed in the `fitpulse-signature` header.
    PaymentEventBody
}

/// What became of a verified event.
#[derive(Serialize, JsonSchema)]
struct WebhookAnswer<'a> {
    /// `accepted`, `duplicate` (seen before; nothing changes) or `ignored` (a type that
    /// changes no subscription).
    status: &'static str,
    event_id: &'a str,
}

impl From<WebhookError> for ApiError {
    fn from(err: WebhookError) -> Self {
        let code = match &err {
            WebhookError::Signature(_) => ErrorCode::InvalidSignature,
            WebhookError::Stale => ErrorCode::StaleTimestamp,
            WebhookError::Malformed(_) => ErrorCode::InvalidBody,
            WebhookError::NotConfigured => ErrorCode::NotConfigured,
        };
        ApiError::new(code).with_message(err.to_string())
    }
}

fn secs(at: UnixMillis) -> u64 {
    (at / 1000).max(0) as u64
}

fn provider_label(store: Store) -> WebhookProvider {
    match store {
        Store::AppStore => WebhookProvider::AppStore,
        Store::GooglePlay => WebhookProvider::GooglePlay,
        Store::Web => WebhookProvider::Payments,
    }
}

/// Queues a verified notification (or reports it ignored) and answers.
async fn accept(
    store: Store,
    parsed: Result<(String, Option<Notification>), WebhookError>,
    now: UnixMillis,
    stores: &Stores,
    metrics: &Metrics,
) -> Result<HttpResponse, ApiError> {
    let provider = provider_label(store);
    let (event_id, note) = parsed.inspect_err(|err| {
        metrics.webhook(provider, WebhookResult::Rejected);
        tracing::warn!(provider = store.as_str(), error = %err, "webhook refused");
    })?;
    let Some(note) = note else {
        metrics.webhook(provider, WebhookResult::Ignored);
        return Ok(HttpResponse::Ok().json(WebhookAnswer {
            status: "ignored",
            event_id: &event_id,
        }));
    };
    let item = OutboxItem::new(
        Notification::outbox_id(store, &event_id),
        &Notification::outbox_kind(store),
        serde_json::to_string(&note).expect("a notification serializes"),
        now,
    );
    enqueue_once(&item, provider, &event_id, stores, metrics).await
}

/// Queues a verified event unless its id was queued before, and answers `accepted` or
/// `duplicate` accordingly.
async fn enqueue_once(
    item: &OutboxItem,
    provider: WebhookProvider,
    event_id: &str,
    stores: &Stores,
    metrics: &Metrics,
) -> Result<HttpResponse, ApiError> {
    let fresh = stores.outbox.enqueue(item).await?;
    let (status, result) = if fresh {
        ("accepted", WebhookResult::Accepted)
    } else {
        ("duplicate", WebhookResult::Duplicate)
    };
    metrics.webhook(provider, result);
    Ok(HttpResponse::Ok().json(WebhookAnswer { status, event_id }))
}

fn not_configured(metrics: &Metrics, provider: WebhookProvider) -> ApiError {
    metrics.webhook(provider, WebhookResult::Rejected);
    WebhookError::NotConfigured.into()
}

async fn appstore(
    req: HttpRequest,
    body: web::Bytes,
    webhooks: web::Data<Webhooks>,
    stores: web::Data<Stores>,
    metrics: web::Data<Metrics>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    require_json(&req)?;
    let now = clock.now();
    let verifier = webhooks
        .appstore
        .as_ref()
        .ok_or_else(|| not_configured(&metrics, WebhookProvider::AppStore))?;
    let parsed = verifier.parse(&body, secs(now));
    accept(Store::AppStore, parsed, now, &stores, &metrics).await
}

#[derive(serde::Deserialize)]
struct PushQuery {
    token: Option<String>,
}

async fn googleplay(
    req: HttpRequest,
    query: web::Query<PushQuery>,
    body: web::Bytes,
    webhooks: web::Data<Webhooks>,
    stores: web::Data<Stores>,
    metrics: web::Data<Metrics>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    require_json(&req)?;
    let now = clock.now();
    let play = webhooks
        .googleplay
        .as_ref()
        .ok_or_else(|| not_configured(&metrics, WebhookProvider::GooglePlay))?;
    let presented = query.token.as_deref().or_else(|| bearer_token(&req));
    let parsed = play
        .authenticate(presented)
        .and_then(|()| play.parse(&body));
    accept(Store::GooglePlay, parsed, now, &stores, &metrics).await
}

async fn payments(
    req: HttpRequest,
    body: web::Bytes,
    webhooks: web::Data<Webhooks>,
    stores: web::Data<Stores>,
    metrics: web::Data<Metrics>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    require_json(&req)?;
    let now = clock.now();
    let provider = webhooks
        .payments
        .as_ref()
        .ok_or_else(|| not_configured(&metrics, WebhookProvider::Payments))?;
    let header = req
        .headers()
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    let parsed = provider
        .verify(header, &body, secs(now))
        .and_then(|()| provider.parse(&body));
    match parsed {
        Ok((event_id, Some(PaymentEvent::OrderPaid { order_id }))) => {
            accept_order_payment(&event_id, order_id, now, &stores, &metrics).await
        }
        other => {
            let parsed = other.map(|(id, event)| {
                let note = match event {
                    Some(PaymentEvent::Subscription(note)) => Some(note),
                    _ => None,
                };
                (id, note)
            });
            accept(Store::Web, parsed, now, &stores, &metrics).await
        }
    }
}

/// Queues an order payment (outbox kind `webhook.order`), deduplicated like the others.
async fn accept_order_payment(
    event_id: &str,
    order_id: uuid::Uuid,
    now: UnixMillis,
    stores: &Stores,
    metrics: &Metrics,
) -> Result<HttpResponse, ApiError> {
    let item = OutboxItem::new(
        Notification::outbox_id(Store::Web, event_id),
        ORDER_PAYMENT_KIND,
        json!({ "order_id": order_id }).to_string(),
        now,
    );
    enqueue_once(&item, WebhookProvider::Payments, event_id, stores, metrics).await
}
