//! A drop's orders and buyers' quotas in the scylla store. A reservation takes the key's
//! claim, the buyer's quota (a compare-and-set on the buyer's own row), then writes the
//! order with its index row (one logged batch) and the answer: the fewest round trips
//! for a buyer, none of them on the drop's partition. Expiry moves the order first
//! (exactly once, by Paxos), then its units (once, by their marker in the pool's
//! partition), then the quota; a crash in between is finished by `restore_expired`.

use std::collections::HashSet;

use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::drops::{OrderRecord, OrderStatus, Reservation, Reserved};
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::{CAS_ATTEMPTS, contended, unsigned};
use crate::store::scylla::idempotency::Claimed;
use crate::store::scylla::outbox::logged_batch;
use crate::store::scylla::{
    ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_batch, run_lwt,
};

pub(super) struct Statements {
    quota_serial: PreparedStatement,
    quota_first: PreparedStatement,
    quota_set: PreparedStatement,
    put_order: PreparedStatement,
    index_order: PreparedStatement,
    get_order: PreparedStatement,
    drop_orders: PreparedStatement,
    order_lease: PreparedStatement,
    transition: PreparedStatement,
}

const ORDER_COLUMNS: &str = "drop_id, user_id, quantity, status, created_at, expires_at";

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            quota_serial: prepare_serial(
                session,
                "SELECT taken FROM drop_quotas WHERE drop_id = ? AND user_id = ?",
            )
            .await?,
            quota_first: prepare(
                session,
                "INSERT INTO drop_quotas (drop_id, user_id, taken) VALUES (?, ?, ?) IF NOT EXISTS",
            )
            .await?,
            quota_set: prepare(
                session,
                "UPDATE drop_quotas SET taken = ? WHERE drop_id = ? AND user_id = ? IF taken = ?",
            )
            .await?,
            put_order: prepare(
                session,
                &format!("INSERT INTO orders (id, {ORDER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"),
            )
            .await?,
            index_order: prepare(
                session,
                "INSERT INTO drop_order_index (drop_id, id, lease_id, quantity) VALUES (?, ?, ?, ?)",
            )
            .await?,
            get_order: prepare(
                session,
                &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?"),
            )
            .await?,
            drop_orders: prepare(
                session,
                "SELECT id, lease_id FROM drop_order_index WHERE drop_id = ?",
            )
            .await?,
            order_lease: prepare(
                session,
                "SELECT lease_id FROM drop_order_index WHERE drop_id = ? AND id = ?",
            )
            .await?,
            transition: prepare(
                session,
                "UPDATE orders SET status = ? WHERE id = ? IF status = ?",
            )
            .await?,
        })
    }
}

type OrderRow = (Uuid, Uuid, i32, String, CqlTimestamp, CqlTimestamp);

fn to_order(id: Uuid, lease: Option<Uuid>, row: OrderRow) -> Result<OrderRecord, StoreError> {
    let (drop_id, user, quantity, status, created_at, expires_at) = row;
    Ok(OrderRecord {
        id,
        drop_id,
        user: UserId::from_uuid(user),
        quantity: unsigned(quantity),
        status: OrderStatus::parse(&status)
            .ok_or_else(|| StoreError::backend(std::io::Error::other("an unknown order status")))?,
        created_at: created_at.0,
        expires_at: expires_at.0,
        lease,
    })
}

impl ScyllaStore {
    fn order_statements(&self) -> &Statements {
        &self.drop_statements.orders
    }

    /// Takes `quantity` of the buyer's `limit`; false (nothing taken) if it would go over.
    async fn take_quota(
        &self,
        drop: Uuid,
        user: UserId,
        quantity: u32,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let st = self.order_statements();
        for _ in 0..CAS_ATTEMPTS {
            let taken = self
                .maybe_row::<(Option<i32>,)>(&st.quota_serial, (drop, user.as_uuid()))
                .await?
                .map(|(t,)| unsigned(t.unwrap_or(0)));
            let now = taken.unwrap_or(0);
            if now + quantity > limit {
                return Ok(false);
            }
            let outcome = match taken {
                None => {
                    let values = (drop, user.as_uuid(), quantity as i32);
                    run_lwt(&self.session, &st.quota_first, values).await?
                }
                Some(now) => {
                    let values = ((now + quantity) as i32, drop, user.as_uuid(), now as i32);
                    run_lwt(&self.session, &st.quota_set, values).await?
                }
            };
            match outcome {
                Lwt::Applied => return Ok(true),
                Lwt::NotApplied => continue,
                // Unknown: refuse; at worst the quota stays taken.
                Lwt::Unknown => return Ok(false),
            }
        }
        Err(contended())
    }

    async fn give_back_quota(
        &self,
        drop: Uuid,
        user: UserId,
        quantity: u32,
    ) -> Result<(), StoreError> {
        let st = self.order_statements();
        for _ in 0..CAS_ATTEMPTS {
            let Some((Some(now),)) = self
                .maybe_row::<(Option<i32>,)>(&st.quota_serial, (drop, user.as_uuid()))
                .await?
            else {
                return Ok(());
            };
            let target = now.saturating_sub(quantity as i32).max(0);
            let values = (target, drop, user.as_uuid(), now);
            match run_lwt(&self.session, &st.quota_set, values).await? {
                Lwt::NotApplied => continue,
                _ => return Ok(()),
            }
        }
        Err(contended())
    }

