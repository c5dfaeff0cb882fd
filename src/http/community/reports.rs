//! Report and moderation routes: `POST /v1/reports` files a report, and for admins
//! `GET /v1/admin/reports` reads the queue and `DELETE /v1/admin/community/posts/{id}`
//! takes a post or comment down.

use actix_web::{HttpResponse, web};
use fitpulse_actors::domain::{Role, UserId};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Data;
use crate::auth::AuthUser;
use crate::community::ReportTarget;
use crate::http::ApiError;
use crate::http::error::{long_text, uuid_path};
use crate::http::views::{Page, rfc3339};

const MAX_REASON: usize = 500;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ReportBody {
    target_kind: String,
    target_id: String,
    reason: String,
}

pub(super) async fn report(
    caller: AuthUser,
    body: web::Json<ReportBody>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let b = body.into_inner();
    let target = ReportTarget::parse(&b.target_kind, b.target_id)?;
    let reason = long_text("reason", &b.reason, MAX_REASON)?;
    let id = community.report(user, target, reason).await?;
    Ok(HttpResponse::Created().json(Reported { id }))
}

pub(super) async fn reports(caller: AuthUser, community: Data) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let reports = community.reports().await?;
    let items = reports
        .iter()
        .map(|r| ReportView {
            id: r.id,
            reporter_id: r.reporter.to_string(),
            target_kind: &r.target_kind,
            target_id: &r.target_id,
            reason: &r.reason,
            created_at: rfc3339(r.created_at),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::all(items)))
}

/// Takes a post or comment down (admins only); see `Community::remove_post`.
pub(super) async fn remove_post(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    // An admin token for a service client has no user; the log names the nil id then.
    let moderator = caller
        .user_id()
        .unwrap_or_else(|_| UserId::from_uuid(Uuid::nil()));
    let post = community
        .remove_post(moderator, uuid_path(&path, "id")?)
        .await?;
    Ok(HttpResponse::Ok().json(Removed {
        id: post.id,
        removed: true,
    }))
}

/// The report was filed.
#[derive(Serialize, JsonSchema)]
pub(super) struct Reported {
    id: Uuid,
}

/// A report for moderators.
#[derive(Serialize, JsonSchema)]
pub(super) struct ReportView<'a> {
    id: Uuid,
    reporter_id: String,
    /// `post`, `comment` or `user`.
    target_kind: &'a str,
    target_id: &'a str,
    reason: &'a str,
    created_at: String,
}

/// The post is removed.
#[derive(Serialize, JsonSchema)]
pub(super) struct Removed {
    id: Uuid,
    removed: bool,
}
