//! Editing the catalog (admin role, or a service client configured with it):
//! `POST /v1/admin/content/{kind}` creates, `PUT /v1/admin/content/{kind}/{id}` replaces,
//! `DELETE /v1/admin/content/{kind}/{id}` unpublishes (the item stays stored and liked),
//! `POST /v1/admin/content/{kind}/{id}/publish` publishes again, `GET` shows an item
//! whatever its state. Every change moves the read model's version, so cached reads
//! revalidate; a newly published item is announced to connected apps as `content.new`.

use crate::content::views::EditorDocument as ContentDocument;
use actix_web::{HttpResponse, web};
use fitpulse_actors::domain::{ContentKind, Role, now_millis};
use fitpulse_actors::events::data::EventData;
use fitpulse_actors::hub::Hub;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::catalog::item_ref;
use super::{ApiError, Contracts, ErrorCode};
use crate::auth::AuthUser;
use crate::content::events::ContentNew;
use crate::content::items::{Item, ItemError, parse_document, slug};
use crate::content::{CatalogError, Content};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/admin/content/{kind}").post(create))
        .service(
            web::resource("/v1/admin/content/{kind}/{id}")
                .get(show)
                .put(replace)
                .delete(unpublish),
        )
        .service(web::resource("/v1/admin/content/{kind}/{id}/publish").post(publish));
}

pub fn contracts(c: &mut Contracts) {
    let admin = "admin role";
    let item = "/v1/admin/content/{kind}/{id}";
    c.post("/v1/admin/content/{kind}")
        .body::<ContentDocument>()
        .created::<EditorView>()
        .bearer(admin)
        .errors(&[403, 409]);
    c.get(item)
        .ok::<EditorView>()
        .bearer(admin)
        .errors(&[400, 403, 404]);
    c.put(item)
        .body::<ContentDocument>()
        .ok::<EditorView>()
        .created::<EditorView>()
        .bearer(admin)
        .errors(&[403]);
    c.delete(item)
        .ok::<EditorView>()
        .bearer(admin)
        .errors(&[400, 403, 404]);
    c.post(format!("{item}/publish"))
        .ok::<EditorView>()
        .bearer(admin)
        .errors(&[400, 403, 404]);
}

/// An item as the editor sees it, published or not.
#[derive(Serialize, JsonSchema)]
struct EditorView<'a> {
    id: &'a str,
    kind: &'static str,
    published: bool,
    item: &'a Item,
}

impl From<ItemError> for ApiError {
    fn from(err: ItemError) -> Self {
        match err {
            ItemError::Shape(message) => {
                ApiError::new(ErrorCode::InvalidBody).with_message(message)
            }
            ItemError::Field { field, reason } => ApiError::invalid_field(&field, reason),
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(err: CatalogError) -> Self {
        match err {
            CatalogError::Store(store) => store.into(),
            other => ApiError::internal(other),
        }
    }
}

fn kind_of(raw: &str) -> Result<ContentKind, ApiError> {
    ContentKind::parse(raw).ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidPath)
            .with_message("`kind`: one of recipe, workout, plan, post")
    })
}

fn editor(caller: &AuthUser) -> Result<(), ApiError> {
    Ok(caller.require_role(Role::Admin)?)
}

/// Stores the item, answers it as editors see it, and announces it when newly published.
async fn store(
    content: &Content,
    hub: &Hub,
    item: Item,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, ApiError> {
    let announce = ContentNew {
        kind: item.body.kind().as_str(),
        id: item.id.clone(),
        title: item.meta.title.clone(),
    };
    let newly_published = content.catalog.put(item.clone()).await?;
    content.announce_item(&item);
    if newly_published {
        hub.notify_all(announce.notice(now_millis()), &ContentNew::KIND);
    }
    Ok(HttpResponse::build(status).json(editor_view(&item)))
}

fn editor_view(item: &Item) -> EditorView<'_> {
    EditorView {
        id: &item.id,
        kind: item.body.kind().as_str(),
        published: item.published,
        item,
    }
}

async fn create(
    caller: AuthUser,
    path: web::Path<String>,
    body: web::Json<Value>,
    content: web::Data<Content>,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, ApiError> {
    editor(&caller)?;
    let kind = kind_of(&path)?;
    let mut doc = body.into_inner();
    // An editor may choose the id; otherwise it comes from the title.
    let chosen = doc.as_object_mut().and_then(|o| o.remove("id"));
    let (meta, body) = parse_document(kind, doc)?;
    let id = match chosen {
        Some(Value::String(id)) => id,
        Some(_) => return Err(ApiError::invalid_field("id", "a string")),
        None => slug(&meta.title),
    };
    let item = item_ref(kind, &id)?;
    if content.catalog.get_any(&item).is_some() {
        return Err(ApiError::new(ErrorCode::Conflict)
            .with_message(format!("{item} already exists; PUT replaces it")));
    }
    let now = now_millis();
    let item = Item {
        id,
        meta,
        body,
        published: true,
        created_at: now,
        updated_at: now,
    };
    store(&content, &hub, item, actix_web::http::StatusCode::CREATED).await
}

async fn show(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    content: web::Data<Content>,
) -> Result<HttpResponse, ApiError> {
    editor(&caller)?;
    let item = item_ref(kind_of(&path.0)?, &path.1)?;
    let entry = content
        .catalog
        .get_any(&item)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message(format!("no {item}")))?;
    Ok(HttpResponse::Ok().json(editor_view(&entry.item)))
}

async fn replace(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    body: web::Json<Value>,
    content: web::Data<Content>,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, ApiError> {
    editor(&caller)?;
    let kind = kind_of(&path.0)?;
    let item = item_ref(kind, &path.1)?;
    let (meta, body) = parse_document(kind, body.into_inner())?;
    let existing = content.catalog.get_any(&item);
    let now = now_millis();
    let replaced = Item {
        id: item.id().to_owned(),
        meta,
        body,
        published: existing.as_ref().is_none_or(|e| e.item.published),
        created_at: existing.as_ref().map_or(now, |e| e.item.created_at),
        updated_at: now,
    };
    let status = if existing.is_some() {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::CREATED
    };
    store(&content, &hub, replaced, status).await
}

async fn set_published(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    content: web::Data<Content>,
    hub: web::Data<Hub>,
    published: bool,
) -> Result<HttpResponse, ApiError> {
    editor(&caller)?;
    let item = item_ref(kind_of(&path.0)?, &path.1)?;
    let entry = content
        .catalog
        .get_any(&item)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message(format!("no {item}")))?;
    let mut changed = entry.item.clone();
    changed.published = published;
    changed.updated_at = now_millis();
    store(&content, &hub, changed, actix_web::http::StatusCode::OK).await
}

async fn unpublish(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    content: web::Data<Content>,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, ApiError> {
    set_published(caller, path, content, hub, false).await
}

async fn publish(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    content: web::Data<Content>,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, ApiError> {
    set_published(caller, path, content, hub, true).await
}
