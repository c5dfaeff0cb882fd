//! Live-class routes: scheduling and running classes (coach role), listing them, results,
//! reminders, and the status answers a CDN can cache (`max-age=2`, `ETag`, 304).

use fitpulse_actors::events::data::live::ClassResults;
use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use fitpulse_actors::domain::{ClassId, ClassState, ItemRef, LiveClassRecord, Role, UnixMillis};
use fitpulse_actors::live::Live;
use fitpulse_actors::ports::clock::SharedClock;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::cache::{CachePolicy, respond_hashed};
use super::error::bounded_text;
use super::views::{Page, parse_time, rfc3339};
use super::{ApiError, Contracts, ErrorCode};
use crate::auth::AuthUser;
use crate::config::LiveSettings;
use crate::push::Notifier;
use crate::store::Stores;

const HOUR_MS: i64 = 60 * 60 * 1000;
/// Listings reach back this far, for classes that started earlier and still run.
const LIST_BACK_MS: i64 = 6 * HOUR_MS;
const LIST_AHEAD_MS: i64 = 7 * 24 * HOUR_MS;
/// The status endpoint covers what starts within a day.
const STATUS_AHEAD_MS: i64 = 24 * HOUR_MS;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/live/classes").get(list).post(schedule))
        .service(web::resource("/v1/live/status").get(status_all))
        .service(web::resource("/v1/live/classes/{id}").get(get_one))
        .service(web::resource("/v1/live/classes/{id}/status").get(status_one))
        .service(web::resource("/v1/live/classes/{id}/results").get(results))
        .service(web::resource("/v1/live/classes/{id}/roster").get(roster))
        .service(web::resource("/v1/live/classes/{id}/replays").post(start_replay))
        .service(web::resource("/v1/live/classes/{id}/{action:start|end|cancel}").post(transition))
        .service(
            web::resource("/v1/live/classes/{id}/reminder")
                .put(remind)
                .delete(forget),
        );
}

pub fn contracts(c: &mut Contracts) {
    let member = "a user";
    c.get("/v1/live/classes")
        .ok::<Page<ClassView>>()
        .bearer(member)
        .errors(&[400]);
    c.post("/v1/live/classes")
        .body::<ScheduleBody>()
        .created::<ClassView>()
        .bearer("coach role")
        .errors(&[403]);
    c.get("/v1/live/classes/{id}")
        .ok::<ClassView>()
        .bearer(member)
        .errors(&[400, 404]);
    for action in ["start", "end", "cancel"] {
        c.post(format!("/v1/live/classes/{{id}}/{action}"))
            .ok::<ClassView>()
            .bearer("the class's coach, or admin role")
            .errors(&[400, 403, 404, 409]);
    }
    c.get("/v1/live/classes/{id}/results")
        .ok::<ClassResults>()
        .bearer(member)
        .errors(&[400, 404, 409]);
    c.get("/v1/live/classes/{id}/roster")
        .ok::<RosterView>()
        .bearer(member)
        .errors(&[400, 404]);
    c.post("/v1/live/classes/{id}/replays")
        .created::<ReplayView>()
        .bearer(member)
        .errors(&[400, 403, 404, 409, 429]);
    c.put("/v1/live/classes/{id}/reminder")
        .empty(204)
        .bearer(member)
        .errors(&[400, 403, 404, 409]);
    c.delete("/v1/live/classes/{id}/reminder")
        .empty(204)
        .bearer(member)
        .errors(&[400, 403]);
    c.get("/v1/live/status").ok::<LiveStatus>();
    c.get("/v1/live/classes/{id}/status")
        .ok::<ClassStatus>()
        .errors(&[400, 404]);
}

/// A live class as members and coaches see it.
#[derive(Serialize, JsonSchema)]
struct ClassView<'a> {
    id: String,
    title: &'a str,
    coach_id: String,
    workout_id: Option<&'a str>,
    scheduled_at: String,
    duration_minutes: u32,
    premium: bool,
    /// `scheduled`, `open` (waiting room), `live`, `ended` or `cancelled`.
    state: &'static str,
    started_at: Option<String>,
    ended_at: Option<String>,
    /// Members in the class now (the coach is not counted), whichever node answers; once
    /// it ended, everyone who took part, as its results say.
    participants: usize,
}

