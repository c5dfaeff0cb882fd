//! Admin routes of the outbox (admin role): `GET /v1/admin/outbox?state=dead|pending&limit=N`
//! lists dead items (newest first) or pending ones due within a day (soonest first),
//! `GET /v1/admin/outbox/{id}` shows one, and `POST /v1/admin/outbox/{id}/retry` makes a
//! dead item pending again with fresh attempts.

use actix_web::{HttpResponse, web};
use fitpulse_actors::domain::Role;
use fitpulse_actors::ports::clock::SharedClock;
use fitpulse_actors::ports::commerce::OutboxItem;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::views::{Page, rfc3339};
use super::{ApiError, Contracts, ErrorCode};
use crate::auth::AuthUser;
use crate::store::Stores;

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 200;
/// The pending list shows items due within this horizon (later ones are far from trouble).
const PENDING_HORIZON_MS: i64 = 24 * 60 * 60 * 1000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/admin/outbox").get(list))
        .service(web::resource("/v1/admin/outbox/{id}").get(show))
        .service(web::resource("/v1/admin/outbox/{id}/retry").post(retry));
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ListedState {
    Dead,
    Pending,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    state: ListedState,
    limit: Option<usize>,
}

pub fn contracts(c: &mut Contracts) {
    let admin = "admin role";
    c.get("/v1/admin/outbox")
        .ok::<Page<OutboxView>>()
        .bearer(admin)
        .errors(&[400, 403]);
    c.get("/v1/admin/outbox/{id}")
        .ok::<OutboxView>()
        .bearer(admin)
        .errors(&[400, 403, 404]);
    c.post("/v1/admin/outbox/{id}/retry")
        .ok::<OutboxView>()
        .bearer(admin)
        .errors(&[400, 403, 404, 409]);
}

/// One outbox item: a side effect (email, webhook) waiting, done or given up on.
#[derive(Serialize, JsonSchema)]
struct OutboxView<'a> {
    id: String,
    kind: &'a str,
    /// `pending`, `done` or `dead`.
    state: &'static str,
    attempts: u32,
    next_at: String,
    last_error: Option<&'a str>,
    created_at: String,
    /// The stored payload: its JSON, or its text when it is not JSON.
    payload: Value,
}

/// An item as the admin API shows it; the payload as JSON when it is JSON.
fn view(item: &OutboxItem) -> OutboxView<'_> {
    let payload = serde_json::from_str::<Value>(&item.payload)
        .unwrap_or_else(|_| Value::String(item.payload.clone()));
    OutboxView {
        id: item.id.to_string(),
        kind: &item.kind,
        state: item.state.as_str(),
        attempts: item.attempts,
        next_at: rfc3339(item.next_at),
        last_error: item.last_error.as_deref(),
        created_at: rfc3339(item.created_at),
        payload,
    }
}

fn item_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::new(ErrorCode::InvalidPath).with_message("the outbox item id is a UUID")
    })
}

async fn list(
    caller: AuthUser,
    query: web::Query<ListQuery>,
    stores: web::Data<Stores>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::new(ErrorCode::InvalidQuery)
            .with_message(format!("`limit` must be 1 to {MAX_LIMIT}")));
    }
    let items = match query.state {
        ListedState::Dead => stores.outbox.dead_items(limit).await?,
        ListedState::Pending => {
            stores
                .outbox
                .due(clock.now() + PENDING_HORIZON_MS, limit)
                .await?
        }
    };
    Ok(HttpResponse::Ok().json(Page::all(items.iter().map(view).collect())))
}

async fn show(
    caller: AuthUser,
    path: web::Path<String>,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let id = item_id(&path)?;
    let item =
        stores.outbox.outbox_item(id).await?.ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound).with_message("no such outbox item")
        })?;
    Ok(HttpResponse::Ok().json(view(&item)))
}

async fn retry(
    caller: AuthUser,
    path: web::Path<String>,
    stores: web::Data<Stores>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let id = item_id(&path)?;
    let revived = stores.outbox.revive(id, clock.now()).await?;
    let item =
        stores.outbox.outbox_item(id).await?.ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound).with_message("no such outbox item")
        })?;
    if !revived {
        return Err(ApiError::new(ErrorCode::Conflict)
            .with_message(format!(
                "only dead items can be retried; this one is {}",
                item.state.as_str()
            ))
            .with_details(json!({ "state": item.state.as_str() })));
    }
    tracing::info!(outbox.id = %id, outbox.kind = %item.kind, "outbox item revived by an admin");
    Ok(HttpResponse::Ok().json(view(&item)))
}
