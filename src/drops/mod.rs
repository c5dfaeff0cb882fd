//! Product drops: limited stock sold to many buyers at once. Each drop a node serves has a
//! [`seller::Seller`] (units from a lease of its own, see its proofs of no oversell and no
//! undersell), an optional [`waiting_room::WaitingRoom`] and the buyers watching it; the
//! reservations of every drop lapse through one [`DueQueue`].
//!
//! An order ([`orders`]) takes units from the seller, then the store records the buyer's
//! quota, the order (`reserved` until `reservation_ttl_seconds`) and the answer to its
//! `Idempotency-Key` together; the payment webhook (`order.paid`) makes it `paid`, the
//! timer makes an unpaid one `expired` and puts its units back. The `reserved -> paid |
//! expired` transition is conditional, so a late payment and an expiry never both apply.
//! Once a second ([`upkeep`]) each served drop looks at its pool and leases again (the
//! remaining figure, leases of crashed nodes to reclaim), keeps or hands back its lease,
//! and watchers get `drop.stock` on a change and `drop.sold_out` at zero; buyers get their
//! order's events in their feed.

pub mod events;
pub mod join_limits;
pub mod orders;
pub use orders::{KeyedOrder, OrderOutcome};
mod orphans;
pub mod rooms;
pub mod seller;
mod upkeep;
pub mod waiting_room;

use fitpulse_actors::events::data::EventData;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use fitpulse_actors::cluster::Cluster;
use fitpulse_actors::domain::time::rfc3339;
use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::clock::SharedClock;
use fitpulse_actors::ports::drops::{DropRecord, OrderRecord, OrderStatus};
use fitpulse_actors::ports::store::StoreError;
use uuid::Uuid;

use crate::auth::tokens::AccessTokens;
use crate::metrics::{DropOrderResult, Metrics};
use crate::schedule::DueQueue;
use crate::store::Stores;
use seller::Seller;

/// The outbox kind of a paid drop order, queued by the payments webhook.
pub const ORDER_PAYMENT_KIND: &str = "webhook.order";

/// Reservations lapsing at one moment expire this many at a time.
const EXPIRY_WAVE: usize = 256;
/// A reservation whose expiry failed (the store did not answer) is tried again this much
/// later.
const EXPIRY_RETRY_MS: i64 = 5_000;

/// One drop as this node serves it.
pub struct DropState {
    pub seller: Seller,
    watchers: Mutex<HashSet<UserId>>,
    /// The reservations timed on this node whose expiry has not applied yet (so none is
    /// timed twice here).
    timed: Mutex<HashSet<Uuid>>,
    /// Rounds of upkeep finished on this node (shown to admins: the loop is alive).
    upkeeps: AtomicU64,
}

impl DropState {
    pub fn record(&self) -> &DropRecord {
        &self.seller.record
    }

    /// Adds a buyer to those told about stock changes.
    pub fn watch(&self, user: UserId) {
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(user);
    }

    /// Marks the reservation timed here; false when it was already.
    pub(super) fn time(&self, order: Uuid) -> bool {
        self.timed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(order)
    }

    /// Reservations timed on this node.
    pub(super) fn timers(&self) -> usize {
        self.timed.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub(super) fn untime(&self, order: Uuid) {
        self.timed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&order);
    }

    pub(super) fn watchers(&self) -> Vec<UserId> {
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .copied()
            .collect()
    }
}

/// Why an order was refused before it reached the stock (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRefusal {
    /// 1 to the drop's per-user limit.
    Quantity {
        max: u32,
    },
    NotStarted {
        seconds_to_start: i64,
    },
    /// The drop has a waiting room and the buyer holds no admission for it.
    NotAdmitted,
    /// Known sold out here: answered from memory.
    SoldOut,
}

/// Where a drop stands for buyers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Upcoming,
    OnSale,
    SoldOut,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Upcoming => "upcoming",
            Phase::OnSale => "on_sale",
            Phase::SoldOut => "sold_out",
        }
    }
}

