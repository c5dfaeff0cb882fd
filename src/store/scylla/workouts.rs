//! Workout history and personal records in the scylla store (schema and partition sizes in
//! `cql/0020_workouts_replays.cql`). A workout row sits in its user's partition under
//! (finished_at, id), with its finish time kept by id so a re-record moves the row; a raise
//! is a compare-and-set loop on the record's `version`, bounded, so racing raises are exact.

use async_trait::async_trait;
use fitpulse_actors::domain::{ClassId, UnixMillis, UserId};
use fitpulse_actors::ports::store::StoreError;
use fitpulse_actors::ports::workouts::{
    PersonalRecord, WorkoutCursor, WorkoutKind, WorkoutRecord, WorkoutStore,
};
use scylla::DeserializeRow;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlTimestamp, CqlValue};
use uuid::Uuid;

use super::outbox::logged_batch;
use super::{ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_batch, run_lwt};
use crate::store::bests;

/// How many times a raise re-reads and retries when another raise of the same record won
/// the round; each round has a winner, so this bounds how many raisers can race at once.
const CAS_ATTEMPTS: usize = 50;

const WORKOUT_COLUMNS: &str = "id, finished_at, kind, class_id, workout_id, title, \
                               started_at, output, reps, rank, rank_of";

pub(super) struct Statements {
    put: PreparedStatement,
    put_time: PreparedStatement,
    unlist: PreparedStatement,
    finish_time: PreparedStatement,
    newest: PreparedStatement,
    same_time_after: PreparedStatement,
    older: PreparedStatement,
    record: PreparedStatement,
    record_serial: PreparedStatement,
    records: PreparedStatement,
    record_first: PreparedStatement,
    record_set: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        let select = format!("SELECT {WORKOUT_COLUMNS} FROM workouts_by_user WHERE user_id = ?");
        let bests = "SELECT workout_id, best_output, best_output_at, most_reps, most_reps_at, \
                     version FROM personal_records WHERE user_id = ?";
        Ok(Statements {
            put: prepare(
                session,
                "INSERT INTO workouts_by_user (user_id, id, finished_at, kind, class_id, \
                 workout_id, title, started_at, output, reps, rank, rank_of) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .await?,
            put_time: prepare(
                session,
                "INSERT INTO workout_finish_times (user_id, id, finished_at) VALUES (?, ?, ?)",
            )
            .await?,
            unlist: prepare(
                session,
                "DELETE FROM workouts_by_user WHERE user_id = ? AND finished_at = ? AND id = ?",
            )
            .await?,
            finish_time: prepare(
                session,
                "SELECT finished_at FROM workout_finish_times WHERE user_id = ? AND id = ?",
            )
            .await?,
            newest: prepare(session, &format!("{select} LIMIT ?")).await?,
            same_time_after: prepare(
                session,
                &format!("{select} AND finished_at = ? AND id > ? LIMIT ?"),
            )
            .await?,
            older: prepare(session, &format!("{select} AND finished_at < ? LIMIT ?")).await?,
            record: prepare(session, &format!("{bests} AND workout_id = ?")).await?,
            record_serial: prepare_serial(session, &format!("{bests} AND workout_id = ?")).await?,
            records: prepare(session, bests).await?,
            record_first: prepare(
                session,
                "INSERT INTO personal_records (user_id, workout_id, best_output, best_output_at, \
                 most_reps, most_reps_at, version) VALUES (?, ?, ?, ?, ?, ?, 1) IF NOT EXISTS",
            )
            .await?,
            record_set: prepare(
                session,
                "UPDATE personal_records SET best_output = ?, best_output_at = ?, most_reps = ?, \
                 most_reps_at = ?, version = ? WHERE user_id = ? AND workout_id = ? \
                 IF version = ?",
            )
            .await?,
        })
    }
}

fn statements(store: &ScyllaStore) -> &Statements {
    &store.workout_statements
}

fn corrupt(what: &str) -> StoreError {
    StoreError::backend(std::io::Error::other(format!("stored workout: {what}")))
}

/// A count as stored (bigint, so every `u32` fits) and back.
fn stored_count(n: Option<u32>) -> Option<i64> {
    n.map(i64::from)
}

fn count(n: Option<i64>) -> Option<u32> {
    n.and_then(|n| u32::try_from(n).ok())
}

/// A CQL `LIMIT` for `limit` (callers answer an empty list for 0, which CQL refuses).
fn cql_limit(limit: usize) -> i32 {
    i32::try_from(limit).unwrap_or(i32::MAX)
}

