//! Feature messages over HTTP. Admins: `POST /v1/admin/messages` (`?dry_run=true` answers
//! the audience among connected users instead), `GET /v1/admin/messages`,
//! `DELETE /v1/admin/messages/{id}` (cancel), `GET /v1/admin/messages/{id}/stats` (counts
//! summed over every node). Users: `GET /v1/me/messages` (the inbox, with
//! `platform`, `app_version`, `locale` of the asking app; `all=true` includes dismissed)
//! and `POST /v1/me/messages/{id}/read|dismiss|click`, which the user's other devices hear
//! as `message.state`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use fitpulse_actors::device::ClientInfo;
use fitpulse_actors::domain::{Locale, Role};
use fitpulse_actors::ports::messages::{MessageAction, MessageState};
use fitpulse_actors::session::{Audience, AudienceFilter};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::{bounded_text, long_text, uuid_path};
use super::views::{Page, parse_time};
use super::{ApiError, Contracts, ErrorCode};
use crate::auth::AuthUser;
use crate::messages::events::{MessageFeature, MessageStateChanged, MessageStateTimes};
use crate::messages::{FeatureMessage, MessageText, Messages, Segment, StatsError, state_view};
use crate::push::Notifier;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/admin/messages").post(create).get(list))
        .service(web::resource("/v1/admin/messages/{id}").delete(cancel))
        .service(web::resource("/v1/admin/messages/{id}/stats").get(stats))
        .service(web::resource("/v1/me/messages").get(inbox))
        .service(web::resource("/v1/me/messages/{id}/{action}").post(mark));
}

pub fn contracts(c: &mut Contracts) {
    let admin = "admin role";
    let member = "a user";
    c.post("/v1/admin/messages")
        .body::<CreateBody>()
        .created::<AdminMessageView>()
        .ok::<DryRun>()
        .bearer(admin)
        .errors(&[403]);
    c.get("/v1/admin/messages")
        .ok::<Page<AdminMessageView>>()
        .bearer(admin)
        .errors(&[403]);
    c.delete("/v1/admin/messages/{id}")
        .ok::<AdminMessageView>()
        .bearer(admin)
        .errors(&[400, 403, 404]);
    c.get("/v1/admin/messages/{id}/stats")
        .ok::<StatsView>()
        .bearer(admin)
        .errors(&[400, 403, 404]);
    c.get("/v1/me/messages")
        .ok::<Page<InboxItem>>()
        .bearer(member)
        .errors(&[400, 403]);
    for action in ["read", "dismiss", "click"] {
        c.post(format!("/v1/me/messages/{{id}}/{action}"))
            .ok::<MessageStateChanged>()
            .bearer(member)
            .errors(&[400, 403, 404]);
    }
}

/// A feature message with whom it is for and whether it was cancelled.
#[derive(Serialize, JsonSchema)]
struct AdminMessageView<'a> {
    #[serde(flatten)]
    message: MessageFeature,
    segment: &'a Segment,
    cancelled: bool,
    push: bool,
    translations: &'a BTreeMap<String, MessageText>,
}

/// A message's counts, summed over every node: sessions that took it into their user's feed
/// (once per user; members offline at its start are not counted), and members who read,
/// clicked or dismissed it (the first time each, from a live delivery or the inbox).
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "MessageStats")]
struct StatsView {
    message_id: Uuid,
    delivered: u64,
    read: u64,
    clicked: u64,
    dismissed: u64,
}

impl From<StatsError> for ApiError {
    fn from(err: StatsError) -> Self {
        match err {
            StatsError::NoSuchMessage => {
                ApiError::new(ErrorCode::NotFound).with_message(err.to_string())
            }
            StatsError::Store(err) => err.into(),
        }
    }
}

/// An inbox entry: the message and what the member did with it.
#[derive(Serialize, JsonSchema)]
struct InboxItem {
    #[serde(flatten)]
    message: MessageFeature,
    state: MessageStateTimes,
}

