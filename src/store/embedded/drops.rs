//! Drops in the embedded store: the drop with its `leased` count in one row, quotas per
//! (drop, user), orders by id and an index of a drop's orders. The single writer makes
//! every compare-and-set a read and a write in one transaction.

use async_trait::async_trait;
use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::ports::drops::{
    DropRecord, DropStore, MAX_LISTED_DAYS, OrderRecord, OrderStatus, StockState,
};
use fitpulse_actors::ports::store::StoreError;
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    DROP_ORDERS, DROP_QUOTAS, DROPS, EmbeddedStore, ORDERS, backend, decode, encode, key,
    prefix_range,
};

#[derive(Serialize, Deserialize)]
struct DropRow {
    title: String,
    stock: u32,
    leased: u32,
    price_cents: u32,
    currency: String,
    starts_at: i64,
    per_user_limit: u32,
    reservation_ttl_seconds: u32,
    admission_per_second: Option<u32>,
    created_at: i64,
    #[serde(default)]
    announce_at: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct OrderRow {
    drop_id: Uuid,
    user: UserId,
    quantity: u32,
    status: String,
    created_at: i64,
    expires_at: i64,
}

impl OrderRow {
    fn record(self, id: Uuid) -> Result<OrderRecord, StoreError> {
        Ok(OrderRecord {
            id,
            drop_id: self.drop_id,
            user: self.user,
            quantity: self.quantity,
            status: OrderStatus::parse(&self.status).ok_or_else(|| {
                StoreError::backend(std::io::Error::other("an unknown order status"))
            })?,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

fn read_drop(txn: &WriteTransaction, id: Uuid) -> Result<Option<DropRow>, StoreError> {
    let table = txn.open_table(DROPS).map_err(backend)?;
    let row = table.get(id.to_string().as_str()).map_err(backend)?;
    row.map(|r| decode(r.value())).transpose()
}

fn write_drop(txn: &WriteTransaction, id: Uuid, row: &DropRow) -> Result<(), StoreError> {
    let mut table = txn.open_table(DROPS).map_err(backend)?;
    table
        .insert(id.to_string().as_str(), encode(row)?.as_slice())
        .map_err(backend)?;
    Ok(())
}

impl DropRow {
    fn record(self, id: Uuid) -> DropRecord {
        DropRecord {
            id,
            title: self.title,
            stock: self.stock,
            price_cents: self.price_cents,
            currency: self.currency,
            starts_at: self.starts_at,
            per_user_limit: self.per_user_limit,
            reservation_ttl_seconds: self.reservation_ttl_seconds,
            admission_per_second: self.admission_per_second,
            created_at: self.created_at,
            announce_at: self.announce_at,
        }
    }
}

fn missing() -> StoreError {
    StoreError::backend(std::io::Error::other("no such drop"))
}

#[async_trait]
impl DropStore for EmbeddedStore {
    async fn create_drop(&self, drop: &DropRecord) -> Result<(), StoreError> {
        let d = drop.clone();
        self.write("create_drop", move |txn| {
            write_drop(
                txn,
                d.id,
                &DropRow {
                    title: d.title,
                    stock: d.stock,
                    leased: 0,
                    price_cents: d.price_cents,
                    currency: d.currency,
                    starts_at: d.starts_at,
                    per_user_limit: d.per_user_limit,
                    reservation_ttl_seconds: d.reservation_ttl_seconds,
                    admission_per_second: d.admission_per_second,
                    created_at: d.created_at,
                    announce_at: d.announce_at,
                },
            )
        })
        .await
    }

    async fn drop_record(&self, id: Uuid) -> Result<Option<DropRecord>, StoreError> {
        self.read("drop", move |txn| {
            let table = txn.open_table(DROPS).map_err(backend)?;
            let row = table.get(id.to_string().as_str()).map_err(backend)?;
            row.map(|r| decode::<DropRow>(r.value()).map(|row| row.record(id)))
                .transpose()
        })
        .await
    }

    /// Drops are few (each is an event), so the embedded store scans them.
    async fn drops_between(
        &self,
        from: UnixMillis,
        to: UnixMillis,
    ) -> Result<Vec<DropRecord>, StoreError> {
        let to = to.min(from.saturating_add(MAX_LISTED_DAYS * 24 * 60 * 60 * 1000));
        self.read("drops_between", move |txn| {
            let table = txn.open_table(DROPS).map_err(backend)?;
            let mut found = Vec::new();
            for entry in table.iter().map_err(backend)? {
                let (id, row) = entry.map_err(backend)?;
                let row: DropRow = decode(row.value())?;
                if (from..=to).contains(&row.starts_at) {
                    let id = Uuid::parse_str(id.value()).map_err(StoreError::backend)?;
                    found.push(row.record(id));
                }
            }
            found.sort_by_key(|d| (d.starts_at, d.id));
            Ok(found)
        })
        .await
    }

    async fn lease_stock(&self, drop: Uuid, want: u32) -> Result<u32, StoreError> {
        self.write("lease_stock", move |txn| {
            let mut row = read_drop(txn, drop)?.ok_or_else(missing)?;
            let granted = want.min(row.stock.saturating_sub(row.leased));
            if granted > 0 {
                row.leased += granted;
                write_drop(txn, drop, &row)?;
            }
            Ok(granted)
        })
        .await
    }

    async fn return_stock(&self, drop: Uuid, units: u32) -> Result<(), StoreError> {
        self.write("return_stock", move |txn| {
            let mut row = read_drop(txn, drop)?.ok_or_else(missing)?;
            row.leased = row.leased.saturating_sub(units);
            write_drop(txn, drop, &row)
        })
        .await
    }

    async fn stock_state(&self, drop: Uuid) -> Result<StockState, StoreError> {
        self.read("stock_state", move |txn| {
            let table = txn.open_table(DROPS).map_err(backend)?;
            let row = table.get(drop.to_string().as_str()).map_err(backend)?;
            let row: DropRow = row
                .map(|r| decode(r.value()))
                .transpose()?
                .ok_or_else(missing)?;
            Ok(StockState {
                stock: row.stock,
                leased: row.leased,
            })
        })
        .await
    }

    async fn take_quota(
        &self,
        drop: Uuid,
        user: UserId,
        quantity: u32,
        limit: u32,
    ) -> Result<bool, StoreError> {
        let id = key(&[&drop.to_string(), &user.to_string()]);
        self.write("take_quota", move |txn| {
            let mut table = txn.open_table(DROP_QUOTAS).map_err(backend)?;
            let taken = table
                .get(id.as_str())
                .map_err(backend)?
                .map_or(0, |v| v.value());
            if taken + quantity > limit {
                return Ok(false);
            }
            table
                .insert(id.as_str(), taken + quantity)
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn give_back_quota(
        &self,
        drop: Uuid,
        user: UserId,
        quantity: u32,
    ) -> Result<(), StoreError> {
        let id = key(&[&drop.to_string(), &user.to_string()]);
        self.write("give_back_quota", move |txn| {
            let mut table = txn.open_table(DROP_QUOTAS).map_err(backend)?;
            let taken = table
                .get(id.as_str())
                .map_err(backend)?
                .map_or(0, |v| v.value());
            table
                .insert(id.as_str(), taken.saturating_sub(quantity))
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn put_order(&self, order: &OrderRecord) -> Result<(), StoreError> {
        let o = order.clone();
        self.write("put_order", move |txn| {
            let mut orders = txn.open_table(ORDERS).map_err(backend)?;
            let row = OrderRow {
                drop_id: o.drop_id,
                user: o.user,
                quantity: o.quantity,
                status: o.status.as_str().into(),
                created_at: o.created_at,
                expires_at: o.expires_at,
            };
            orders
                .insert(o.id.to_string().as_str(), encode(&row)?.as_slice())
                .map_err(backend)?;
            let mut by_drop = txn.open_table(DROP_ORDERS).map_err(backend)?;
            by_drop
                .insert(
                    key(&[&o.drop_id.to_string(), &o.id.to_string()]).as_str(),
                    (),
                )
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn order(&self, id: Uuid) -> Result<Option<OrderRecord>, StoreError> {
        self.read("order", move |txn| {
            let orders = txn.open_table(ORDERS).map_err(backend)?;
            let row = orders.get(id.to_string().as_str()).map_err(backend)?;
            row.map(|r| decode::<OrderRow>(r.value())?.record(id))
                .transpose()
        })
        .await
    }

    async fn orders_of_drop(&self, drop: Uuid) -> Result<Vec<OrderRecord>, StoreError> {
        self.read("orders_of_drop", move |txn| {
            let by_drop = txn.open_table(DROP_ORDERS).map_err(backend)?;
            let orders = txn.open_table(ORDERS).map_err(backend)?;
            let (start, end) = prefix_range(&drop.to_string());
            let mut found = Vec::new();
            for entry in by_drop
                .range(start.as_str()..end.as_str())
                .map_err(backend)?
            {
                let entry = entry.map_err(backend)?;
                let Some((_, id)) = entry.0.value().split_once(super::KEY_SEPARATOR) else {
                    continue;
                };
                let id = Uuid::parse_str(id).map_err(StoreError::backend)?;
                if let Some(row) = orders.get(id.to_string().as_str()).map_err(backend)? {
                    found.push(decode::<OrderRow>(row.value())?.record(id)?);
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
        self.write("transition_order", move |txn| {
            let mut orders = txn.open_table(ORDERS).map_err(backend)?;
            let Some(mut row) = orders
                .get(id.to_string().as_str())
                .map_err(backend)?
                .map(|r| decode::<OrderRow>(r.value()))
                .transpose()?
            else {
                return Ok(false);
            };
            if row.status != from.as_str() {
                return Ok(false);
            }
            row.status = to.as_str().into();
            orders
                .insert(id.to_string().as_str(), encode(&row)?.as_slice())
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }
}
