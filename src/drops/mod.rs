//! Product drops: limited stock sold to many buyers at once. Each drop a node serves has a
//! [`seller::Seller`] (stock from leased chunks, see its proof of no oversell), an optional
//! [`waiting_room::WaitingRoom`] and the buyers watching it; the reservations of every
//! drop lapse through one [`DueQueue`].
//!
//! An order takes the buyer's quota (per-user limit), then units from the seller, then is
//! stored as `reserved` until `reservation_ttl_seconds`; the payment webhook (`order.paid`)
//! makes it `paid`, the timer makes an unpaid one `expired` and puts its units back. The
//! `reserved -> paid | expired` transition is conditional, so a late payment and an expiry
//! never both apply. Watchers get `drop.stock` (at most once a second, on change) and
//! `drop.sold_out`; buyers get their order's events in their feed.

pub mod seller;
pub mod waiting_room;

use fitpulse_actors::events::kinds;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fitpulse_actors::domain::time::rfc3339;
use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::events::{EventKind, notice_frame};
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::clock::SharedClock;
use fitpulse_actors::ports::drops::{DropRecord, OrderRecord, OrderStatus};
use fitpulse_actors::ports::store::StoreError;
use serde_json::json;
use uuid::Uuid;

use crate::auth::tokens::AccessTokens;
use crate::metrics::{DropOrderResult, Metrics};
use crate::schedule::DueQueue;
use crate::store::Stores;
use seller::{ReserveError, Seller};
use waiting_room::WaitingRoom;

/// The outbox kind of a paid drop order, queued by the payments webhook.
pub const ORDER_PAYMENT_KIND: &str = "webhook.order";

/// Watchers hear about stock at most this often.
const STOCK_PUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Reservations lapsing at one moment expire this many at a time.
const EXPIRY_WAVE: usize = 256;
/// A drop ends this long after its start: its pushes stop and its stock series goes.
const ENDS_AFTER_MS: i64 = 24 * 60 * 60 * 1000;

/// One drop as this node serves it.
pub struct DropState {
    pub seller: Seller,
    pub room: Option<Arc<WaitingRoom>>,
    watchers: Mutex<HashSet<UserId>>,
    /// Reservations whose expiry timer has not run yet on this node.
    timers: AtomicUsize,
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

