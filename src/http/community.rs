//! Community routes: check-ins (`POST/GET /v1/me/checkins`), follows
//! (`PUT/DELETE /v1/me/following/{user_id}`, `GET /v1/me/following|followers`), blocks
//! (`PUT/DELETE/GET /v1/me/blocks[/{user_id}]`), activities (`POST /v1/me/activities`,
//! pulled with `GET /v1/users/{id}/activity`), groups (`POST /v1/groups`,
//! `GET /v1/groups/{id}`, `PUT/DELETE /v1/groups/{id}/members/me`, members), group posts
//! with comments and likes, reports (`POST /v1/reports`, `GET /v1/admin/reports`) and
//! moderation (`DELETE /v1/admin/community/posts/{id}`).

use std::sync::Arc;

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use fitpulse_actors::domain::{ItemRef, Role, UserId, now_millis};
use fitpulse_actors::events::notice_frame;
use fitpulse_actors::ports::community::{
    CheckinRecord, GroupRecord, JoinOutcome, PostRecord, ReportRecord,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::error::{bounded_text, long_text, uuid_path};
use super::views::rfc3339;
use super::{ApiError, ErrorCode};
use crate::auth::AuthUser;
use crate::community::limits::Action;
use crate::community::{BlockError, Community, date_of_day, day_number};

const MAX_POST: usize = 2_000;
const MAX_COMMENT: usize = 500;
const MAX_NOTE: usize = 280;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/me/checkins")
            .post(check_in)
            .get(checkins),
    )
    .service(
        web::resource("/v1/me/following/{user_id}")
            .put(follow)
            .delete(unfollow),
    )
    .service(web::resource("/v1/me/following").get(following))
    .service(web::resource("/v1/me/followers").get(followers))
    .service(
        web::resource("/v1/me/blocks/{user_id}")
            .put(block)
            .delete(unblock),
    )
    .service(web::resource("/v1/me/blocks").get(blocks))
    .service(web::resource("/v1/me/activities").post(activity))
    .service(web::resource("/v1/users/{id}/activity").get(pull_activity))
    .service(web::resource("/v1/groups").post(create_group))
    .service(web::resource("/v1/groups/{id}").get(group))
    .service(
        web::resource("/v1/groups/{id}/members/me")
            .put(join)
            .delete(leave),
    )
    .service(web::resource("/v1/groups/{id}/members").get(members))
    .service(
        web::resource("/v1/groups/{id}/posts")
            .post(create_post)
            .get(posts),
    )
    .service(web::resource("/v1/groups/{id}/posts/{post_id}/comments").post(comment))
    .service(web::resource("/v1/groups/{id}/posts/{post_id}/like").put(like_post))
    .service(web::resource("/v1/reports").post(report))
    .service(web::resource("/v1/admin/reports").get(reports))
    .service(web::resource("/v1/admin/community/posts/{id}").delete(remove_post));
}

type Data = web::Data<Arc<Community>>;

fn user_of(raw: &str) -> Result<UserId, ApiError> {
    Ok(UserId::from_uuid(uuid_path(raw, "user_id")?))
}

