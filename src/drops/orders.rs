//! A drop's orders: a buyer's reservation under its `Idempotency-Key`, the expiry of an
//! unpaid one, and payment.
//!
//! A reservation takes units from this node's seller first (memory), then the store
//! records the key, the buyer's quota, the order and the answer together. The order's id
//! is derived from the key, so a retry that takes over the claim of a request that died
//! finds that request's order rather than making a second one.

use super::events::{OrderExpired, OrderPaid, OrderReserved};
use std::sync::Arc;

use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::drops::{OrderRecord, OrderStatus, Reservation, Reserved};
use fitpulse_actors::ports::store::{IdempotencyKey, StoreError, StoredResponse};
use uuid::Uuid;

use super::seller::ReserveError;
use super::{DropState, Drops, order_view};
use crate::metrics::{DropOrderResult, DropUnits};

/// The idempotency part of an order request: its key, the body's fingerprint, and the
/// answer to store should the buyer's limit refuse it.
#[derive(Debug, Clone)]
pub struct KeyedOrder {
    pub key: IdempotencyKey,
    pub fingerprint: String,
    pub limit_answer: StoredResponse,
}

/// What became of an order attempt that reached the stock.
#[derive(Debug)]
pub enum OrderOutcome {
    /// Reserved now, or by an earlier request with the key that died before answering.
    Reserved(OrderRecord),
    SoldOut,
    LimitReached,
    /// The key answered before: this is its answer.
    Replay(StoredResponse),
    /// The key was sent before with another body.
    KeyReused,
    /// Another request with the key is still running.
    Running,
}

/// Order ids live in their own namespace of name-based uuids.
const ORDER_IDS: Uuid = Uuid::from_u128(0x6f1c_2d4e_8a0b_4c3d_9e7f_1a2b_3c4d_5e6f);

/// The order id of a key: the same for every retry with it.
fn order_id(key: &IdempotencyKey) -> Uuid {
    Uuid::new_v5(
        &ORDER_IDS,
        format!("{}\u{1f}{}", key.scope, key.key).as_bytes(),
    )
}

impl Drops {
    /// Takes units for the buyer and records the reservation with its key.
    pub async fn order(
        self: &Arc<Self>,
        state: &Arc<DropState>,
        user: UserId,
        quantity: u32,
        keyed: KeyedOrder,
    ) -> Result<OrderOutcome, StoreError> {
        let record = state.record();
        let store = self.stores.drops.as_ref();
        let lease = match state.seller.take(store, quantity).await? {
            Ok(lease) => lease,
            Err(ReserveError::SoldOut) => {
                self.metrics.drop_order(DropOrderResult::SoldOut);
                return Ok(OrderOutcome::SoldOut);
            }
        };
        let now = self.clock.now();
        let order = OrderRecord {
            id: order_id(&keyed.key),
            drop_id: record.id,
            user,
            quantity,
            status: OrderStatus::Reserved,
            created_at: now,
            expires_at: now + i64::from(record.reservation_ttl_seconds) * 1000,
            lease: Some(lease),
        };
        let reservation = Reservation {
            reserved_answer: created(&order),
            order,
            limit: record.per_user_limit,
            key: keyed.key,
            fingerprint: keyed.fingerprint,
            limit_answer: keyed.limit_answer,
            now,
            claim_lease_ms: self.terms.claim_lease_ms,
        };
        let outcome = match store.reserve(&reservation).await {
            Ok(outcome) => outcome,
            Err(err) => {
                // A failed write may still have landed (a timeout): the units go back on
                // sale only when the order is known not to exist, so no unit is sold
                // twice; a landed order gets its timer.
                match store.order(reservation.order.id).await {
                    Ok(None) => state.seller.untake(quantity).await,
                    Ok(Some(order)) if order.status == OrderStatus::Reserved => {
                        self.schedule_expiry(state.clone(), order);
                    }
                    _ => {}
                }
                return Err(err);
            }
        };
        if !matches!(outcome, Reserved::Made) {
            state.seller.untake(quantity).await;
        }
        Ok(match outcome {
            Reserved::Made => {
                let order = reservation.order;
                self.metrics.drop_order(DropOrderResult::Reserved);
                self.metrics.business.drop_units(
                    &order.drop_id.to_string(),
                    DropUnits::Reserved,
                    order.quantity,
                );
                state.watch(user);
                self.tell_buyer(&order, OrderReserved);
                self.warn_before_expiry(&order);
                self.schedule_expiry(state.clone(), order.clone());
                OrderOutcome::Reserved(order)
            }
            Reserved::LimitReached => {
                self.metrics.drop_order(DropOrderResult::LimitReached);
                OrderOutcome::LimitReached
            }
            Reserved::Replay(answer) => OrderOutcome::Replay(answer),
            Reserved::KeyReused => OrderOutcome::KeyReused,
            Reserved::Running => OrderOutcome::Running,
            Reserved::Exists(existing) => {
                // Its timer went with the node that made it, unless that one still runs:
                // an expiry applies once, so one more timer costs nothing.
                self.stores
                    .idempotency
                    .complete(&reservation.key, &created(&existing))
                    .await?;
                if existing.status == OrderStatus::Reserved {
                    self.schedule_expiry(state.clone(), existing.clone());
                }
                OrderOutcome::Reserved(existing)
            }
        })
    }

