//! Likes and saves: `PUT/DELETE /v1/me/likes/{kind}/{id}`, `GET /v1/me/likes`, and the same
//! under `/v1/me/saved`. Both are idempotent (a second like changes nothing and answers
//! the same). A like that changed something moves the read model's count, so counts stay
//! exact however many users like at once; liking a member's post tells its author.

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fitpulse_actors::domain::{ContentKind, ItemRef, UserId};
use fitpulse_actors::events::kinds;
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::store::Mark;
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog::published;
use super::views::rfc3339;
use super::{ApiError, ErrorCode};
use crate::auth::AuthUser;
use crate::content::Content;
use crate::content::query::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::store::Stores;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/me/likes/{kind}/{id}")
            .put(like)
            .delete(unlike),
    )
    .service(web::resource("/v1/me/likes").get(likes))
    .service(
        web::resource("/v1/me/saved/{kind}/{id}")
            .put(save)
            .delete(unsave),
    )
    .service(web::resource("/v1/me/saved").get(saved));
}

fn path_item(path: &(String, String)) -> Result<ItemRef, ApiError> {
    ItemRef::parse(&path.0, &path.1)
        .map_err(|e| ApiError::new(ErrorCode::InvalidPath).with_message(e.to_string()))
}

async fn like(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    stores: web::Data<Stores>,
    content: web::Data<Content>,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let item = path_item(&path)?;
    let entry = published(&content, &item)?;
    let changed = stores.likes.like(user, &item).await?;
    if changed {
        content.count_like(&item, true);
        if let Some(author) = entry.item.meta.author_id.filter(|a| *a != user) {
            notify_author(&hub, author, user, &item, &entry.item.meta.title);
        }
    }
    Ok(HttpResponse::Ok().json(json!({
        "liked": true, "changed": changed, "likes": entry.likes(),
    })))
}

/// Tells a post's author that someone liked it (a community event in their feed).
fn notify_author(hub: &Hub, author: UserId, liker: UserId, item: &ItemRef, title: &str) {
    let hub = hub.clone();
    let data = json!({
        "by_user_id": liker.to_string(), "kind": item.kind().as_str(),
        "id": item.id(), "title": title,
    })
    .to_string();
    actix_web::rt::spawn(async move {
        let kind = kinds::COMMUNITY_POST_LIKED;
        if let Err(err) = hub.publish(author, kind, data).await {
            tracing::warn!(user_id = %author, error = %err, "cannot tell an author about a like");
        }
    });
}

async fn unlike(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    stores: web::Data<Stores>,
    content: web::Data<Content>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let item = path_item(&path)?;
    // Unliking something since unpublished still works: the like row must be removable.
    let changed = stores.likes.unlike(user, &item).await?;
    if changed {
        content.count_like(&item, false);
    }
    let likes = content.catalog.get_any(&item).map_or(0, |e| e.likes());
    Ok(HttpResponse::Ok().json(json!({ "liked": false, "changed": changed, "likes": likes })))
}

async fn save(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    stores: web::Data<Stores>,
    content: web::Data<Content>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let item = path_item(&path)?;
    published(&content, &item)?;
    let changed = stores.saves.save(user, &item).await?;
    Ok(HttpResponse::Ok().json(json!({ "saved": true, "changed": changed })))
}

async fn unsave(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let item = path_item(&path)?;
    let changed = stores.saves.unsave(user, &item).await?;
    Ok(HttpResponse::Ok().json(json!({ "saved": false, "changed": changed })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MarksQuery {
    kind: Option<String>,
    cursor: Option<String>,
    limit: Option<usize>,
}

async fn likes(
    caller: AuthUser,
    query: web::Query<MarksQuery>,
    stores: web::Data<Stores>,
    content: web::Data<Content>,
) -> Result<HttpResponse, ApiError> {
    let marks = stores.likes.likes_of(caller.user_id()?).await?;
    Ok(HttpResponse::Ok().json(page(marks, query.into_inner(), &content, "liked_at")?))
}

async fn saved(
    caller: AuthUser,
    query: web::Query<MarksQuery>,
    stores: web::Data<Stores>,
    content: web::Data<Content>,
) -> Result<HttpResponse, ApiError> {
    let marks = stores.saves.saved_of(caller.user_id()?).await?;
    Ok(HttpResponse::Ok().json(page(marks, query.into_inner(), &content, "saved_at")?))
}

/// Newest first; the cursor is the last mark's time and item.
fn page(
    mut marks: Vec<Mark>,
    query: MarksQuery,
    content: &Content,
    at_field: &str,
) -> Result<Value, ApiError> {
    if let Some(kind) = &query.kind {
        let kind = ContentKind::parse(kind).ok_or_else(|| {
            ApiError::invalid_query("kind", "one of: recipe, workout, plan, post")
        })?;
        marks.retain(|m| m.item.kind() == kind);
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_query("limit", "between 1 and 100"));
    }
    let key = |m: &Mark| (std::cmp::Reverse(m.at), m.item.to_string());
    marks.sort_by_key(key);
    let start = match &query.cursor {
        None => 0,
        Some(cursor) => {
            let bad = || ApiError::invalid_query("cursor", "not a cursor from this list");
            let text = URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(bad)?;
            let (at, item) = text.split_once('.').ok_or_else(bad)?;
            let after = (
                std::cmp::Reverse(at.parse::<i64>().map_err(|_| bad())?),
                item.to_owned(),
            );
            marks.partition_point(|m| key(m) <= after)
        }
    };
    let rest = &marks[start..];
    let items: Vec<Value> = rest
        .iter()
        .take(limit)
        .map(|m| {
            let item = match content.catalog.get(&m.item) {
                Some(entry) => serde_json::from_str(&entry.preview_json()).unwrap_or(Value::Null),
                None => {
                    json!({ "kind": m.item.kind().as_str(), "id": m.item.id(), "available": false })
                }
            };
            json!({ at_field: rfc3339(m.at), "item": item })
        })
        .collect();
    let next_cursor = (rest.len() > limit).then(|| {
        let last = &rest[limit - 1];
        URL_SAFE_NO_PAD.encode(format!("{}.{}", last.at, last.item))
    });
    Ok(json!({ "items": items, "next_cursor": next_cursor }))
}