fn limited(community: &Community, user: UserId, action: Action) -> Result<(), ApiError> {
    community
        .limits
        .check(user, action)
        .map_err(ApiError::rate_limited)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckinBody {
    mood: String,
    satisfaction: u8,
    note: Option<String>,
    /// `YYYY-MM-DD`; only today can be checked in (and edited).
    date: Option<String>,
}

fn checkin_view(c: &CheckinRecord) -> Value {
    json!({
        "date": date_of_day(c.day).to_string(), "mood": c.mood, "satisfaction": c.satisfaction,
        "note": c.note, "updated_at": rfc3339(c.updated_at),
    })
}

async fn check_in(
    caller: AuthUser,
    body: web::Json<CheckinBody>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let b = body.into_inner();
    let today = Community::today();
    let day = match &b.date {
        None => today,
        Some(raw) => day_number(
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map_err(|_| ApiError::invalid_field("date", "a date like 2026-11-22"))?,
        ),
    };
    if day > today {
        return Err(ApiError::invalid_field(
            "date",
            "a check-in cannot be in the future",
        ));
    }
    if day < today {
        return Err(ApiError::invalid_field(
            "date",
            "only today's check-in can be made or edited",
        ));
    }
    let mood = bounded_text("mood", &b.mood, 24)?;
    if !(1..=5).contains(&b.satisfaction) {
        return Err(ApiError::invalid_field("satisfaction", "1 to 5"));
    }
    let note = b
        .note
        .as_deref()
        .map(|n| long_text("note", n, MAX_NOTE))
        .transpose()?;
    let existed = community
        .stores
        .community
        .checkins(user, 1)
        .await?
        .first()
        .is_some_and(|c| c.day == day);
    let record = CheckinRecord {
        day,
        mood,
        satisfaction: b.satisfaction,
        note,
        updated_at: now_millis(),
    };
    community
        .stores
        .community
        .put_checkin(user, &record)
        .await?;
    if !existed {
        let data = json!({ "type": "checkin", "user_id": user.to_string(), "mood": record.mood, "date": date_of_day(day).to_string() });
        community
            .activity(user, "community.activity", &data)
            .await?;
    }
    let status = if existed {
        actix_web::http::StatusCode::OK
    } else {
        actix_web::http::StatusCode::CREATED
    };
    Ok(HttpResponse::build(status).json(checkin_view(&record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitQuery {
    limit: Option<usize>,
}

async fn checkins(
    caller: AuthUser,
    query: web::Query<LimitQuery>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let limit = query.limit.unwrap_or(30).clamp(1, 366);
    let history = community.stores.community.checkins(user, 366).await?;
    let streak = Community::streak_of(&history);
    let items: Vec<Value> = history.iter().take(limit).map(checkin_view).collect();
    Ok(HttpResponse::Ok()
        .json(json!({ "items": items, "streak_days": streak, "next_cursor": null })))
}

async fn follow(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let other = user_of(&path)?;
    if other == user {
        return Err(ApiError::invalid_field(
            "user_id",
            "you cannot follow yourself",
        ));
    }
    limited(&community, user, Action::Follow)?;
    match community.follow(user, other).await? {
        Some(changed) => {
            Ok(HttpResponse::Ok().json(json!({ "following": true, "changed": changed })))
        }
        // Blocks hide people both ways: they look like nobody.
        None => Err(ApiError::new(ErrorCode::NotFound).with_message("no such user")),
    }
}

async fn unfollow(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let other = user_of(&path)?;
    limited(&community, user, Action::Follow)?;
    let changed = community.stores.community.unfollow(user, other).await?;
    Ok(HttpResponse::Ok().json(json!({ "following": false, "changed": changed })))
}

fn users_view(users: Vec<UserId>) -> Value {
    let items: Vec<Value> = users
        .iter()
        .map(|u| json!({ "user_id": u.to_string() }))
        .collect();
    json!({ "items": items, "next_cursor": null })
}

async fn following(caller: AuthUser, community: Data) -> Result<HttpResponse, ApiError> {
    let users = community
        .stores
        .community
        .following(caller.user_id()?)
        .await?;
    Ok(HttpResponse::Ok().json(users_view(users)))
}

async fn followers(caller: AuthUser, community: Data) -> Result<HttpResponse, ApiError> {
    let users = community
        .stores
        .community
        .followers(caller.user_id()?, 1_000)
        .await?;
    Ok(HttpResponse::Ok().json(users_view(users)))
}

async fn block(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let other = user_of(&path)?;
    if other == user {
        return Err(ApiError::invalid_field(
            "user_id",
            "you cannot block yourself",
        ));
    }
    community
        .block(user, other)
        .await
        .map_err(|err| match err {
            BlockError::NoSuchUser => {
                ApiError::new(ErrorCode::NotFound).with_message("no such user")
            }
            BlockError::TooMany => {
                ApiError::new(ErrorCode::LimitReached).with_message(err.to_string())
            }
            BlockError::Store(e) => e.into(),
        })?;
    Ok(HttpResponse::Ok().json(json!({ "blocked": true })))
}

async fn unblock(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    community
        .stores
        .community
        .unblock(user, user_of(&path)?)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "blocked": false })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

/// Whom the caller blocked, by user id, a page at a time (`limit` 1-200, default 50;
/// `cursor` from the previous page).
async fn blocks(
    caller: AuthUser,
    query: web::Query<PageQuery>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
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
    let users = community
        .stores
        .community
        .blocked_page(caller.user_id()?, after, limit + 1)
        .await?;
    let more = users.len() > limit;
    let page: Vec<UserId> = users.into_iter().take(limit).collect();
    let next = more.then(|| page.last().map(UserId::to_string)).flatten();
    let mut view = users_view(page);
    view["next_cursor"] = json!(next);
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivityBody {
    /// `workout_finished` or `live_class_joined`.
    #[serde(rename = "type")]
    kind: String,
    item_id: Option<String>,
}

async fn activity(
    caller: AuthUser,
    body: web::Json<ActivityBody>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let b = body.into_inner();
    if !["workout_finished", "live_class_joined"].contains(&b.kind.as_str()) {
        return Err(ApiError::invalid_field(
            "type",
            "workout_finished or live_class_joined",
        ));
    }
    if let Some(item) = &b.item_id
        && ItemRef::parse("workout", item).is_err()
    {
        return Err(ApiError::invalid_field(
            "item_id",
            "1-64 characters of a-z, A-Z, 0-9, - and _",
        ));
    }
    limited(&community, user, Action::Post)?;
    let data = json!({ "type": b.kind, "user_id": user.to_string(), "item_id": b.item_id });
    let pushed = community
        .activity(user, "community.activity", &data)
        .await?;
    Ok(HttpResponse::Accepted().json(json!({ "pushed_to": pushed })))
}

async fn pull_activity(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let viewer = caller.user_id()?;
    let author = user_of(&path)?;
    if community.blocked_either_way(viewer, author).await? {
        return Err(ApiError::new(ErrorCode::NotFound).with_message("no such user"));
    }
    let feed = &community.stores.feed;
    let head = feed.feed_head(author).await?;
    let events = feed
        .events_after(author, head.last_seq.saturating_sub(200), 200)
        .await?;
    let items: Vec<Value> = events
        .iter()
        .rev()
        .filter(|e| e.kind == "community.activity")
        .take(50)
        .map(|e| json!({ "at": rfc3339(e.at), "data": serde_json::from_str::<Value>(&e.data).unwrap_or(Value::Null) }))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": null })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody {
    name: String,
    max_members: Option<u32>,
}

fn group_view(g: &GroupRecord, members: usize) -> Value {
    json!({
        "id": g.id, "name": g.name, "owner_id": g.owner.to_string(),
        "max_members": g.max_members, "members": members, "created_at": rfc3339(g.created_at),
    })
}

async fn create_group(
    caller: AuthUser,
    body: web::Json<GroupBody>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let b = body.into_inner();
    let max = b.max_members.unwrap_or(community.max_group_size);
    if !(2..=community.max_group_size).contains(&max) {
        return Err(ApiError::invalid_field(
            "max_members",
            format!("2 to {}", community.max_group_size),
        ));
    }
    limited(&community, user, Action::Post)?;
    let group = GroupRecord {
        id: Uuid::new_v4(),
        name: bounded_text("name", &b.name, 60)?,
        owner: user,
        max_members: max,
        created_at: now_millis(),
    };
    community.stores.community.create_group(&group).await?;
    community
        .stores
        .community
        .join_group(group.id, user, max)
        .await?;
    Ok(HttpResponse::Created().json(group_view(&group, 1)))
}

async fn load_group(community: &Community, raw: &str) -> Result<GroupRecord, ApiError> {
    community
        .stores
        .community
        .group(uuid_path(raw, "id")?)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("no such group"))
}

async fn group(
    _caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let group = load_group(&community, &path).await?;
    let members = community
        .stores
        .community
        .group_members(group.id)
        .await?
        .len();
    Ok(HttpResponse::Ok().json(group_view(&group, members)))
}

async fn join(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let group = load_group(&community, &path).await?;
    match community
        .stores
        .community
        .join_group(group.id, user, group.max_members)
        .await?
    {
        JoinOutcome::Full => Err(ApiError::new(ErrorCode::Conflict)
            .with_message(format!("the group is full ({} members)", group.max_members))),
        outcome => Ok(HttpResponse::Ok()
            .json(json!({ "member": true, "changed": outcome == JoinOutcome::Joined }))),
    }
}

async fn leave(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let group = load_group(&community, &path).await?;
    let changed = community
        .stores
        .community
        .leave_group(group.id, user)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "member": false, "changed": changed })))
}

