//! Store ports for product drops: the drop, its stock pool, per-user quotas and orders.
//!
//! Stock is never sold from the store row directly: a node leases units in chunks from the
//! drop's pool into a [`Lease`] of its own (`lease_stock`, a compare-and-set on the units
//! out of the pool) and sells them from memory, handing back what it does not sell. The
//! store guarantees the units out never exceed the stock, whatever the number of nodes and
//! racing callers, and every unit is in exactly one place: the pool, a lease's unsold
//! units, or an order (expired orders' units are back in the pool):
//! `pool + unsold + reserved + paid == stock`.

use async_trait::async_trait;
use uuid::Uuid;

use super::store::{IdempotencyKey, StoreError, StoredResponse};
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
    /// The lease its units came from (`None` for orders older than leases).
    pub lease: Option<Uuid>,
}

/// Units a node took out of a drop's pool to sell from memory. Its owner renews it; a
/// lease whose owner stopped renewing (a crash) is reclaimed once it expired: what it
/// sold is counted from the orders that name it, the rest goes back to the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub id: Uuid,
    /// The node selling from it.
    pub owner: String,
    /// Units taken from the pool into this lease and not handed back: sold, reserved,
    /// expired (their units went back to the pool on their own) or still for sale.
    pub granted: u32,
    /// Units still for sale, as its owner last reported (for the remaining figure).
    pub unsold: u32,
    pub expires_at: UnixMillis,
    /// Handed back: nothing is for sale from it any more.
    pub released: bool,
}

impl Lease {
    /// Whether its node still sells from it (and times its reservations) at `now`.
    pub fn live_at(&self, now: UnixMillis) -> bool {
        !self.released && now < self.expires_at
    }
}

/// A drop's pool and its leases.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StockState {
    pub stock: u32,
    /// Units out of the pool: in leases (sold, reserved or for sale there).
    pub out: u32,
    pub leases: Vec<Lease>,
}

impl StockState {
    /// Units in the pool, for any node to lease.
    pub fn pool(&self) -> u32 {
        self.stock.saturating_sub(self.out)
    }
}

/// Who takes units from a pool into which lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseGrant {
    pub drop: Uuid,
    pub lease: Uuid,
    pub owner: String,
    /// Units wanted from the pool.
    pub want: u32,
    /// The lease's new expiry (taking units renews it).
    pub expires_at: UnixMillis,
    /// Units for sale in the lease after this grant, not counting the granted ones.
    pub unsold: u32,
}

/// A buyer's reservation with its `Idempotency-Key`: the key's claim, the buyer's quota,
/// the order and the answer to replay, recorded together (in one transaction where the
/// backend has them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub order: OrderRecord,
    /// The buyer's per-user limit.
    pub limit: u32,
    pub key: IdempotencyKey,
    pub fingerprint: String,
    /// The answer to store when the order is made, and when the limit refuses it.
    pub reserved_answer: StoredResponse,
    pub limit_answer: StoredResponse,
    pub now: UnixMillis,
    /// A claim older than this that never completed is taken over (its holder died).
    pub claim_lease_ms: i64,
}

/// What became of a [`Reservation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// The order is stored and the answer with it.
    Made,
    /// The buyer's limit refused it; that answer is stored.
    LimitReached,
    /// The key answered before: replay this.
    Replay(StoredResponse),
    /// The key was used with another body.
    KeyReused,
    /// Another request with the key is running (claimed within the claim lease).
    Running,
    /// A request with the key made this order and died before answering: answer with
    /// it (and complete the key with `IdempotencyStore::complete`).
    Exists(OrderRecord),
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
    /// Takes up to `want` units from the pool into the lease (made on first use, taken
    /// back into use when it was released) and renews it; answers how many were granted
    /// (0 when the pool is empty, or the lease belongs to another owner). Concurrent
    /// grants never take more than the stock out of the pool in total.
    async fn lease_stock(&self, grant: &LeaseGrant) -> Result<u32, StoreError>;
    /// Renews the owner's lease to `expires_at` and records its unsold units; false when
    /// it is no longer the owner's to sell from (released or reclaimed).
    async fn renew_lease(
        &self,
        drop: Uuid,
        lease: Uuid,
        owner: &str,
        expires_at: UnixMillis,
        unsold: u32,
    ) -> Result<bool, StoreError>;
    /// The owner hands `units` of the lease back to the pool; with `release` the lease
    /// is done (nothing more is sold from it until it is leased into again).
    async fn hand_back(
        &self,
        drop: Uuid,
        lease: Uuid,
        units: u32,
        release: bool,
    ) -> Result<(), StoreError>;
    /// Reclaims a lease whose owner stopped renewing it: if it is still unreleased with
    /// the expiry `seen_expires_at`, everything but the `used` units (those its orders
    /// took) goes back to the pool. False when it changed meanwhile.
    async fn reclaim_lease(
        &self,
        drop: Uuid,
        lease: Uuid,
        seen_expires_at: UnixMillis,
        used: u32,
    ) -> Result<bool, StoreError>;
    async fn stock_state(&self, drop: Uuid) -> Result<StockState, StoreError>;
    /// Records a reservation (see [`Reservation`]). The buyer's quota is exact under
    /// concurrency; of any number of concurrent requests with one key, one makes the order.
    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, StoreError>;
    async fn order(&self, id: Uuid) -> Result<Option<OrderRecord>, StoreError>;
    /// Every order of the drop (at most its stock's worth of rows).
    async fn orders_of_drop(&self, drop: Uuid) -> Result<Vec<OrderRecord>, StoreError>;
    /// `reserved -> paid`; false if it was not reserved. Of a payment and an expiry
    /// racing, exactly one applies.
    async fn pay_order(&self, id: Uuid) -> Result<bool, StoreError>;
    /// `reserved -> expired`, its units back to the pool and its quota back to the
    /// buyer; false if it was not reserved. The units come back exactly once, even when
    /// a crash interrupts this and [`DropStore::restore_expired`] finishes it.
    async fn expire_order(&self, order: &OrderRecord) -> Result<bool, StoreError>;
    /// Finishes expiries a crash interrupted: units of expired orders that did not come
    /// back yet come back now. Answers how many units came back.
    async fn restore_expired(&self, drop: Uuid) -> Result<u32, StoreError>;
}