    /// Queues the "expires in 5 minutes" push, off the order's path: the reservation
    /// stands whether or not the warning could be queued.
    fn warn_before_expiry(&self, order: &OrderRecord) {
        let Some(notifier) = self.notifier.get().filter(|n| n.enabled()).cloned() else {
            return;
        };
        let (user, id, expires_at) = (order.user, order.id, order.expires_at);
        tokio::spawn(async move {
            if let Err(err) = notifier.reservation(user, id, expires_at).await {
                tracing::warn!(order_id = %id, error = %err, "cannot queue a reservation's expiry push");
            }
        });
    }

    /// Times the reservation's expiry on this node (once, however often it is asked).
    pub(super) fn schedule_expiry(&self, state: Arc<DropState>, order: OrderRecord) {
        if !state.time(order.id) {
            return;
        }
        self.expiries.push(order.expires_at, (state, order));
    }

    /// Expires the reservation if it is still unpaid; its units and quota come back.
    pub(super) async fn expire(
        &self,
        state: &DropState,
        order: &OrderRecord,
    ) -> Result<(), StoreError> {
        if !self.stores.drops.expire_order(order).await? {
            return Ok(()); // paid, or expired by another timer
        }
        state.seller.expired(order.quantity).await;
        self.metrics.drop_order(DropOrderResult::Expired);
        self.metrics.business.drop_units(
            &order.drop_id.to_string(),
            DropUnits::Released,
            order.quantity,
        );
        self.tell_buyer(
            &OrderRecord {
                status: OrderStatus::Expired,
                ..order.clone()
            },
            OrderExpired,
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
        if !drops.pay_order(order_id).await? {
            return Ok(false);
        }
        self.metrics.drop_order(DropOrderResult::Paid);
        self.metrics.business.drop_units(
            &order.drop_id.to_string(),
            DropUnits::Sold,
            order.quantity,
        );
        self.tell_buyer(
            &OrderRecord {
                status: OrderStatus::Paid,
                ..order
            },
            OrderPaid,
        );
        Ok(true)
    }
}

/// The answer to a reservation: 201 with the order.
fn created(order: &OrderRecord) -> StoredResponse {
    StoredResponse {
        status: 201,
        body: order_view(order).to_json(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_names_one_order_and_keys_in_other_scopes_others() {
        let key = |scope: &str, key: &str| IdempotencyKey {
            scope: scope.into(),
            key: key.into(),
        };
        assert_eq!(order_id(&key("a", "k")), order_id(&key("a", "k")));
        assert_ne!(order_id(&key("a", "k")), order_id(&key("b", "k")));
        assert_ne!(order_id(&key("a", "k")), order_id(&key("a", "l")));
    }
}
