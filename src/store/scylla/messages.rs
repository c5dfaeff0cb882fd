//! Feature messages, users' message states and each message's counts in the scylla store
//! (schema in `cql/0007_messages.cql` and `cql/0018_message_stats.cql`). A state keeps the
//! first time of each action: a plain read answers a mark already recorded, and only a
//! first mark runs a lightweight transaction (`IF column = null`, on the user's own
//! partition, never hot), so that of two devices racing exactly one is counted. Counts are
//! counters, added to by every node.

use async_trait::async_trait;
use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::ports::messages::{
    MessageAction, MessageMark, MessageRecord, MessageState, MessageStats, MessageStore,
};
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{Counter, CqlTimestamp};
use uuid::Uuid;

use super::{ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_lwt};

const BUCKET: i32 = 0;

pub(super) struct Statements {
    put: PreparedStatement,
    get: PreparedStatement,
    all: PreparedStatement,
    states: PreparedStatement,
    state: PreparedStatement,
    state_serial: PreparedStatement,
    set_read: PreparedStatement,
    set_dismissed: PreparedStatement,
    set_clicked: PreparedStatement,
    add_stats: PreparedStatement,
    stats: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        const STATE: &str = "SELECT message_id, read_at, dismissed_at, clicked_at FROM message_states WHERE user_id = ? AND message_id = ?";
        let set = |column: &str| {
            format!(
                "UPDATE message_states SET {column} = ? WHERE user_id = ? AND message_id = ? \
                 IF {column} = null"
            )
        };
        Ok(Statements {
            put: prepare(
                session,
                "INSERT INTO feature_messages (bucket, id, doc, expires_at) VALUES (?, ?, ?, ?)",
            )
            .await?,
            get: prepare(
                session,
                "SELECT doc, expires_at FROM feature_messages WHERE bucket = ? AND id = ?",
            )
            .await?,
            all: prepare(
                session,
                "SELECT id, doc, expires_at FROM feature_messages WHERE bucket = ?",
            )
            .await?,
            states: prepare(
                session,
                "SELECT message_id, read_at, dismissed_at, clicked_at FROM message_states WHERE user_id = ?",
            )
            .await?,
            state: prepare(session, STATE).await?,
            state_serial: prepare_serial(session, STATE).await?,
            set_read: prepare(session, &set("read_at")).await?,
            set_dismissed: prepare(session, &set("dismissed_at")).await?,
            set_clicked: prepare(session, &set("clicked_at")).await?,
            add_stats: prepare(
                session,
                "UPDATE message_stats SET delivered = delivered + ?, read = read + ?, \
                 clicked = clicked + ?, dismissed = dismissed + ? WHERE message_id = ?",
            )
            .await?,
            stats: prepare(
                session,
                "SELECT delivered, read, clicked, dismissed FROM message_stats WHERE message_id = ?",
            )
            .await?,
        })
    }
}

type StateRow = (
    Uuid,
    Option<CqlTimestamp>,
    Option<CqlTimestamp>,
    Option<CqlTimestamp>,
);

fn to_state(row: StateRow) -> (Uuid, MessageState) {
    let (id, read, dismissed, clicked) = row;
    (
        id,
        MessageState {
            read_at: read.map(|t| t.0),
            dismissed_at: dismissed.map(|t| t.0),
            clicked_at: clicked.map(|t| t.0),
        },
    )
}

/// The slot of `action` in a state.
fn action_time(state: &MessageState, action: MessageAction) -> Option<i64> {
    match action {
        MessageAction::Read => state.read_at,
        MessageAction::Dismissed => state.dismissed_at,
        MessageAction::Clicked => state.clicked_at,
    }
}

/// A count as a counter increment; no delta comes near `i64::MAX`.
fn increment(count: u64) -> Counter {
    Counter(i64::try_from(count).unwrap_or(i64::MAX))
}

/// A counter as a count; counters here only grow, so a negative one is never stored.
fn count(counter: Option<Counter>) -> u64 {
    counter.map_or(0, |c| u64::try_from(c.0).unwrap_or(0))
}

type StatsRow = (
    Option<Counter>,
    Option<Counter>,
    Option<Counter>,
    Option<Counter>,
);