/// A dry run: how many users connected to this node the message would reach now.
#[derive(Serialize, JsonSchema)]
struct DryRun {
    dry_run: bool,
    audience: usize,
    counted: &'static str,
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "CreateMessageBody")]
#[serde(deny_unknown_fields)]
struct CreateBody {
    title: String,
    body: String,
    image_url: Option<String>,
    cta_url: Option<String>,
    #[serde(default)]
    priority: i32,
    starts_at: Option<String>,
    expires_at: String,
    #[serde(default)]
    segment: Segment,
    /// Also push it, at its start, to the targeted members whose app is closed.
    #[serde(default)]
    push: bool,
    /// The title and body in other languages, by tag (`pt`, `pt-BR`), for pushes.
    #[serde(default)]
    translations: BTreeMap<String, MessageText>,
}

/// Languages a message may carry besides English.
const MAX_TRANSLATIONS: usize = 30;

fn translations(
    raw: BTreeMap<String, MessageText>,
) -> Result<BTreeMap<String, MessageText>, ApiError> {
    if raw.len() > MAX_TRANSLATIONS {
        return Err(ApiError::invalid_field(
            "translations",
            format!("at most {MAX_TRANSLATIONS} languages"),
        ));
    }
    let mut checked = BTreeMap::new();
    for (tag, text) in raw {
        let locale = Locale::parse(&tag).map_err(|_| {
            ApiError::invalid_field(
                "translations",
                format!("`{tag}` is not a tag such as pt-BR"),
            )
        })?;
        let field = format!("translations.{tag}");
        checked.insert(
            locale.as_str().to_owned(),
            MessageText {
                title: bounded_text(&format!("{field}.title"), &text.title, 120)?,
                body: long_text(&format!("{field}.body"), &text.body, 2_000)?,
            },
        );
    }
    Ok(checked)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateQuery {
    #[serde(default)]
    dry_run: bool,
}

fn url(field: &str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.len() > 500 || !v.contains(':') => Err(ApiError::invalid_field(
            field,
            "a URL or deep link (scheme:...), at most 500",
        )),
        other => Ok(other),
    }
}

async fn create(
    caller: AuthUser,
    query: web::Query<CreateQuery>,
    body: web::Json<CreateBody>,
    messages: web::Data<Arc<Messages>>,
    notifier: web::Data<Arc<Notifier>>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let b = body.into_inner();
    let now = messages.now();
    let starts_at = match &b.starts_at {
        Some(raw) => parse_time(raw)
            .ok_or_else(|| ApiError::invalid_field("starts_at", "an RFC 3339 time"))?,
        None => now,
    };
    let expires_at = parse_time(&b.expires_at)
        .ok_or_else(|| ApiError::invalid_field("expires_at", "an RFC 3339 time"))?;
    if expires_at <= starts_at.max(now) {
        return Err(ApiError::invalid_field(
            "expires_at",
            "after the start and in the future",
        ));
    }
    if expires_at - starts_at > 90 * 86_400_000 {
        return Err(ApiError::invalid_field(
            "expires_at",
            "at most 90 days after the start",
        ));
    }
    b.segment
        .validate()
        .map_err(|reason| ApiError::invalid_field("segment", reason))?;
    let message = FeatureMessage {
        id: Uuid::new_v4(),
        title: bounded_text("title", &b.title, 120)?,
        body: long_text("body", &b.body, 2_000)?,
        image_url: url("image_url", b.image_url)?,
        cta_url: url("cta_url", b.cta_url)?,
        priority: b.priority.clamp(-100, 100),
        starts_at,
        expires_at,
        segment: b.segment,
        created_at: now,
        cancelled: false,
        push: b.push,
        translations: translations(b.translations)?,
    };
    if query.dry_run {
        let audience = messages
            .hub()
            .count_audience(Arc::new(message.segment.clone()))
            .await;
        return Ok(HttpResponse::Ok().json(DryRun {
            dry_run: true,
            audience,
            counted: "users connected to this node now; offline users see it in their inbox",
        }));
    }
    // The push first, on hold: should storing the message fail, the queued fan-out finds
    // no message and does nothing, and a retried request does not create a second one.
    // Stored, the message releases it; should that fail, it goes out when the hold ends.
    if message.push {
        notifier
            .message_created(message.id, message.starts_at)
            .await?;
    }
    messages.create(message.clone()).await?;
    if message.push
        && let Err(err) = notifier.message_stored(message.id, message.starts_at).await
    {
        tracing::warn!(message_id = %message.id, error = %err, "cannot release the message's push; it goes out when its hold ends");
    }
    Ok(HttpResponse::Created().json(admin_view(&message)))
}

