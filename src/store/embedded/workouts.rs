//! Workout history and personal records in the embedded store. A workout is one row by
//! (user, id) and one history entry whose key sorts newest first; re-recording an id moves
//! its history entry in the same transaction, and a raise reads and writes the bests in
//! one write transaction, which redb runs one at a time, so concurrent raises are exact.

use std::ops::Bound;

use async_trait::async_trait;
use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::ports::store::StoreError;
use fitpulse_actors::ports::workouts::{
    PersonalRecord, WorkoutCursor, WorkoutRecord, WorkoutStore,
};
use redb::{ReadableTable, WriteTransaction};
use uuid::Uuid;

use super::{
    EmbeddedStore, PERSONAL_RECORDS, WORKOUTS, WORKOUTS_BY_TIME, backend, decode, descending,
    encode, key, prefix_range,
};
use crate::store::bests;

fn history_key(user: &str, finished_at: UnixMillis, id: Uuid) -> String {
    key(&[user, &descending(finished_at), &id.to_string()])
}

/// The bests stored for (user, workout), read inside a write transaction.
fn stored_record(
    txn: &WriteTransaction,
    record_key: &str,
) -> Result<Option<PersonalRecord>, StoreError> {
    let table = txn.open_table(PERSONAL_RECORDS).map_err(backend)?;
    let row = table.get(record_key).map_err(backend)?;
    row.map(|bytes| decode(bytes.value())).transpose()
}

#[async_trait]
impl WorkoutStore for EmbeddedStore {
    async fn record_workout(&self, workout: &WorkoutRecord) -> Result<(), StoreError> {
        let workout = workout.clone();
        self.write("record_workout", move |txn| {
            let user = workout.user.to_string();
            let row_key = key(&[&user, &workout.id.to_string()]);
            let mut rows = txn.open_table(WORKOUTS).map_err(backend)?;
            let before = rows
                .get(row_key.as_str())
                .map_err(backend)?
                .map(|bytes| decode::<WorkoutRecord>(bytes.value()))
                .transpose()?;
            rows.insert(row_key.as_str(), encode(&workout)?.as_slice())
                .map_err(backend)?;
            let mut history = txn.open_table(WORKOUTS_BY_TIME).map_err(backend)?;
            if let Some(before) = before {
                history
                    .remove(history_key(&user, before.finished_at, before.id).as_str())
                    .map_err(backend)?;
            }
            history
                .insert(
                    history_key(&user, workout.finished_at, workout.id).as_str(),
                    (),
                )
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn workouts(
        &self,
        user: UserId,
        cursor: Option<WorkoutCursor>,
        limit: usize,
    ) -> Result<Vec<WorkoutRecord>, StoreError> {
        self.read("workouts", move |txn| {
            let owner = user.to_string();
            let (first, end) = prefix_range(&owner);
            let start = match cursor {
                Some(c) => Bound::Excluded(history_key(&owner, c.finished_at, c.id)),
                None => Bound::Included(first),
            };
            let history = txn.open_table(WORKOUTS_BY_TIME).map_err(backend)?;
            let rows = txn.open_table(WORKOUTS).map_err(backend)?;
            let range = (
                start.as_ref().map(String::as_str),
                Bound::Excluded(end.as_str()),
            );
            let mut found = Vec::new();
            for entry in history.range::<&str>(range).map_err(backend)?.take(limit) {
                let (k, _) = entry.map_err(backend)?;
                let id = k.value().rsplit(super::KEY_SEPARATOR).next().unwrap_or("");
                let row = rows.get(key(&[&owner, id]).as_str()).map_err(backend)?;
                if let Some(bytes) = row {
                    found.push(decode(bytes.value())?);
                }
            }
            Ok(found)
        })
        .await
    }

    async fn personal_record(
        &self,
        user: UserId,
        workout_id: &str,
    ) -> Result<Option<PersonalRecord>, StoreError> {
        let record_key = key(&[&user.to_string(), workout_id]);
        self.read("personal_record", move |txn| {
            let table = txn.open_table(PERSONAL_RECORDS).map_err(backend)?;
            let row = table.get(record_key.as_str()).map_err(backend)?;
            row.map(|bytes| decode(bytes.value())).transpose()
        })
        .await
    }

    async fn personal_records(&self, user: UserId) -> Result<Vec<PersonalRecord>, StoreError> {
        self.read("personal_records", move |txn| {
            let table = txn.open_table(PERSONAL_RECORDS).map_err(backend)?;
            let (start, end) = prefix_range(&user.to_string());
            let mut found = Vec::new();
            for entry in table.range(start.as_str()..end.as_str()).map_err(backend)? {
                let (_, bytes) = entry.map_err(backend)?;
                found.push(decode(bytes.value())?);
            }
            Ok(found)
        })
        .await
    }

    async fn raise_personal_record(
        &self,
        user: UserId,
        workout_id: &str,
        output: Option<f64>,
        reps: Option<u32>,
        at: UnixMillis,
    ) -> Result<PersonalRecord, StoreError> {
        let workout_id = workout_id.to_owned();
        self.write("raise_personal_record", move |txn| {
            let record_key = key(&[&user.to_string(), &workout_id]);
            let current = stored_record(txn, &record_key)?;
            let (next, changed) = bests::raised(current.as_ref(), &workout_id, output, reps, at);
            if changed {
                txn.open_table(PERSONAL_RECORDS)
                    .map_err(backend)?
                    .insert(record_key.as_str(), encode(&next)?.as_slice())
                    .map_err(backend)?;
            }
            Ok(next)
        })
        .await
    }
}

/// Removes the user's workouts, history entries and bests; part of the account erasure's
/// transaction.
pub(super) fn erase(txn: &WriteTransaction, user: &str) -> Result<(), StoreError> {
    for table in [WORKOUTS, PERSONAL_RECORDS] {
        super::erasure::remove_prefix(txn, table, user)?;
    }
    super::erasure::remove_prefix(txn, WORKOUTS_BY_TIME, user)?;
    Ok(())
}