    pub(super) async fn read_order(
        &self,
        id: Uuid,
        lease: Option<Uuid>,
    ) -> Result<Option<OrderRecord>, StoreError> {
        self.maybe_row::<OrderRow>(&self.order_statements().get_order, (id,))
            .await?
            .map(|r| to_order(id, lease, r))
            .transpose()
    }

    pub(super) async fn make_reservation(&self, r: &Reservation) -> Result<Reserved, StoreError> {
        let o = &r.order;
        let claim_id = match self
            .claim_key(&r.key, &r.fingerprint, r.now, r.claim_lease_ms)
            .await?
        {
            Claimed::Held { claim_id, .. } => claim_id,
            Claimed::Seen(row) if row.fingerprint.as_deref() != Some(r.fingerprint.as_str()) => {
                return Ok(Reserved::KeyReused);
            }
            Claimed::Seen(row) => {
                return Ok(match row.response() {
                    Some(response) => Reserved::Replay(response),
                    None => Reserved::Running,
                });
            }
        };
        // The key's order id is fixed: a dead claimant may have got as far as the order,
        // or the same key made it before it was forgotten (a day later). That order is the
        // answer; it is never written over.
        if self.read_order(o.id, None).await?.is_some()
            && let Some(existing) = self.order_by_id(o.id).await?
        {
            return Ok(Reserved::Exists(existing));
        }
        if !self
            .take_quota(o.drop_id, o.user, o.quantity, r.limit)
            .await?
        {
            self.complete_claim(&r.key, claim_id, &r.fingerprint, &r.limit_answer)
                .await?;
            return Ok(Reserved::LimitReached);
        }
        let st = self.order_statements();
        let order = (
            o.id,
            o.drop_id,
            o.user.as_uuid(),
            o.quantity as i32,
            o.status.as_str(),
            CqlTimestamp(o.created_at),
            CqlTimestamp(o.expires_at),
        );
        let index = (o.drop_id, o.id, o.lease, o.quantity as i32);
        // One logged batch: the order and its index row land together, so the drop's
        // list never misses an order (a reclaim would count its units unsold, and they
        // would sell twice).
        let mut batch = logged_batch();
        batch.append_statement(st.index_order.clone());
        batch.append_statement(st.put_order.clone());
        if let Err(err) = run_batch(self, &batch, (index, order)).await {
            // A failed write may still have landed: the quota goes back only when the
            // order is known not to exist.
            if matches!(self.read_order(o.id, None).await, Ok(None)) {
                self.give_back_quota(o.drop_id, o.user, o.quantity).await?;
            }
            return Err(err);
        }
        self.complete_claim(&r.key, claim_id, &r.fingerprint, &r.reserved_answer)
            .await?;
        Ok(Reserved::Made)
    }

    /// An order with the lease its index row names.
    pub(super) async fn order_by_id(&self, id: Uuid) -> Result<Option<OrderRecord>, StoreError> {
        let Some(order) = self.read_order(id, None).await? else {
            return Ok(None);
        };
        let lease = self
            .maybe_row::<(Option<Uuid>,)>(&self.order_statements().order_lease, (order.drop_id, id))
            .await?
            .and_then(|(lease,)| lease);
        Ok(Some(OrderRecord { lease, ..order }))
    }

    pub(super) async fn drop_orders(&self, drop: Uuid) -> Result<Vec<OrderRecord>, StoreError> {
        let ids: Vec<(Uuid, Option<Uuid>)> = self
            .rows(&self.order_statements().drop_orders, (drop,))
            .await?;
        let mut found = Vec::with_capacity(ids.len());
        for (id, lease) in ids {
            if let Some(order) = self.read_order(id, lease).await? {
                found.push(order);
            }
        }
        Ok(found)
    }

    pub(super) async fn move_order(
        &self,
        id: Uuid,
        from: OrderStatus,
        to: OrderStatus,
    ) -> Result<bool, StoreError> {
        let values = (to.as_str(), id, from.as_str());
        Ok(
            run_lwt(&self.session, &self.order_statements().transition, values).await?
                == Lwt::Applied,
        )
    }

    /// The units and quota of an expired order back, each once.
    pub(super) async fn settle_expiry(&self, order: &OrderRecord) -> Result<u32, StoreError> {
        if !self
            .return_units(order.drop_id, order.id, order.quantity)
            .await?
        {
            return Ok(0);
        }
        self.give_back_quota(order.drop_id, order.user, order.quantity)
            .await?;
        Ok(order.quantity)
    }

    pub(super) async fn restore(&self, drop: Uuid) -> Result<u32, StoreError> {
        let (_, returned) = self.partition(drop).await?;
        let returned: HashSet<Uuid> = returned.into_iter().collect();
        let mut back = 0;
        for order in self.drop_orders(drop).await? {
            if order.status == OrderStatus::Expired && !returned.contains(&order.id) {
                back += self.settle_expiry(&order).await?;
            }
        }
        Ok(back)
    }
}
