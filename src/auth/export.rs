//! A member's copy of everything stored about them. `POST /v1/me/export` records the
//! request and queues an outbox item; the outbox runs [`ExportHandler`], which builds one
//! JSON document and stores it with the request; `GET /v1/me/export` answers the state and,
//! when ready, the document. The outbox retries a build that fails, like any other item.
//! Entitlements, subscriptions, identities, devices, workouts and personal records appear
//! in the shapes the API answers them in (`http::views`).

use std::sync::Arc;

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::domain::time::{date_of_day, rfc3339};
use fitpulse_actors::ports::accounts::ExportRecord;
use fitpulse_actors::ports::clock::SharedClock;
use fitpulse_actors::ports::commerce::OutboxItem;
use fitpulse_actors::ports::store::{Mark, StoreError};
use fitpulse_actors::ports::workouts::{WorkoutCursor, WorkoutRecord};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::http::views::{
    RecordView, WorkoutView, device_view, entitlement_view, identity_view, subscription_view,
};
use crate::outbox::handler::{HandleError, Handler};
use crate::push::settings::NotificationSettings;
use crate::store::Stores;

/// The outbox kind of export builds.
pub const EXPORT_KIND: &str = "account.export";
/// A build that has not finished this long after its request is taken as lost (its outbox
/// item went dead): a new request starts another.
const STUCK_AFTER_MS: i64 = 60 * 60 * 1000;
/// The most feed events, check-ins, followers, workouts and replays one export lists
/// (newest kept first where the store orders them by time; feeds keep far fewer).
const MAX_LISTED: usize = 10_000;
/// Workouts are read this many at a time, newest first.
const WORKOUT_PAGE: usize = 500;
/// The most class timelines one export lists: each holds a sample a second of its class
/// (3,600 for an hour), so a member's timelines could outgrow a stored document (and a
/// scylla cell); `timelines_truncated` says when some were left out. The stores list them
/// in class-id order, so those kept are not the newest.
const MAX_TIMELINES: usize = 100;

pub struct Exports {
    stores: Stores,
    clock: SharedClock,
}

fn marks(marks: &[Mark]) -> Vec<Value> {
    marks
        .iter()
        .map(|m| json!({ "kind": m.item.kind().as_str(), "id": m.item.id(), "at": rfc3339(m.at) }))
        .collect()
}

/// Samples as JSON numbers with the digits the `f32` holds (`0.1`, not the
/// `0.10000000149011612` of its widening to `f64`).
fn samples(output: &[f32]) -> Vec<Value> {
    output
        .iter()
        .map(|v| {
            let shortest: f64 = v.to_string().parse().unwrap_or(f64::from(*v));
            json!(shortest)
        })
        .collect()
}

fn ids(users: &[UserId]) -> Vec<String> {
    users.iter().map(UserId::to_string).collect()
}

impl Exports {
    pub fn new(stores: Stores, clock: SharedClock) -> Self {
        Exports { stores, clock }
    }

    /// Starts an export, unless one is already being built; answers its record.
    pub async fn request(&self, user: UserId) -> Result<ExportRecord, StoreError> {
        let data = &self.stores.account_data;
        let now = self.clock.now();
        if let Some(current) = data.export_of(user).await?
            && current.ready_at.is_none()
            && now - current.requested_at < STUCK_AFTER_MS
        {
            return Ok(current);
        }
        let record = ExportRecord {
            requested_at: now,
            ready_at: None,
            document: None,
        };
        data.put_export(user, &record).await?;
        let payload = json!({ "user_id": user.to_string() }).to_string();
        self.stores
            .outbox
            .enqueue(&OutboxItem::new(Uuid::new_v4(), EXPORT_KIND, payload, now))
            .await?;
        Ok(record)
    }

    pub async fn status(&self, user: UserId) -> Result<Option<ExportRecord>, StoreError> {
        self.stores.account_data.export_of(user).await
    }

