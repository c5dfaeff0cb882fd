//! Community routes: check-ins (`POST/GET /v1/me/checkins`), follows
//! (`PUT/DELETE /v1/me/following/{user_id}`, `GET /v1/me/following|followers`), blocks
//! (`PUT/DELETE/GET /v1/me/blocks[/{user_id}]`), activities (`POST /v1/me/activities`,
//! pulled with `GET /v1/users/{id}/activity`), groups (`POST /v1/groups`,
//! `GET /v1/groups/{id}`, `PUT/DELETE /v1/groups/{id}/members/me`, members), group posts
//! with comments and likes, reports (`POST /v1/reports`, `GET /v1/admin/reports`) and
//! moderation (`DELETE /v1/admin/community/posts/{id}`).
//!
//! One file per area parses the request, calls [`Community`] and renders the answer; the
//! rules are the service's. This module mounts the routes, maps [`CommunityError`] into the
//! API error catalogue and holds the views the areas share.

mod activity;
mod checkins;
mod follows;
mod groups;
mod posts;
mod reports;

use std::sync::Arc;

use actix_web::web;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::community::PostRecord;
use serde_json::{Value, json};

use super::error::uuid_path;
use super::views::rfc3339;
use super::{ApiError, ErrorCode};
use crate::community::{Community, CommunityError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/me/checkins")
            .post(checkins::check_in)
            .get(checkins::checkins),
    )
    .service(
        web::resource("/v1/me/following/{user_id}")
            .put(follows::follow)
            .delete(follows::unfollow),
    )
    .service(web::resource("/v1/me/following").get(follows::following))
    .service(web::resource("/v1/me/followers").get(follows::followers))
    .service(
        web::resource("/v1/me/blocks/{user_id}")
            .put(follows::block)
            .delete(follows::unblock),
    )
    .service(web::resource("/v1/me/blocks").get(follows::blocks))
    .service(web::resource("/v1/me/activities").post(activity::share))
    .service(web::resource("/v1/users/{id}/activity").get(activity::pull))
    .service(web::resource("/v1/groups").post(groups::create))
    .service(web::resource("/v1/groups/{id}").get(groups::group))
    .service(
        web::resource("/v1/groups/{id}/members/me")
            .put(groups::join)
            .delete(groups::leave),
    )
    .service(web::resource("/v1/groups/{id}/members").get(groups::members))
    .service(
        web::resource("/v1/groups/{id}/posts")
            .post(posts::create)
            .get(posts::list),
    )
    .service(web::resource("/v1/groups/{id}/posts/{post_id}/comments").post(posts::comment))
    .service(web::resource("/v1/groups/{id}/posts/{post_id}/like").put(posts::like))
    .service(web::resource("/v1/reports").post(reports::report))
    .service(web::resource("/v1/admin/reports").get(reports::reports))
    .service(web::resource("/v1/admin/community/posts/{id}").delete(reports::remove_post));
}

type Data = web::Data<Arc<Community>>;

impl From<CommunityError> for ApiError {
    fn from(err: CommunityError) -> Self {
        match err {
            CommunityError::NoSuchUser
            | CommunityError::NoSuchGroup
            | CommunityError::NoSuchPost => {
                ApiError::new(ErrorCode::NotFound).with_message(err.to_string())
            }
            CommunityError::NotMember => {
                ApiError::new(ErrorCode::Forbidden).with_message(err.to_string())
            }
            CommunityError::GroupFull(_) => {
                ApiError::new(ErrorCode::Conflict).with_message(err.to_string())
            }
            CommunityError::RateLimited(seconds) => ApiError::rate_limited(seconds),
            CommunityError::InvalidField { field, reason } => {
                ApiError::invalid_field(field, reason)
            }
            CommunityError::TooManyBlocks => {
                ApiError::new(ErrorCode::LimitReached).with_message(err.to_string())
            }
            CommunityError::Store(err) => err.into(),
        }
    }
}

/// A user id in the path.
fn user_of(raw: &str) -> Result<UserId, ApiError> {
    Ok(UserId::from_uuid(uuid_path(raw, "user_id")?))
}

/// A list of users, one page.
fn users_view(users: &[UserId]) -> Value {
    let items: Vec<Value> = users
        .iter()
        .map(|u| json!({ "user_id": u.to_string() }))
        .collect();
    json!({ "items": items, "next_cursor": null })
}

/// A post or a comment (comments show no likes: 0).
fn post_view(p: &PostRecord, likes: u64) -> Value {
    json!({
        "id": p.id, "group_id": p.group, "author_id": p.author.to_string(), "text": p.text,
        "image_ref": p.image_ref, "created_at": rfc3339(p.created_at), "likes": likes,
    })
}