/// A drop's books as admins see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Books {
    pub sold: u32,
    pub reserved: u32,
    pub expired: u32,
    /// Units in no lease: in the pool, for any node to lease. With the others,
    /// `sold + reserved + remaining + leased_unsold == stock` at every moment.
    pub remaining: u32,
    /// Units in nodes' leases that no order took: for sale while the lease is live, back
    /// in the pool when it is handed back or reclaimed.
    pub leased_unsold: u32,
    /// What buyers see: the pool's units and those of live leases, as of the last look.
    pub for_sale: u32,
    /// Buyers in the waiting room and the node holding it (none without a room, or
    /// while its holder cannot be reached).
    pub waiting: Option<(usize, String)>,
    /// Reservations whose expiry timer has not run yet on this node (paid or not).
    pub timers: usize,
    /// Rounds of upkeep this node finished on the drop.
    pub upkeeps: u64,
}

/// How drops lease their stock (`drops.*` settings).
#[derive(Debug, Clone)]
pub struct DropTerms {
    /// This node's id: the owner of its leases.
    pub owner: String,
    /// How long a lease lives without renewal.
    pub lease_ms: i64,
    /// Unsold units go back when nobody bought for this long.
    pub quiet_ms: i64,
    /// A key claimed this long ago that never answered is taken over by a retry.
    pub claim_lease_ms: i64,
    /// A waiting room opens this long before its drop starts.
    pub pre_queue_ms: i64,
    pub joins_per_minute_per_user: u32,
    pub joins_per_minute_per_ip: u32,
}

/// Why a buyer could not join a drop's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    /// The queue opens in this many seconds.
    NotOpen { seconds_to_queue: i64 },
    /// This user or address joined too often; wait this long.
    TooOften { retry_after: std::time::Duration },
    /// The room's holder cannot be reached now.
    Unavailable,
}

pub struct Drops {
    stores: Stores,
    hub: Hub,
    metrics: Metrics,
    clock: SharedClock,
    terms: DropTerms,
    loaded: tokio::sync::Mutex<HashMap<Uuid, Arc<DropState>>>,
    join_limits: join_limits::JoinLimits,
    rooms: rooms::Rooms,
    /// Unpaid reservations, by when they lapse.
    expiries: Arc<DueQueue<(Arc<DropState>, OrderRecord)>>,
    /// Warns buyers whose app is closed before their reservation lapses.
    notifier: std::sync::OnceLock<Arc<crate::push::Notifier>>,
}

impl Drops {
    pub fn new(
        stores: Stores,
        (hub, cluster): (Hub, Cluster),
        tokens: Arc<AccessTokens>,
        metrics: Metrics,
        clock: SharedClock,
        terms: DropTerms,
    ) -> Arc<Drops> {
        Arc::new_cyclic(|drops: &std::sync::Weak<Drops>| {
            // Weakly: the queue's task must not keep the drops it serves alive.
            let drops = drops.clone();
            let expiries = DueQueue::start(
                clock.clone(),
                EXPIRY_WAVE,
                move |(state, order): (Arc<DropState>, OrderRecord)| {
                    let drops = drops.upgrade();
                    async move {
                        let Some(drops) = drops else { return };
                        match drops.expire(&state, &order).await {
                            Ok(()) => state.untime(order.id),
                            Err(err) => {
                                tracing::warn!(order_id = %order.id, error = %err, "cannot expire a reservation; trying again shortly");
                                // Timed again (still counted), so a store hiccup strands nothing.
                                let again = drops.clock.now() + EXPIRY_RETRY_MS;
                                drops.expiries.push(again, (state.clone(), order));
                            }
                        }
                    }
                },
            );
            Drops {
                join_limits: join_limits::JoinLimits::new(
                    terms.joins_per_minute_per_user,
                    terms.joins_per_minute_per_ip,
                ),
                rooms: rooms::Rooms::new(
                    cluster,
                    tokens.clone(),
                    hub.clone(),
                    clock.clone(),
                    terms.pre_queue_ms,
                ),
                stores,
                hub,
                metrics,
                clock,
                terms,
                loaded: tokio::sync::Mutex::new(HashMap::new()),
                expiries,
                notifier: std::sync::OnceLock::new(),
            }
        })
    }