    /// Builds the document of `user` and stores it with the request.
    async fn build(&self, user: UserId) -> Result<(), StoreError> {
        let Some(requested) = self.stores.account_data.export_of(user).await? else {
            // Erased meanwhile, or never asked for: nothing to build.
            return Ok(());
        };
        let document = self.document(user).await?;
        let ready = ExportRecord {
            requested_at: requested.requested_at,
            ready_at: Some(self.clock.now()),
            document: Some(document.to_string()),
        };
        // Only onto its own request: an erasure meanwhile leaves nothing to write back to.
        self.stores
            .account_data
            .finish_export(user, &ready)
            .await
            .map(|_| ())
    }

    /// The user's workouts, newest first, at most [`MAX_LISTED`].
    async fn workouts(&self, user: UserId) -> Result<Vec<WorkoutRecord>, StoreError> {
        let mut all: Vec<WorkoutRecord> = Vec::new();
        let mut cursor = None;
        while all.len() < MAX_LISTED {
            let limit = WORKOUT_PAGE.min(MAX_LISTED - all.len());
            let page = self.stores.workouts.workouts(user, cursor, limit).await?;
            let full = page.len() == limit;
            all.extend(page);
            match all.last() {
                Some(last) if full => {
                    cursor = Some(WorkoutCursor {
                        finished_at: last.finished_at,
                        id: last.id,
                    })
                }
                _ => break,
            }
        }
        Ok(all)
    }

