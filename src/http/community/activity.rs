//! Activity routes: `POST /v1/me/activities` shares a workout or class with followers and
//! groups (202, with how many it was pushed to); `GET /v1/users/{id}/activity` pulls an
//! author's latest activities.

use actix_web::{HttpResponse, web};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Data, user_of};
use crate::auth::AuthUser;
use crate::community::NewActivity;
use crate::http::ApiError;
use crate::http::views::{Page, rfc3339};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ActivityBody {
    /// `workout_finished` or `live_class_joined`.
    #[serde(rename = "type")]
    kind: String,
    item_id: Option<String>,
}

pub(super) async fn share(
    caller: AuthUser,
    body: web::Json<ActivityBody>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let b = body.into_inner();
    let activity = NewActivity::parse(&b.kind, b.item_id)?;
    let pushed = community.share_activity(user, activity).await?;
    Ok(HttpResponse::Accepted().json(Shared { pushed_to: pushed }))
}

pub(super) async fn pull(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let events = community
        .pull_activity(caller.user_id()?, user_of(&path)?)
        .await?;
    let items = events
        .iter()
        .map(|e| ActivityView {
            at: rfc3339(e.at),
            data: serde_json::from_str::<Value>(&e.data).unwrap_or(Value::Null),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::all(items)))
}

/// How many followers the activity was pushed to.
#[derive(Serialize, JsonSchema)]
pub(super) struct Shared {
    pushed_to: usize,
}

/// One shared activity: when, and the `community.activity` event's data.
#[derive(Serialize, JsonSchema)]
pub(super) struct ActivityView {
    at: String,
    data: Value,
}
