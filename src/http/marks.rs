//! Likes and saves: `PUT/DELETE /v1/me/likes/{kind}/{id}`, `GET /v1/me/likes`, and the same
//! under `/v1/me/saved`. Both are idempotent (a second like changes nothing and answers
//! the same). A like that changed something moves the read model's count, so counts stay
//! exact however many users like at once; liking a member's post tells its author.

use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fitpulse_actors::domain::{ContentKind, ItemRef, UserId};
use fitpulse_actors::events::data::EventData;
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::store::Mark;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::catalog::published;
use super::views::{Page, rfc3339};
use super::{ApiError, Contracts, ErrorCode};
use std::sync::Arc;

use crate::auth::AuthUser;
use crate::community::Community;
use crate::community::events::{CommunityPostLiked, ItemLiked};
use crate::content::Content;
use crate::content::query::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::content::views::MarkedItem;
use crate::push::texts::SocialEvent;
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

pub fn contracts(c: &mut Contracts) {
    let who = "a user";
    let item_errors: &[u16] = &[400, 403, 404];
    c.put("/v1/me/likes/{kind}/{id}")
        .ok::<LikeState>()
        .bearer(who)
        .errors(item_errors);
    c.delete("/v1/me/likes/{kind}/{id}")
        .ok::<LikeState>()
        .bearer(who)
        .errors(item_errors);
    c.get("/v1/me/likes")
        .ok::<Page<Liked>>()
        .bearer(who)
        .errors(&[400, 403]);
    c.put("/v1/me/saved/{kind}/{id}")
        .ok::<SaveState>()
        .bearer(who)
        .errors(item_errors);
    c.delete("/v1/me/saved/{kind}/{id}")
        .ok::<SaveState>()
        .bearer(who)
        .errors(item_errors);
    c.get("/v1/me/saved")
        .ok::<Page<Saved>>()
        .bearer(who)
        .errors(&[400, 403]);
}

/// Whether the caller likes the item now, whether this call changed that, and its count.
#[derive(Serialize, JsonSchema)]
struct LikeState {
    liked: bool,
    changed: bool,
    likes: u64,
}

/// Whether the caller has the item saved now, and whether this call changed that.
#[derive(Serialize, JsonSchema)]
struct SaveState {
    saved: bool,
    changed: bool,
}

/// A liked item: its preview, or `{"kind","id","available":false}` once unpublished.
#[derive(Serialize, JsonSchema)]
struct Liked {
    liked_at: String,
    #[schemars(with = "MarkedItem")]
    item: Value,
}

/// A saved item: its preview, or `{"kind","id","available":false}` once unpublished.
#[derive(Serialize, JsonSchema)]
struct Saved {
    saved_at: String,
    #[schemars(with = "MarkedItem")]
    item: Value,
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
    community: web::Data<Arc<Community>>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let item = path_item(&path)?;
    let entry = published(&content, &item)?;
    let changed = stores.likes.like(user, &item).await?;
    if changed {
        content.count_like(&item, true);
        if let Some(author) = entry.item.meta.author_id.filter(|a| *a != user) {
            notify_author(&hub, author, user, &item, &entry.item.meta.title);
            community.push_social(author, user, SocialEvent::Like).await;
        }
    }
    Ok(HttpResponse::Ok().json(LikeState {
        liked: true,
        changed,
        likes: entry.likes(),
    }))
}

/// Tells a post's author that someone liked it (a community event in their feed).
fn notify_author(hub: &Hub, author: UserId, liker: UserId, item: &ItemRef, title: &str) {
    let hub = hub.clone();
    let data = CommunityPostLiked::Item(ItemLiked {
        by_user_id: liker.to_string(),
        kind: item.kind().as_str(),
        id: item.id().to_owned(),
        title: title.to_owned(),
    })
    .to_json();
    actix_web::rt::spawn(async move {
        let kind = CommunityPostLiked::KIND;
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
    Ok(HttpResponse::Ok().json(LikeState {
        liked: false,
        changed,
        likes,
    }))
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
    Ok(HttpResponse::Ok().json(SaveState {
        saved: true,
        changed,
    }))
}

async fn unsave(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let item = path_item(&path)?;
    let changed = stores.saves.unsave(user, &item).await?;
    Ok(HttpResponse::Ok().json(SaveState {
        saved: false,
        changed,
    }))
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
    let page = page(marks, query.into_inner(), &content)?;
    Ok(HttpResponse::Ok().json(page.map(|(liked_at, item)| Liked { liked_at, item })))
}

async fn saved(
    caller: AuthUser,
    query: web::Query<MarksQuery>,
    stores: web::Data<Stores>,
    content: web::Data<Content>,
) -> Result<HttpResponse, ApiError> {
    let marks = stores.saves.saved_of(caller.user_id()?).await?;
    let page = page(marks, query.into_inner(), &content)?;
    Ok(HttpResponse::Ok().json(page.map(|(saved_at, item)| Saved { saved_at, item })))
}

/// Newest first, each mark's time and item; the cursor is the last mark's time and item.
fn page(
    mut marks: Vec<Mark>,
    query: MarksQuery,
    content: &Content,
) -> Result<Page<(String, Value)>, ApiError> {
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
    let items = rest
        .iter()
        .take(limit)
        .map(|m| {
            let item = match content.catalog.get(&m.item) {
                Some(entry) => serde_json::from_str(&entry.preview_json()).unwrap_or(Value::Null),
                None => {
                    json!({ "kind": m.item.kind().as_str(), "id": m.item.id(), "available": false })
                }
            };
            (rfc3339(m.at), item)
        })
        .collect();
    let next_cursor = (rest.len() > limit).then(|| {
        let last = &rest[limit - 1];
        URL_SAFE_NO_PAD.encode(format!("{}.{}", last.at, last.item))
    });
    Ok(Page { items, next_cursor })
}
