//! Store port for workout history and personal records: every finished live class and
//! every finished on-demand replay is one [`WorkoutRecord`] in its user's history, and
//! each user keeps their best output and most reps per workout.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::store::StoreError;
use crate::domain::{ClassId, UnixMillis, UserId};

/// How a workout was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkoutKind {
    /// In a live class, with its coach.
    Live,
    /// On demand, racing a class's recorded board.
    Replay,
}

impl WorkoutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkoutKind::Live => "live",
            WorkoutKind::Replay => "replay",
        }
    }

    pub fn parse(s: &str) -> Option<WorkoutKind> {
        [WorkoutKind::Live, WorkoutKind::Replay]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// One finished workout of one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkoutRecord {
    /// Unique per user; writing the same id again replaces the record (idempotent).
    pub id: Uuid,
    pub user: UserId,
    pub kind: WorkoutKind,
    pub class_id: Option<ClassId>,
    /// The catalog workout the class followed, when it had one.
    pub workout_id: Option<String>,
    pub title: String,
    pub started_at: UnixMillis,
    pub finished_at: UnixMillis,
    /// Cumulative work in kilojoules.
    pub output: Option<f64>,
    pub reps: Option<u32>,
    /// Place on the board at the end (live) or at the last offset (replay), and of how many.
    pub rank: Option<u32>,
    pub of: Option<u32>,
}

/// Where a page of history continues: the last record's `finished_at` and `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkoutCursor {
    pub finished_at: UnixMillis,
    pub id: Uuid,
}

/// A user's bests on one workout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonalRecord {
    pub workout_id: String,
    pub best_output: Option<f64>,
    pub best_output_at: Option<UnixMillis>,
    pub most_reps: Option<u32>,
    pub most_reps_at: Option<UnixMillis>,
}

#[async_trait]
pub trait WorkoutStore: Send + Sync {
    /// Stores a finished workout; the same (user, id) again replaces it.
    async fn record_workout(&self, workout: &WorkoutRecord) -> Result<(), StoreError>;
    /// The user's workouts, newest `finished_at` first (then by id), after `cursor`, at
    /// most `limit`.
    async fn workouts(
        &self,
        user: UserId,
        cursor: Option<WorkoutCursor>,
        limit: usize,
    ) -> Result<Vec<WorkoutRecord>, StoreError>;
    /// The user's bests on `workout_id`, if they ever reported any.
    async fn personal_record(
        &self,
        user: UserId,
        workout_id: &str,
    ) -> Result<Option<PersonalRecord>, StoreError>;
    /// Every workout the user has bests on.
    async fn personal_records(&self, user: UserId) -> Result<Vec<PersonalRecord>, StoreError>;
    /// Raises the bests on `workout_id` where `output` or `reps` beat them (a value that
    /// does not beat the stored one leaves it, and its time, alone); answers the bests as
    /// they are after. Exact under concurrent raises.
    async fn raise_personal_record(
        &self,
        user: UserId,
        workout_id: &str,
        output: Option<f64>,
        reps: Option<u32>,
        at: UnixMillis,
    ) -> Result<PersonalRecord, StoreError>;
}
