//! Check-ins: one row per user and day in `checkins_by_user`, newest day first; writing a
//! day again replaces it.

use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::community::CheckinRecord;
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use super::cql_limit;
use crate::store::scylla::{ConnectError, ScyllaStore, prepare};

pub(super) struct Statements {
    put: PreparedStatement,
    list: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            put: prepare(
                session,
                "INSERT INTO checkins_by_user (user_id, day, mood, satisfaction, note, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .await?,
            list: prepare(
                session,
                "SELECT day, mood, satisfaction, note, updated_at FROM checkins_by_user \
                 WHERE user_id = ? LIMIT ?",
            )
            .await?,
        })
    }
}

type CheckinRow = (i32, String, i32, Option<String>, CqlTimestamp);

pub(super) async fn put(
    store: &ScyllaStore,
    user: UserId,
    c: &CheckinRecord,
) -> Result<(), StoreError> {
    let values = (
        user.as_uuid(),
        c.day,
        c.mood.as_str(),
        i32::from(c.satisfaction),
        c.note.as_deref(),
        CqlTimestamp(c.updated_at),
    );
    store
        .exec(&store.community_statements.checkins.put, values)
        .await
}

pub(super) async fn list(
    store: &ScyllaStore,
    user: UserId,
    limit: usize,
) -> Result<Vec<CheckinRecord>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let values = (user.as_uuid(), cql_limit(limit));
    let rows = store
        .rows::<CheckinRow>(&store.community_statements.checkins.list, values)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(day, mood, satisfaction, note, updated_at)| CheckinRecord {
                day,
                mood,
                satisfaction: satisfaction.clamp(0, i32::from(u8::MAX)) as u8,
                note,
                updated_at: updated_at.0,
            },
        )
        .collect())
}