    /// Warns buyers through `notifier` before their reservations lapse, from now on.
    pub fn push_through(&self, notifier: Arc<crate::push::Notifier>) {
        let _ = self.notifier.set(notifier);
    }

    /// Now, by the clock drops run on.
    pub fn now(&self) -> UnixMillis {
        self.clock.now()
    }

    /// Where order outcomes are counted (refusals answered at the edge count there too).
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub async fn create(&self, record: &DropRecord) -> Result<(), StoreError> {
        self.stores.drops.create_drop(record).await
    }

    /// The drop as this node serves it, loaded on first use: expiries a crash interrupted
    /// are finished, and reservations no live lease's node times (those of ended leases,
    /// of orders older than leases) go to the drop's keeper (`orphans`).
    pub async fn get(self: &Arc<Self>, id: Uuid) -> Result<Option<Arc<DropState>>, StoreError> {
        let mut loaded = self.loaded.lock().await;
        if let Some(state) = loaded.get(&id) {
            return Ok(Some(state.clone()));
        }
        let Some(record) = self.stores.drops.drop_record(id).await? else {
            return Ok(None);
        };
        let terms = seller::LeaseTerms {
            owner: self.terms.owner.clone(),
            lease_ms: self.terms.lease_ms,
            clock: self.clock.clone(),
        };
        let state = Arc::new(DropState {
            seller: Seller::new(record.clone(), terms),
            watchers: Mutex::new(HashSet::new()),
            timed: Mutex::new(HashSet::new()),
            upkeeps: AtomicU64::new(0),
        });
        loaded.insert(id, state.clone());
        drop(loaded);
        match self.finish_loading(&state).await {
            Ok(live_elsewhere) => {
                self.clone().keep_up(state.clone(), live_elsewhere);
                Ok(Some(state))
            }
            Err(err) => {
                // Not half-loaded for good: the next request loads it again.
                self.loaded.lock().await.remove(&id);
                Err(err)
            }
        }
    }

    /// What loading a drop does after publishing its state: finishes expiries a crash
    /// interrupted, reads the stock, and times the reservations nobody else times;
    /// answers the leases live elsewhere.
    async fn finish_loading(
        self: &Arc<Self>,
        state: &Arc<DropState>,
    ) -> Result<HashSet<Uuid>, StoreError> {
        let id = state.record().id;
        let restored = self.stores.drops.restore_expired(id).await?;
        if restored > 0 {
            tracing::info!(drop_id = %id, units = restored, "units of interrupted expiries came back");
        }
        let moves = state.seller.moves().await;
        let stock = self.stores.drops.stock_state(id).await?;
        // The remaining figure is right from the first answer, not from the first upkeep.
        state.seller.look(&stock, moves).await;
        let now = self.clock.now();
        let timed_elsewhere: HashSet<Uuid> = stock
            .leases
            .iter()
            .filter(|l| l.owner != self.terms.owner && l.live_at(now))
            .map(|l| l.id)
            .collect();
        let orphans = self.stores.drops.orders_of_drop(id).await?.iter().any(|o| {
            o.status == OrderStatus::Reserved
                && o.lease.is_none_or(|l| !timed_elsewhere.contains(&l))
        });
        if orphans {
            // Not awaited here: loading may run inside a request to this very keeper.
            let (drops, state) = (self.clone(), state.clone());
            tokio::spawn(async move { drops.hand_orphans_to_keeper(&state).await });
        }
        Ok(timed_elsewhere)
    }