    async fn document(&self, user: UserId) -> Result<Value, StoreError> {
        let s = &self.stores;
        let Some(profile) = s.users.user_by_id(user).await? else {
            return Ok(json!({ "user_id": user.to_string(), "profile": null }));
        };
        let now = self.clock.now();
        let identities: Vec<Value> = s
            .identities
            .identities_of(user)
            .await?
            .iter()
            .map(|i| json!(identity_view(i)))
            .collect();
        let entitlements: Vec<Value> = s
            .entitlements
            .entitlements(user)
            .await?
            .iter()
            .map(|e| json!(entitlement_view(e, now)))
            .collect();
        let subscriptions: Vec<Value> = s
            .subscriptions
            .subscriptions(user)
            .await?
            .iter()
            .map(|x| json!(subscription_view(x, now)))
            .collect();
        let plan = s
            .plans
            .plan(user)
            .await?
            .map(|doc| serde_json::from_str::<Value>(&doc).unwrap_or(Value::String(doc)));
        let feed: Vec<Value> = s
            .feed
            .events_after(user, 0, MAX_LISTED)
            .await?
            .iter()
            .map(|e| {
                let data = serde_json::from_str::<Value>(&e.data).unwrap_or(Value::Null);
                json!({ "seq": e.seq, "type": e.kind, "at": rfc3339(e.at), "data": data })
            })
            .collect();
        let checkins: Vec<Value> = s
            .community
            .checkins(user, MAX_LISTED)
            .await?
            .iter()
            .map(|c| json!({ "date": date_of_day(c.day).to_string(), "mood": c.mood, "satisfaction": c.satisfaction, "note": c.note }))
            .collect();
        let mut groups = Vec::new();
        for id in s.community.groups_of(user).await? {
            if let Some(group) = s.community.group(id).await? {
                groups.push(json!({ "id": id.to_string(), "name": group.name, "owner": group.owner == user }));
            }
        }
        let (mut posts, mut comments) = (Vec::new(), Vec::new());
        for post in s.account_data.authored(user).await? {
            let view = json!({ "id": post.id.to_string(), "group_id": post.group.to_string(), "text": post.text, "image_ref": post.image_ref, "created_at": rfc3339(post.created_at), "removed": post.removed });
            match post.parent {
                Some(parent) => {
                    let mut view = view;
                    view["post_id"] = json!(parent.to_string());
                    comments.push(view);
                }
                None => posts.push(view),
            }
        }
        let message_states: Vec<Value> = s
            .messages
            .message_states(user)
            .await?
            .iter()
            .map(|(id, st)| json!({ "message_id": id.to_string(), "read_at": st.read_at.map(rfc3339), "dismissed_at": st.dismissed_at.map(rfc3339), "clicked_at": st.clicked_at.map(rfc3339) }))
            .collect();
        let orders: Vec<Value> = s
            .account_data
            .orders_of(user)
            .await?
            .iter()
            .map(|o| json!({ "id": o.id.to_string(), "drop_id": o.drop_id.to_string(), "quantity": o.quantity, "status": o.status.as_str(), "created_at": rfc3339(o.created_at) }))
            .collect();
        let devices: Vec<Value> = s
            .push
            .devices(user)
            .await?
            .into_iter()
            .map(|d| json!(device_view(d)))
            .collect();
        let notification_settings = NotificationSettings::of(s.push.as_ref(), user).await?;
        let workouts: Vec<Value> = self
            .workouts(user)
            .await?
            .iter()
            .map(|w| json!(WorkoutView::from(w)))
            .collect();
        let personal_records: Vec<Value> = s
            .workouts
            .personal_records(user)
            .await?
            .iter()
            .map(|r| json!(RecordView::from(r)))
            .collect();
        let mut timelines: Vec<Value> = s
            .replays
            .timelines_of(user, MAX_TIMELINES + 1)
            .await?
            .iter()
            .map(|(class, t)| json!({ "class_id": class.to_string(), "kind": t.kind.as_str(), "name": t.name, "recorded_at": rfc3339(t.recorded_at), "output_per_second": samples(&t.output) }))
            .collect();
        let more_timelines = timelines.len() > MAX_TIMELINES;
        timelines.truncate(MAX_TIMELINES);
        let replays: Vec<Value> = s
            .replays
            .replays_of(user, MAX_LISTED)
            .await?
            .iter()
            .map(|r| json!({ "id": r.id.to_string(), "class_id": r.class_id.to_string(), "created_at": rfc3339(r.created_at), "finished_at": r.finished_at.map(rfc3339) }))
            .collect();
        Ok(json!({
            "exported_at": rfc3339(now),
            "profile": {
                "id": profile.id.to_string(),
                "email": profile.email.as_ref().map(|e| e.as_str()),
                "email_verified": profile.email_verified,
                "display_name": profile.display_name.as_str(),
                "locale": profile.locale.as_str(),
                "units": profile.units.as_str(),
                "timezone": profile.timezone.map(|z| z.as_str()),
                "roles": profile.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "device_id": profile.device_id.as_ref().map(|d| d.as_str()),
                "created_at": rfc3339(profile.created_at),
            },
            "identities": identities,
            "entitlements": entitlements,
            "subscriptions": subscriptions,
            "plan": plan,
            "likes": marks(&s.likes.likes_of(user).await?),
            "saves": marks(&s.saves.saved_of(user).await?),
            "feed": feed,
            "checkins": checkins,
            "following": ids(&s.community.following(user).await?),
            "followers": ids(&s.community.followers(user, MAX_LISTED).await?),
            "blocks": ids(&s.community.blocked(user).await?),
            "groups": groups,
            "posts": posts,
            "comments": comments,
            "message_states": message_states,
            "orders": orders,
            "devices": devices,
            "notification_settings": notification_settings,
            "workouts": workouts,
            "personal_records": personal_records,
            "timelines": timelines,
            "timelines_truncated": more_timelines,
            "replays": replays,
        }))
    }
}

/// The outbox handler of export builds.
pub struct ExportHandler(pub Arc<Exports>);

#[async_trait]
impl Handler for ExportHandler {
    async fn handle(&self, item: &OutboxItem) -> Result<(), HandleError> {
        let user: UserId = serde_json::from_str::<Value>(&item.payload)
            .ok()
            .and_then(|p| p["user_id"].as_str().and_then(|u| u.parse().ok()))
            .ok_or_else(|| HandleError::Permanent("an export item without a user".into()))?;
        self.0
            .build(user)
            .await
            .map_err(|err| HandleError::Retry(err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_keep_the_digits_an_f32_holds() {
        let listed = samples(&[0.1, 1.25, 212.3, 0.0]);
        assert_eq!(Value::Array(listed).to_string(), "[0.1,1.25,212.3,0.0]");
    }
}
