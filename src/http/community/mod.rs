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
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

use super::error::uuid_path;
use super::views::{Page, rfc3339};
use super::{ApiError, Contracts, ErrorCode};
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

pub fn contracts(c: &mut Contracts) {
    let member = "a user";
    let verified = "a user with a verified email";
    let admin = "admin role";
    c.post("/v1/me/checkins")
        .body::<checkins::CheckinBody>()
        .created::<checkins::CheckinView>()
        .ok::<checkins::CheckinView>()
        .bearer(member)
        .errors(&[403]);
    c.get("/v1/me/checkins")
        .ok::<checkins::CheckinPage>()
        .bearer(member)
        .errors(&[400, 403]);
    for method in ["put", "delete"] {
        c.method(method, "/v1/me/following/{user_id}")
            .ok::<follows::Following>()
            .bearer(member)
            .errors(&[400, 403, 404]);
        c.method(method, "/v1/me/blocks/{user_id}")
            .ok::<follows::Blocked>()
            .bearer(member)
            .errors(&[400, 403, 404, 409]);
    }
    c.get("/v1/me/following")
        .ok::<Page<UserRef>>()
        .bearer(member)
        .errors(&[403]);
    c.get("/v1/me/followers")
        .ok::<Page<UserRef>>()
        .bearer(member)
        .errors(&[403]);
    c.get("/v1/me/blocks")
        .ok::<Page<UserRef>>()
        .bearer(member)
        .errors(&[400, 403]);
    c.post("/v1/me/activities")
        .body::<activity::ActivityBody>()
        .json::<activity::Shared>(202)
        .bearer(member)
        .errors(&[403]);
    c.get("/v1/users/{id}/activity")
        .ok::<Page<activity::ActivityView>>()
        .bearer("a user the member does not block")
        .errors(&[400, 403, 404]);
    c.post("/v1/groups")
        .body::<groups::GroupBody>()
        .created::<groups::GroupView>()
        .bearer(member)
        .errors(&[403]);
    c.get("/v1/groups/{id}")
        .ok::<groups::GroupView>()
        .bearer(member)
        .errors(&[400, 404]);
    for method in ["put", "delete"] {
        c.method(method, "/v1/groups/{id}/members/me")
            .ok::<groups::Membership>()
            .bearer(member)
            .errors(&[400, 403, 404, 409]);
    }
    c.get("/v1/groups/{id}/members")
        .ok::<Page<UserRef>>()
        .bearer("a member of the group")
        .errors(&[400, 403, 404]);
    c.post("/v1/groups/{id}/posts")
        .body::<posts::PostBody>()
        .created::<PostView>()
        .bearer(verified)
        .errors(&[403, 404]);
    c.get("/v1/groups/{id}/posts")
        .ok::<Page<posts::ListedPost>>()
        .bearer("a member of the group")
        .errors(&[400, 403, 404]);
    c.post("/v1/groups/{id}/posts/{post_id}/comments")
        .body::<posts::CommentBody>()
        .created::<PostView>()
        .bearer(verified)
        .errors(&[403, 404]);
    c.put("/v1/groups/{id}/posts/{post_id}/like")
        .ok::<posts::PostLiked>()
        .bearer("a member of the group")
        .errors(&[400, 403, 404]);
    c.post("/v1/reports")
        .body::<reports::ReportBody>()
        .created::<reports::Reported>()
        .bearer(member)
        .errors(&[403]);
    c.get("/v1/admin/reports")
        .ok::<Page<reports::ReportView>>()
        .bearer(admin)
        .errors(&[403]);
    c.delete("/v1/admin/community/posts/{id}")
        .ok::<reports::Removed>()
        .bearer(admin)
        .errors(&[400, 403, 404]);
}

/// A user named in a list (followers, blocks, group members).
#[derive(Serialize, JsonSchema)]
struct UserRef {
    user_id: String,
}

/// A group post or comment.
#[derive(Serialize, JsonSchema)]
struct PostView<'a> {
    id: Uuid,
    group_id: Uuid,
    author_id: String,
    text: &'a str,
    image_ref: Option<&'a str>,
    created_at: String,
    likes: u64,
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
fn users_view(users: &[UserId]) -> Page<UserRef> {
    Page::all(
        users
            .iter()
            .map(|u| UserRef {
                user_id: u.to_string(),
            })
            .collect(),
    )
}

/// A post or a comment (comments show no likes: 0).
fn post_view(p: &PostRecord, likes: u64) -> PostView<'_> {
    PostView {
        id: p.id,
        group_id: p.group,
        author_id: p.author.to_string(),
        text: &p.text,
        image_ref: p.image_ref.as_deref(),
        created_at: rfc3339(p.created_at),
        likes,
    }
}
