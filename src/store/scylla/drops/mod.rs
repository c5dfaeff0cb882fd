//! Drops in the scylla store (schema in `cql/0006_drops.cql`, the listing by start day in
//! `cql/0009_drops_by_day.cql`, the pool and its leases in `cql/0012_drop_leases.cql`).
//! The pool and leases are in [`stock`], orders and quotas in [`orders`]: compare-and-set
//! loops of lightweight transactions on small rows, the drop's partition seeing one per
//! lease, renewal, hand-back or expiry, a quota row one per order of its own buyer.

mod orders;
mod stock;

use async_trait::async_trait;
use fitpulse_actors::domain::UnixMillis;
use fitpulse_actors::ports::drops::{
    DropRecord, DropStore, LeaseGrant, MAX_LISTED_DAYS, OrderRecord, OrderStatus, Reservation,
    Reserved, StockState,
};
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::{ConnectError, ScyllaStore, day_of, prepare};

/// Attempts of a compare-and-set loop before giving up as unavailable.
const CAS_ATTEMPTS: usize = 50;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

pub(super) struct Statements {
    create: PreparedStatement,
    get: PreparedStatement,
    announce: PreparedStatement,
    announcement: PreparedStatement,
    index: PreparedStatement,
    by_day: PreparedStatement,
    stock: stock::Statements,
    orders: orders::Statements,
}

const DROP_COLUMNS: &str = "title, stock, price_cents, currency, starts_at, per_user_limit, reservation_ttl_seconds, admission_per_second, created_at";

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            create: prepare(
                session,
                &format!("INSERT INTO drops (id, leased, {DROP_COLUMNS}) VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
            )
            .await?,
            get: prepare(session, &format!("SELECT {DROP_COLUMNS} FROM drops WHERE id = ?")).await?,
            announce: prepare(session, "INSERT INTO drop_announcements (id, announce_at) VALUES (?, ?)").await?,
            announcement: prepare(session, "SELECT announce_at FROM drop_announcements WHERE id = ?").await?,
            index: prepare(session, "INSERT INTO drops_by_day (day, starts_at, id) VALUES (?, ?, ?)").await?,
            by_day: prepare(
                session,
                "SELECT id FROM drops_by_day WHERE day = ? AND starts_at >= ? AND starts_at <= ?",
            )
            .await?,
            stock: stock::Statements::prepare(session).await?,
            orders: orders::Statements::prepare(session).await?,
        })
    }
}

type DropRow = (
    String,
    i32,
    i32,
    String,
    CqlTimestamp,
    i32,
    i32,
    Option<i32>,
    CqlTimestamp,
);

fn unsigned(v: i32) -> u32 {
    v.max(0) as u32
}

fn contended() -> StoreError {
    StoreError::unavailable(std::io::Error::other("too much contention; try again"))
}

impl ScyllaStore {
    async fn fetch_drop(&self, id: Uuid) -> Result<Option<DropRecord>, StoreError> {
        let Some(r) = self
            .maybe_row::<DropRow>(&self.drop_statements.get, (id,))
            .await?
        else {
            return Ok(None);
        };
        let announce_at = self
            .maybe_row::<(Option<CqlTimestamp>,)>(&self.drop_statements.announcement, (id,))
            .await?
            .and_then(|(at,)| at)
            .map(|at| at.0);
        Ok(Some(DropRecord {
            id,
            title: r.0,
            stock: unsigned(r.1),
            price_cents: unsigned(r.2),
            currency: r.3,
            starts_at: r.4.0,
            per_user_limit: unsigned(r.5),
            reservation_ttl_seconds: unsigned(r.6),
            admission_per_second: r.7.map(unsigned),
            created_at: r.8.0,
            announce_at,
        }))
    }
}

