//! Store ports for feature messages: the messages the team sends (a few a day, kept 90
//! days) and each user's read / dismissed / clicked state of them.

use async_trait::async_trait;
use uuid::Uuid;

use super::store::StoreError;
use crate::domain::{UnixMillis, UserId};

/// A feature message as stored; `doc` is its JSON document (the store does not look inside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub id: Uuid,
    pub doc: String,
    pub expires_at: UnixMillis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageAction {
    Read,
    Dismissed,
    Clicked,
}

impl MessageAction {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageAction::Read => "read",
            MessageAction::Dismissed => "dismissed",
            MessageAction::Clicked => "clicked",
        }
    }
}

/// What a user did with one message, and when (first time each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageState {
    pub read_at: Option<UnixMillis>,
    pub dismissed_at: Option<UnixMillis>,
    pub clicked_at: Option<UnixMillis>,
}

/// How long messages and their states are kept.
pub const MESSAGE_TTL_SECONDS: u32 = 90 * 24 * 60 * 60;

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Inserts or replaces a message.
    async fn put_message(&self, message: &MessageRecord) -> Result<(), StoreError>;
    async fn message(&self, id: Uuid) -> Result<Option<MessageRecord>, StoreError>;
    /// Every kept message that has not expired at `now`.
    async fn unexpired_messages(&self, now: UnixMillis) -> Result<Vec<MessageRecord>, StoreError>;
    /// Records `action` at `at`; an action already recorded keeps its first time.
    async fn mark_message(
        &self,
        user: UserId,
        message: Uuid,
        action: MessageAction,
        at: UnixMillis,
    ) -> Result<MessageState, StoreError>;
    async fn message_states(&self, user: UserId) -> Result<Vec<(Uuid, MessageState)>, StoreError>;
}
