//! Product drops over HTTP: admins create them (`POST /v1/admin/drops`), list those starting
//! from a week ago to a month ahead (`GET /v1/admin/drops`) and watch one
//! (`GET /v1/admin/drops/{id}`); buyers see a countdown and stock (`GET /v1/drops/{id}`),
//! queue in the waiting room (`POST|GET /v1/drops/{id}/queue`), order
//! (`POST /v1/drops/{id}/orders`, `Idempotency-Key` required, admission token in
//! `X-Admission-Token` when the drop has a waiting room) and follow their order
//! (`GET /v1/orders/{id}`). Refusals answer at once with 409 `sold_out`,
//! `limit_reached`, `not_started` or `not_admitted`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use fitpulse_actors::domain::Role;
use fitpulse_actors::ports::drops::DropRecord;
use fitpulse_actors::ports::store::StoredResponse;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::client_ip::client_ip;
use super::error::{bounded_text, require_json, uuid_path};
use super::idempotency;
use super::views::{Page, parse_time, rfc3339};
use super::{ApiError, Contracts, ErrorCode};
use crate::auth::tokens::Principal;
use crate::auth::{Auth, AuthUser, MaybeAuthUser};
use crate::drops::waiting_room::admission_scope;
use crate::drops::{
    DropState, Drops, JoinRefusal, KeyedOrder, OrderOutcome, OrderRefusal, OrderView, order_view,
    seconds_until,
};
use crate::store::Stores;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/admin/drops").post(create).get(list))
        .service(web::resource("/v1/admin/drops/{id}").get(admin_view))
        .service(web::resource("/v1/drops/{id}").get(public_view))
        .service(
            web::resource("/v1/drops/{id}/queue")
                .post(join_queue)
                .get(queue_standing),
        )
        .service(web::resource("/v1/drops/{id}/orders").post(order))
        .service(web::resource("/v1/orders/{id}").get(one_order));
}

pub fn contracts(c: &mut Contracts) {
    let admin = "admin role";
    let member = "a user";
    c.post("/v1/admin/drops")
        .body::<CreateBody>()
        .created::<CreatedDrop>()
        .bearer(admin)
        .errors(&[403]);
    c.get("/v1/admin/drops")
        .ok::<Page<AdminDropView>>()
        .bearer(admin)
        .errors(&[400, 403]);
    c.get("/v1/admin/drops/{id}")
        .ok::<DropBooks>()
        .bearer(admin)
        .errors(&[400, 403, 404]);
    c.get("/v1/drops/{id}")
        .ok::<PublicDrop>()
        .optional_bearer("admins see drops before they are announced")
        .errors(&[400, 404]);
    c.post("/v1/drops/{id}/queue")
        .ok::<StandingView>()
        .bearer(member)
        .errors(&[400, 403, 404, 409, 503]);
    c.get("/v1/drops/{id}/queue")
        .ok::<StandingView>()
        .bearer(member)
        .errors(&[400, 403, 404, 503]);
    c.post("/v1/drops/{id}/orders")
        .body::<OrderBody>()
        .created::<OrderView>()
        .bearer("a user with a verified email; `Idempotency-Key` required")
        .errors(&[403, 404, 409, 422]);
    c.get("/v1/orders/{id}")
        .ok::<OrderView>()
        .bearer("the buyer, or admin role")
        .errors(&[400, 403, 404]);
}

/// A drop as created.
#[derive(Serialize, JsonSchema)]
struct CreatedDrop<'a> {
    id: Uuid,
    title: &'a str,
    stock: u32,
    starts_at: String,
    admission_per_second: Option<u32>,
    announce_at: Option<String>,
}

/// A drop as an admin lists it.
#[derive(Serialize, JsonSchema)]
struct AdminDropView<'a> {
    id: Uuid,
    title: &'a str,
    stock: u32,
    price_cents: u32,
    currency: &'a str,
    starts_at: String,
    per_user_limit: u32,
    reservation_ttl_seconds: u32,
    admission_per_second: Option<u32>,
    created_at: String,
    announce_at: Option<String>,
}