#[derive(DeserializeRow)]
struct WorkoutRow {
    id: Uuid,
    finished_at: CqlTimestamp,
    kind: Option<String>,
    class_id: Option<Uuid>,
    workout_id: Option<String>,
    title: Option<String>,
    started_at: Option<CqlTimestamp>,
    output: Option<f64>,
    reps: Option<i64>,
    rank: Option<i64>,
    rank_of: Option<i64>,
}

impl WorkoutRow {
    fn into_record(self, user: UserId) -> Result<WorkoutRecord, StoreError> {
        Ok(WorkoutRecord {
            id: self.id,
            user,
            kind: self
                .kind
                .as_deref()
                .and_then(WorkoutKind::parse)
                .ok_or_else(|| corrupt("kind"))?,
            class_id: self.class_id.map(ClassId::from_uuid),
            workout_id: self.workout_id,
            title: self.title.unwrap_or_default(),
            started_at: self.started_at.ok_or_else(|| corrupt("started_at"))?.0,
            finished_at: self.finished_at.0,
            output: self.output,
            reps: count(self.reps),
            rank: count(self.rank),
            of: count(self.rank_of),
        })
    }
}

#[derive(DeserializeRow)]
struct RecordRow {
    workout_id: String,
    best_output: Option<f64>,
    best_output_at: Option<CqlTimestamp>,
    most_reps: Option<i64>,
    most_reps_at: Option<CqlTimestamp>,
    version: Option<i32>,
}

impl RecordRow {
    fn into_record(self) -> PersonalRecord {
        PersonalRecord {
            workout_id: self.workout_id,
            best_output: self.best_output,
            best_output_at: self.best_output_at.map(|t| t.0),
            most_reps: count(self.most_reps),
            most_reps_at: self.most_reps_at.map(|t| t.0),
        }
    }
}

fn workout_values(w: &WorkoutRecord) -> Vec<Option<CqlValue>> {
    vec![
        Some(CqlValue::Uuid(w.user.as_uuid())),
        Some(CqlValue::Uuid(w.id)),
        Some(CqlValue::Timestamp(CqlTimestamp(w.finished_at))),
        Some(CqlValue::Text(w.kind.as_str().to_owned())),
        w.class_id.map(|c| CqlValue::Uuid(c.as_uuid())),
        w.workout_id.clone().map(CqlValue::Text),
        Some(CqlValue::Text(w.title.clone())),
        Some(CqlValue::Timestamp(CqlTimestamp(w.started_at))),
        w.output.map(CqlValue::Double),
        stored_count(w.reps).map(CqlValue::BigInt),
        stored_count(w.rank).map(CqlValue::BigInt),
        stored_count(w.of).map(CqlValue::BigInt),
    ]
}

fn contended() -> StoreError {
    StoreError::unavailable(std::io::Error::other(
        "too much contention on a personal record; try again",
    ))
}

impl ScyllaStore {
    async fn workout_rows(
        &self,
        statement: &PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
        user: UserId,
    ) -> Result<Vec<WorkoutRecord>, StoreError> {
        self.rows::<WorkoutRow>(statement, values)
            .await?
            .into_iter()
            .map(|row| row.into_record(user))
            .collect()
    }

