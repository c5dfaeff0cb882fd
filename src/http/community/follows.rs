//! Follow and block routes: `PUT/DELETE /v1/me/following/{user_id}`,
//! `GET /v1/me/following` and `/v1/me/followers`, `PUT/DELETE /v1/me/blocks/{user_id}` and
//! `GET /v1/me/blocks` a page at a time.

use actix_web::{HttpResponse, web};
use fitpulse_actors::domain::UserId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Data, user_of, users_view};
use crate::auth::AuthUser;
use crate::http::ApiError;

/// The largest page of blocked users, and the page when the caller does not say.
const MAX_BLOCKS_PAGE: usize = 200;
const DEFAULT_BLOCKS_PAGE: usize = 50;

pub(super) async fn follow(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let changed = community.follow(caller.user_id()?, user_of(&path)?).await?;
    Ok(HttpResponse::Ok().json(Following {
        following: true,
        changed,
    }))
}

pub(super) async fn unfollow(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let changed = community
        .unfollow(caller.user_id()?, user_of(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(Following {
        following: false,
        changed,
    }))
}

pub(super) async fn following(caller: AuthUser, community: Data) -> Result<HttpResponse, ApiError> {
    let users = community.following(caller.user_id()?).await?;
    Ok(HttpResponse::Ok().json(users_view(&users)))
}

pub(super) async fn followers(caller: AuthUser, community: Data) -> Result<HttpResponse, ApiError> {
    let users = community.followers(caller.user_id()?).await?;
    Ok(HttpResponse::Ok().json(users_view(&users)))
}

pub(super) async fn block(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    community.block(caller.user_id()?, user_of(&path)?).await?;
    Ok(HttpResponse::Ok().json(Blocked { blocked: true }))
}

pub(super) async fn unblock(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    community
        .unblock(caller.user_id()?, user_of(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(Blocked { blocked: false }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// Whom the caller blocked, by user id, a page at a time (`limit` 1-200, default 50;
/// `cursor` from the previous page).
pub(super) async fn blocks(
    caller: AuthUser,
    query: web::Query<PageQuery>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_BLOCKS_PAGE);
    if !(1..=MAX_BLOCKS_PAGE).contains(&limit) {
        return Err(ApiError::invalid_query("limit", "1 to 200"));
    }
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<UserId>()
                .map_err(|_| ApiError::invalid_query("cursor", "a cursor from the previous page"))
        })
        .transpose()?;
    let page = community
        .blocked_page(caller.user_id()?, after, limit)
        .await?;
    let mut view = users_view(&page.users);
    view.next_cursor = page.next.map(|u| u.to_string());
    Ok(HttpResponse::Ok().json(view))
}

/// Whether the member follows the user now, and whether this call changed that.
#[derive(Serialize, JsonSchema)]
pub(super) struct Following {
    following: bool,
    changed: bool,
}

/// Whether the member blocks the user now.
#[derive(Serialize, JsonSchema)]
pub(super) struct Blocked {
    blocked: bool,
}
