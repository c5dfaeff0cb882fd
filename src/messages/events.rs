//! The feature-message frames of a member's feed, as types.

use fitpulse_actors::event_data;
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

/// A feature message whose segment matches the member and one of their devices.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MessageFeature {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    pub image_url: Option<String>,
    pub cta_url: Option<String>,
    pub priority: i32,
    pub starts_at: String,
    pub expires_at: String,
}

/// When the member read, dismissed or clicked a message (`null`: not yet).
#[derive(Debug, Serialize, JsonSchema)]
pub struct MessageStateTimes {
    pub read_at: Option<String>,
    pub dismissed_at: Option<String>,
    pub clicked_at: Option<String>,
}

/// The member read, dismissed or clicked a message on some device.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MessageStateChanged {
    pub id: Uuid,
    /// `read`, `dismissed` or `clicked`.
    pub action: &'static str,
    pub state: MessageStateTimes,
}

event_data! {
    MessageFeature: MESSAGE_FEATURE, Feed, "A feature message for the member";
    MessageStateChanged: MESSAGE_STATE, Feed, "The member read, dismissed or clicked a message";
}