/// The cacheable status of one class.
#[derive(Serialize, JsonSchema)]
struct ClassStatus {
    id: String,
    /// `scheduled`, `open` (waiting room), `live`, `ended` or `cancelled`.
    state: &'static str,
    scheduled_at: String,
    started_at: Option<String>,
    participants: usize,
}

/// A page of who is in the class, as the caller sees it.
#[derive(Serialize, JsonSchema)]
struct RosterView {
    /// Members in the class now (everyone who took part, once it ended).
    participants: usize,
    /// How many of them the caller follows.
    following_here: usize,
    /// People the caller follows first, then everyone else by when they joined; people
    /// blocked either way are left out.
    items: Vec<fitpulse_actors::events::data::live::RosterEntry>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// An on-demand replay as it starts: ride it with `live.replay.metric` frames.
#[derive(Serialize, JsonSchema)]
struct ReplayView {
    replay_id: String,
    class_id: String,
    title: String,
    workout_id: Option<String>,
    /// The class's length: offsets go from 0 to this.
    duration_seconds: u32,
    /// Recorded rides the member races (live takers and earlier replays).
    takers: usize,
    created_at: String,
}

/// Every class live now or starting within a day.
#[derive(Serialize, JsonSchema)]
struct LiveStatus {
    items: Vec<ClassStatus>,
}

fn waiting_room_ms(settings: &LiveSettings) -> i64 {
    (settings.waiting_room_minutes * 60_000) as i64
}

fn class_view<'a>(
    class: &'a LiveClassRecord,
    settings: &LiveSettings,
    now: UnixMillis,
    counts: &HashMap<ClassId, usize>,
) -> ClassView<'a> {
    ClassView {
        id: class.id.to_string(),
        title: &class.title,
        coach_id: class.coach.to_string(),
        workout_id: class.workout_id.as_deref(),
        scheduled_at: rfc3339(class.scheduled_at),
        duration_minutes: class.duration_minutes,
        premium: class.premium,
        state: class.phase(now, waiting_room_ms(settings)).as_str(),
        started_at: class.started_at.map(rfc3339),
        ended_at: class.ended_at.map(rfc3339),
        participants: counts.get(&class.id).copied().unwrap_or(0),
    }
}

fn status_view(
    class: &LiveClassRecord,
    settings: &LiveSettings,
    now: UnixMillis,
    counts: &HashMap<ClassId, usize>,
) -> ClassStatus {
    ClassStatus {
        id: class.id.to_string(),
        state: class.phase(now, waiting_room_ms(settings)).as_str(),
        scheduled_at: rfc3339(class.scheduled_at),
        started_at: class.started_at.map(rfc3339),
        participants: counts.get(&class.id).copied().unwrap_or(0),
    }
}

fn parse_id(raw: &str) -> Result<ClassId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::new(ErrorCode::InvalidPath).with_message("the class id is a UUID"))
}

async fn load(stores: &Stores, id: ClassId) -> Result<LiveClassRecord, ApiError> {
    stores
        .live
        .class(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("no such class"))
}

/// Status answers a CDN may keep for two seconds.
const STATUS_CACHE: CachePolicy = CachePolicy {
    max_age_seconds: 2,
    public: true,
    vary_authorization: false,
};

