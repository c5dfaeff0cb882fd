//! Drops in the scylla store (schema in `cql/0006_drops.cql`, the listing by start day in
//! `cql/0009_drops_by_day.cql`). Stock leases and quotas are
//! compare-and-set loops of lightweight transactions on small rows: the drop row sees one
//! per chunk a node leases, a quota row one per order of its own buyer. A transaction whose
//! outcome is unknown (a CAS timeout) is counted as not applied: at worst some units stay
//! unsold or a quota stays taken, never an oversell.

use async_trait::async_trait;
use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::ports::drops::{
    DropRecord, DropStore, MAX_LISTED_DAYS, OrderRecord, OrderStatus, StockState,
};
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::{ConnectError, Lwt, ScyllaStore, day_of, prepare, prepare_serial, run_lwt};

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
    stock_serial: PreparedStatement,
    set_leased: PreparedStatement,
    quota_serial: PreparedStatement,
    quota_first: PreparedStatement,
    quota_set: PreparedStatement,
    put_order: PreparedStatement,
    index_order: PreparedStatement,
    get_order: PreparedStatement,
    drop_orders: PreparedStatement,
    transition: PreparedStatement,
}

const DROP_COLUMNS: &str = "title, stock, price_cents, currency, starts_at, per_user_limit, reservation_ttl_seconds, admission_per_second, created_at";
const ORDER_COLUMNS: &str = "drop_id, user_id, quantity, status, created_at, expires_at";

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
            stock_serial: prepare_serial(session, "SELECT stock, leased FROM drops WHERE id = ?").await?,
            set_leased: prepare(session, "UPDATE drops SET leased = ? WHERE id = ? IF leased = ?").await?,
            quota_serial: prepare_serial(session, "SELECT taken FROM drop_quotas WHERE drop_id = ? AND user_id = ?").await?,
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
            index_order: prepare(session, "INSERT INTO orders_by_drop (drop_id, id) VALUES (?, ?)").await?,
            get_order: prepare(session, &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?")).await?,
            drop_orders: prepare(session, "SELECT id FROM orders_by_drop WHERE drop_id = ?").await?,
            transition: prepare(session, "UPDATE orders SET status = ? WHERE id = ? IF status = ?").await?,
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

type OrderRow = (Uuid, Uuid, i32, String, CqlTimestamp, CqlTimestamp);

fn unsigned(v: i32) -> u32 {
    v.max(0) as u32
}

fn to_order(id: Uuid, row: OrderRow) -> Result<OrderRecord, StoreError> {
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
    })
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

    async fn serial_stock(&self, drop: Uuid) -> Result<StockState, StoreError> {
        let (stock, leased) = self
            .maybe_row::<(i32, i32)>(&self.drop_statements.stock_serial, (drop,))
            .await?
            .ok_or_else(|| StoreError::backend(std::io::Error::other("no such drop")))?;
        Ok(StockState {
            stock: unsigned(stock),
            leased: unsigned(leased),
        })
    }

    /// Moves `leased` by `delta` within 0..=stock with a compare-and-set loop; answers the
    /// change actually applied.
    async fn change_leased(&self, drop: Uuid, delta: i64) -> Result<u32, StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let state = self.serial_stock(drop).await?;
            let target = (i64::from(state.leased) + delta).clamp(0, i64::from(state.stock));
            let applied = (target - i64::from(state.leased)).unsigned_abs() as u32;
            if applied == 0 {
                return Ok(0);
            }
            let values = (target as i32, drop, state.leased as i32);
            match run_lwt(&self.session, &self.drop_statements.set_leased, values).await? {
                Lwt::Applied => return Ok(applied),
                Lwt::NotApplied => continue,
                // Unknown: count nothing. A lease that did apply leaves units unsold.
                Lwt::Unknown => return Ok(0),
            }
        }
        Err(contended())
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

    async fn lease_stock(&self, drop: Uuid, want: u32) -> Result<u32, StoreError> {
        self.ops
            .time("lease_stock", async {
                self.change_leased(drop, i64::from(want)).await
            })
            .await
    }

    async fn return_stock(&self, drop: Uuid, units: u32) -> Result<(), StoreError> {
        self.ops
            .time("return_stock", async {
                self.change_leased(drop, -i64::from(units))
                    .await
                    .map(|_| ())
            })
            .await
    }

    async fn stock_state(&self, drop: Uuid) -> Result<StockState, StoreError> {
        self.ops
            .time("stock_state", async { self.serial_stock(drop).await })
            .await
    }

    async fn take_quota(
        &self,
        drop: Uuid,
        user: UserId,
        quantity: u32,
        limit: u32,
    ) -> Result<bool, StoreError> {
        self.ops
            .time("take_quota", async {
                let st = &self.drop_statements;
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
                            let values =
                                ((now + quantity) as i32, drop, user.as_uuid(), now as i32);
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
            })
            .await
    }

    async fn give_back_quota(
        &self,
        drop: Uuid,
        user: UserId,
        quantity: u32,
    ) -> Result<(), StoreError> {
        self.ops
            .time("give_back_quota", async {
                let st = &self.drop_statements;
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
            })
            .await
    }

    async fn put_order(&self, o: &OrderRecord) -> Result<(), StoreError> {
        self.ops
            .time("put_order", async {
                let st = &self.drop_statements;
                let values = (
                    o.id,
                    o.drop_id,
                    o.user.as_uuid(),
                    o.quantity as i32,
                    o.status.as_str(),
                    CqlTimestamp(o.created_at),
                    CqlTimestamp(o.expires_at),
                );
                self.exec(&st.put_order, values).await?;
                self.exec(&st.index_order, (o.drop_id, o.id)).await
            })
            .await
    }

    async fn order(&self, id: Uuid) -> Result<Option<OrderRecord>, StoreError> {
        self.ops
            .time("order", async {
                self.maybe_row::<OrderRow>(&self.drop_statements.get_order, (id,))
                    .await?
                    .map(|r| to_order(id, r))
                    .transpose()
            })
            .await
    }

    async fn orders_of_drop(&self, drop: Uuid) -> Result<Vec<OrderRecord>, StoreError> {
        self.ops
            .time("orders_of_drop", async {
                let ids: Vec<(Uuid,)> = self
                    .rows(&self.drop_statements.drop_orders, (drop,))
                    .await?;
                let mut found = Vec::with_capacity(ids.len());
                for (id,) in ids {
                    if let Some(row) = self
                        .maybe_row::<OrderRow>(&self.drop_statements.get_order, (id,))
                        .await?
                    {
                        found.push(to_order(id, row)?);
                    }
                }
                Ok(found)
            })
            .await
    }

    async fn transition_order(
        &self,
        id: Uuid,
        from: OrderStatus,
        to: OrderStatus,
    ) -> Result<bool, StoreError> {
        self.ops
            .time("transition_order", async {
                let values = (to.as_str(), id, from.as_str());
                Ok(
                    run_lwt(&self.session, &self.drop_statements.transition, values).await?
                        == Lwt::Applied,
                )
            })
            .await
    }
}