    async fn page_workouts(
        &self,
        user: UserId,
        cursor: Option<WorkoutCursor>,
        limit: usize,
    ) -> Result<Vec<WorkoutRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (st, u) = (statements(self), user.as_uuid());
        let Some(c) = cursor else {
            return self
                .workout_rows(&st.newest, (u, cql_limit(limit)), user)
                .await;
        };
        // Two slices rather than one tuple relation: with finished_at DESC and id ASC, a
        // tuple comparison would follow the values, not the clustering order.
        let at = CqlTimestamp(c.finished_at);
        let mut page = self
            .workout_rows(&st.same_time_after, (u, at, c.id, cql_limit(limit)), user)
            .await?;
        if page.len() < limit {
            let rest = cql_limit(limit - page.len());
            page.extend(self.workout_rows(&st.older, (u, at, rest), user).await?);
        }
        Ok(page)
    }

    async fn put_workout(&self, w: &WorkoutRecord) -> Result<(), StoreError> {
        let st = statements(self);
        let (u, id) = (w.user.as_uuid(), w.id);
        let before: Option<(Option<CqlTimestamp>,)> =
            self.maybe_row(&st.finish_time, (u, id)).await?;
        let mut batch = logged_batch();
        let mut values: Vec<Vec<Option<CqlValue>>> = Vec::new();
        // A re-record with another finish time must not leave its old history row behind.
        if let Some(old) = before
            .and_then(|(at,)| at)
            .filter(|at| at.0 != w.finished_at)
        {
            batch.append_statement(st.unlist.clone());
            values.push(vec![
                Some(CqlValue::Uuid(u)),
                Some(CqlValue::Timestamp(old)),
                Some(CqlValue::Uuid(id)),
            ]);
        }
        batch.append_statement(st.put.clone());
        values.push(workout_values(w));
        batch.append_statement(st.put_time.clone());
        values.push(vec![
            Some(CqlValue::Uuid(u)),
            Some(CqlValue::Uuid(id)),
            Some(CqlValue::Timestamp(CqlTimestamp(w.finished_at))),
        ]);
        run_batch(self, &batch, values).await
    }

    async fn raise(
        &self,
        user: UserId,
        workout_id: &str,
        output: Option<f64>,
        reps: Option<u32>,
        at: UnixMillis,
    ) -> Result<PersonalRecord, StoreError> {
        let st = statements(self);
        let u = user.as_uuid();
        for _ in 0..CAS_ATTEMPTS {
            let current = self
                .maybe_row::<RecordRow>(&st.record_serial, (u, workout_id))
                .await?;
            let version = current.as_ref().map(|r| r.version.unwrap_or(0));
            let current = current.map(RecordRow::into_record);
            let (next, changed) = bests::raised(current.as_ref(), workout_id, output, reps, at);
            if !changed {
                return Ok(next);
            }
            let bests = (
                next.best_output,
                next.best_output_at.map(CqlTimestamp),
                stored_count(next.most_reps),
                next.most_reps_at.map(CqlTimestamp),
            );
            let outcome = match version {
                None => {
                    let values = (u, workout_id, bests.0, bests.1, bests.2, bests.3);
                    run_lwt(&self.session, &st.record_first, values).await?
                }
                Some(v) => {
                    let values = (bests.0, bests.1, bests.2, bests.3, v + 1, u, workout_id, v);
                    run_lwt(&self.session, &st.record_set, values).await?
                }
            };
            match outcome {
                Lwt::Applied => return Ok(next),
                // Another raise won the round, or the outcome is unknown: a raise is
                // monotonic, so re-reading and trying again is right either way (if this
                // one applied, the next read finds nothing left to beat).
                Lwt::NotApplied | Lwt::Unknown => continue,
            }
        }
        Err(contended())
    }
}

#[async_trait]
impl WorkoutStore for ScyllaStore {
    async fn record_workout(&self, workout: &WorkoutRecord) -> Result<(), StoreError> {
        self.ops
            .time("record_workout", self.put_workout(workout))
            .await
    }

    async fn workouts(
        &self,
        user: UserId,
        cursor: Option<WorkoutCursor>,
        limit: usize,
    ) -> Result<Vec<WorkoutRecord>, StoreError> {
        self.ops
            .time("workouts", self.page_workouts(user, cursor, limit))
            .await
    }

    async fn personal_record(
        &self,
        user: UserId,
        workout_id: &str,
    ) -> Result<Option<PersonalRecord>, StoreError> {
        self.ops
            .time("personal_record", async {
                let row = self
                    .maybe_row::<RecordRow>(&statements(self).record, (user.as_uuid(), workout_id))
                    .await?;
                Ok(row.map(RecordRow::into_record))
            })
            .await
    }

    async fn personal_records(&self, user: UserId) -> Result<Vec<PersonalRecord>, StoreError> {
        self.ops
            .time("personal_records", async {
                let rows = self
                    .rows::<RecordRow>(&statements(self).records, (user.as_uuid(),))
                    .await?;
                Ok(rows.into_iter().map(RecordRow::into_record).collect())
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
        self.ops
            .time(
                "raise_personal_record",
                self.raise(user, workout_id, output, reps, at),
            )
            .await
    }
}

impl ScyllaStore {
    /// Removes the user's workouts and bests (their own partitions); part of the erasure.
    pub(super) async fn erase_workouts(&self, u: Uuid) -> Result<(), StoreError> {
        for table in [
            "workouts_by_user",
            "workout_finish_times",
            "personal_records",
        ] {
            self.run(&format!("DELETE FROM {table} WHERE user_id = ?"), (u,))
                .await?;
        }
        Ok(())
    }
}
