//! Store ports for product drops: the drop, its stock pool, per-user quotas and orders.
//!
//! Stock is never sold from the store row directly: a node leases units in chunks from the
//! drop's pool (`lease_stock`, a compare-and-set on the number of units handed out) and
//! sells them from memory, returning what it does not sell. The store guarantees the sum
//! of all leases never exceeds the stock, whatever the number of nodes and racing callers.

use async_trait::async_trait;
use uuid::Uuid;

use super::store::StoreError;
use crate::domain::{UnixMillis, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropRecord {
    pub id: Uuid,
    pub title: String,
    pub stock: u32,
    pub price_cents: u32,
    pub currency: String,
    pub starts_at: UnixMillis,
    pub per_user_limit: u32,
    pub reservation_ttl_seconds: u32,
    /// Buyers admitted per second from the waiting room; `None`: no waiting room.
    pub admission_per_second: Option<u32>,
    pub created_at: UnixMillis,
    /// Until then the drop is not announced: only admins see it. `None`: announced when
    /// created.
    pub announce_at: Option<UnixMillis>,
}

impl DropRecord {
    /// Whether the drop may be shown to anyone at `now`.
    pub fn announced(&self, now: UnixMillis) -> bool {
        self.announce_at.is_none_or(|at| at <= now)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Stock held for the buyer until `expires_at` or payment.
    Reserved,
    Paid,
    /// Not paid in time: its units went back to the pool.
    Expired,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Reserved => "reserved",
            OrderStatus::Paid => "paid",
            OrderStatus::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<OrderStatus> {
        [
            OrderStatus::Reserved,
            OrderStatus::Paid,
            OrderStatus::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub id: Uuid,
    pub drop_id: Uuid,
    pub user: UserId,
    pub quantity: u32,
    pub status: OrderStatus,
    pub created_at: UnixMillis,
    /// When an unpaid reservation lapses.
    pub expires_at: UnixMillis,
}

/// How much of a drop's stock is out of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StockState {
    pub stock: u32,
    /// Units leased to nodes (sold, reserved or held for sale in a node's memory).
    pub leased: u32,
}

/// The longest window [`DropStore::drops_between`] reads.
pub const MAX_LISTED_DAYS: i64 = 62;

#[async_trait]
pub trait DropStore: Send + Sync {
    async fn create_drop(&self, drop: &DropRecord) -> Result<(), StoreError>;
    async fn drop_record(&self, id: Uuid) -> Result<Option<DropRecord>, StoreError>;
    /// The drops starting in `[from, to]`, soonest first (for the admin list; the window
    /// is at most [`MAX_LISTED_DAYS`] long, a longer one is cut at that).
    async fn drops_between(
        &self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<DropRecord>, StoreError>;
    /// Leases up to `want` units from the pool; answers how many were granted (0 when the
    /// pool is empty). Concurrent leases never hand out more than the stock in total.
    async fn lease_stock(&self, drop: Uuid, want: u32) -> Result<u32, StoreError>;
    /// Puts `units` back into the pool (an unsold lease, an expired reservation).
    async fn return_stock(&self, drop: Uuid, units: u32) -> Result<(), StoreError>;
    async fn stock_state(&self, drop: Uuid) -> Result<StockState, StoreError>;
    /// Takes `quantity` of the user's allowance of `limit` units; false (and nothing
    /// taken) if it would go over. Exact under concurrency.
    async fn take_quota(
        &self,
        drop: Uuid,
        user: UserId,
        quantity: u32,
        limit: u32,
    ) -> Result<bool, StoreError>;
    /// Gives back quota taken for an order that did not happen or expired.
    async fn give_back_quota(
        &self,
        drop: Uuid,
        user: UserId,
        quantity: u32,
    ) -> Result<(), StoreError>;
    async fn put_order(&self, order: &OrderRecord) -> Result<(), StoreError>;
    async fn order(&self, id: Uuid) -> Result<Option<OrderRecord>, StoreError>;
    /// Every order of the drop (at most its stock's worth of rows).
    async fn orders_of_drop(&self, drop: Uuid) -> Result<Vec<OrderRecord>, StoreError>;
    /// Moves an order from `from` to `to`; false if it was not in `from`. Of a payment and
    /// an expiry racing, exactly one applies.
    async fn transition_order(
        &self,
        id: Uuid,
        from: OrderStatus,
        to: OrderStatus,
    ) -> Result<bool, StoreError>;
}
