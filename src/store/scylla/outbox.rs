//! The outbox in the scylla store (schema in `cql/0005_commerce.cql`): items by id, a due
//! index spread over [`SHARDS`] partitions, and a dead-letter partition.
//!
//! Enqueueing is an `IF NOT EXISTS` insert, so an id derived from a provider's event id
//! deduplicates at-least-once webhooks. A claim is a lightweight transaction on the item
//! (`IF state = 'pending' AND lease_until < now`), so of several workers on several nodes
//! exactly one runs an item at a time; a worker that dies loses its lease when it expires.
//! Index changes that follow an item change are idempotent, and a stale index entry (an
//! item already done, or put off to later) is skipped and removed when found; an entry
//! later than its item's due time still finds it (an item brought forward).

use async_trait::async_trait;
use fitpulse_actors::domain::UnixMillis;
use fitpulse_actors::ports::commerce::{OutboxItem, OutboxState, OutboxStore};
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlTimestamp, CqlValue};
use uuid::Uuid;

use super::{ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_lwt};

/// Partitions of the due index.
pub(super) const SHARDS: i32 = 8;
const DEAD_BUCKET: i32 = 0;

pub(super) fn shard_of(id: Uuid) -> i32 {
    (id.as_u128() % SHARDS as u128) as i32
}

const COLUMNS: &str = "id, kind, payload, state, attempts, next_at, last_error, created_at";

pub(super) struct Statements {
    pub(super) insert: PreparedStatement,
    insert_if_new: PreparedStatement,
    pub(super) index_due: PreparedStatement,
    unindex_due: PreparedStatement,
    due: PreparedStatement,
    get: PreparedStatement,
    get_serial: PreparedStatement,
    claim: PreparedStatement,
    finish: PreparedStatement,
    retry: PreparedStatement,
    index_dead: PreparedStatement,
    unindex_dead: PreparedStatement,
    dead: PreparedStatement,
    revive: PreparedStatement,
    bring_forward: PreparedStatement,
    count: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        let get = format!("SELECT {COLUMNS} FROM outbox_items WHERE id = ?");
        Ok(Statements {
            insert: prepare(
                session,
                &format!("INSERT INTO outbox_items ({COLUMNS}, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)"),
            )
            .await?,
            insert_if_new: prepare(
                session,
                &format!("INSERT INTO outbox_items ({COLUMNS}, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0) IF NOT EXISTS"),
            )
            .await?,
            index_due: prepare(session, "INSERT INTO outbox_due (shard, next_at, id) VALUES (?, ?, ?)").await?,
            unindex_due: prepare(session, "DELETE FROM outbox_due WHERE shard = ? AND next_at = ? AND id = ?").await?,
            due: prepare(session, "SELECT next_at, id FROM outbox_due WHERE shard = ? AND next_at <= ? LIMIT ?").await?,
            get: prepare(session, &get).await?,
            get_serial: prepare_serial(session, &get).await?,
            claim: prepare(
                session,
                "UPDATE outbox_items SET lease_until = ? WHERE id = ? IF state = 'pending' AND lease_until < ?",
            )
            .await?,
            finish: prepare(
                session,
                "UPDATE outbox_items SET state = ?, attempts = ?, last_error = ?, lease_until = 0 WHERE id = ?",
            )
            .await?,
            retry: prepare(
                session,
                "UPDATE outbox_items SET attempts = ?, next_at = ?, last_error = ?, lease_until = 0 WHERE id = ?",
            )
            .await?,
            index_dead: prepare(session, "INSERT INTO outbox_dead (bucket, created_at, id) VALUES (?, ?, ?)").await?,
            unindex_dead: prepare(session, "DELETE FROM outbox_dead WHERE bucket = ? AND created_at = ? AND id = ?").await?,
            dead: prepare(session, "SELECT id FROM outbox_dead WHERE bucket = ? LIMIT ?").await?,
            revive: prepare(
                session,
                "UPDATE outbox_items SET state = 'pending', attempts = 0, next_at = ?, lease_until = 0 WHERE id = ? IF state = 'dead'",
            )
            .await?,
            // Conditional on the due time read, so a concurrent attempt's outcome wins.
            bring_forward: prepare(
                session,
                "UPDATE outbox_items SET next_at = ? WHERE id = ? IF state = 'pending' AND next_at = ?",
            )
            .await?,
            count: prepare(session, "SELECT COUNT(*) FROM outbox_due WHERE shard = ?").await?,
        })
    }
}

type ItemRow = (
    Uuid,
    String,
    String,
    String,
    Option<i32>,
    Option<CqlTimestamp>,
    Option<String>,
    Option<CqlTimestamp>,
);

