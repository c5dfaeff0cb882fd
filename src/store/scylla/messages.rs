//! Feature messages and users' message states in the scylla store (schema in
//! `cql/0007_messages.cql`). A state keeps the first time of each action: the write only
//! sets a column that is still null, read back after (a plain read-modify-write on the
//! user's own partition, where two devices racing would both write nearly the same time).

use async_trait::async_trait;
use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::ports::messages::{MessageAction, MessageRecord, MessageState, MessageStore};
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::{ConnectError, ScyllaStore, prepare};

const BUCKET: i32 = 0;

pub(super) struct Statements {
    put: PreparedStatement,
    get: PreparedStatement,
    all: PreparedStatement,
    states: PreparedStatement,
    state: PreparedStatement,
    set_read: PreparedStatement,
    set_dismissed: PreparedStatement,
    set_clicked: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        let set = |column: &str| {
            format!("UPDATE message_states SET {column} = ? WHERE user_id = ? AND message_id = ?")
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
            state: prepare(
                session,
                "SELECT message_id, read_at, dismissed_at, clicked_at FROM message_states WHERE user_id = ? AND message_id = ?",
            )
            .await?,
            set_read: prepare(session, &set("read_at")).await?,
            set_dismissed: prepare(session, &set("dismissed_at")).await?,
            set_clicked: prepare(session, &set("clicked_at")).await?,
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

impl ScyllaStore {
    async fn read_state(&self, user: UserId, message: Uuid) -> Result<MessageState, StoreError> {
        Ok(self
            .maybe_row::<StateRow>(&self.message_statements.state, (user.as_uuid(), message))
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
    ) -> Result<MessageState, StoreError> {
        self.ops
            .time("mark_message", async {
                let current = self.read_state(user, message).await?;
                let (recorded, statement) = match action {
                    MessageAction::Read => (current.read_at, &self.message_statements.set_read),
                    MessageAction::Dismissed => {
                        (current.dismissed_at, &self.message_statements.set_dismissed)
                    }
                    MessageAction::Clicked => {
                        (current.clicked_at, &self.message_statements.set_clicked)
                    }
                };
                if recorded.is_none() {
                    self.exec(statement, (CqlTimestamp(at), user.as_uuid(), message))
                        .await?;
                }
                self.read_state(user, message).await
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
}
