//! Group routes: `POST /v1/groups` creates one, `GET /v1/groups/{id}` shows it,
//! `PUT/DELETE /v1/groups/{id}/members/me` joins and leaves, `GET /v1/groups/{id}/members`
//! lists the members (for members).

use actix_web::{HttpResponse, web};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Data, users_view};
use crate::auth::AuthUser;
use crate::community::GroupSummary;
use crate::http::ApiError;
use crate::http::error::{bounded_text, uuid_path};
use crate::http::views::rfc3339;

const MAX_NAME: usize = 60;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupBody {
    name: String,
    max_members: Option<u32>,
}

/// A group and how many members it has.
#[derive(Serialize, JsonSchema)]
pub(super) struct GroupView<'a> {
    id: Uuid,
    name: &'a str,
    owner_id: String,
    max_members: u32,
    members: usize,
    created_at: String,
}

/// Whether the member is in the group now, and whether this call changed that.
#[derive(Serialize, JsonSchema)]
pub(super) struct Membership {
    member: bool,
    changed: bool,
}

fn group_view(summary: &GroupSummary) -> GroupView<'_> {
    let g = &summary.group;
    GroupView {
        id: g.id,
        name: &g.name,
        owner_id: g.owner.to_string(),
        max_members: g.max_members,
        members: summary.members,
        created_at: rfc3339(g.created_at),
    }
}

pub(super) async fn create(
    caller: AuthUser,
    body: web::Json<GroupBody>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let b = body.into_inner();
    let name = bounded_text("name", &b.name, MAX_NAME)?;
    let created = community.create_group(user, name, b.max_members).await?;
    Ok(HttpResponse::Created().json(group_view(&created)))
}

pub(super) async fn group(
    _caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let summary = community.group(uuid_path(&path, "id")?).await?;
    Ok(HttpResponse::Ok().json(group_view(&summary)))
}

pub(super) async fn join(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let changed = community
        .join(caller.user_id()?, uuid_path(&path, "id")?)
        .await?;
    Ok(HttpResponse::Ok().json(Membership {
        member: true,
        changed,
    }))
}

pub(super) async fn leave(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let changed = community
        .leave(caller.user_id()?, uuid_path(&path, "id")?)
        .await?;
    Ok(HttpResponse::Ok().json(Membership {
        member: false,
        changed,
    }))
}

pub(super) async fn members(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let group = uuid_path(&path, "id")?;
    let members = community.members(caller.user_id()?, group).await?;
    Ok(HttpResponse::Ok().json(users_view(&members)))
}
