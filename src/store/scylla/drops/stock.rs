//! A drop's pool and leases in `drop_stock` (`cql/0012_drop_leases.cql`): one partition
//! per drop, the pool's count in static columns, a row per lease and per returned order.
//! Every change to the pool is a conditional batch on that partition with the row it
//! concerns, retried while others change the pool, so the count and the lease (or the
//! return marker) never disagree. A batch whose outcome is unknown (a Paxos timeout) is
//! settled by reading the row it concerns again.

use fitpulse_actors::domain::UnixMillis;
use fitpulse_actors::ports::drops::{Lease, LeaseGrant, StockState};
use fitpulse_actors::ports::store::StoreError;
use scylla::DeserializeRow;
use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::{CAS_ATTEMPTS, contended, unsigned};
use crate::store::scylla::{
    ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_lwt, run_lwt_batch,
};

pub(super) struct Statements {
    init: PreparedStatement,
    statics_serial: PreparedStatement,
    partition: PreparedStatement,
    entry_serial: PreparedStatement,
    set_out: PreparedStatement,
    put_lease: PreparedStatement,
    set_granted: PreparedStatement,
    renew: PreparedStatement,
    reclaim: PreparedStatement,
    mark_returned: PreparedStatement,
}

const PARTITION: &str = "SELECT stock, out, entry, owner, granted, unsold, expires_at, released \
                         FROM drop_stock WHERE drop_id = ?";

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            init: prepare(
                session,
                "UPDATE drop_stock SET stock = ?, out = 0 WHERE drop_id = ?",
            )
            .await?,
            statics_serial: prepare_serial(
                session,
                "SELECT stock, out FROM drop_stock WHERE drop_id = ? LIMIT 1",
            )
            .await?,
            partition: prepare(session, PARTITION).await?,
            entry_serial: prepare_serial(
                session,
                "SELECT stock, out, owner, granted, expires_at, released FROM drop_stock \
                 WHERE drop_id = ? AND entry = ?",
            )
            .await?,
            set_out: prepare(
                session,
                "UPDATE drop_stock SET out = ? WHERE drop_id = ? IF out = ?",
            )
            .await?,
            put_lease: prepare(
                session,
                "UPDATE drop_stock SET owner = ?, granted = ?, unsold = ?, expires_at = ?, \
                 released = false WHERE drop_id = ? AND entry = ? IF granted = ?",
            )
            .await?,
            set_granted: prepare(
                session,
                "UPDATE drop_stock SET granted = ?, unsold = ?, released = ? \
                 WHERE drop_id = ? AND entry = ? IF granted = ?",
            )
            .await?,
            renew: prepare(
                session,
                "UPDATE drop_stock SET expires_at = ?, unsold = ? WHERE drop_id = ? AND entry = ? \
                 IF owner = ? AND released = false",
            )
            .await?,
            reclaim: prepare(
                session,
                "UPDATE drop_stock SET granted = ?, unsold = 0, released = true \
                 WHERE drop_id = ? AND entry = ? IF released = false AND expires_at = ? AND granted = ?",
            )
            .await?,
            mark_returned: prepare(
                session,
                "INSERT INTO drop_stock (drop_id, entry, granted) VALUES (?, ?, ?) IF NOT EXISTS",
            )
            .await?,
        })
    }
}

#[derive(DeserializeRow)]
struct PartitionRow {
    stock: Option<i32>,
    out: Option<i32>,
    entry: Option<String>,
    owner: Option<String>,
    granted: Option<i32>,
    unsold: Option<i32>,
    expires_at: Option<CqlTimestamp>,
    released: Option<bool>,
}

#[derive(DeserializeRow)]
struct EntryRow {
    stock: Option<i32>,
    out: Option<i32>,
    owner: Option<String>,
    granted: Option<i32>,
    expires_at: Option<CqlTimestamp>,
    released: Option<bool>,
}

fn lease_entry(lease: Uuid) -> String {
    format!("lease:{lease}")
}

fn returned_entry(order: Uuid) -> String {
    format!("returned:{order}")
}

/// The pool and one entry of it, read through Paxos.
struct Seen {
    stock: u32,
    out: u32,
    entry: Option<EntryRow>,
}

fn missing() -> StoreError {
    StoreError::backend(std::io::Error::other("no such drop"))
}

