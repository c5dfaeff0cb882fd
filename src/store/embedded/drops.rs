//! Drops in the embedded store: the drop with its count of units out of the pool in one
//! row, its leases, quotas per (drop, user), orders by id and an index of a drop's orders.
//! The single writer makes every compare-and-set a read and a write in one transaction,
//! and a reservation (key, quota, order, answer) or an expiry (order, units, quota) one
//! commit each, so no crash can leave half of one behind.

use async_trait::async_trait;
use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::ports::drops::{
    DropRecord, DropStore, Lease, LeaseGrant, MAX_LISTED_DAYS, OrderRecord, OrderStatus,
    Reservation, Reserved, StockState,
};
use fitpulse_actors::ports::store::StoreError;
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::idempotency::{Entry, entry_key, live_entry, put_entry};
use super::{
    DROP_LEASES, DROP_ORDERS, DROP_QUOTAS, DROPS, EmbeddedStore, IDEMPOTENCY, ORDERS, backend,
    decode, encode, key, prefix_range,
};

#[derive(Serialize, Deserialize)]
struct DropRow {
    title: String,
    stock: u32,
    /// Units out of the pool (the name from before leases had owners).
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
    #[serde(default)]
    lease: Option<Uuid>,
}

#[derive(Serialize, Deserialize)]
struct LeaseRow {
    owner: String,
    granted: u32,
    unsold: u32,
    expires_at: i64,
    released: bool,
}