fn to_item(row: ItemRow) -> Result<OutboxItem, StoreError> {
    let (id, kind, payload, state, attempts, next_at, last_error, created_at) = row;
    Ok(OutboxItem {
        id,
        kind,
        payload,
        state: OutboxState::parse(&state)
            .ok_or_else(|| StoreError::backend(std::io::Error::other("an unknown outbox state")))?,
        attempts: attempts.unwrap_or(0).max(0) as u32,
        next_at: next_at.map_or(0, |t| t.0),
        last_error,
        created_at: created_at.map_or(0, |t| t.0),
    })
}

/// The values of `Statements::insert` for `item`.
pub(super) fn insert_values(item: &OutboxItem) -> Vec<Option<CqlValue>> {
    vec![
        Some(CqlValue::Uuid(item.id)),
        Some(CqlValue::Text(item.kind.clone())),
        Some(CqlValue::Text(item.payload.clone())),
        Some(CqlValue::Text(item.state.as_str().to_owned())),
        Some(CqlValue::Int(item.attempts as i32)),
        Some(CqlValue::Timestamp(CqlTimestamp(item.next_at))),
        item.last_error.clone().map(CqlValue::Text),
        Some(CqlValue::Timestamp(CqlTimestamp(item.created_at))),
    ]
}

/// The values of `Statements::index_due` for `item`.
pub(super) fn due_values(item: &OutboxItem) -> Vec<Option<CqlValue>> {
    vec![
        Some(CqlValue::Int(shard_of(item.id))),
        Some(CqlValue::Timestamp(CqlTimestamp(item.next_at))),
        Some(CqlValue::Uuid(item.id)),
    ]
}

impl ScyllaStore {
    async fn read_item(&self, id: Uuid, serial: bool) -> Result<Option<OutboxItem>, StoreError> {
        let st = &self.outbox_statements;
        let statement = if serial { &st.get_serial } else { &st.get };
        self.maybe_row::<ItemRow>(statement, (id,))
            .await?
            .map(to_item)
            .transpose()
    }

    async fn set_due(
        &self,
        shard_id: Uuid,
        next_at: UnixMillis,
        on: bool,
    ) -> Result<(), StoreError> {
        let st = &self.outbox_statements;
        let statement = if on { &st.index_due } else { &st.unindex_due };
        self.exec(
            statement,
            (shard_of(shard_id), CqlTimestamp(next_at), shard_id),
        )
        .await
    }
}

#[async_trait]
impl OutboxStore for ScyllaStore {
    async fn enqueue(&self, item: &OutboxItem) -> Result<bool, StoreError> {
        self.ops
            .time("outbox_enqueue", async {
                let st = &self.outbox_statements;
                let outcome =
                    run_lwt(&self.session, &st.insert_if_new, insert_values(item)).await?;
                let existing = match outcome {
                    Lwt::Applied => None,
                    _ => self.read_item(item.id, true).await?,
                };
                // Index what is pending, ours or the earlier one (a crash may have left it
                // unindexed); the index insert is idempotent.
                let pending = existing.as_ref().unwrap_or(item);
                if pending.state == OutboxState::Pending {
                    self.set_due(pending.id, pending.next_at, true).await?;
                }
                Ok(outcome == Lwt::Applied
                    || (outcome == Lwt::Unknown
                        && existing
                            .as_ref()
                            .is_some_and(|e| e.created_at == item.created_at)))
            })
            .await
    }

    async fn due(&self, now: UnixMillis, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        self.ops
            .time("outbox_due", async {
                let mut found = Vec::new();
                for shard in 0..SHARDS {
                    let entries: Vec<(CqlTimestamp, Uuid)> = self
                        .rows(
                            &self.outbox_statements.due,
                            (shard, CqlTimestamp(now), limit as i32),
                        )
                        .await?;
                    for (at, id) in entries {
                        match self.read_item(id, false).await? {
                            // Due by then, if not later (brought forward, the entry of its
                            // new time may be missing: see `bring_forward`).
                            Some(item)
                                if item.state == OutboxState::Pending && item.next_at <= at.0 =>
                            {
                                found.push(item)
                            }
                            // Done, dead, expired or put off since: a stale entry.
                            _ => self.set_due(id, at.0, false).await?,
                        }
                    }
                }
                found.sort_by_key(|i| (i.next_at, i.id));
                // An item brought forward may be found at both its times.
                found.dedup_by_key(|i| i.id);
                found.truncate(limit);
                Ok(found)
            })
            .await
    }