#[async_trait]
impl DropStore for ScyllaStore {
    async fn create_drop(&self, d: &DropRecord) -> Result<(), StoreError> {
        self.ops
            .time("create_drop", async {
                let values = (
                    d.id,
                    d.title.as_str(),
                    d.stock as i32,
                    d.price_cents as i32,
                    d.currency.as_str(),
                    CqlTimestamp(d.starts_at),
                    d.per_user_limit as i32,
                    d.reservation_ttl_seconds as i32,
                    d.admission_per_second.map(|a| a as i32),
                    CqlTimestamp(d.created_at),
                );
                // The announcement first: a drop row never shows before its embargo does.
                if let Some(at) = d.announce_at {
                    self.exec(&self.drop_statements.announce, (d.id, CqlTimestamp(at)))
                        .await?;
                }
                self.exec(&self.drop_statements.create, values).await?;
                self.init_stock(d.id, d.stock).await?;
                self.exec(
                    &self.drop_statements.index,
                    (day_of(d.starts_at), CqlTimestamp(d.starts_at), d.id),
                )
                .await
            })
            .await
    }

    async fn drops_between(
        &self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<DropRecord>, StoreError> {
        self.ops
            .time("drops_between", async {
                let to = to.min(from.saturating_add(MAX_LISTED_DAYS * DAY_MS));
                let ids = self
                    .ids_by_day(&self.drop_statements.by_day, from, to, day_of(to))
                    .await?;
                let mut found = Vec::new();
                for id in ids {
                    if let Some(drop) = self.fetch_drop(id).await? {
                        found.push(drop);
                    }
                }
                Ok(found)
            })
            .await
    }

    async fn drop_record(&self, id: Uuid) -> Result<Option<DropRecord>, StoreError> {
        self.ops.time("drop", self.fetch_drop(id)).await
    }

    async fn lease_stock(&self, grant: &LeaseGrant) -> Result<u32, StoreError> {
        self.ops.time("lease_stock", self.lease_units(grant)).await
    }

    async fn renew_lease(
        &self,
        drop: Uuid,
        lease: Uuid,
        owner: &str,
        expires_at: UnixMillis,
        unsold: u32,
    ) -> Result<bool, StoreError> {
        self.ops
            .time(
                "renew_lease",
                self.renew(drop, lease, owner, expires_at, unsold),
            )
            .await
    }

    async fn hand_back(
        &self,
        drop: Uuid,
        lease: Uuid,
        units: u32,
        release: bool,
    ) -> Result<(), StoreError> {
        self.ops
            .time("hand_back", self.give_back(drop, lease, units, release))
            .await
    }

    async fn reclaim_lease(
        &self,
        drop: Uuid,
        lease: Uuid,
        seen_expires_at: UnixMillis,
        used: u32,
    ) -> Result<bool, StoreError> {
        self.ops
            .time(
                "reclaim_lease",
                self.reclaim(drop, lease, seen_expires_at, used),
            )
            .await
    }

    async fn stock_state(&self, drop: Uuid) -> Result<StockState, StoreError> {
        self.ops
            .time("stock_state", async { Ok(self.partition(drop).await?.0) })
            .await
    }

    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, StoreError> {
        self.ops
            .time("reserve", self.make_reservation(reservation))
            .await
    }

    async fn order(&self, id: Uuid) -> Result<Option<OrderRecord>, StoreError> {
        self.ops.time("order", self.order_by_id(id)).await
    }

    async fn orders_of_drop(&self, drop: Uuid) -> Result<Vec<OrderRecord>, StoreError> {
        self.ops
            .time("orders_of_drop", self.drop_orders(drop))
            .await
    }

    async fn pay_order(&self, id: Uuid) -> Result<bool, StoreError> {
        self.ops
            .time(
                "pay_order",
                self.move_order(id, OrderStatus::Reserved, OrderStatus::Paid),
            )
            .await
    }

    async fn expire_order(&self, order: &OrderRecord) -> Result<bool, StoreError> {
        self.ops
            .time("expire_order", async {
                if !self
                    .move_order(order.id, OrderStatus::Reserved, OrderStatus::Expired)
                    .await?
                {
                    return Ok(false);
                }
                self.settle_expiry(order).await?;
                Ok(true)
            })
            .await
    }

    async fn restore_expired(&self, drop: Uuid) -> Result<u32, StoreError> {
        self.ops.time("restore_expired", self.restore(drop)).await
    }
}