impl ScyllaStore {
    async fn read_state(
        &self,
        user: UserId,
        message: Uuid,
        serial: bool,
    ) -> Result<MessageState, StoreError> {
        let st = &self.message_statements;
        let statement = if serial { &st.state_serial } else { &st.state };
        Ok(self
            .maybe_row::<StateRow>(statement, (user.as_uuid(), message))
            .await?
            .map(|r| to_state(r).1)
            .unwrap_or_default())
    }
}

#[async_trait]
impl MessageStore for ScyllaStore {
    async fn put_message(&self, message: &MessageRecord) -> Result<(), StoreError> {
        self.ops
            .time("put_message", async {
                let values = (
                    BUCKET,
                    message.id,
                    message.doc.as_str(),
                    CqlTimestamp(message.expires_at),
                );
                self.exec(&self.message_statements.put, values).await
            })
            .await
    }

    async fn message(&self, id: Uuid) -> Result<Option<MessageRecord>, StoreError> {
        self.ops
            .time("message", async {
                Ok(self
                    .maybe_row::<(String, CqlTimestamp)>(&self.message_statements.get, (BUCKET, id))
                    .await?
                    .map(|(doc, expires_at)| MessageRecord {
                        id,
                        doc,
                        expires_at: expires_at.0,
                    }))
            })
            .await
    }

    async fn unexpired_messages(&self, now: UnixMillis) -> Result<Vec<MessageRecord>, StoreError> {
        self.ops
            .time("unexpired_messages", async {
                let rows: Vec<(Uuid, String, CqlTimestamp)> =
                    self.rows(&self.message_statements.all, (BUCKET,)).await?;
                Ok(rows
                    .into_iter()
                    .filter(|(_, _, expires_at)| expires_at.0 > now)
                    .map(|(id, doc, expires_at)| MessageRecord {
                        id,
                        doc,
                        expires_at: expires_at.0,
                    })
                    .collect())
            })
            .await
    }

    async fn mark_message(
        &self,
        user: UserId,
        message: Uuid,
        action: MessageAction,
        at: UnixMillis,
    ) -> Result<MessageMark, StoreError> {
        self.ops
            .time("mark_message", async {
                let current = self.read_state(user, message, false).await?;
                if action_time(&current, action).is_some() {
                    return Ok(MessageMark {
                        state: current,
                        recorded: false,
                    });
                }
                let st = &self.message_statements;
                let statement = match action {
                    MessageAction::Read => &st.set_read,
                    MessageAction::Dismissed => &st.set_dismissed,
                    MessageAction::Clicked => &st.set_clicked,
                };
                let values = (CqlTimestamp(at), user.as_uuid(), message);
                let outcome = run_lwt(&self.session, statement, values).await?;
                // In doubt, the time read back at SERIAL tells whose write holds (another
                // device marking in the very same millisecond would pass for this one).
                let serial = outcome == Lwt::Unknown;
                let state = self.read_state(user, message, serial).await?;
                let recorded = match outcome {
                    Lwt::Applied => true,
                    Lwt::NotApplied => false,
                    Lwt::Unknown => action_time(&state, action) == Some(at),
                };
                Ok(MessageMark { state, recorded })
            })
            .await
    }

    async fn message_states(&self, user: UserId) -> Result<Vec<(Uuid, MessageState)>, StoreError> {
        self.ops
            .time("message_states", async {
                let rows: Vec<StateRow> = self
                    .rows(&self.message_statements.states, (user.as_uuid(),))
                    .await?;
                Ok(rows.into_iter().map(to_state).collect())
            })
            .await
    }

    async fn add_message_stats(
        &self,
        message: Uuid,
        delta: MessageStats,
    ) -> Result<(), StoreError> {
        self.ops
            .time("add_message_stats", async {
                let values = (
                    increment(delta.delivered),
                    increment(delta.read),
                    increment(delta.clicked),
                    increment(delta.dismissed),
                    message,
                );
                self.exec(&self.message_statements.add_stats, values).await
            })
            .await
    }

    async fn message_stats(&self, message: Uuid) -> Result<MessageStats, StoreError> {
        self.ops
            .time("message_stats", async {
                Ok(self
                    .maybe_row::<StatsRow>(&self.message_statements.stats, (message,))
                    .await?
                    .map(|(delivered, read, clicked, dismissed)| MessageStats {
                        delivered: count(delivered),
                        read: count(read),
                        clicked: count(clicked),
                        dismissed: count(dismissed),
                    })
                    .unwrap_or_default())
            })
            .await
    }
}