    async fn claim(&self, id: Uuid, now: UnixMillis, lease_ms: i64) -> Result<bool, StoreError> {
        self.ops
            .time("outbox_claim", async {
                let values = (CqlTimestamp(now + lease_ms), id, CqlTimestamp(now));
                Ok(
                    run_lwt(&self.session, &self.outbox_statements.claim, values).await?
                        == Lwt::Applied,
                )
            })
            .await
    }

    async fn complete(&self, id: Uuid) -> Result<(), StoreError> {
        self.ops
            .time("outbox_complete", async {
                let Some(item) = self.read_item(id, false).await? else {
                    return Ok(());
                };
                self.exec(
                    &self.outbox_statements.finish,
                    ("done", (item.attempts + 1) as i32, None::<String>, id),
                )
                .await?;
                self.set_due(id, item.next_at, false).await
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
        self.ops
            .time("outbox_fail", async {
                let Some(item) = self.read_item(id, false).await? else {
                    return Ok(());
                };
                let st = &self.outbox_statements;
                match next_at {
                    Some(next_at) => {
                        self.set_due(id, next_at, true).await?;
                        self.exec(
                            &st.retry,
                            (attempts as i32, CqlTimestamp(next_at), error, id),
                        )
                        .await?;
                    }
                    None => {
                        self.exec(&st.finish, ("dead", attempts as i32, Some(error), id))
                            .await?;
                        self.exec(
                            &st.index_dead,
                            (DEAD_BUCKET, CqlTimestamp(item.created_at), id),
                        )
                        .await?;
                    }
                }
                if next_at != Some(item.next_at) {
                    self.set_due(id, item.next_at, false).await?;
                }
                Ok(())
            })
            .await
    }

    async fn outbox_item(&self, id: Uuid) -> Result<Option<OutboxItem>, StoreError> {
        self.ops
            .time("outbox_item", async { self.read_item(id, false).await })
            .await
    }

    async fn dead_items(&self, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        self.ops
            .time("outbox_dead", async {
                let ids: Vec<(Uuid,)> = self
                    .rows(&self.outbox_statements.dead, (DEAD_BUCKET, limit as i32))
                    .await?;
                let mut found = Vec::new();
                for (id,) in ids {
                    if let Some(item) = self.read_item(id, false).await?
                        && item.state == OutboxState::Dead
                    {
                        found.push(item);
                    }
                }
                Ok(found)
            })
            .await
    }

    async fn revive(&self, id: Uuid, now: UnixMillis) -> Result<bool, StoreError> {
        self.ops
            .time("outbox_revive", async {
                let Some(item) = self.read_item(id, false).await? else {
                    return Ok(false);
                };
                let st = &self.outbox_statements;
                if run_lwt(&self.session, &st.revive, (CqlTimestamp(now), id)).await?
                    == Lwt::NotApplied
                {
                    return Ok(false);
                }
                self.set_due(id, now, true).await?;
                self.exec(
                    &st.unindex_dead,
                    (DEAD_BUCKET, CqlTimestamp(item.created_at), id),
                )
                .await?;
                Ok(true)
            })
            .await
    }

    async fn bring_forward(&self, id: Uuid, at: UnixMillis) -> Result<bool, StoreError> {
        self.ops
            .time("outbox_bring_forward", async {
                let Some(item) = self.read_item(id, true).await? else {
                    return Ok(false);
                };
                if item.state != OutboxState::Pending || item.next_at <= at {
                    return Ok(false);
                }
                // The item first, then its index. Indexed first, the new entry would be due
                // at once, and a worker's `due` between the two writes would take it for
                // stale and remove it. Should this node stop between the two, the entry of
                // the old time still finds the item then (`due` takes an item due earlier).
                let values = (CqlTimestamp(at), id, CqlTimestamp(item.next_at));
                let moved =
                    match run_lwt(&self.session, &self.outbox_statements.bring_forward, values)
                        .await?
                    {
                        Lwt::Applied => true,
                        Lwt::NotApplied => false,
                        Lwt::Unknown => self
                            .read_item(id, true)
                            .await?
                            .is_some_and(|current| current.next_at == at),
                    };
                if moved {
                    self.set_due(id, at, true).await?;
                    self.set_due(id, item.next_at, false).await?;
                }
                Ok(moved)
            })
            .await
    }

    async fn pending_count(&self) -> Result<u64, StoreError> {
        self.ops
            .time("outbox_pending", async {
                let mut total = 0u64;
                for shard in 0..SHARDS {
                    let (count,): (i64,) = self
                        .first_row(&self.outbox_statements.count, (shard,))
                        .await?;
                    total += count.max(0) as u64;
                }
                Ok(total)
            })
            .await
    }
}

/// A logged batch type for commits that must land together.
pub(super) fn logged_batch() -> Batch {
    Batch::new(BatchType::Logged)
}