    /// The checks an order passes before it may reach the stock, in this order: the
    /// quantity, the start, the admission (`admitted`: the buyer showed an admission for
    /// this drop), and a sold-out known from memory. Refusals are counted.
    pub async fn check_order(
        &self,
        state: &DropState,
        quantity: u32,
        admitted: bool,
    ) -> Result<(), OrderRefusal> {
        let record = state.record();
        if quantity == 0 || quantity > record.per_user_limit {
            return Err(OrderRefusal::Quantity {
                max: record.per_user_limit,
            });
        }
        let now = self.clock.now();
        if now < record.starts_at {
            self.metrics.drop_order(DropOrderResult::NotStarted);
            return Err(OrderRefusal::NotStarted {
                seconds_to_start: seconds_until(record.starts_at, now),
            });
        }
        if record.admission_per_second.is_some() && !admitted {
            self.metrics.drop_order(DropOrderResult::NotAdmitted);
            return Err(OrderRefusal::NotAdmitted);
        }
        if state.seller.known_sold_out().await {
            self.metrics.drop_order(DropOrderResult::SoldOut);
            return Err(OrderRefusal::SoldOut);
        }
        Ok(())
    }

    /// Joins the drop's waiting room for `user`, calling from `ip`: refused beyond the
    /// join budgets (counted here) and before the room opens (told by its holder).
    pub async fn join_queue(
        &self,
        drop: &DropRecord,
        user: UserId,
        ip: std::net::IpAddr,
    ) -> Result<waiting_room::Standing, JoinRefusal> {
        self.join_limits
            .check(user, ip)
            .map_err(|retry_after| JoinRefusal::TooOften { retry_after })?;
        match self.rooms.join(drop, user).await {
            Ok(Ok(standing)) => Ok(standing),
            Ok(Err(waiting_room::JoinRefusal::NotOpen { in_ms })) => Err(JoinRefusal::NotOpen {
                seconds_to_queue: seconds_until(in_ms, 0),
            }),
            Err(rooms::RoomUnavailable) => Err(JoinRefusal::Unavailable),
        }
    }

    /// Where `user` stands in the drop's waiting room (`None`: not in it).
    pub async fn queue_standing(
        &self,
        drop: &DropRecord,
        user: UserId,
    ) -> Result<Option<waiting_room::Standing>, rooms::RoomUnavailable> {
        self.rooms.standing(drop, user).await
    }

    /// Draining: hands the waiting rooms held here to their new holders.
    pub async fn hand_over_rooms(&self) {
        self.rooms.hand_over().await;
    }

    /// A request from another node for a drop's room target: its waiting room, or its
    /// orphaned reservations (this node keeps the drop).
    pub async fn room_request(
        self: &Arc<Self>,
        drop: Uuid,
        op: &serde_json::value::RawValue,
    ) -> Result<Box<serde_json::value::RawValue>, fitpulse_actors::cluster::RemoteError> {
        let op: rooms::RoomOp = fitpulse_actors::cluster::ops::decode(op)?;
        let keeps = matches!(op, rooms::RoomOp::Keep | rooms::RoomOp::Adopt(_));
        let state = self.get(drop).await.map_err(|err| {
            tracing::warn!(drop_id = %drop, error = %err, "cannot load a drop for its waiting room");
            fitpulse_actors::cluster::RemoteError::Busy
        })?;
        let answer = self
            .rooms
            .execute(state.as_ref().map(|s| s.record()), op)
            .await?;
        if keeps && let Some(state) = &state {
            // Not awaited: a store read per order must not hold the room's requests up.
            let (drops, state) = (self.clone(), state.clone());
            tokio::spawn(async move {
                if let Err(err) = drops.time_orphans(&state).await {
                    tracing::warn!(drop_id = %state.record().id, error = %err, "cannot time a drop's orphaned reservations");
                }
            });
        }
        Ok(answer)
    }

    /// Where the drop stands for buyers now, and the units still for sale.
    pub async fn phase(&self, state: &DropState) -> (Phase, u32) {
        let remaining = state.seller.remaining().await;
        let phase = if self.clock.now() < state.record().starts_at {
            Phase::Upcoming
        } else if remaining == 0 {
            Phase::SoldOut
        } else {
            Phase::OnSale
        };
        (phase, remaining)
    }

