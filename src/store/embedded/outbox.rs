//! The outbox in the embedded store: items by id, an index of pending items by due time
//! (`next_at<sep>id`, zero-padded so a range scan finds what is due) and one of dead items.
//! Leases live on the item; the single writer makes a claim a plain check-then-set.

use async_trait::async_trait;
use fitpulse_actors::domain::UnixMillis;
use fitpulse_actors::ports::commerce::{OutboxItem, OutboxState, OutboxStore};
use fitpulse_actors::ports::store::StoreError;
use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{EmbeddedStore, OUTBOX, OUTBOX_DEAD, OUTBOX_DUE, backend, decode, encode, key};

/// The stored form of an item.
#[derive(Serialize, Deserialize)]
struct Row {
    kind: String,
    payload: String,
    state: String,
    attempts: u32,
    next_at: UnixMillis,
    last_error: Option<String>,
    created_at: UnixMillis,
    lease_until: UnixMillis,
}

impl Row {
    fn item(self, id: Uuid) -> Result<OutboxItem, StoreError> {
        Ok(OutboxItem {
            id,
            kind: self.kind,
            payload: self.payload,
            state: OutboxState::parse(&self.state)
                .ok_or_else(|| StoreError::backend(std::io::Error::other("an unknown state")))?,
            attempts: self.attempts,
            next_at: self.next_at,
            last_error: self.last_error,
            created_at: self.created_at,
        })
    }
}

fn due_key(next_at: UnixMillis, id: Uuid) -> String {
    key(&[&format!("{:020}", next_at.max(0)), &id.to_string()])
}

fn read_row(txn: &WriteTransaction, id: Uuid) -> Result<Option<Row>, StoreError> {
    let table = txn.open_table(OUTBOX).map_err(backend)?;
    let row = table.get(id.to_string().as_str()).map_err(backend)?;
    row.map(|r| decode(r.value())).transpose()
}

fn write_row(txn: &WriteTransaction, id: Uuid, row: &Row) -> Result<(), StoreError> {
    let mut table = txn.open_table(OUTBOX).map_err(backend)?;
    table
        .insert(id.to_string().as_str(), encode(row)?.as_slice())
        .map_err(backend)?;
    Ok(())
}

/// Writes a new item and indexes it as due (also used by subscription commits).
pub(super) fn put_item(txn: &WriteTransaction, item: &OutboxItem) -> Result<(), StoreError> {
    write_row(
        txn,
        item.id,
        &Row {
            kind: item.kind.clone(),
            payload: item.payload.clone(),
            state: item.state.as_str().to_owned(),
            attempts: item.attempts,
            next_at: item.next_at,
            last_error: item.last_error.clone(),
            created_at: item.created_at,
            lease_until: 0,
        },
    )?;
    if item.state == OutboxState::Pending {
        let mut due = txn.open_table(OUTBOX_DUE).map_err(backend)?;
        due.insert(due_key(item.next_at, item.id).as_str(), ())
            .map_err(backend)?;
    }
    Ok(())
}