fn admin_view(message: &FeatureMessage) -> AdminMessageView<'_> {
    AdminMessageView {
        message: message.view(),
        segment: &message.segment,
        cancelled: message.cancelled,
        push: message.push,
        translations: &message.translations,
    }
}

async fn list(
    caller: AuthUser,
    messages: web::Data<Arc<Messages>>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let mut items: Vec<FeatureMessage> = messages
        .stores()
        .messages
        .unexpired_messages(messages.now())
        .await?
        .iter()
        .map(FeatureMessage::from_record)
        .collect::<Result<_, _>>()?;
    items.sort_by_key(|m| std::cmp::Reverse(m.starts_at));
    Ok(HttpResponse::Ok().json(Page::all(items.iter().map(admin_view).collect())))
}

async fn load(messages: &Messages, id: Uuid) -> Result<FeatureMessage, ApiError> {
    let record = messages
        .stores()
        .messages
        .message(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("no such message"))?;
    Ok(FeatureMessage::from_record(&record)?)
}

async fn cancel(
    caller: AuthUser,
    path: web::Path<String>,
    messages: web::Data<Arc<Messages>>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let mut message = load(&messages, uuid_path(&path, "id")?).await?;
    message.cancelled = true;
    messages
        .stores()
        .messages
        .put_message(&message.record())
        .await?;
    Ok(HttpResponse::Ok().json(admin_view(&message)))
}

async fn stats(
    caller: AuthUser,
    path: web::Path<String>,
    messages: web::Data<Arc<Messages>>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let id = uuid_path(&path, "id")?;
    let stats = messages.stats(id).await?;
    Ok(HttpResponse::Ok().json(StatsView {
        message_id: id,
        delivered: stats.delivered,
        read: stats.read,
        clicked: stats.clicked,
        dismissed: stats.dismissed,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InboxQuery {
    platform: Option<String>,
    app_version: Option<String>,
    locale: Option<String>,
    #[serde(default)]
    all: bool,
}

async fn inbox(
    caller: AuthUser,
    query: web::Query<InboxQuery>,
    messages: web::Data<Arc<Messages>>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let stores = messages.stores();
    let now = messages.now();
    let profile_locale = stores
        .users
        .user_by_id(user)
        .await?
        .map(|u| u.locale.as_str().to_owned());
    let device = ClientInfo {
        platform: query.platform.clone(),
        app_version: query.app_version.clone(),
        locale: query.locale.clone().or(profile_locale),
        zone: caller.timezone,
    };
    let entitlements = stores.entitlements.entitlements(user).await?;
    let last_workout_at = crate::messages::last_workout_at(stores, user).await?;
    let audience = Audience {
        user,
        entitlements: &entitlements,
        devices: vec![&device],
        last_workout_at,
        now,
    };
    let states: HashMap<Uuid, MessageState> = stores
        .messages
        .message_states(user)
        .await?
        .into_iter()
        .collect();
    let mut shown: Vec<FeatureMessage> = stores
        .messages
        .unexpired_messages(now)
        .await?
        .iter()
        .map(FeatureMessage::from_record)
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .filter(|m| m.showing(now) && m.segment.matches(&audience))
        .filter(|m| query.all || states.get(&m.id).is_none_or(|s| s.dismissed_at.is_none()))
        .collect();
    shown.sort_by_key(|m| {
        (
            std::cmp::Reverse(m.priority),
            std::cmp::Reverse(m.starts_at),
        )
    });
    let items = shown
        .iter()
        .map(|m| InboxItem {
            message: m.view(),
            state: state_view(&states.get(&m.id).copied().unwrap_or_default()),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page::all(items)))
}

async fn mark(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    messages: web::Data<Arc<Messages>>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let (id, action) = path.into_inner();
    let action = match action.as_str() {
        "read" => MessageAction::Read,
        "dismiss" => MessageAction::Dismissed,
        "click" => MessageAction::Clicked,
        _ => {
            return Err(ApiError::new(ErrorCode::NotFound)
                .with_message("the actions are read, dismiss and click"));
        }
    };
    let id = uuid_path(&id, "id")?;
    let state = messages
        .mark(user, id, action)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("no such message"))?;
    // The answer is what the member's other devices get as `message.state`.
    Ok(HttpResponse::Ok().json(MessageStateChanged {
        id,
        action: action.as_str(),
        state: state_view(&state),
    }))
}
