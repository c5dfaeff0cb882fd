//! The user feed in the scylla store: events in one partition per user, newest first,
//! expiring with the table's TTL; the head (last and read seq) in `feed_state`, which has
//! no TTL so sequence numbers never restart. Appends are unlogged batches on one partition.
//! Appends nobody waits for (entries written behind their delivery) go at most
//! `store.scylla.background_appends_in_flight` at once: a feature message makes every
//! online session append at once, and tens of thousands of writes in flight time out
//! together (and are retried together); appends someone waits for pass them, and one
//! held back goes at once when someone starts waiting for the events after it.

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::store::{FeedEvent, FeedHead, FeedStore, Hurry, StoreError};
use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use super::{ConnectError, ScyllaStore, execution_error, prepare};

/// One append counted as waiting while this lives (also when its caller goes away).
struct Waiting<'a>(&'a prometheus::IntGauge);

impl<'a> Waiting<'a> {
    fn new(gauge: &'a prometheus::IntGauge) -> Self {
        gauge.inc();
        Waiting(gauge)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

pub(super) struct Statements {
    insert_event: PreparedStatement,
    set_last_seq: PreparedStatement,
    set_read_seq: PreparedStatement,
    state: PreparedStatement,
    newest_seq: PreparedStatement,
    oldest_seq: PreparedStatement,
    events_after: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            insert_event: prepare(
                session,
                "INSERT INTO feed_events (user_id, seq, type, at, data) VALUES (?, ?, ?, ?, ?)",
            )
            .await?,
            set_last_seq: prepare(
                session,
                "UPDATE feed_state SET last_seq = ? WHERE user_id = ?",
            )
            .await?,
            set_read_seq: prepare(
                session,
                "UPDATE feed_state SET read_seq = ? WHERE user_id = ?",
            )
            .await?,
            state: prepare(
                session,
                "SELECT last_seq, read_seq FROM feed_state WHERE user_id = ?",
            )
            .await?,
            newest_seq: prepare(
                session,
                "SELECT seq FROM feed_events WHERE user_id = ? LIMIT 1",
            )
            .await?,
            oldest_seq: prepare(
                session,
                "SELECT seq FROM feed_events WHERE user_id = ? ORDER BY seq ASC LIMIT 1",
            )
            .await?,
            events_after: prepare(
                session,
                "SELECT seq, type, at, data FROM feed_events WHERE user_id = ? AND seq > ? \
                 ORDER BY seq ASC LIMIT ?",
            )
            .await?,
        })
    }
}

/// CQL `bigint` is signed; sequence numbers stay far below `i64::MAX`.
fn to_cql(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn from_cql(seq: i64) -> u64 {
    u64::try_from(seq).unwrap_or(0)
}

impl ScyllaStore {
    async fn single_seq(
        &self,
        statement: &PreparedStatement,
        user: UserId,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self
            .maybe_row::<(i64,)>(statement, (user.as_uuid(),))
            .await?
            .map(|(seq,)| from_cql(seq)))
    }
}

#[async_trait]
impl FeedStore for ScyllaStore {
    async fn append_events(&self, user: UserId, events: &[FeedEvent]) -> Result<(), StoreError> {
        self.ops
            .time("append_events", async {
                let st = &self.feed_statements;
                let Some(last) = events.iter().map(|e| e.seq).max() else {
                    return Ok(());
                };
                let mut batch = Batch::new(BatchType::Unlogged);
                let mut values = Vec::with_capacity(events.len());
                for event in events {
                    batch.append_statement(st.insert_event.clone());
                    values.push((
                        user.as_uuid(),
                        to_cql(event.seq),
                        event.kind.as_str(),
                        CqlTimestamp(event.at),
                        event.data.as_str(),
                    ));
                }
                self.session
                    .batch(&batch, values)
                    .await
                    .map_err(execution_error)?;
                self.exec(&st.set_last_seq, (to_cql(last), user.as_uuid()))
                    .await
            })
            .await
    }

    async fn append_events_behind(
        &self,
        user: UserId,
        events: &[FeedEvent],
        hurry: Hurry,
    ) -> Result<(), StoreError> {
        // Waits for room among the appends behind in flight, unless hurried meanwhile;
        // the time waited shows as its own op, the appends waiting as a gauge.
        let waiting = Waiting::new(self.ops.appends_waiting());
        let _room = self
            .ops
            .time("append_events_wait", async {
                tokio::select! {
                    room = self.appends_behind.acquire() => room.map(Some).map_err(StoreError::backend),
                    _ = hurry => Ok(None),
                }
            })
            .await?;
        drop(waiting);
        self.append_events(user, events).await
    }

    async fn feed_head(&self, user: UserId) -> Result<FeedHead, StoreError> {
        self.ops
            .time("feed_head", async {
                let st = &self.feed_statements;
                let (last, read) = self
                    .maybe_row::<(Option<i64>, Option<i64>)>(&st.state, (user.as_uuid(),))
                    .await?
                    .unwrap_or((None, None));
                // The head is written after the events; trust whichever is further.
                let newest = self.single_seq(&st.newest_seq, user).await?.unwrap_or(0);
                Ok(FeedHead {
                    last_seq: from_cql(last.unwrap_or(0)).max(newest),
                    read_seq: from_cql(read.unwrap_or(0)),
                })
            })
            .await
    }

    async fn events_after(
        &self,
        user: UserId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        self.ops
            .time("events_after", async {
                let limit = i32::try_from(limit).unwrap_or(i32::MAX);
                let rows: Vec<(i64, String, CqlTimestamp, String)> = self
                    .rows(
                        &self.feed_statements.events_after,
                        (user.as_uuid(), to_cql(after), limit),
                    )
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|(seq, kind, at, data)| FeedEvent {
                        seq: from_cql(seq),
                        kind,
                        at: at.0,
                        data,
                    })
                    .collect())
            })
            .await
    }

    async fn oldest_seq(&self, user: UserId) -> Result<Option<u64>, StoreError> {
        self.ops
            .time(
                "oldest_seq",
                self.single_seq(&self.feed_statements.oldest_seq, user),
            )
            .await
    }

    async fn set_read_seq(&self, user: UserId, seq: u64) -> Result<(), StoreError> {
        self.ops
            .time("set_read_seq", async {
                self.exec(
                    &self.feed_statements.set_read_seq,
                    (to_cql(seq), user.as_uuid()),
                )
                .await
            })
            .await
    }
}
