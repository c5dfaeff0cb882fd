//! Group post routes: `POST/GET /v1/groups/{id}/posts`, comments
//! (`POST /v1/groups/{id}/posts/{post_id}/comments`) and likes
//! (`PUT /v1/groups/{id}/posts/{post_id}/like`).

use actix_web::{HttpResponse, web};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Data, PostView, post_view};
use crate::auth::caller::VerifiedAction;
use crate::auth::{Auth, AuthUser};
use crate::http::ApiError;
use crate::http::error::{bounded_text, long_text, uuid_path};
use crate::http::views::Page;

const MAX_POST: usize = 2_000;
const MAX_COMMENT: usize = 500;
const MAX_IMAGE_REF: usize = 200;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PostBody {
    text: String,
    image_ref: Option<String>,
}

pub(super) async fn create(
    caller: AuthUser,
    path: web::Path<String>,
    body: web::Json<PostBody>,
    community: Data,
    auth: web::Data<Auth>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    auth.require_verified(&caller, VerifiedAction::Post)?;
    let group = uuid_path(&path, "id")?;
    let b = body.into_inner();
    let image_ref = b
        .image_ref
        .map(|i| bounded_text("image_ref", &i, MAX_IMAGE_REF))
        .transpose()?;
    let text = long_text("text", &b.text, MAX_POST)?;
    let post = community.post(user, group, text, image_ref).await?;
    Ok(HttpResponse::Created().json(post_view(&post, 0)))
}

pub(super) async fn list(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let viewer = caller.user_id()?;
    let posts = community.posts(viewer, uuid_path(&path, "id")?).await?;
    let items = posts
        .iter()
        .map(|listed| ListedPost {
            post: post_view(&listed.post, listed.likes),
            comments: listed.comments.iter().map(|c| post_view(c, 0)).collect(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::all(items)))
}

/// A post with its comments.
#[derive(Serialize, JsonSchema)]
pub(super) struct ListedPost<'a> {
    #[serde(flatten)]
    post: PostView<'a>,
    comments: Vec<PostView<'a>>,
}

/// The member likes the post; whether this call changed that, and its count.
#[derive(Serialize, JsonSchema)]
pub(super) struct PostLiked {
    liked: bool,
    changed: bool,
    likes: u64,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CommentBody {
    text: String,
}

pub(super) async fn comment(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    body: web::Json<CommentBody>,
    community: Data,
    auth: web::Data<Auth>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    auth.require_verified(&caller, VerifiedAction::Comment)?;
    let group = uuid_path(&path.0, "id")?;
    let post = uuid_path(&path.1, "post_id")?;
    let text = long_text("text", &body.text, MAX_COMMENT)?;
    let comment = community.comment(user, group, post, text).await?;
    Ok(HttpResponse::Created().json(post_view(&comment, 0)))
}

pub(super) async fn like(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let group = uuid_path(&path.0, "id")?;
    let post = uuid_path(&path.1, "post_id")?;
    let like = community.like_post(user, group, post).await?;
    Ok(HttpResponse::Ok().json(PostLiked {
        liked: true,
        changed: like.changed,
        likes: like.likes,
    }))
}