/// A cacheable JSON answer: `ETag` from the body and 304 when the caller already has it.
fn cacheable(req: &HttpRequest, body: &impl Serialize) -> HttpResponse {
    // A struct of strings and numbers always serializes.
    let text = serde_json::to_string(body).expect("a status view serializes");
    respond_hashed(req, STATUS_CACHE, text)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScheduleBody {
    title: String,
    workout_id: Option<String>,
    scheduled_at: String,
    duration_minutes: u32,
    #[serde(default)]
    premium: bool,
}

async fn schedule(
    caller: AuthUser,
    body: web::Json<ScheduleBody>,
    stores: web::Data<Stores>,
    settings: web::Data<LiveSettings>,
    clock: web::Data<SharedClock>,
    notifier: web::Data<Arc<Notifier>>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Coach)?;
    let coach = caller.user_id()?;
    let body = body.into_inner();
    let title = bounded_text("title", &body.title, 120)?;
    if let Some(workout) = &body.workout_id {
        // A workout the catalog does not have (yet) gives the class no intervals.
        ItemRef::parse("workout", workout).map_err(|e| ApiError::invalid_field("workout_id", e))?;
    }
    let now = clock.now();
    let scheduled_at = parse_time(&body.scheduled_at).ok_or_else(|| {
        ApiError::invalid_field(
            "scheduled_at",
            "an RFC 3339 time such as 2026-01-24T10:00:00Z",
        )
    })?;
    if scheduled_at < now - HOUR_MS || scheduled_at > now + 366 * 24 * HOUR_MS {
        return Err(ApiError::invalid_field(
            "scheduled_at",
            "from an hour ago to a year ahead",
        ));
    }
    if !(1..=300).contains(&body.duration_minutes) {
        return Err(ApiError::invalid_field("duration_minutes", "1 to 300"));
    }
    let class = LiveClassRecord {
        id: ClassId::random(),
        coach,
        title,
        workout_id: body.workout_id,
        scheduled_at,
        duration_minutes: body.duration_minutes,
        premium: body.premium,
        state: ClassState::Scheduled,
        started_at: None,
        ended_at: None,
        created_at: now,
    };
    stores.live.create_class(&class).await?;
    // The reminder is queued in the store: it goes out from whichever node runs the
    // outbox then, even if this one is gone.
    if let Err(err) = notifier.class_scheduled(&class).await {
        tracing::warn!(class_id = %class.id, error = %err, "cannot queue the class's reminder push");
    }
    tracing::info!(class_id = %class.id, "class scheduled");
    Ok(HttpResponse::Created().json(class_view(&class, &settings, clock.now(), &HashMap::new())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// `true` also lists ended and cancelled classes of the window.
    #[serde(default)]
    all: bool,
}

/// The classes from `LIST_BACK_MS` ago to `ahead` from now (only scheduled and live ones
/// unless `over` too), with this node's participant counts.
async fn window(
    stores: &Stores,
    live: &Live,
    now: UnixMillis,
    ahead: i64,
    over: bool,
    waiting_room: i64,
) -> Result<(Vec<LiveClassRecord>, HashMap<ClassId, usize>), ApiError> {
    let mut classes = stores
        .live
        .classes_between(now - LIST_BACK_MS, now + ahead)
        .await?;
    classes.retain(|c| over || matches!(c.state, ClassState::Scheduled | ClassState::Live));
    let counts = counts_of(stores, live, &classes, now, waiting_room).await?;
    Ok((classes, counts))
}

/// Members per class, cluster-wide (see `crate::classes`).
async fn counts_of(
    stores: &Stores,
    live: &Live,
    classes: &[LiveClassRecord],
    now: UnixMillis,
    waiting_room: i64,
) -> Result<HashMap<ClassId, usize>, ApiError> {
    Ok(crate::classes::participant_counts(stores, live, classes, now, waiting_room).await?)
}

/// Members of one class, cluster-wide, as `counts_of` answers them.
async fn count_one(
    stores: &Stores,
    live: &Live,
    class: &LiveClassRecord,
    now: UnixMillis,
    settings: &LiveSettings,
) -> Result<HashMap<ClassId, usize>, ApiError> {
    let waiting_room = waiting_room_ms(settings);
    counts_of(stores, live, std::slice::from_ref(class), now, waiting_room).await
}

async fn list(
    _caller: AuthUser,
    query: web::Query<ListQuery>,
    stores: web::Data<Stores>,
    live: web::Data<Live>,
    settings: web::Data<LiveSettings>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let (classes, counts) = window(
        &stores,
        &live,
        clock.now(),
        LIST_AHEAD_MS,
        query.all,
        waiting_room_ms(&settings),
    )
    .await?;
    let items = classes
        .iter()
        .map(|c| class_view(c, &settings, clock.now(), &counts))
        .collect();
    Ok(HttpResponse::Ok().json(Page::all(items)))
}

async fn get_one(
    _caller: AuthUser,
    path: web::Path<String>,
    stores: web::Data<Stores>,
    live: web::Data<Live>,
    settings: web::Data<LiveSettings>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let class = load(&stores, parse_id(&path)?).await?;
    let now = clock.now();
    let counts = count_one(&stores, &live, &class, now, &settings).await?;
    Ok(HttpResponse::Ok().json(class_view(&class, &settings, now, &counts)))
}

/// Every class live now or starting within a day: public, cacheable.
async fn status_all(
    req: HttpRequest,
    stores: web::Data<Stores>,
    live: web::Data<Live>,
    settings: web::Data<LiveSettings>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let (classes, counts) = window(
        &stores,
        &live,
        clock.now(),
        STATUS_AHEAD_MS,
        false,
        waiting_room_ms(&settings),
    )
    .await?;
    let items = classes
        .iter()
        .map(|c| status_view(c, &settings, clock.now(), &counts))
        .collect();
    Ok(cacheable(&req, &LiveStatus { items }))
}

async fn status_one(
    req: HttpRequest,
    path: web::Path<String>,
    stores: web::Data<Stores>,
    live: web::Data<Live>,
    settings: web::Data<LiveSettings>,
    clock: web::Data<SharedClock>,
) -> Result<HttpResponse, ApiError> {
    let class = load(&stores, parse_id(&path)?).await?;
    let now = clock.now();
    let counts = count_one(&stores, &live, &class, now, &settings).await?;
    Ok(cacheable(
        &req,
        &status_view(&class, &settings, now, &counts),
    ))
}

async fn results(
    _caller: AuthUser,
    path: web::Path<String>,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let class = load(&stores, id).await?;
    match stores.live.results(id).await? {
        Some(results) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(results)),
        None => Err(ApiError::new(ErrorCode::Conflict)
            .with_message("the class has no results yet")
            .with_details(json!({ "state": class.state.as_str() }))),
    }
}

/// `start`, `end` or `cancel` a class the caller coaches (any class, for admins).
async fn transition(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    stores: web::Data<Stores>,
    live: web::Data<Live>,
    settings: web::Data<LiveSettings>,
    clock: web::Data<SharedClock>,
    notifier: web::Data<Arc<Notifier>>,
) -> Result<HttpResponse, ApiError> {
    let (raw_id, action) = path.into_inner();
    // The route only matches these three actions.
    let (from, to) = match action.as_str() {
        "start" => (ClassState::Scheduled, ClassState::Live),
        "end" => (ClassState::Live, ClassState::Ended),
        _ => (ClassState::Scheduled, ClassState::Cancelled),
    };
    caller.require_role(Role::Coach)?;
    let id = parse_id(&raw_id)?;
    let class = load(&stores, id).await?;
    if class.coach != caller.user_id()? && !caller.roles.contains(&Role::Admin) {
        return Err(
            ApiError::new(ErrorCode::Forbidden).with_message("only the class's coach can do this")
        );
    }
    if !stores
        .live
        .transition_class(id, from, to, clock.now())
        .await?
    {
        let current = load(&stores, id).await?;
        return Err(ApiError::new(ErrorCode::Conflict)
            .with_message(format!(
                "the class is {}, not {}",
                current.state.as_str(),
                from.as_str()
            ))
            .with_details(json!({ "state": current.state.as_str() })));
    }
    let updated = load(&stores, id).await?;
    if to == ClassState::Live
        && let Err(err) = notifier.class_started(&updated).await
    {
        tracing::warn!(class_id = %id, error = %err, "cannot queue the class's start push");
    }
    if let Err(err) = live.changed(updated.clone()).await {
        // The new state is stored; the running class learns it when it next loads.
        tracing::warn!(class_id = %id, error = %err, "cannot tell the running class it changed");
    }
    tracing::info!(class_id = %id, state = to.as_str(), "class state changed");
    let now = clock.now();
    let counts = count_one(&stores, &live, &updated, now, &settings).await?;
    Ok(HttpResponse::Ok().json(class_view(&updated, &settings, now, &counts)))
}

impl From<crate::classes::RosterError> for ApiError {
    fn from(err: crate::classes::RosterError) -> Self {
        match err {
            crate::classes::RosterError::Store(err) => err.into(),
            crate::classes::RosterError::Live(err) => {
                ApiError::new(ErrorCode::from(&err)).with_message(err.to_string())
            }
        }
    }
}

/// Roster pages are this long unless the caller asks for fewer or more.
const ROSTER_LIMIT: usize = 50;
const MAX_ROSTER_LIMIT: usize = 200;

async fn roster(
    caller: AuthUser,
    path: web::Path<String>,
    query: web::Query<RosterQuery>,
    stores: web::Data<Stores>,
    live: web::Data<Live>,
) -> Result<HttpResponse, ApiError> {
    let viewer = caller.user_id()?;
    let id = parse_id(&path)?;
    let query = query.into_inner();
    let limit = query.limit.unwrap_or(ROSTER_LIMIT);
    if !(1..=MAX_ROSTER_LIMIT).contains(&limit) {
        return Err(ApiError::new(ErrorCode::InvalidQuery).with_message("`limit` is 1 to 200"));
    }
    if let Some(cursor) = &query.cursor
        && !fitpulse_actors::live::roster_cursor_ok(cursor)
    {
        return Err(ApiError::new(ErrorCode::InvalidQuery)
            .with_message("`cursor` is a `next_cursor` from an earlier page"));
    }
    let class = load(&stores, id).await?;
    let page = crate::classes::roster(&stores, &live, &class, viewer, query.cursor, limit).await?;
    Ok(HttpResponse::Ok().json(RosterView {
        participants: page.participants,
        following_here: page.following_here,
        items: page
            .entries
            .into_iter()
            .map(|e| fitpulse_actors::events::data::live::RosterEntry {
                user_id: e.user_id,
                name: e.name,
                avatar_url: e.avatar_url,
                following: e.following,
                flagged: e.flagged,
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Starts an on-demand replay of an ended class for the caller.
async fn start_replay(
    caller: AuthUser,
    path: web::Path<String>,
    stores: web::Data<Stores>,
    replays: web::Data<fitpulse_actors::replay::Replays>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let id = parse_id(&path)?;
    let premium = super::catalog::premium_access(Some(&caller), &stores).await?;
    let started = replays.create(user, id, premium).await?;
    Ok(HttpResponse::Created().json(ReplayView {
        replay_id: started.record.id.to_string(),
        class_id: started.class.id.to_string(),
        title: started.class.title,
        workout_id: started.class.workout_id,
        duration_seconds: started.class.duration_minutes * 60,
        takers: started.takers,
        created_at: rfc3339(started.record.created_at),
    }))
}

async fn remind(
    caller: AuthUser,
    path: web::Path<String>,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let id = parse_id(&path)?;
    let class = load(&stores, id).await?;
    if matches!(class.state, ClassState::Ended | ClassState::Cancelled) {
        return Err(ApiError::new(ErrorCode::Conflict).with_message("the class is over"));
    }
    stores.live.add_reminder(id, user).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn forget(
    caller: AuthUser,
    path: web::Path<String>,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    stores.live.remove_reminder(parse_id(&path)?, user).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_with_z_or_an_offset() {
        let utc = parse_time("2026-01-24T10:00:00Z").expect("utc");
        assert_eq!(parse_time("2026-01-24T12:00:00+02:00"), Some(utc));
        assert_eq!(parse_time("2026-01-24T05:30:00-04:30"), Some(utc));
        assert_eq!(parse_time("2026-01-24T10:00:00.250Z"), Some(utc + 250));
        for bad in ["tomorrow", "2026-01-24", "2026-01-24T10:00:00+2"] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