async fn member_of(
    community: &Community,
    group: &GroupRecord,
    user: UserId,
) -> Result<Vec<UserId>, ApiError> {
    let members = community.stores.community.group_members(group.id).await?;
    if !members.contains(&user) {
        return Err(ApiError::new(ErrorCode::Forbidden).with_message("join the group first"));
    }
    Ok(members)
}

async fn members(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let group = load_group(&community, &path).await?;
    let members = member_of(&community, &group, caller.user_id()?).await?;
    Ok(HttpResponse::Ok().json(users_view(members)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostBody {
    text: String,
    image_ref: Option<String>,
}

fn post_view(p: &PostRecord, likes: u64) -> Value {
    json!({
        "id": p.id, "group_id": p.group, "author_id": p.author.to_string(), "text": p.text,
        "image_ref": p.image_ref, "created_at": rfc3339(p.created_at), "likes": likes,
    })
}

async fn create_post(
    caller: AuthUser,
    path: web::Path<String>,
    body: web::Json<PostBody>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let group = load_group(&community, &path).await?;
    let members = member_of(&community, &group, user).await?;
    limited(&community, user, Action::Post)?;
    let b = body.into_inner();
    let image_ref = b
        .image_ref
        .map(|i| bounded_text("image_ref", &i, 200))
        .transpose()?;
    let post = PostRecord {
        id: Uuid::new_v4(),
        group: group.id,
        parent: None,
        author: user,
        text: long_text("text", &b.text, MAX_POST)?,
        image_ref,
        created_at: now_millis(),
        removed: false,
    };
    community.stores.community.put_post(&post).await?;
    let data = json!({ "type": "post", "group_id": group.id, "post_id": post.id, "author_id": user.to_string(), "text": post.text });
    community
        .fan_out(user, members, "community.post", &data)
        .await?;
    Ok(HttpResponse::Created().json(post_view(&post, 0)))
}

async fn posts(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let viewer = caller.user_id()?;
    let group = load_group(&community, &path).await?;
    member_of(&community, &group, viewer).await?;
    let hidden: Vec<UserId> = community.stores.community.blocked(viewer).await?;
    let posts = community.stores.community.group_posts(group.id, 50).await?;
    // Block lists read once per distinct author, not once per post.
    let mut authors: Vec<UserId> = posts.iter().map(|p| p.author).collect();
    authors.sort();
    authors.dedup();
    let hidden_authors = community.blocked_between(viewer, &authors).await?;
    let mut items = Vec::new();
    for post in posts {
        if post.removed || hidden_authors.contains(&post.author) {
            continue;
        }
        let Some(item) = like_ref(post.id) else {
            continue;
        };
        let count = community.stores.likes.like_count(&item).await?;
        let comments: Vec<Value> = community
            .stores
            .community
            .comments(post.id)
            .await?
            .iter()
            .filter(|c| !c.removed && !hidden.contains(&c.author))
            .map(|c| post_view(c, 0))
            .collect();
        let mut view = post_view(&post, count);
        view["comments"] = json!(comments);
        items.push(view);
    }
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": null })))
}

/// Group posts are liked like catalog items, under kind `post` and the post's id.
fn like_ref(post: Uuid) -> Option<ItemRef> {
    ItemRef::parse("post", &post.to_string()).ok()
}

async fn load_post(
    community: &Community,
    group: &GroupRecord,
    raw: &str,
) -> Result<PostRecord, ApiError> {
    community
        .stores
        .community
        .post(uuid_path(raw, "post_id")?)
        .await?
        .filter(|p| p.group == group.id && !p.removed && p.parent.is_none())
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("no such post"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommentBody {
    text: String,
}

async fn comment(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    body: web::Json<CommentBody>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let group = load_group(&community, &path.0).await?;
    member_of(&community, &group, user).await?;
    let post = load_post(&community, &group, &path.1).await?;
    limited(&community, user, Action::Comment)?;
    let comment = PostRecord {
        id: Uuid::new_v4(),
        group: group.id,
        parent: Some(post.id),
        author: user,
        text: long_text("text", &body.text, MAX_COMMENT)?,
        image_ref: None,
        created_at: now_millis(),
        removed: false,
    };
    community.stores.community.put_post(&comment).await?;
    let data = json!({ "type": "comment", "post_id": post.id, "comment_id": comment.id, "by_user_id": user.to_string(), "text": comment.text });
    community
        .fan_out(user, vec![post.author], "community.commented", &data)
        .await?;
    Ok(HttpResponse::Created().json(post_view(&comment, 0)))
}

async fn like_post(
    caller: AuthUser,
    path: web::Path<(String, String)>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let group = load_group(&community, &path.0).await?;
    member_of(&community, &group, user).await?;
    let post = load_post(&community, &group, &path.1).await?;
    let item = like_ref(post.id).ok_or_else(|| ApiError::new(ErrorCode::Internal))?;
    let changed = community.stores.likes.like(user, &item).await?;
    if changed {
        let data = json!({ "type": "like", "post_id": post.id, "by_user_id": user.to_string() });
        community
            .fan_out(user, vec![post.author], "community.post_liked", &data)
            .await?;
    }
    let likes = community.stores.likes.like_count(&item).await?;
    Ok(HttpResponse::Ok().json(json!({ "liked": true, "changed": changed, "likes": likes })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportBody {
    target_kind: String,
    target_id: String,
    reason: String,
}

async fn report(
    caller: AuthUser,
    body: web::Json<ReportBody>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let b = body.into_inner();
    if !["post", "comment", "user"].contains(&b.target_kind.as_str()) {
        return Err(ApiError::invalid_field(
            "target_kind",
            "post, comment or user",
        ));
    }
    uuid_path(&b.target_id, "target_id")
        .map_err(|_| ApiError::invalid_field("target_id", "a UUID"))?;
    limited(&community, user, Action::Comment)?;
    let report = ReportRecord {
        id: Uuid::new_v4(),
        reporter: user,
        target_kind: b.target_kind,
        target_id: b.target_id,
        reason: long_text("reason", &b.reason, 500)?,
        created_at: now_millis(),
    };
    community.stores.community.put_report(&report).await?;
    Ok(HttpResponse::Created().json(json!({ "id": report.id })))
}

async fn reports(caller: AuthUser, community: Data) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let items: Vec<Value> = community
        .stores
        .community
        .reports(200)
        .await?
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "reporter_id": r.reporter.to_string(), "target_kind": r.target_kind,
                "target_id": r.target_id, "reason": r.reason, "created_at": rfc3339(r.created_at),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items, "next_cursor": null })))
}

/// Takes a post or comment down: it leaves every listing at once, the group's members get
/// `community.removed` in their feeds (after the post's own event, so a resuming app drops
/// it too), and every connected app is told now.
async fn remove_post(
    caller: AuthUser,
    path: web::Path<String>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let moderator = caller
        .user_id()
        .unwrap_or_else(|_| UserId::from_uuid(Uuid::nil()));
    let mut post = community
        .stores
        .community
        .post(uuid_path(&path, "id")?)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound).with_message("no such post"))?;
    post.removed = true;
    community.stores.community.put_post(&post).await?;
    let data = json!({ "type": "removed", "post_id": post.id, "group_id": post.group });
    let members = community.stores.community.group_members(post.group).await?;
    for member in members {
        let (hub, text) = (community.hub.clone(), data.to_string());
        tokio::spawn(async move {
            let kind =
                fitpulse_actors::events::EventKind::parse("community.removed").expect("valid");
            if let Err(err) = hub.publish(member, kind, text).await {
                tracing::warn!(user_id = %member, error = %err, "cannot tell a member about a removal");
            }
        });
    }
    community.hub.notify_all(
        notice_frame("community.removed", now_millis(), &data),
        "community.removed",
    );
    tracing::info!(post_id = %post.id, moderator = %moderator, "post removed");
    Ok(HttpResponse::Ok().json(json!({ "id": post.id, "removed": true })))
}