/// A drop's books as this node sees them.
#[derive(Serialize, JsonSchema)]
struct DropBooks<'a> {
    id: Uuid,
    title: &'a str,
    stock: u32,
    sold: u32,
    reserved: u32,
    expired: u32,
    /// Units in no lease.
    remaining: u32,
    /// Units in nodes' leases that no order took.
    leased_unsold: u32,
    /// What buyers see.
    for_sale: u32,
    admission_per_second: Option<u32>,
    /// Buyers in the waiting room; `null` without a room or while its holder is away.
    waiting: Option<usize>,
    /// The node holding the waiting room.
    queue_node: Option<&'a str>,
    timers: usize,
    upkeeps: u64,
    starts_at: String,
    announce_at: Option<String>,
}

/// A drop as buyers see it.
#[derive(Serialize, JsonSchema)]
struct PublicDrop<'a> {
    id: Uuid,
    title: &'a str,
    price_cents: u32,
    currency: &'a str,
    starts_at: String,
    seconds_to_start: i64,
    /// `upcoming`, `on_sale` or `sold_out`.
    state: &'static str,
    remaining: u32,
    per_user_limit: u32,
    waiting_room: bool,
}

/// The caller's place in a waiting room.
#[derive(Serialize, JsonSchema)]
struct StandingView {
    /// People ahead (0 once admitted); `null` before the opening.
    ahead: Option<u64>,
    admitted: bool,
    /// Send it as `x-admission-token` with the order.
    admission_token: Option<String>,
}

pub const ADMISSION_HEADER: &str = "x-admission-token";

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// The admin list reaches back this far, for drops that started and still sell.
const LIST_BACK_MS: i64 = 7 * DAY_MS;
const LIST_AHEAD_MS: i64 = 30 * DAY_MS;

async fn load(drops: &Arc<Drops>, raw: &str) -> Result<Arc<DropState>, ApiError> {
    drops
        .get(uuid_path(raw, "id")?)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("no such drop"))
}

/// The drop as a buyer may see it: one not announced yet looks like no drop at all, to
/// everyone but admins.
async fn load_announced(
    drops: &Arc<Drops>,
    raw: &str,
    caller: Option<&AuthUser>,
) -> Result<Arc<DropState>, ApiError> {
    let state = load(drops, raw).await?;
    let admin = caller.is_some_and(|c| c.has_role(Role::Admin));
    if !admin && !state.record().announced(drops.now()) {
        return Err(ApiError::new(ErrorCode::NotFound).with_message("no such drop"));
    }
    Ok(state)
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "CreateDropBody")]
#[serde(deny_unknown_fields)]
struct CreateBody {
    title: String,
    stock: u32,
    price_cents: u32,
    currency: String,
    starts_at: String,
    per_user_limit: u32,
    reservation_ttl_seconds: u32,
    admission_per_second: Option<u32>,
    /// Until then only admins see the drop (RFC 3339); none: announced at once.
    announce_at: Option<String>,
}

