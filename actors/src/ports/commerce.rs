//! Store ports for commerce: subscriptions with their entitlement, the links from store
//! purchases to users, and the durable outbox that webhook processing and side effects
//! (emails, calls to third parties) go through. Implemented by every store backend and held
//! to the same behaviour by the conformance suite.

use async_trait::async_trait;
use uuid::Uuid;

use super::store::{Entitlement, StoreError};
use crate::domain::{UnixMillis, UserId};

/// A user's subscription as stored. `id` is the provider's stable id of the subscription
/// (`appstore:<originalTransactionId>`, `googleplay:<purchaseToken>`, `web:<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    pub user: UserId,
    pub id: String,
    pub product_id: String,
    /// A `SubscriptionState` name (`active`, `in_grace`, ...).
    pub state: String,
    pub expires_at: Option<UnixMillis>,
    pub auto_renew: bool,
    /// In its free trial: bought as a product with a trial and not yet paid for (the first
    /// renewal is the conversion).
    pub trial: bool,
    /// When the provider says the last applied change happened; older changes are ignored.
    pub changed_at: UnixMillis,
}

/// How many stored subscriptions have one product and state (`subscription_counts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionCount {
    pub product_id: String,
    pub state: String,
    pub count: u64,
}

/// A state change and everything that must happen with it, stored as one logical step:
/// the subscription, the entitlement it grants or takes away, and the outbox items (emails)
/// it causes. Either all of it is stored or, on error, the caller retries all of it.
#[derive(Debug, Clone)]
pub struct SubscriptionCommit {
    pub subscription: SubscriptionRecord,
    pub entitlement: Entitlement,
    pub outbox: Vec<OutboxItem>,
}

#[async_trait]
pub trait SubscriptionStore: Send + Sync {
    async fn commit_subscription(&self, commit: &SubscriptionCommit) -> Result<(), StoreError>;
    async fn subscriptions(&self, user: UserId) -> Result<Vec<SubscriptionRecord>, StoreError>;
    async fn subscription(
        &self,
        user: UserId,
        id: &str,
    ) -> Result<Option<SubscriptionRecord>, StoreError>;
    /// Links a store purchase (a Google purchase token, an App Store original transaction)
    /// to a user; the first link wins and later ones answer its user.
    async fn link_purchase(&self, external_id: &str, user: UserId) -> Result<UserId, StoreError>;
    async fn purchase_owner(&self, external_id: &str) -> Result<Option<UserId>, StoreError>;
    /// Every stored subscription counted by product and state, for the business gauge.
    /// A scan of all subscriptions in both backends (no index keeps these counts), so it
    /// is called on an interval by one node, never on a request path.
    async fn subscription_counts(&self) -> Result<Vec<SubscriptionCount>, StoreError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// Waiting for its next attempt at `next_at`.
    Pending,
    Done,
    /// Out of attempts: kept for an operator to look at and retry.
    Dead,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Done => "done",
            OutboxState::Dead => "dead",
        }
    }

    pub fn parse(raw: &str) -> Option<OutboxState> {
        [OutboxState::Pending, OutboxState::Done, OutboxState::Dead]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// One side effect to carry out, such as `email.send` or `webhook.appstore`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    pub id: Uuid,
    pub kind: String,
    /// JSON text.
    pub payload: String,
    pub state: OutboxState,
    pub attempts: u32,
    pub next_at: UnixMillis,
    pub last_error: Option<String>,
    pub created_at: UnixMillis,
}

impl OutboxItem {
    /// A new item due now.
    pub fn new(id: Uuid, kind: &str, payload: String, now: UnixMillis) -> OutboxItem {
        OutboxItem {
            id,
            kind: kind.to_owned(),
            payload,
            state: OutboxState::Pending,
            attempts: 0,
            next_at: now,
            last_error: None,
            created_at: now,
        }
    }
}

/// How long outbox items (and so the memory of which webhook ids were seen) are kept.
pub const OUTBOX_TTL_SECONDS: u32 = 30 * 24 * 60 * 60;

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Adds the item unless one with its id exists; true if it was new. Ids derived from a
    /// provider's event id make this the deduplication of at-least-once webhooks. A
    /// pending item that was already there is made due again, so nothing stays stranded.
    async fn enqueue(&self, item: &OutboxItem) -> Result<bool, StoreError>;
    /// Pending items whose `next_at` has come, oldest first.
    async fn due(&self, now: UnixMillis, limit: usize) -> Result<Vec<OutboxItem>, StoreError>;
    /// Takes the item for `lease` milliseconds so no other worker runs it; true for exactly
    /// one of any number of concurrent claims.
    async fn claim(&self, id: Uuid, now: UnixMillis, lease_ms: i64) -> Result<bool, StoreError>;
    /// The attempt worked: the item is done.
    async fn complete(&self, id: Uuid) -> Result<(), StoreError>;
    /// The attempt failed: try again at `next_at`, or give up (`dead`) when `next_at` is
    /// `None`.
    async fn fail(
        &self,
        id: Uuid,
        attempts: u32,
        next_at: Option<UnixMillis>,
        error: &str,
    ) -> Result<(), StoreError>;
    async fn outbox_item(&self, id: Uuid) -> Result<Option<OutboxItem>, StoreError>;
    /// Dead items, newest first.
    async fn dead_items(&self, limit: usize) -> Result<Vec<OutboxItem>, StoreError>;
    /// Makes a dead item pending and due now with fresh attempts; false if it was not dead.
    async fn revive(&self, id: Uuid, now: UnixMillis) -> Result<bool, StoreError>;
    /// Makes a pending item due at `at` when it was due later: an item queued on hold until
    /// what it is about is stored is released. False if it is not pending or due by then.
    async fn bring_forward(&self, id: Uuid, at: UnixMillis) -> Result<bool, StoreError>;
    /// How many items are pending.
    async fn pending_count(&self) -> Result<u64, StoreError>;
}
