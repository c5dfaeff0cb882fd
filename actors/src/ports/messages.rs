//! Store ports for feature messages: the messages the team sends (a few a day, kept 90
//! days), each user's read / dismissed / clicked state of them, and each message's counts
//! of deliveries and actions summed over every node.

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

/// What `mark_message` did: the user's state after it, and whether this call recorded the
/// action (its first time for that user) rather than finding it already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageMark {
    pub state: MessageState,
    pub recorded: bool,
}

/// What is counted per message: a session took it into its user's feed, or a user read,
/// clicked or dismissed it (the first time each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageEvent {
    Delivered,
    Read,
    Clicked,
    Dismissed,
}

impl MessageEvent {
    pub const ALL: [MessageEvent; 4] = [
        MessageEvent::Delivered,
        MessageEvent::Read,
        MessageEvent::Clicked,
        MessageEvent::Dismissed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageEvent::Delivered => "delivered",
            MessageEvent::Read => "read",
            MessageEvent::Clicked => "clicked",
            MessageEvent::Dismissed => "dismissed",
        }
    }
}

impl From<MessageAction> for MessageEvent {
    fn from(action: MessageAction) -> Self {
        match action {
            MessageAction::Read => MessageEvent::Read,
            MessageAction::Dismissed => MessageEvent::Dismissed,
            MessageAction::Clicked => MessageEvent::Clicked,
        }
    }
}

/// Counts of one message's events: the totals the store keeps, or a delta to add to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageStats {
    pub delivered: u64,
    pub read: u64,
    pub clicked: u64,
    pub dismissed: u64,
}

impl MessageStats {
    /// One more `event`.
    pub fn count(&mut self, event: MessageEvent) {
        *self.slot(event) += 1;
    }

    /// Adds every count of `other`.
    pub fn add(&mut self, other: &MessageStats) {
        for event in MessageEvent::ALL {
            *self.slot(event) += other.get(event);
        }
    }

    pub fn get(&self, event: MessageEvent) -> u64 {
        match event {
            MessageEvent::Delivered => self.delivered,
            MessageEvent::Read => self.read,
            MessageEvent::Clicked => self.clicked,
            MessageEvent::Dismissed => self.dismissed,
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == MessageStats::default()
    }

    fn slot(&mut self, event: MessageEvent) -> &mut u64 {
        match event {
            MessageEvent::Delivered => &mut self.delivered,
            MessageEvent::Read => &mut self.read,
            MessageEvent::Clicked => &mut self.clicked,
            MessageEvent::Dismissed => &mut self.dismissed,
        }
    }
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
    /// Records `action` at `at`; an action already recorded keeps its first time. Of
    /// concurrent first marks of one action by one user, exactly one answers `recorded`.
    async fn mark_message(
        &self,
        user: UserId,
        message: Uuid,
        action: MessageAction,
        at: UnixMillis,
    ) -> Result<MessageMark, StoreError>;
    async fn message_states(&self, user: UserId) -> Result<Vec<(Uuid, MessageState)>, StoreError>;
    /// Adds `delta` to the message's counts; concurrent adds (from every node) all count.
    async fn add_message_stats(&self, message: Uuid, delta: MessageStats)
    -> Result<(), StoreError>;
    /// The message's counts: all zero for a message nothing was counted for.
    async fn message_stats(&self, message: Uuid) -> Result<MessageStats, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_add_up_event_by_event() {
        let mut total = MessageStats::default();
        total.count(MessageEvent::Delivered);
        total.count(MessageEvent::Delivered);
        total.count(MessageEvent::Read);
        let mut more = MessageStats::default();
        more.count(MessageEvent::Clicked);
        more.count(MessageEvent::Read);
        total.add(&more);
        assert_eq!(
            total,
            MessageStats {
                delivered: 2,
                read: 2,
                clicked: 1,
                dismissed: 0
            }
        );
        assert!(MessageStats::default().is_empty());
        assert!(!total.is_empty());
    }
}
