//! Feature messages, users' message states and each message's counts in the embedded
//! store. Expired messages are filtered on read (the embedded store has no TTL); their
//! counts stay beside them, one small row per message, as the messages themselves do.

use async_trait::async_trait;
use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::ports::messages::{
    MessageAction, MessageMark, MessageRecord, MessageState, MessageStats, MessageStore,
};
use fitpulse_actors::ports::store::StoreError;
use redb::ReadableTable;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    EmbeddedStore, FEATURE_MESSAGES, KEY_SEPARATOR, MESSAGE_STATES, MESSAGE_STATS, backend, decode,
    encode, key, prefix_range,
};

#[derive(Serialize, Deserialize)]
struct Row {
    doc: String,
    expires_at: UnixMillis,
}

#[derive(Serialize, Deserialize, Default)]
struct StateRow {
    read_at: Option<UnixMillis>,
    dismissed_at: Option<UnixMillis>,
    clicked_at: Option<UnixMillis>,
}

#[derive(Serialize, Deserialize, Default)]
struct StatsRow {
    delivered: u64,
    read: u64,
    clicked: u64,
    dismissed: u64,
}

impl From<StatsRow> for MessageStats {
    fn from(r: StatsRow) -> Self {
        MessageStats {
            delivered: r.delivered,
            read: r.read,
            clicked: r.clicked,
            dismissed: r.dismissed,
        }
    }
}

impl From<MessageStats> for StatsRow {
    fn from(s: MessageStats) -> Self {
        StatsRow {
            delivered: s.delivered,
            read: s.read,
            clicked: s.clicked,
            dismissed: s.dismissed,
        }
    }
}

impl From<StateRow> for MessageState {
    fn from(r: StateRow) -> Self {
        MessageState {
            read_at: r.read_at,
            dismissed_at: r.dismissed_at,
            clicked_at: r.clicked_at,
        }
    }
}

#[async_trait]
impl MessageStore for EmbeddedStore {
    async fn put_message(&self, message: &MessageRecord) -> Result<(), StoreError> {
        let id = message.id.to_string();
        let row = encode(&Row {
            doc: message.doc.clone(),
            expires_at: message.expires_at,
        })?;
        self.write("put_message", move |txn| {
            let mut table = txn.open_table(FEATURE_MESSAGES).map_err(backend)?;
            table.insert(id.as_str(), row.as_slice()).map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn message(&self, id: Uuid) -> Result<Option<MessageRecord>, StoreError> {
        self.read("message", move |txn| {
            let table = txn.open_table(FEATURE_MESSAGES).map_err(backend)?;
            let row = table.get(id.to_string().as_str()).map_err(backend)?;
            row.map(|r| {
                let row: Row = decode(r.value())?;
                Ok(MessageRecord {
                    id,
                    doc: row.doc,
                    expires_at: row.expires_at,
                })
            })
            .transpose()
        })
        .await
    }

    async fn unexpired_messages(&self, now: UnixMillis) -> Result<Vec<MessageRecord>, StoreError> {
        self.read("unexpired_messages", move |txn| {
            let table = txn.open_table(FEATURE_MESSAGES).map_err(backend)?;
            let mut found = Vec::new();
            for entry in table.iter().map_err(backend)? {
                let (id, row) = entry.map_err(backend)?;
                let row: Row = decode(row.value())?;
                if row.expires_at > now {
                    found.push(MessageRecord {
                        id: Uuid::parse_str(id.value()).map_err(StoreError::backend)?,
                        doc: row.doc,
                        expires_at: row.expires_at,
                    });
                }
            }
            Ok(found)
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
        let id = key(&[&user.to_string(), &message.to_string()]);
        self.write("mark_message", move |txn| {
            let mut table = txn.open_table(MESSAGE_STATES).map_err(backend)?;
            let mut row: StateRow = table
                .get(id.as_str())
                .map_err(backend)?
                .map(|r| decode(r.value()))
                .transpose()?
                .unwrap_or_default();
            let slot = match action {
                MessageAction::Read => &mut row.read_at,
                MessageAction::Dismissed => &mut row.dismissed_at,
                MessageAction::Clicked => &mut row.clicked_at,
            };
            // redb's single writer makes this read-then-write the only first mark.
            let recorded = slot.is_none();
            if recorded {
                *slot = Some(at);
                table
                    .insert(id.as_str(), encode(&row)?.as_slice())
                    .map_err(backend)?;
            }
            Ok(MessageMark {
                state: row.into(),
                recorded,
            })
        })
        .await
    }

    async fn message_states(&self, user: UserId) -> Result<Vec<(Uuid, MessageState)>, StoreError> {
        self.read("message_states", move |txn| {
            let table = txn.open_table(MESSAGE_STATES).map_err(backend)?;
            let (start, end) = prefix_range(&user.to_string());
            let mut found = Vec::new();
            for entry in table.range(start.as_str()..end.as_str()).map_err(backend)? {
                let (k, v) = entry.map_err(backend)?;
                let Some((_, message)) = k.value().split_once(KEY_SEPARATOR) else {
                    continue;
                };
                let message = Uuid::parse_str(message).map_err(StoreError::backend)?;
                found.push((message, decode::<StateRow>(v.value())?.into()));
            }
            Ok(found)
        })
        .await
    }

    async fn add_message_stats(
        &self,
        message: Uuid,
        delta: MessageStats,
    ) -> Result<(), StoreError> {
        let id = message.to_string();
        self.write("add_message_stats", move |txn| {
            let mut table = txn.open_table(MESSAGE_STATS).map_err(backend)?;
            let mut total: MessageStats = table
                .get(id.as_str())
                .map_err(backend)?
                .map(|r| decode::<StatsRow>(r.value()))
                .transpose()?
                .unwrap_or_default()
                .into();
            total.add(&delta);
            table
                .insert(id.as_str(), encode(&StatsRow::from(total))?.as_slice())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn message_stats(&self, message: Uuid) -> Result<MessageStats, StoreError> {
        self.read("message_stats", move |txn| {
            let table = txn.open_table(MESSAGE_STATS).map_err(backend)?;
            let row = table.get(message.to_string().as_str()).map_err(backend)?;
            Ok(row
                .map(|r| decode::<StatsRow>(r.value()))
                .transpose()?
                .unwrap_or_default()
                .into())
        })
        .await
    }
}