async fn create(
    caller: AuthUser,
    body: web::Json<CreateBody>,
    drops: web::Data<Arc<Drops>>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let b = body.into_inner();
    let title = bounded_text("title", &b.title, 120)?;
    if !(1..=1_000_000).contains(&b.stock) {
        return Err(ApiError::invalid_field("stock", "between 1 and 1000000"));
    }
    if b.currency.len() != 3 || !b.currency.bytes().all(|c| c.is_ascii_uppercase()) {
        return Err(ApiError::invalid_field(
            "currency",
            "an ISO 4217 code such as EUR",
        ));
    }
    let starts_at = parse_time(&b.starts_at)
        .ok_or_else(|| ApiError::invalid_field("starts_at", "an RFC 3339 time"))?;
    if b.per_user_limit == 0 || b.per_user_limit > b.stock {
        return Err(ApiError::invalid_field(
            "per_user_limit",
            "between 1 and the stock",
        ));
    }
    if !(1..=86_400).contains(&b.reservation_ttl_seconds) {
        return Err(ApiError::invalid_field(
            "reservation_ttl_seconds",
            "between 1 and 86400",
        ));
    }
    if b.admission_per_second
        .is_some_and(|a| !(1..=100_000).contains(&a))
    {
        return Err(ApiError::invalid_field(
            "admission_per_second",
            "between 1 and 100000, or null",
        ));
    }
    let announce_at = b
        .announce_at
        .as_deref()
        .map(|raw| {
            parse_time(raw)
                .filter(|at| *at <= starts_at)
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "announce_at",
                        "an RFC 3339 time, at or before starts_at",
                    )
                })
        })
        .transpose()?;
    let record = DropRecord {
        id: Uuid::new_v4(),
        title,
        stock: b.stock,
        price_cents: b.price_cents,
        currency: b.currency,
        starts_at,
        per_user_limit: b.per_user_limit,
        reservation_ttl_seconds: b.reservation_ttl_seconds,
        admission_per_second: b.admission_per_second,
        created_at: drops.now(),
        announce_at,
    };
    drops.create(&record).await?;
    Ok(HttpResponse::Created().json(CreatedDrop {
        id: record.id,
        title: &record.title,
        stock: record.stock,
        starts_at: rfc3339(record.starts_at),
        admission_per_second: record.admission_per_second,
        announce_at: record.announce_at.map(rfc3339),
    }))
}

/// No parameters: any query string is refused rather than ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {}

/// The drops starting from a week ago to a month ahead, soonest first, as stored (the
/// live numbers of one are at `GET /v1/admin/drops/{id}`).
async fn list(
    caller: AuthUser,
    _query: web::Query<ListQuery>,
    stores: web::Data<Stores>,
    drops: web::Data<Arc<Drops>>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let now = drops.now();
    let listed = stores
        .drops
        .drops_between(now - LIST_BACK_MS, now + LIST_AHEAD_MS)
        .await?;
    let items = listed
        .iter()
        .map(|d| AdminDropView {
            id: d.id,
            title: &d.title,
            stock: d.stock,
            price_cents: d.price_cents,
            currency: &d.currency,
            starts_at: rfc3339(d.starts_at),
            per_user_limit: d.per_user_limit,
            reservation_ttl_seconds: d.reservation_ttl_seconds,
            admission_per_second: d.admission_per_second,
            created_at: rfc3339(d.created_at),
            announce_at: d.announce_at.map(rfc3339),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::all(items)))
}

async fn admin_view(
    caller: AuthUser,
    path: web::Path<String>,
    drops: web::Data<Arc<Drops>>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let state = load(&drops, &path).await?;
    let record = state.record();
    let books = drops.books(&state).await?;
    Ok(HttpResponse::Ok().json(DropBooks {
        id: record.id,
        title: &record.title,
        stock: record.stock,
        sold: books.sold,
        reserved: books.reserved,
        expired: books.expired,
        remaining: books.remaining,
        leased_unsold: books.leased_unsold,
        for_sale: books.for_sale,
        admission_per_second: record.admission_per_second,
        waiting: books.waiting.as_ref().map(|(waiting, _)| *waiting),
        queue_node: books.waiting.as_ref().map(|(_, node)| node.as_str()),
        timers: books.timers,
        upkeeps: books.upkeeps,
        starts_at: rfc3339(record.starts_at),
        announce_at: record.announce_at.map(rfc3339),
    }))
}