/// Moves a pending item's due-index entry from its old time to `next_at` (or removes it).
fn reindex(
    txn: &WriteTransaction,
    id: Uuid,
    old: UnixMillis,
    new: Option<UnixMillis>,
) -> Result<(), StoreError> {
    let mut due = txn.open_table(OUTBOX_DUE).map_err(backend)?;
    due.remove(due_key(old, id).as_str()).map_err(backend)?;
    if let Some(next_at) = new {
        due.insert(due_key(next_at, id).as_str(), ())
            .map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl OutboxStore for EmbeddedStore {
    async fn enqueue(&self, item: &OutboxItem) -> Result<bool, StoreError> {
        let item = item.clone();
        self.write("outbox_enqueue", move |txn| {
            if read_row(txn, item.id)?.is_some() {
                return Ok(false);
            }
            put_item(txn, &item)?;
            Ok(true)
        })
        .await
    }

    async fn due(&self, now: UnixMillis, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        self.read("outbox_due", move |txn| {
            let due = txn.open_table(OUTBOX_DUE).map_err(backend)?;
            let items = txn.open_table(OUTBOX).map_err(backend)?;
            let end = due_key(now, Uuid::max());
            let mut found = Vec::new();
            // An entry whose item is gone is skipped, not counted against `limit`.
            for entry in due.range(..end.as_str()).map_err(backend)? {
                if found.len() >= limit {
                    break;
                }
                let entry = entry.map_err(backend)?;
                let Some((_, id)) = entry.0.value().split_once(super::KEY_SEPARATOR) else {
                    continue;
                };
                let id = Uuid::parse_str(id).map_err(StoreError::backend)?;
                if let Some(row) = items.get(id.to_string().as_str()).map_err(backend)? {
                    found.push(decode::<Row>(row.value())?.item(id)?);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn claim(&self, id: Uuid, now: UnixMillis, lease_ms: i64) -> Result<bool, StoreError> {
        self.write("outbox_claim", move |txn| {
            let Some(mut row) = read_row(txn, id)? else {
                return Ok(false);
            };
            if row.state != OutboxState::Pending.as_str() || row.lease_until > now {
                return Ok(false);
            }
            row.lease_until = now + lease_ms;
            write_row(txn, id, &row)?;
            Ok(true)
        })
        .await
    }

    async fn complete(&self, id: Uuid) -> Result<(), StoreError> {
        self.write("outbox_complete", move |txn| {
            let Some(mut row) = read_row(txn, id)? else {
                return Ok(());
            };
            reindex(txn, id, row.next_at, None)?;
            row.state = OutboxState::Done.as_str().into();
            row.attempts += 1;
            row.last_error = None;
            write_row(txn, id, &row)
        })
        .await
    }

    async fn fail(
        &self,
        id: Uuid,
        attempts: u32,
        next_at: Option<UnixMillis>,
        error: &str,
    ) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.write("outbox_fail", move |txn| {
            let Some(mut row) = read_row(txn, id)? else {
                return Ok(());
            };
            reindex(txn, id, row.next_at, next_at)?;
            row.attempts = attempts;
            row.last_error = Some(error);
            row.lease_until = 0;
            match next_at {
                Some(next_at) => row.next_at = next_at,
                None => {
                    row.state = OutboxState::Dead.as_str().into();
                    let mut dead = txn.open_table(OUTBOX_DEAD).map_err(backend)?;
                    dead.insert(id.to_string().as_str(), ()).map_err(backend)?;
                }
            }
            write_row(txn, id, &row)
        })
        .await
    }

    async fn outbox_item(&self, id: Uuid) -> Result<Option<OutboxItem>, StoreError> {
        self.read("outbox_item", move |txn| {
            let items = txn.open_table(OUTBOX).map_err(backend)?;
            let row = items.get(id.to_string().as_str()).map_err(backend)?;
            row.map(|r| decode::<Row>(r.value())?.item(id)).transpose()
        })
        .await
    }

    async fn dead_items(&self, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        self.read("outbox_dead", move |txn| {
            let dead = txn.open_table(OUTBOX_DEAD).map_err(backend)?;
            let items = txn.open_table(OUTBOX).map_err(backend)?;
            let mut found = Vec::new();
            for entry in dead.iter().map_err(backend)? {
                let id = entry.map_err(backend)?.0.value().to_owned();
                if let Some(row) = items.get(id.as_str()).map_err(backend)? {
                    let id = Uuid::parse_str(&id).map_err(StoreError::backend)?;
                    found.push(decode::<Row>(row.value())?.item(id)?);
                }
            }
            found.sort_by_key(|i| std::cmp::Reverse(i.created_at));
            found.truncate(limit);
            Ok(found)
        })
        .await
    }

    async fn revive(&self, id: Uuid, now: UnixMillis) -> Result<bool, StoreError> {
        self.write("outbox_revive", move |txn| {
            let Some(mut row) = read_row(txn, id)? else {
                return Ok(false);
            };
            if row.state != OutboxState::Dead.as_str() {
                return Ok(false);
            }
            let mut dead = txn.open_table(OUTBOX_DEAD).map_err(backend)?;
            dead.remove(id.to_string().as_str()).map_err(backend)?;
            drop(dead);
            row.state = OutboxState::Pending.as_str().into();
            row.attempts = 0;
            row.next_at = now;
            row.lease_until = 0;
            reindex(txn, id, now, Some(now))?;
            write_row(txn, id, &row)?;
            Ok(true)
        })
        .await
    }

    async fn bring_forward(&self, id: Uuid, at: UnixMillis) -> Result<bool, StoreError> {
        self.write("outbox_bring_forward", move |txn| {
            let Some(mut row) = read_row(txn, id)? else {
                return Ok(false);
            };
            if row.state != OutboxState::Pending.as_str() || row.next_at <= at {
                return Ok(false);
            }
            reindex(txn, id, row.next_at, Some(at))?;
            row.next_at = at;
            write_row(txn, id, &row)?;
            Ok(true)
        })
        .await
    }

    async fn pending_count(&self) -> Result<u64, StoreError> {
        self.read("outbox_pending", move |txn| {
            let due = txn.open_table(OUTBOX_DUE).map_err(backend)?;
            due.len().map_err(backend)
        })
        .await
    }
}
