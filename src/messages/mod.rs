//! Feature messages from the team ("new version", "get featured", "new 2-week plan"):
//! stored, scheduled, broadcast once at their start to every node's sessions (each session
//! checks the segment against what it knows: entitlements, and its devices' platform,
//! version and locale) and kept in every matching user's inbox until they expire. In a
//! cluster, the node a message is created on announces it and every node schedules it.
//! Each message's deliveries and first reads, clicks and dismissals are counted where they
//! happen and summed in the store ([`stats`]).

pub mod events;
pub mod segment;
pub mod stats;

use fitpulse_actors::events::data::EventData;
use std::sync::Arc;

use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::bus::{Bus, BusError};
use fitpulse_actors::ports::clock::SharedClock;

use crate::bus::announce::Announcer;
use fitpulse_actors::ports::messages::{MessageAction, MessageRecord, MessageState, MessageStats};
use fitpulse_actors::ports::store::StoreError;
use fitpulse_actors::session::Broadcast;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::schedule::DueQueue;
use crate::store::Stores;
use fitpulse_actors::domain::time::rfc3339;
pub use segment::Segment;
use stats::StatsRecorder;

/// Why a message's counts cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// Never created, or gone from the store (expired past what the store keeps).
    #[error("no such message")]
    NoSuchMessage,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A feature message as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureMessage {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    pub image_url: Option<String>,
    /// A deep link into the app.
    pub cta_url: Option<String>,
    pub priority: i32,
    pub starts_at: UnixMillis,
    pub expires_at: UnixMillis,
    pub segment: Segment,
    pub created_at: UnixMillis,
    pub cancelled: bool,
    /// Also pushed, at its start, to the targeted members with no socket connected.
    #[serde(default)]
    pub push: bool,
    /// The title and body in other languages (by BCP 47 tag such as `pt` or `pt-BR`),
    /// for pushes to devices in those locales.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub translations: std::collections::BTreeMap<String, MessageText>,
}

/// A message's text in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageText {
    pub title: String,
    pub body: String,
}

impl FeatureMessage {
    pub fn record(&self) -> MessageRecord {
        MessageRecord {
            id: self.id,
            doc: serde_json::to_string(self).expect("a message serializes"),
            expires_at: self.expires_at,
        }
    }

    pub fn from_record(record: &MessageRecord) -> Result<FeatureMessage, StoreError> {
        serde_json::from_str(&record.doc).map_err(StoreError::backend)
    }

    /// Shown (live and in inboxes) at `now`.
    pub fn showing(&self, now: UnixMillis) -> bool {
        !self.cancelled && self.starts_at <= now && now < self.expires_at
    }

    /// The message as members see it: the `message.feature` event's data, and the inbox
    /// item before the member's state.
    pub fn view(&self) -> events::MessageFeature {
        events::MessageFeature {
            id: self.id,
            title: self.title.clone(),
            body: self.body.clone(),
            image_url: self.image_url.clone(),
            cta_url: self.cta_url.clone(),
            priority: self.priority,
            starts_at: rfc3339(self.starts_at),
            expires_at: rfc3339(self.expires_at),
        }
    }
}

/// When the user last finished a workout, by their recent feed (the last 200 events), as
/// segments with `inactive_days` judge it.
pub async fn last_workout_at(
    stores: &Stores,
    user: UserId,
) -> Result<Option<UnixMillis>, StoreError> {
    let head = stores.feed.feed_head(user).await?;
    Ok(stores
        .feed
        .events_after(user, head.last_seq.saturating_sub(200), 200)
        .await?
        .iter()
        .filter(|e| {
            e.kind == fitpulse_actors::events::kinds::COMMUNITY_ACTIVITY.as_str()
                && fitpulse_actors::session::own_workout(&e.data, user)
        })
        .map(|e| e.at)
        .max())
}

/// A user's state of one message, as the API shows it.
pub fn state_view(state: &MessageState) -> events::MessageStateTimes {
    events::MessageStateTimes {
        read_at: state.read_at.map(rfc3339),
        dismissed_at: state.dismissed_at.map(rfc3339),
        clicked_at: state.clicked_at.map(rfc3339),
    }
}

/// Where nodes tell each other about new messages (by id).
const ANNOUNCE_SUBJECT: &str = "fitpulse.messages";

/// Scheduling and delivery of feature messages on this node.
pub struct Messages {
    stores: Stores,
    hub: Hub,
    daily_cap: u32,
    clock: SharedClock,
    /// Messages waiting for their start, broadcast in start order.
    starts: Arc<DueQueue<FeatureMessage>>,
    /// In a cluster: how new messages are announced to the other nodes.
    cluster: std::sync::OnceLock<Announcer>,
    /// This node's counts of deliveries and actions, on their way to the store.
    stats: Arc<StatsRecorder>,
}

impl Messages {
    /// Starts delivery of every stored message that has not expired: those not started
    /// yet at their start, those showing now at once (sessions that already have one do
    /// not get it twice).
    pub async fn start(
        stores: Stores,
        hub: Hub,
        daily_cap: u32,
        clock: SharedClock,
        stats: Arc<StatsRecorder>,
    ) -> Result<Arc<Messages>, StoreError> {
        let messages = Arc::new_cyclic(|messages: &std::sync::Weak<Messages>| {
            // Weakly: the queue's task must not keep the service alive.
            let messages = messages.clone();
            let starts = DueQueue::start(clock.clone(), 1, move |message: FeatureMessage| {
                let messages = messages.upgrade();
                async move {
                    if let Some(messages) = messages {
                        messages.deliver_if_current(message).await;
                    }
                }
            });
            Messages {
                stores,
                hub,
                daily_cap,
                clock,
                starts,
                cluster: std::sync::OnceLock::new(),
                stats,
            }
        });
        for record in messages
            .stores
            .messages
            .unexpired_messages(messages.clock.now())
            .await?
        {
            let message = FeatureMessage::from_record(&record)?;
            if !message.cancelled {
                messages.schedule(message);
            }
        }
        Ok(messages)
    }