async fn public_view(
    caller: MaybeAuthUser,
    path: web::Path<String>,
    drops: web::Data<Arc<Drops>>,
) -> Result<HttpResponse, ApiError> {
    let state = load_announced(&drops, &path, caller.0.as_ref()).await?;
    if let Some(user) = caller.0.as_ref().and_then(|c| c.user_id().ok()) {
        state.watch(user);
    }
    let record = state.record();
    let now = drops.now();
    let (phase, remaining) = drops.phase(&state).await;
    let phase = phase.as_str();
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(PublicDrop {
            id: record.id,
            title: &record.title,
            price_cents: record.price_cents,
            currency: &record.currency,
            starts_at: rfc3339(record.starts_at),
            seconds_to_start: seconds_until(record.starts_at, now),
            state: phase,
            remaining,
            per_user_limit: record.per_user_limit,
            waiting_room: record.admission_per_second.is_some(),
        }))
}

fn standing_view(standing: crate::drops::waiting_room::Standing) -> StandingView {
    StandingView {
        ahead: standing.ahead,
        admitted: standing.admission_token.is_some(),
        admission_token: standing.admission_token,
    }
}

fn no_room() -> ApiError {
    ApiError::new(ErrorCode::NotFound).with_message("this drop has no waiting room")
}

async fn join_queue(
    req: HttpRequest,
    caller: AuthUser,
    path: web::Path<String>,
    drops: web::Data<Arc<Drops>>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let state = load_announced(&drops, &path, Some(&caller)).await?;
    let record = state.record();
    if record.admission_per_second.is_none() {
        return Err(no_room());
    }
    state.watch(user);
    let standing = drops
        .join_queue(record, user, client_ip(&req))
        .await
        .map_err(|refusal| match refusal {
            JoinRefusal::NotOpen { seconds_to_queue } => ApiError::new(ErrorCode::NotStarted)
                .with_message("the waiting room is not open yet")
                .with_details(json!({
                    "seconds_to_queue": seconds_to_queue,
                    "seconds_to_start": seconds_until(record.starts_at, drops.now()),
                })),
            JoinRefusal::TooOften { retry_after } => {
                ApiError::rate_limited(retry_after.as_secs_f64().ceil().max(1.0) as u64)
            }
            JoinRefusal::Unavailable => room_unavailable(),
        })?;
    Ok(HttpResponse::Ok().json(standing_view(standing)))
}

/// The room's holder cannot be reached (it is moving to another node): retry shortly.
fn room_unavailable() -> ApiError {
    ApiError::new(ErrorCode::Unavailable)
        .with_message("the waiting room is moving to another node; retry shortly")
}

async fn queue_standing(
    caller: AuthUser,
    path: web::Path<String>,
    drops: web::Data<Arc<Drops>>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let state = load_announced(&drops, &path, Some(&caller)).await?;
    let record = state.record();
    if record.admission_per_second.is_none() {
        return Err(no_room());
    }
    let standing = drops
        .queue_standing(record, user)
        .await
        .map_err(|_| room_unavailable())?
        .ok_or_else(|| {
            ApiError::new(ErrorCode::NotFound)
                .with_message("you are not in this queue; POST to join")
        })?;
    Ok(HttpResponse::Ok().json(standing_view(standing)))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    quantity: u32,
}