    /// The drop's books: units by order state, leased, remaining, and the queue.
    pub async fn books(&self, state: &DropState) -> Result<Books, StoreError> {
        let id = state.record().id;
        // Timers first: a reservation is untimed only after its expiry is stored, so books
        // that show no timer left also show every expiry that ended one (read the other
        // way round, an expiry between the two reads showed 0 timers and 0 expired).
        let timers = state.timers();
        let orders = self.stores.drops.orders_of_drop(id).await?;
        let units = |status: OrderStatus| -> u32 {
            orders
                .iter()
                .filter(|o| o.status == status)
                .map(|o| o.quantity)
                .sum()
        };
        let stock = self.stores.drops.stock_state(id).await?;
        let used = seller::used_by_lease(&orders);
        let leased_unsold: u32 = stock
            .leases
            .iter()
            .map(|l| {
                l.granted
                    .saturating_sub(used.get(&l.id).copied().unwrap_or(0))
            })
            .sum();
        Ok(Books {
            sold: units(OrderStatus::Paid),
            reserved: units(OrderStatus::Reserved),
            expired: units(OrderStatus::Expired),
            remaining: stock.pool(),
            leased_unsold,
            for_sale: state.seller.remaining().await,
            waiting: match state.record().admission_per_second {
                Some(_) => self.rooms.waiting(state.record()).await.ok(),
                None => None,
            },
            timers,
            upkeeps: state.upkeeps.load(Ordering::SeqCst),
        })
    }

    /// An order event in the buyer's feed (every device, kept for resume).
    pub(super) fn tell_buyer<D: EventData>(&self, order: &OrderRecord, event: fn(OrderView) -> D) {
        let hub = self.hub.clone();
        let (user, kind, data) = (order.user, D::KIND, event(order_view(order)).to_json());
        tokio::spawn(async move {
            if let Err(err) = hub.publish(user, kind, data).await {
                tracing::warn!(user_id = %user, error = %err, "cannot tell a buyer about their order");
            }
        });
    }
}

/// An order, as answered, stored for idempotent replays and pushed to the buyer.
#[derive(serde::Serialize, schemars::JsonSchema)]
#[schemars(rename = "Order")]
pub struct OrderView {
    pub id: Uuid,
    pub drop_id: Uuid,
    pub quantity: u32,
    /// `reserved`, `paid` or `expired`.
    pub status: &'static str,
    pub created_at: String,
    /// When an unpaid reservation lapses.
    pub expires_at: String,
}

impl OrderView {
    /// The view as JSON text.
    pub fn to_json(&self) -> String {
        // Uuids, numbers and strings always serialize.
        serde_json::to_string(self).expect("an order view serializes")
    }
}

pub fn order_view(order: &OrderRecord) -> OrderView {
    OrderView {
        id: order.id,
        drop_id: order.drop_id,
        quantity: order.quantity,
        status: order.status.as_str(),
        created_at: rfc3339(order.created_at),
        expires_at: rfc3339(order.expires_at),
    }
}

/// Seconds from `now` to `at`, never negative.
pub fn seconds_until(at: UnixMillis, now: UnixMillis) -> i64 {
    ((at - now).max(0) + 999) / 1000
}

/// Applies queued order payments (outbox kind [`ORDER_PAYMENT_KIND`]).
pub struct OrderPayments(pub Arc<Drops>);

#[async_trait::async_trait]
impl crate::outbox::handler::Handler for OrderPayments {
    async fn handle(
        &self,
        item: &fitpulse_actors::ports::commerce::OutboxItem,
    ) -> Result<(), crate::outbox::handler::HandleError> {
        use crate::outbox::handler::HandleError;
        #[derive(serde::Deserialize)]
        struct Payload {
            order_id: Uuid,
        }
        let payload: Payload = serde_json::from_str(&item.payload)
            .map_err(|e| HandleError::Permanent(format!("unreadable order payment: {e}")))?;
        match self.0.paid(payload.order_id).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                // Unknown, expired or already paid: nothing to do here; a payment for an
                // expired reservation needs a refund from the payment provider.
                tracing::warn!(order_id = %payload.order_id, "a payment for an order that is not reserved");
                Ok(())
            }
            Err(err) => Err(HandleError::Retry(err.to_string())),
        }
    }
}