    pub fn stores(&self) -> &Stores {
        &self.stores
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Now, by the clock messages run on.
    pub fn now(&self) -> UnixMillis {
        self.clock.now()
    }

    /// Records `user`'s `action` on message `id` (counted the first time) and tells the
    /// user's devices (`message.state`). `None` when there is no such message for this
    /// user: unknown, or not meant for them (see [`Segment::may_target`]).
    pub async fn mark(
        &self,
        user: UserId,
        id: Uuid,
        action: MessageAction,
    ) -> Result<Option<MessageState>, StoreError> {
        let Some(record) = self.stores.messages.message(id).await? else {
            return Ok(None);
        };
        let message = FeatureMessage::from_record(&record)?;
        let now = self.clock.now();
        let entitlements = self.stores.entitlements.entitlements(user).await?;
        if !message.segment.may_target(user, &entitlements, now) {
            return Ok(None);
        }
        let mark = self
            .stores
            .messages
            .mark_message(user, id, action, now)
            .await?;
        if mark.recorded {
            self.stats.record(id, action.into());
        }
        let state = mark.state;
        let data = events::MessageStateChanged {
            id,
            action: action.as_str(),
            state: state_view(&state),
        };
        let kind = events::MessageStateChanged::KIND;
        if let Err(err) = self.hub.publish(user, kind, data.to_json()).await {
            tracing::warn!(user_id = %user, error = %err, "cannot tell the user's devices of a message state");
        }
        Ok(Some(state))
    }

    /// The message's counts summed over every node, with this node's latest included (the
    /// other nodes' arrive with their next flush, `messages.stats_flush_ms`).
    pub async fn stats(&self, id: Uuid) -> Result<MessageStats, StatsError> {
        if self.stores.messages.message(id).await?.is_none() {
            return Err(StatsError::NoSuchMessage);
        }
        self.stats.flush_message(id).await?;
        Ok(self.stores.messages.message_stats(id).await?)
    }

    /// Stores a new message and schedules its delivery, on every node of a cluster: each
    /// broadcasts it to the sessions it holds, so every user is offered it once. One that
    /// starts now is handed to this node's sessions before this returns.
    pub async fn create(self: &Arc<Self>, message: FeatureMessage) -> Result<(), StoreError> {
        self.stores.messages.put_message(&message.record()).await?;
        if let Some(announcer) = self.cluster.get() {
            announcer.announce(&message.id.to_string());
        }
        if message.showing(self.clock.now()) {
            self.deliver(&message).await;
        } else {
            self.schedule(message);
        }
        Ok(())
    }

    /// Schedules the messages other nodes announce (by id; the store has them).
    pub async fn join_cluster(
        self: &Arc<Self>,
        bus: Arc<dyn Bus>,
        node: &str,
    ) -> Result<(), BusError> {
        let this = self.clone();
        let announcer = Announcer::listen(bus, node, ANNOUNCE_SUBJECT, move |body| {
            let Ok(id) = body.parse::<Uuid>() else {
                return tracing::warn!(body, "an announced message id is malformed");
            };
            let this = this.clone();
            tokio::spawn(async move {
                match this.stores.messages.message(id).await {
                    Ok(Some(record)) => match FeatureMessage::from_record(&record) {
                        Ok(message) => this.schedule(message),
                        Err(err) => {
                            tracing::warn!(message_id = %id, error = %err, "unreadable announced message")
                        }
                    },
                    Ok(None) => {
                        tracing::warn!(message_id = %id, "an announced message is not stored")
                    }
                    Err(err) => {
                        tracing::warn!(message_id = %id, error = %err, "cannot read an announced message")
                    }
                }
            });
        })
        .await?;
        let _ = self.cluster.set(announcer);
        Ok(())
    }

    /// Broadcasts the message at its start, unless it was cancelled meanwhile.
    fn schedule(&self, message: FeatureMessage) {
        self.starts.push(message.starts_at, message);
    }

    /// At a scheduled start: the stored message decides, as it may have been cancelled
    /// since.
    async fn deliver_if_current(&self, message: FeatureMessage) {
        let current = match self.stores.messages.message(message.id).await {
            Ok(Some(record)) => FeatureMessage::from_record(&record).ok(),
            Ok(None) => None,
            Err(err) => {
                tracing::warn!(message_id = %message.id, error = %err, "cannot read a message at its start; delivering the scheduled copy");
                Some(message)
            }
        };
        if let Some(message) = current.filter(|m| m.showing(self.clock.now())) {
            self.deliver(&message).await;
        }
    }

    /// Hands the message to every session held here; each checks its segment and cap.
    async fn deliver(&self, message: &FeatureMessage) {
        let handed = self.hub.broadcast(self.broadcast(message)).await;
        tracing::info!(message_id = %message.id, sessions = handed, "feature message broadcast");
    }

    fn broadcast(&self, message: &FeatureMessage) -> Broadcast {
        Broadcast {
            id: message.id.to_string(),
            kind: events::MessageFeature::KIND,
            data: message.view().to_json().into(),
            filter: Arc::new(message.segment.clone()),
            daily_cap: Some(self.daily_cap),
            observer: self.stats.deliveries(message.id),
        }
    }
}
