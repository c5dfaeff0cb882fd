//! Store port for on-demand replays: the metric timelines a class leaves behind (one per
//! live taker when it ends, one per finished replay after), and the replays members start.
//! A timeline is compact: cumulative output per second of the class, at most one sample a
//! second, and a class keeps a bounded number of them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::store::StoreError;
use super::workouts::WorkoutKind;
use crate::domain::{ClassId, UnixMillis, UserId};

/// One taker's recorded output through a class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub taker: UserId,
    /// The taker's display name when recorded.
    pub name: String,
    pub kind: WorkoutKind,
    pub recorded_at: UnixMillis,
    /// `output[s]`: cumulative output (kJ) at `s` seconds from the class's start; a second
    /// without a sample repeats the one before (0 before the first).
    pub output: Vec<f32>,
}

/// A replay a member started of an ended class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayRecord {
    pub id: Uuid,
    pub class_id: ClassId,
    pub user: UserId,
    pub created_at: UnixMillis,
    pub finished_at: Option<UnixMillis>,
}

#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Adds `timeline` to the class's timelines unless the class already keeps `max` of
    /// them; one per (taker, recorded_at): writing it again replaces it. Answers whether
    /// it is kept.
    async fn put_timeline(
        &self,
        class: ClassId,
        timeline: &Timeline,
        max: usize,
    ) -> Result<bool, StoreError>;
    /// The class's timelines, at most `limit`.
    async fn timelines(&self, class: ClassId, limit: usize) -> Result<Vec<Timeline>, StoreError>;
    async fn create_replay(&self, replay: &ReplayRecord) -> Result<(), StoreError>;
    async fn replay(&self, id: Uuid) -> Result<Option<ReplayRecord>, StoreError>;
    /// Marks the replay finished at `at`; false if it already was (of two racing finishes
    /// exactly one applies).
    async fn finish_replay(&self, id: Uuid, at: UnixMillis) -> Result<bool, StoreError>;
    /// The timelines `user` recorded, each with its class: the user's classes through
    /// their index, at most `limit` timelines (a member's data export).
    async fn timelines_of(
        &self,
        user: UserId,
        limit: usize,
    ) -> Result<Vec<(ClassId, Timeline)>, StoreError>;
    /// The replays `user` started, at most `limit`, through their index.
    async fn replays_of(&self, user: UserId, limit: usize)
    -> Result<Vec<ReplayRecord>, StoreError>;
}