/// Checks the admission token of a drop with a waiting room.
fn admitted(req: &HttpRequest, auth: &Auth, caller: &AuthUser, drop: Uuid) -> bool {
    let Some(token) = req
        .headers()
        .get(ADMISSION_HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    auth.access.verify_admission(token).is_ok_and(|v| {
        v.scopes.contains(&admission_scope(drop))
            && matches!((&v.principal, &caller.principal), (Principal::User(a), Principal::User(b)) if a == b)
    })
}

async fn order(
    req: HttpRequest,
    caller: AuthUser,
    path: web::Path<String>,
    body: web::Bytes,
    drops: web::Data<Arc<Drops>>,
    stores: web::Data<Stores>,
    auth: web::Data<Auth>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    auth.require_verified(&caller, crate::auth::caller::VerifiedAction::Order)?;
    require_json(&req)?;
    let state = load_announced(&drops, &path, Some(&caller)).await?;
    let record = state.record();
    let parsed: OrderBody = serde_json::from_slice(&body).map_err(|e| {
        let code = if e.is_syntax() || e.is_eof() {
            ErrorCode::MalformedJson
        } else {
            ErrorCode::InvalidBody
        };
        ApiError::new(code).with_message(e.to_string())
    })?;
    let key = idempotency::key_of(&req, format!("drop-orders:{user}:{}", record.id))?;
    let fingerprint = idempotency::fingerprint(&body);
    // A retry of an answered request gets its answer, whatever the drop does now.
    if let Some(seen) = stores.idempotency.seen(&key).await? {
        if seen.fingerprint != fingerprint {
            return Err(idempotency::reused());
        }
        if let Some(answer) = seen.response {
            return Ok(idempotency::replay(&answer));
        }
    }
    let admitted = admitted(&req, &auth, &caller, record.id);
    drops
        .check_order(&state, parsed.quantity, admitted)
        .await
        .map_err(refusal)?;
    let keyed = KeyedOrder {
        key,
        fingerprint,
        limit_answer: StoredResponse {
            status: StatusCode::CONFLICT.as_u16(),
            body: refusal_body(ErrorCode::LimitReached).to_string(),
        },
    };
    // On a task of its own: a buyer who hangs up mid-order must not stop it between
    // taking units and recording the reservation (the units would be lost to the sale).
    let (service, held) = (drops.get_ref().clone(), state.clone());
    let outcome =
        tokio::spawn(async move { service.order(&held, user, parsed.quantity, keyed).await })
            .await
            .map_err(|err| ApiError::new(ErrorCode::Internal).with_message(err.to_string()))??;
    match outcome {
        OrderOutcome::Reserved(order) => Ok(HttpResponse::Created().json(order_view(&order))),
        OrderOutcome::SoldOut => Err(ApiError::new(ErrorCode::SoldOut)),
        OrderOutcome::LimitReached => Err(ApiError::new(ErrorCode::LimitReached)),
        OrderOutcome::Replay(answer) => Ok(idempotency::replay(&answer)),
        OrderOutcome::KeyReused => Err(idempotency::reused()),
        OrderOutcome::Running => Err(idempotency::running()),
    }
}

/// A refusal answered before anything is claimed or written.
fn refusal(refusal: OrderRefusal) -> ApiError {
    match refusal {
        OrderRefusal::Quantity { max } => {
            ApiError::invalid_field("quantity", format!("between 1 and {max}"))
        }
        OrderRefusal::NotStarted { seconds_to_start } => ApiError::new(ErrorCode::NotStarted)
            .with_details(json!({ "seconds_to_start": seconds_to_start })),
        OrderRefusal::NotAdmitted => ApiError::new(ErrorCode::NotAdmitted),
        OrderRefusal::SoldOut => ApiError::new(ErrorCode::SoldOut),
    }
}

/// The catalogue's error body, stored for idempotent replays of a refusal.
fn refusal_body(code: ErrorCode) -> serde_json::Value {
    json!({ "error": { "code": code.as_str(), "message": code.default_message(), "details": {} } })
}

async fn one_order(
    caller: AuthUser,
    path: web::Path<String>,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    let id = uuid_path(&path, "id")?;
    let order = stores.drops.order(id).await?;
    let visible = order.as_ref().is_some_and(|o| {
        caller.user_id().is_ok_and(|u| u == o.user) || caller.has_role(Role::Admin)
    });
    match order {
        Some(order) if visible => Ok(HttpResponse::Ok().json(order_view(&order))),
        // Someone else's order looks like no order at all.
        _ => Err(ApiError::new(ErrorCode::NotFound).with_message("no such order")),
    }
}
