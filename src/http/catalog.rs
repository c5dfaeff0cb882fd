//! Catalog reads: `GET /v1/{recipes,workouts,plans,posts}` (filters, sort, cursor) and
//! `GET /v1/{kind}s/{id}`, all served from the in-memory read model and cacheable.
//!
//! Lists show every item's preview, premium or not, the same for every caller (`public`).
//! One item's full body needs the premium entitlement when the item is premium: such
//! answers are `private` with `Vary: Authorization`, so a shared cache never hands a
//! premium body to a free caller; without the entitlement the answer is 403
//! `premium_required` naming the offers that unlock it.

use actix_web::{HttpRequest, HttpResponse, web};
use fitpulse_actors::domain::{ContentKind, ItemRef};
use serde_json::json;

use super::cache::{CachePolicy, respond, tag_of};
use super::views::Page;
use super::{ApiError, Contracts, ErrorCode};
use crate::auth::{AuthUser, MaybeAuthUser};
use crate::content::query::{Filter, ListQuery, QueryError};
use crate::content::views::{ItemPreview, ItemView, Liked};
use crate::content::{Content, Entry};
use crate::store::Stores;

pub fn configure(cfg: &mut web::ServiceConfig) {
    for kind in ContentKind::ALL {
        let collection = format!("/v1/{}s", kind.as_str());
        cfg.service(
            web::resource(collection.clone())
                .app_data(web::Data::new(kind))
                .get(list),
        )
        .service(
            web::resource(format!("{collection}/{{id}}"))
                .app_data(web::Data::new(kind))
                .get(one),
        );
    }
}

pub fn contracts(c: &mut Contracts) {
    for kind in ContentKind::ALL {
        let collection = format!("/v1/{}s", kind.as_str());
        c.get(collection.clone())
            .ok::<Page<ContentPreview>>()
            .errors(&[400]);
        c.get(format!("{collection}/{{id}}"))
            .ok::<ContentItem>()
            .optional_bearer("premium items need a token with the premium entitlement")
            .errors(&[400, 403, 404]);
    }
}

/// A catalog item as lists show it, with its like count.
pub type ContentPreview = Liked<ItemPreview>;

/// A whole catalog item (premium part included), with its like count.
pub type ContentItem = Liked<ItemView>;

impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> Self {
        ApiError::invalid_query(err.param, &err.reason)
    }
}

fn public(content: &Content) -> CachePolicy {
    CachePolicy {
        max_age_seconds: content.settings.max_age_seconds,
        public: true,
        vary_authorization: false,
    }
}

/// Parses a kind and id from a path; a malformed id cannot name anything.
pub fn item_ref(kind: ContentKind, id: &str) -> Result<ItemRef, ApiError> {
    ItemRef::parse(kind.as_str(), id)
        .map_err(|e| ApiError::new(ErrorCode::InvalidPath).with_message(format!("`id`: {e}")))
}

/// The published item, or a 404 naming it.
pub fn published(content: &Content, item: &ItemRef) -> Result<std::sync::Arc<Entry>, ApiError> {
    content.catalog.get(item).ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound).with_message(format!(
            "no {} `{}`",
            item.kind().as_str(),
            item.id()
        ))
    })
}

/// May the caller read premium content (see `content::plans::premium_access`).
pub async fn premium_access(caller: Option<&AuthUser>, stores: &Stores) -> Result<bool, ApiError> {
    let Some(caller) = caller else {
        return Ok(false);
    };
    let user = caller.user_id().ok();
    Ok(
        crate::content::plans::premium_access(caller.premium(), user, stores.entitlements.as_ref())
            .await?,
    )
}

/// The 403 for premium content, with the offers that unlock it.
pub fn premium_required(content: &Content) -> ApiError {
    ApiError::new(ErrorCode::PremiumRequired)
        .with_details(json!({ "offer_ids": content.settings.premium_offers }))
}

async fn list(
    req: HttpRequest,
    kind: web::Data<ContentKind>,
    query: web::Query<ListQuery>,
    content: web::Data<Content>,
) -> Result<HttpResponse, ApiError> {
    let kind = **kind;
    let filter = Filter::parse(kind, query.into_inner())?;
    // The tag depends only on the read model's version and the query, so a 304 costs no
    // rendering; the version is read before the body, so a body is never older than its tag.
    let tag = tag_of(format!("{}|{filter:?}", content.catalog.version()).as_bytes());
    Ok(respond(&req, tag, public(&content), || {
        let page = filter.page(content.catalog.published(kind));
        let items: Vec<String> = page.items.iter().map(|e| e.preview_json()).collect();
        let next = serde_json::to_string(&page.next_cursor).expect("a cursor serializes");
        format!(r#"{{"items":[{}],"next_cursor":{next}}}"#, items.join(","))
    }))
}

async fn one(
    req: HttpRequest,
    kind: web::Data<ContentKind>,
    id: web::Path<String>,
    caller: MaybeAuthUser,
    content: web::Data<Content>,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    let item = item_ref(**kind, &id)?;
    let version = content.catalog.version();
    let entry = published(&content, &item)?;
    let premium = entry.item.meta.premium;
    if premium && !premium_access(caller.0.as_ref(), &stores).await? {
        return Err(premium_required(&content));
    }
    let policy = CachePolicy {
        public: !premium,
        vary_authorization: premium,
        ..public(&content)
    };
    let tag = tag_of(format!("{version}|{item}").as_bytes());
    Ok(respond(&req, tag, policy, || entry.full_json()))
}