    fn watchers(&self) -> Vec<UserId> {
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
    pub leased: u32,
    pub remaining: u32,
    pub waiting: usize,
    /// Reservations whose expiry timer has not run yet on this node (paid or not).
    pub timers: usize,
}

/// What became of an order attempt that reached the stock.
#[derive(Debug)]
pub enum OrderOutcome {
    Reserved(OrderRecord),
    SoldOut,
    LimitReached,
}

pub struct Drops {
    stores: Stores,
    hub: Hub,
    tokens: Arc<AccessTokens>,
    metrics: Metrics,
    clock: SharedClock,
    loaded: tokio::sync::Mutex<HashMap<Uuid, Arc<DropState>>>,
    /// Unpaid reservations, by when they lapse.
    expiries: Arc<DueQueue<(Arc<DropState>, OrderRecord)>>,
}

impl Drops {
    pub fn new(
        stores: Stores,
        hub: Hub,
        tokens: Arc<AccessTokens>,
        metrics: Metrics,
        clock: SharedClock,
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
                        if let Err(err) = drops.expire(&state, &order).await {
                            tracing::warn!(order_id = %order.id, error = %err, "cannot expire a reservation");
                        }
                        state.timers.fetch_sub(1, Ordering::SeqCst);
                    }
                },
            );
            Drops {
                stores,
                hub,
                tokens,
                metrics,
                clock,
                loaded: tokio::sync::Mutex::new(HashMap::new()),
                expiries,
            }
        })
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

    /// The drop as this node serves it, loaded on first use: reservations that lapsed
    /// while no node watched them expire now, live ones get their timers back.
    pub async fn get(self: &Arc<Self>, id: Uuid) -> Result<Option<Arc<DropState>>, StoreError> {
        let mut loaded = self.loaded.lock().await;
        if let Some(state) = loaded.get(&id) {
            return Ok(Some(state.clone()));
        }
        let Some(record) = self.stores.drops.drop_record(id).await? else {
            return Ok(None);
        };
        let room = record
            .admission_per_second
            .map(|rate| WaitingRoom::new(id, rate));
        if let Some(room) = &room {
            room.clone().run(
                record.starts_at,
                self.tokens.clone(),
                self.hub.clone(),
                self.clock.clone(),
            );
        }
        let state = Arc::new(DropState {
            seller: Seller::new(record.clone()),
            room,
            watchers: Mutex::new(HashSet::new()),
            timers: AtomicUsize::new(0),
        });
        loaded.insert(id, state.clone());
        drop(loaded);
        for order in self.stores.drops.orders_of_drop(id).await? {
            if order.status == OrderStatus::Reserved {
                self.schedule_expiry(state.clone(), order);
            }
        }
        self.clone().push_stock(state.clone());
        Ok(Some(state))
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
        let orders = self.stores.drops.orders_of_drop(id).await?;
        let units = |status: OrderStatus| -> u32 {
            orders
                .iter()
                .filter(|o| o.status == status)
                .map(|o| o.quantity)
                .sum()
        };
        let pool = self.stores.drops.stock_state(id).await?;
        Ok(Books {
            sold: units(OrderStatus::Paid),
            reserved: units(OrderStatus::Reserved),
            expired: units(OrderStatus::Expired),
            leased: pool.leased,
            remaining: state.seller.remaining().await,
            waiting: state.room.as_ref().map_or(0, |r| r.waiting()),
            timers: state.timers.load(Ordering::SeqCst),
        })
    }

    /// Takes the buyer's quota and the units, and records the reservation.
    pub async fn order(
        self: &Arc<Self>,
        state: &Arc<DropState>,
        user: UserId,
        quantity: u32,
    ) -> Result<OrderOutcome, StoreError> {
        let record = state.record();
        let drops = &self.stores.drops;
        if !drops
            .take_quota(record.id, user, quantity, record.per_user_limit)
            .await?
        {
            self.metrics.drop_order(DropOrderResult::LimitReached);
            return Ok(OrderOutcome::LimitReached);
        }
        match state.seller.reserve(drops.as_ref(), quantity).await {
            Ok(Ok(())) => {}
            Ok(Err(ReserveError::SoldOut)) => {
                drops.give_back_quota(record.id, user, quantity).await?;
                self.metrics.drop_order(DropOrderResult::SoldOut);
                return Ok(OrderOutcome::SoldOut);
            }
            Err(err) => {
                drops.give_back_quota(record.id, user, quantity).await?;
                return Err(err);
            }
        }
        let now = self.clock.now();
        let order = OrderRecord {
            id: Uuid::new_v4(),
            drop_id: record.id,
            user,
            quantity,
            status: OrderStatus::Reserved,
            created_at: now,
            expires_at: now + i64::from(record.reservation_ttl_seconds) * 1000,
        };
        if let Err(err) = drops.put_order(&order).await {
            // Not recorded: the units and the quota go back as if nothing happened.
            state.seller.unreserve(quantity).await;
            drops.give_back_quota(record.id, user, quantity).await?;
            return Err(err);
        }
        self.metrics.drop_order(DropOrderResult::Reserved);
        state.watch(user);
        self.tell_buyer(&order, kinds::ORDER_RESERVED);
        self.schedule_expiry(state.clone(), order.clone());
        Ok(OrderOutcome::Reserved(order))
    }

    fn schedule_expiry(&self, state: Arc<DropState>, order: OrderRecord) {
        state.timers.fetch_add(1, Ordering::SeqCst);
        self.expiries.push(order.expires_at, (state, order));
    }

    /// Expires the reservation if it is still unpaid and puts its units back.
    async fn expire(&self, state: &DropState, order: &OrderRecord) -> Result<(), StoreError> {
        let drops = &self.stores.drops;
        if !drops
            .transition_order(order.id, OrderStatus::Reserved, OrderStatus::Expired)
            .await?
        {
            return Ok(()); // paid meanwhile
        }
        drops.return_stock(order.drop_id, order.quantity).await?;
        drops
            .give_back_quota(order.drop_id, order.user, order.quantity)
            .await?;
        state.seller.expired(order.quantity).await;
        self.metrics.drop_order(DropOrderResult::Expired);
        self.tell_buyer(
            &OrderRecord {
                status: OrderStatus::Expired,
                ..order.clone()
            },
            kinds::ORDER_EXPIRED,
        );
        Ok(())
    }

    /// The payment provider confirmed the order; false if it was not reserved (expired
    /// already, or paid before).
    pub async fn paid(self: &Arc<Self>, order_id: Uuid) -> Result<bool, StoreError> {
        let drops = &self.stores.drops;
        let Some(order) = drops.order(order_id).await? else {
            return Ok(false);
        };
        if !drops
            .transition_order(order_id, OrderStatus::Reserved, OrderStatus::Paid)
            .await?
        {
            return Ok(false);
        }
        if let Some(state) = self.get(order.drop_id).await? {
            state.seller.paid(order.quantity).await;
        }
        self.metrics.drop_order(DropOrderResult::Paid);
        self.tell_buyer(
            &OrderRecord {
                status: OrderStatus::Paid,
                ..order
            },
            kinds::ORDER_PAID,
        );
        Ok(true)
    }

    /// An order event in the buyer's feed (every device, kept for resume).
    fn tell_buyer(&self, order: &OrderRecord, kind: EventKind) {
        let hub = self.hub.clone();
        let (user, data) = (order.user, order_view(order).to_string());
        tokio::spawn(async move {
            if let Err(err) = hub.publish(user, kind, data).await {
                tracing::warn!(user_id = %user, error = %err, "cannot tell a buyer about their order");
            }
        });
    }

    /// Pushes `drop.stock` to watchers at most once a second when it changed, and
    /// `drop.sold_out` once when it reaches zero; also feeds the stock gauge, from the
    /// drop's announcement until it ends (a day after its start), so the gauge never names
    /// an unannounced drop and its label set stays bounded.
    fn push_stock(self: Arc<Self>, state: Arc<DropState>) {
        tokio::spawn(async move {
            let record = state.record();
            let (id, ends_at) = (record.id, record.starts_at + ENDS_AFTER_MS);
            let label = id.to_string();
            let mut last = None;
            let mut tick = tokio::time::interval(STOCK_PUSH_INTERVAL);
            loop {
                tick.tick().await;
                let now = self.clock.now();
                if now >= ends_at {
                    break;
                }
                if !record.announced(now) {
                    continue;
                }
                let remaining = state.seller.remaining().await;
                self.metrics.drop_stock(&label, remaining);
                if last == Some(remaining) {
                    continue;
                }
                let kind = if remaining == 0 {
                    kinds::DROP_SOLD_OUT
                } else {
                    kinds::DROP_STOCK
                };
                let frame = notice_frame(
                    &kind,
                    self.clock.now(),
                    &json!({ "drop_id": id, "remaining": remaining }),
                );
                for user in state.watchers() {
                    self.hub.notify_user(user, frame.clone(), &kind);
                }
                last = Some(remaining);
            }
            self.metrics.forget_drop(&label);
        });
    }
}

/// The JSON of an order, as answered and pushed.
pub fn order_view(order: &OrderRecord) -> serde_json::Value {
    json!({
        "id": order.id,
        "drop_id": order.drop_id,
        "quantity": order.quantity,
        "status": order.status.as_str(),
        "created_at": rfc3339(order.created_at),
        "expires_at": rfc3339(order.expires_at),
    })
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