fn no_row() -> StoreError {
    StoreError::backend(std::io::Error::other("a drop's pool without its row"))
}

impl ScyllaStore {
    /// Writes a new drop's pool: all of its stock, nothing out.
    pub(super) async fn init_stock(&self, drop: Uuid, stock: u32) -> Result<(), StoreError> {
        self.exec(&self.drop_statements.stock.init, (stock as i32, drop))
            .await
    }

    async fn seen(&self, drop: Uuid, entry: &str) -> Result<Seen, StoreError> {
        let st = &self.drop_statements.stock;
        let row = self
            .maybe_row::<EntryRow>(&st.entry_serial, (drop, entry))
            .await?;
        // Without the entry's row, the statics come with the partition's first row.
        let (stock, out) = match &row {
            Some(r) if r.stock.is_some() => (r.stock, r.out),
            _ => self
                .maybe_row::<(Option<i32>, Option<i32>)>(&st.statics_serial, (drop,))
                .await?
                .ok_or_else(missing)?,
        };
        Ok(Seen {
            stock: unsigned(stock.ok_or_else(missing)?),
            out: unsigned(out.unwrap_or(0)),
            entry: row.filter(|r| r.granted.is_some() || r.owner.is_some()),
        })
    }

    /// Runs a batch that moves the pool from `out` to `target` together with `row`.
    async fn pool_batch(
        &self,
        drop: Uuid,
        out: u32,
        target: u32,
        row: &PreparedStatement,
        row_values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<Lwt, StoreError> {
        let mut batch = Batch::new(BatchType::Logged);
        batch.append_statement(self.drop_statements.stock.set_out.clone());
        batch.append_statement(row.clone());
        run_lwt_batch(
            &self.session,
            &batch,
            ((target as i32, drop, out as i32), row_values),
        )
        .await
    }

    pub(super) async fn lease_units(&self, g: &LeaseGrant) -> Result<u32, StoreError> {
        let entry = lease_entry(g.lease);
        for _ in 0..CAS_ATTEMPTS {
            let seen = self.seen(g.drop, &entry).await?;
            let before = match &seen.entry {
                Some(row) if row.owner.as_deref() != Some(g.owner.as_str()) => return Ok(0),
                Some(row) => row.granted.map(unsigned),
                None => None,
            };
            let granted = g.want.min(seen.stock.saturating_sub(seen.out));
            if granted == 0 {
                return Ok(0);
            }
            let new_granted = before.unwrap_or(0) + granted;
            let values = (
                g.owner.as_str(),
                new_granted as i32,
                (g.unsold + granted) as i32,
                CqlTimestamp(g.expires_at),
                g.drop,
                entry.as_str(),
                before.map(|b| b as i32),
            );
            let st = &self.drop_statements.stock;
            match self
                .pool_batch(g.drop, seen.out, seen.out + granted, &st.put_lease, values)
                .await?
            {
                Lwt::Applied => return Ok(granted),
                Lwt::NotApplied => continue,
                Lwt::Unknown => {
                    let now = self.seen(g.drop, &entry).await?;
                    let after = now.entry.and_then(|r| r.granted).map(unsigned);
                    if after == Some(new_granted) && before != Some(new_granted) {
                        return Ok(granted);
                    }
                }
            }
        }
        Err(contended())
    }

    pub(super) async fn renew(
        &self,
        drop: Uuid,
        lease: Uuid,
        owner: &str,
        expires_at: UnixMillis,
        unsold: u32,
    ) -> Result<bool, StoreError> {
        let values = (
            CqlTimestamp(expires_at),
            unsold as i32,
            drop,
            lease_entry(lease),
            owner,
        );
        Ok(
            run_lwt(&self.session, &self.drop_statements.stock.renew, values).await?
                == Lwt::Applied,
        )
    }

    pub(super) async fn give_back(
        &self,
        drop: Uuid,
        lease: Uuid,
        units: u32,
        release: bool,
    ) -> Result<(), StoreError> {
        let entry = lease_entry(lease);
        for _ in 0..CAS_ATTEMPTS {
            let seen = self.seen(drop, &entry).await?;
            let Some(granted) = seen.entry.as_ref().and_then(|r| r.granted).map(unsigned) else {
                return Ok(());
            };
            let back = units.min(granted).min(seen.out);
            let values = (
                (granted - back) as i32,
                0,
                release,
                drop,
                entry.as_str(),
                granted as i32,
            );
            let st = &self.drop_statements.stock;
            match self
                .pool_batch(drop, seen.out, seen.out - back, &st.set_granted, values)
                .await?
            {
                Lwt::Applied => return Ok(()),
                Lwt::NotApplied => continue,
                Lwt::Unknown => {
                    let now = self.seen(drop, &entry).await?;
                    if now.entry.and_then(|r| r.granted).map(unsigned) == Some(granted - back) {
                        return Ok(());
                    }
                }
            }
        }
        Err(contended())
    }

    pub(super) async fn reclaim(
        &self,
        drop: Uuid,
        lease: Uuid,
        seen_expires_at: UnixMillis,
        used: u32,
    ) -> Result<bool, StoreError> {
        let entry = lease_entry(lease);
        for _ in 0..CAS_ATTEMPTS {
            let seen = self.seen(drop, &entry).await?;
            let Some(row) = seen.entry.as_ref() else {
                return Ok(false);
            };
            if row.released == Some(true) || row.expires_at.map(|t| t.0) != Some(seen_expires_at) {
                return Ok(false);
            }
            let granted = unsigned(row.granted.unwrap_or(0));
            let back = granted.saturating_sub(used).min(seen.out);
            let values = (
                (granted - back) as i32,
                drop,
                entry.as_str(),
                CqlTimestamp(seen_expires_at),
                granted as i32,
            );
            let st = &self.drop_statements.stock;
            match self
                .pool_batch(drop, seen.out, seen.out - back, &st.reclaim, values)
                .await?
            {
                Lwt::Applied => return Ok(true),
                Lwt::NotApplied => continue,
                Lwt::Unknown => {
                    let now = self.seen(drop, &entry).await?;
                    if now.entry.and_then(|r| r.released) == Some(true) {
                        return Ok(true);
                    }
                }
            }
        }
        Err(contended())
    }

    /// Puts an expired order's units back in the pool, once: the marker row of the order
    /// and the pool change together.
    pub(super) async fn return_units(
        &self,
        drop: Uuid,
        order: Uuid,
        units: u32,
    ) -> Result<bool, StoreError> {
        let entry = returned_entry(order);
        for _ in 0..CAS_ATTEMPTS {
            let seen = self.seen(drop, &entry).await?;
            if seen.entry.is_some() {
                return Ok(false);
            }
            let back = units.min(seen.out);
            let values = (drop, entry.as_str(), units as i32);
            let st = &self.drop_statements.stock;
            match self
                .pool_batch(drop, seen.out, seen.out - back, &st.mark_returned, values)
                .await?
            {
                Lwt::Applied => return Ok(true),
                Lwt::NotApplied => continue,
                Lwt::Unknown => {
                    if self.seen(drop, &entry).await?.entry.is_some() {
                        return Ok(true);
                    }
                }
            }
        }
        Err(contended())
    }

    /// The pool, its leases and the orders whose units came back, as last written.
    pub(super) async fn partition(
        &self,
        drop: Uuid,
    ) -> Result<(StockState, Vec<Uuid>), StoreError> {
        let rows: Vec<PartitionRow> = self
            .rows(&self.drop_statements.stock.partition, (drop,))
            .await?;
        let first = rows.first().ok_or_else(missing)?;
        let mut state = StockState {
            stock: unsigned(first.stock.ok_or_else(no_row)?),
            out: unsigned(first.out.unwrap_or(0)),
            leases: Vec::new(),
        };
        let mut returned = Vec::new();
        for row in rows {
            let Some(entry) = row.entry else { continue };
            if let Some(id) = entry.strip_prefix("lease:") {
                state.leases.push(Lease {
                    id: Uuid::parse_str(id).map_err(StoreError::backend)?,
                    owner: row.owner.unwrap_or_default(),
                    granted: unsigned(row.granted.unwrap_or(0)),
                    unsold: unsigned(row.unsold.unwrap_or(0)),
                    expires_at: row.expires_at.map_or(0, |t| t.0),
                    released: row.released.unwrap_or(false),
                });
            } else if let Some(id) = entry.strip_prefix("returned:") {
                returned.push(Uuid::parse_str(id).map_err(StoreError::backend)?);
            }
        }
        Ok((state, returned))
    }
}
