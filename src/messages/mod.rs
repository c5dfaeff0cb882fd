//! Feature messages from the team ("new version", "get featured", "new 2-week plan"):
//! stored, scheduled, broadcast once at their start to every node's sessions (each session
//! checks the segment against what it knows: entitlements, and its devices' platform,
//! version and locale) and kept in every matching user's inbox until they expire.

pub mod segment;

use std::sync::Arc;
use std::time::Duration;

use fitpulse_actors::domain::{UnixMillis, now_millis};
use fitpulse_actors::events::EventKind;
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::messages::MessageRecord;
use fitpulse_actors::ports::store::StoreError;
use fitpulse_actors::session::Broadcast;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::http::views::rfc3339;
use crate::store::Stores;
pub use segment::Segment;

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

    /// The `message.feature` event's data (and the inbox item, before the user's state).
    pub fn view(&self) -> serde_json::Value {
        json!({
            "id": self.id, "title": self.title, "body": self.body,
            "image_url": self.image_url, "cta_url": self.cta_url, "priority": self.priority,
            "starts_at": rfc3339(self.starts_at), "expires_at": rfc3339(self.expires_at),
        })
    }
}

/// Scheduling and delivery of feature messages on this node.
pub struct Messages {
    stores: Stores,
    hub: Hub,
    daily_cap: u32,
}

impl Messages {
    /// Starts delivery of every stored message that has not expired: those not started
    /// yet at their start, those showing now at once (sessions that already have one do
    /// not get it twice).
    pub async fn start(
        stores: Stores,
        hub: Hub,
        daily_cap: u32,
    ) -> Result<Arc<Messages>, StoreError> {
        let messages = Arc::new(Messages {
            stores,
            hub,
            daily_cap,
        });
        for record in messages
            .stores
            .messages
            .unexpired_messages(now_millis())
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

    /// Stores a new message and schedules its delivery.
    pub async fn create(self: &Arc<Self>, message: FeatureMessage) -> Result<(), StoreError> {
        self.stores.messages.put_message(&message.record()).await?;
        self.schedule(message);
        Ok(())
    }

    /// Broadcasts the message at its start, unless it was cancelled meanwhile.
    fn schedule(self: &Arc<Self>, message: FeatureMessage) {
        let this = self.clone();
        tokio::spawn(async move {
            let wait = (message.starts_at - now_millis()).max(0) as u64;
            tokio::time::sleep(Duration::from_millis(wait)).await;
            // The stored message decides: it may have been cancelled since.
            let current = match this.stores.messages.message(message.id).await {
                Ok(Some(record)) => FeatureMessage::from_record(&record).ok(),
                Ok(None) => None,
                Err(err) => {
                    tracing::warn!(message_id = %message.id, error = %err, "cannot read a message at its start; delivering the scheduled copy");
                    Some(message)
                }
            };
            if let Some(message) = current.filter(|m| m.showing(now_millis())) {
                let handed = this.hub.broadcast(this.broadcast(&message)).await;
                tracing::info!(message_id = %message.id, sessions = handed, "feature message broadcast");
            }
        });
    }

    fn broadcast(&self, message: &FeatureMessage) -> Broadcast {
        Broadcast {
            id: message.id.to_string(),
            kind: EventKind::parse("message.feature").expect("a valid event kind"),
            data: message.view().to_string().into(),
            filter: Arc::new(message.segment.clone()),
            daily_cap: Some(self.daily_cap),
        }
    }
}
