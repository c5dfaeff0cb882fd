//! Admin routes (admin role). `POST /v1/admin/users/{id}/events` pushes a custom event to a
//! user through their session: it is sequenced, delivered to every socket of the user and
//! kept in their feed (an offline user gets it on resume). The answer comes once the event
//! is persisted. `GET /v1/admin/sessions` counts the sessions and sockets this node holds.

use actix_web::{HttpResponse, web};
use fitpulse_actors::domain::{Role, UserId};
use fitpulse_actors::events::EventKind;
use fitpulse_actors::hub::Hub;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiError, Contracts, ErrorCode};
use crate::auth::AuthUser;
use crate::metrics::Metrics;

/// Admin events live in their own family, so they never pass for the server's own.
const CUSTOM_PREFIX: &str = "custom.";
/// Largest `data` of a pushed event, serialized.
const MAX_EVENT_DATA_BYTES: usize = 16 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/admin/users/{id}/events").post(push_event))
        .service(web::resource("/v1/admin/sessions").get(sessions));
}

pub fn contracts(c: &mut Contracts) {
    c.post("/v1/admin/users/{id}/events")
        .body::<PushBody>()
        .json::<Pushed>(202)
        .bearer("admin role")
        .errors(&[403, 503]);
    c.get("/v1/admin/sessions")
        .ok::<Sessions>()
        .bearer("admin role")
        .errors(&[403]);
}

/// The event was sequenced and kept in the user's feed.
#[derive(Serialize, JsonSchema)]
struct Pushed {
    user_id: String,
    seq: u64,
}

/// What this node holds.
#[derive(Serialize, JsonSchema)]
struct Sessions {
    /// Always `node`: other nodes answer for themselves.
    scope: &'static str,
    sessions: usize,
    sockets: i64,
}

/// A custom event for one user.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PushBody {
    #[serde(rename = "type")]
    kind: String,
    /// A JSON object; `{}` when left out.
    #[serde(default)]
    #[schemars(with = "Option<serde_json::Map<String, Value>>")]
    data: Option<Value>,
}

async fn push_event(
    caller: AuthUser,
    path: web::Path<String>,
    body: web::Json<PushBody>,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let user: UserId = path
        .parse()
        .map_err(|_| ApiError::new(ErrorCode::InvalidPath).with_message("the user id is a UUID"))?;
    let body = body.into_inner();
    let kind = EventKind::parse(&body.kind)
        .ok()
        .filter(|k| k.as_str().starts_with(CUSTOM_PREFIX))
        .ok_or_else(|| {
            ApiError::invalid_field("type", "a custom event type such as `custom.announcement`")
        })?;
    let data = body.data.unwrap_or_else(|| json!({}));
    if !data.is_object() {
        return Err(ApiError::invalid_field("data", "must be a JSON object"));
    }
    let data = data.to_string();
    if data.len() > MAX_EVENT_DATA_BYTES {
        return Err(ApiError::invalid_field(
            "data",
            format!("at most {MAX_EVENT_DATA_BYTES} bytes"),
        ));
    }
    let seq = hub.publish(user, kind, data).await?;
    Ok(HttpResponse::Accepted().json(Pushed {
        user_id: user.to_string(),
        seq,
    }))
}

/// What this node holds now: user sessions in memory and open sockets. Other nodes answer
/// for themselves (the numbers are also in `/metrics`).
async fn sessions(
    caller: AuthUser,
    hub: web::Data<Hub>,
    metrics: web::Data<Metrics>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    Ok(HttpResponse::Ok().json(Sessions {
        scope: "node",
        sessions: hub.session_count().await,
        sockets: metrics.ws_connections.get(),
    }))
}