impl OrderRow {
    fn of(o: &OrderRecord) -> OrderRow {
        OrderRow {
            drop_id: o.drop_id,
            user: o.user,
            quantity: o.quantity,
            status: o.status.as_str().into(),
            created_at: o.created_at,
            expires_at: o.expires_at,
            lease: o.lease,
        }
    }

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
            lease: self.lease,
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

fn lease_key(drop: Uuid, lease: Uuid) -> String {
    key(&[&drop.to_string(), &lease.to_string()])
}

fn read_lease(
    txn: &WriteTransaction,
    drop: Uuid,
    lease: Uuid,
) -> Result<Option<LeaseRow>, StoreError> {
    let table = txn.open_table(DROP_LEASES).map_err(backend)?;
    let row = table
        .get(lease_key(drop, lease).as_str())
        .map_err(backend)?;
    row.map(|r| decode(r.value())).transpose()
}

fn write_lease(
    txn: &WriteTransaction,
    drop: Uuid,
    lease: Uuid,
    row: &LeaseRow,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(DROP_LEASES).map_err(backend)?;
    table
        .insert(lease_key(drop, lease).as_str(), encode(row)?.as_slice())
        .map_err(backend)?;
    Ok(())
}

/// Moves `units` out of (positive) or back into (negative) the drop's pool.
fn move_out(txn: &WriteTransaction, drop: Uuid, units: i64) -> Result<(), StoreError> {
    let mut row = read_drop(txn, drop)?.ok_or_else(missing)?;
    row.leased = u32::try_from((i64::from(row.leased) + units).max(0)).unwrap_or(u32::MAX);
    write_drop(txn, drop, &row)
}

fn read_order(txn: &WriteTransaction, id: Uuid) -> Result<Option<OrderRow>, StoreError> {
    let orders = txn.open_table(ORDERS).map_err(backend)?;
    let row = orders.get(id.to_string().as_str()).map_err(backend)?;
    row.map(|r| decode(r.value())).transpose()
}

fn write_order(txn: &WriteTransaction, id: Uuid, row: &OrderRow) -> Result<(), StoreError> {
    let mut orders = txn.open_table(ORDERS).map_err(backend)?;
    orders
        .insert(id.to_string().as_str(), encode(row)?.as_slice())
        .map_err(backend)?;
    Ok(())
}

fn quota_key(drop: Uuid, user: UserId) -> String {
    key(&[&drop.to_string(), &user.to_string()])
}

/// Adds `delta` to the buyer's taken units.
fn change_quota(
    txn: &WriteTransaction,
    drop: Uuid,
    user: UserId,
    delta: i64,
) -> Result<u32, StoreError> {
    let id = quota_key(drop, user);
    let mut table = txn.open_table(DROP_QUOTAS).map_err(backend)?;
    let taken = table
        .get(id.as_str())
        .map_err(backend)?
        .map_or(0, |v| v.value());
    let taken = u32::try_from((i64::from(taken) + delta).max(0)).unwrap_or(u32::MAX);
    table.insert(id.as_str(), taken).map_err(backend)?;
    Ok(taken)
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

    async fn lease_stock(&self, grant: &LeaseGrant) -> Result<u32, StoreError> {
        let g = grant.clone();
        self.write("lease_stock", move |txn| {
            let mut row = read_drop(txn, g.drop)?.ok_or_else(missing)?;
            let mut lease = match read_lease(txn, g.drop, g.lease)? {
                Some(lease) if lease.owner != g.owner => return Ok(0),
                Some(lease) => lease,
                None => LeaseRow {
                    owner: g.owner.clone(),
                    granted: 0,
                    unsold: 0,
                    expires_at: g.expires_at,
                    released: false,
                },
            };
            let granted = g.want.min(row.stock.saturating_sub(row.leased));
            row.leased += granted;
            lease.granted += granted;
            lease.unsold = g.unsold + granted;
            lease.expires_at = g.expires_at;
            lease.released = false;
            write_drop(txn, g.drop, &row)?;
            write_lease(txn, g.drop, g.lease, &lease)?;
            Ok(granted)
        })
        .await
    }

    async fn renew_lease(
        &self,
        drop: Uuid,
        lease: Uuid,
        owner: &str,
        expires_at: UnixMillis,
        unsold: u32,
    ) -> Result<bool, StoreError> {
        let owner = owner.to_owned();
        self.write("renew_lease", move |txn| {
            let Some(mut row) = read_lease(txn, drop, lease)? else {
                return Ok(false);
            };
            if row.owner != owner || row.released {
                return Ok(false);
            }
            row.expires_at = expires_at;
            row.unsold = unsold;
            write_lease(txn, drop, lease, &row)?;
            Ok(true)
        })
        .await
    }

    async fn hand_back(
        &self,
        drop: Uuid,
        lease: Uuid,
        units: u32,
        release: bool,
    ) -> Result<(), StoreError> {
        self.write("hand_back", move |txn| {
            let Some(mut row) = read_lease(txn, drop, lease)? else {
                return Ok(());
            };
            let units = units.min(row.granted);
            row.granted -= units;
            row.unsold = row.unsold.saturating_sub(units);
            row.released |= release;
            if release {
                row.unsold = 0;
            }
            write_lease(txn, drop, lease, &row)?;
            move_out(txn, drop, -i64::from(units))
        })
        .await
    }

    async fn reclaim_lease(
        &self,
        drop: Uuid,
        lease: Uuid,
        seen_expires_at: UnixMillis,
        used: u32,
    ) -> Result<bool, StoreError> {
        self.write("reclaim_lease", move |txn| {
            let Some(mut row) = read_lease(txn, drop, lease)? else {
                return Ok(false);
            };
            if row.released || row.expires_at != seen_expires_at {
                return Ok(false);
            }
            let back = row.granted.saturating_sub(used);
            row.granted -= back;
            row.unsold = 0;
            row.released = true;
            write_lease(txn, drop, lease, &row)?;
            move_out(txn, drop, -i64::from(back))?;
            Ok(true)
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
            let leases_table = txn.open_table(DROP_LEASES).map_err(backend)?;
            let (start, end) = prefix_range(&drop.to_string());
            let mut leases = Vec::new();
            for entry in leases_table
                .range(start.as_str()..end.as_str())
                .map_err(backend)?
            {
                let (k, v) = entry.map_err(backend)?;
                let Some((_, id)) = k.value().split_once(super::KEY_SEPARATOR) else {
                    continue;
                };
                let lease: LeaseRow = decode(v.value())?;
                leases.push(Lease {
                    id: Uuid::parse_str(id).map_err(StoreError::backend)?,
                    owner: lease.owner,
                    granted: lease.granted,
                    unsold: lease.unsold,
                    expires_at: lease.expires_at,
                    released: lease.released,
                });
            }
            Ok(StockState {
                stock: row.stock,
                out: row.leased,
                leases,
            })
        })
        .await
    }

    async fn reserve(&self, reservation: &Reservation) -> Result<Reserved, StoreError> {
        let r = reservation.clone();
        self.write("reserve", move |txn| {
            let key_id = entry_key(&r.key);
            let mut keys = txn.open_table(IDEMPOTENCY).map_err(backend)?;
            if let Some(entry) = live_entry(&keys, &key_id, r.now)? {
                if entry.fingerprint != r.fingerprint {
                    return Ok(Reserved::KeyReused);
                }
                if let Some(response) = entry.response {
                    return Ok(Reserved::Replay(response));
                }
                if entry.claimed_at + r.claim_lease_ms > r.now {
                    return Ok(Reserved::Running);
                }
            }
            // The key's order exists: made under a claim from before a crash, or under
            // the same key before it was forgotten (a day later). It is the answer; it is
            // never written over.
            if let Some(existing) = read_order(txn, r.order.id)? {
                return Ok(Reserved::Exists(existing.record(r.order.id)?));
            }
            let o = &r.order;
            let mut quotas = txn.open_table(DROP_QUOTAS).map_err(backend)?;
            let quota = quota_key(o.drop_id, o.user);
            let taken = quotas
                .get(quota.as_str())
                .map_err(backend)?
                .map_or(0, |v| v.value());
            let mut entry = Entry::claimed(r.fingerprint.clone(), r.now);
            if taken + o.quantity > r.limit {
                entry.response = Some(r.limit_answer.clone());
                put_entry(&mut keys, &key_id, &entry)?;
                return Ok(Reserved::LimitReached);
            }
            quotas
                .insert(quota.as_str(), taken + o.quantity)
                .map_err(backend)?;
            drop(quotas);
            write_order(txn, o.id, &OrderRow::of(o))?;
            let mut by_drop = txn.open_table(DROP_ORDERS).map_err(backend)?;
            by_drop
                .insert(
                    key(&[&o.drop_id.to_string(), &o.id.to_string()]).as_str(),
                    (),
                )
                .map_err(backend)?;
            entry.response = Some(r.reserved_answer.clone());
            put_entry(&mut keys, &key_id, &entry)?;
            Ok(Reserved::Made)
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

    async fn pay_order(&self, id: Uuid) -> Result<bool, StoreError> {
        self.write("pay_order", move |txn| {
            let Some(mut row) = read_order(txn, id)? else {
                return Ok(false);
            };
            if row.status != OrderStatus::Reserved.as_str() {
                return Ok(false);
            }
            row.status = OrderStatus::Paid.as_str().into();
            write_order(txn, id, &row)?;
            Ok(true)
        })
        .await
    }

    async fn expire_order(&self, order: &OrderRecord) -> Result<bool, StoreError> {
        let id = order.id;
        self.write("expire_order", move |txn| {
            let Some(mut row) = read_order(txn, id)? else {
                return Ok(false);
            };
            if row.status != OrderStatus::Reserved.as_str() {
                return Ok(false);
            }
            row.status = OrderStatus::Expired.as_str().into();
            write_order(txn, id, &row)?;
            move_out(txn, row.drop_id, -i64::from(row.quantity))?;
            change_quota(txn, row.drop_id, row.user, -i64::from(row.quantity))?;
            Ok(true)
        })
        .await
    }

    /// Nothing to finish: an expiry is one transaction here.
    async fn restore_expired(&self, _drop: Uuid) -> Result<u32, StoreError> {
        Ok(0)
    }
}
