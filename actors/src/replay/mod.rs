//! On-demand replays: after a class ends, a member rides it again against everyone who
//! took it (its live takers and earlier replays). [`Replays`] starts a replay, takes the
//! member's metrics with their offset from the class's start, pushes `live.replay_board`
//! at most once a second while they come, and on finish writes the ride to the member's
//! history, raises their bests and keeps its timeline for later riders.
//!
//! A replay runs on the node its member's socket sends to (`engine`), loaded from the
//! store on its first metric; the boards of one class share one copy of its timelines.
//! Ranking is pure (`board`).

pub mod board;
mod engine;
mod starts;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use actix::prelude::*;
use uuid::Uuid;

use crate::device::DeviceHandle;
use crate::domain::{ClassId, ClassState, LiveClassRecord, UserId};
use crate::live::Sample;
use crate::live::plausibility::Bounds;
use crate::ports::clock::SharedClock;
use crate::ports::observer::LiveObserver;
use crate::ports::replays::{ReplayRecord, ReplayStore, Timeline};
use crate::ports::store::{LiveClassStore, StoreError, UserStore};
use crate::ports::workouts::{WorkoutRecord, WorkoutStore};

use engine::{Engine, Finish, Install, Metric, Run};
use starts::StartBudget;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("no such class")]
    ClassNotFound,
    #[error("the class has not ended; replays start after it")]
    ClassNotEnded,
    #[error("this class needs the premium entitlement")]
    PremiumRequired,
    #[error("no such replay of yours")]
    NotFound,
    #[error("the replay is finished")]
    Finished,
    #[error("the offset is {0}")]
    BadOffset(&'static str),
    #[error("the metric is implausible ({0}); it was not counted")]
    Implausible(&'static str),
    #[error("too many; slow down")]
    RateLimited,
    #[error("too many replays ridden at once; finish one first")]
    TooMany,
    /// The member started their hour's budget of replays; one comes back in this many
    /// seconds.
    #[error("too many replays started; try again in {0} s")]
    StartsSpent(u64),
    #[error("replays are not available; try again")]
    Unavailable,
    /// The replay is not loaded on this node (the engine's own answer; never returned).
    #[error("not loaded")]
    NotLoaded,
}

impl From<StoreError> for ReplayError {
    fn from(err: StoreError) -> Self {
        tracing::warn!(error = %err, "a replay's store call failed");
        ReplayError::Unavailable
    }
}

#[derive(Debug, Clone)]
pub struct ReplayConfig {
    pub leaderboard_size: usize,
    /// Boards are pushed at most this often.
    pub push_interval: Duration,
    /// A replay without a metric for this long is let go (finishing it still works).
    pub idle: Duration,
    /// Per replay: at most one metric per this interval.
    pub metric_interval: Duration,
    pub bounds: Bounds,
    /// Timelines a class keeps in all.
    pub timeline_takers: usize,
    /// Replays one member may ride at once on a node, and all members together.
    pub max_runs_per_user: usize,
    pub max_runs: usize,
    /// Replays one member may start in an hour (on each node).
    pub starts_per_hour: u32,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            leaderboard_size: 10,
            push_interval: Duration::from_secs(1),
            idle: Duration::from_secs(10 * 60),
            metric_interval: Duration::from_millis(250),
            bounds: Bounds::default(),
            timeline_takers: 500,
            max_runs_per_user: 3,
            max_runs: 20_000,
            starts_per_hour: 30,
        }
    }
}

pub struct ReplayDeps {
    pub replays: Arc<dyn ReplayStore>,
    pub workouts: Arc<dyn WorkoutStore>,
    pub classes: Arc<dyn LiveClassStore>,
    pub users: Arc<dyn UserStore>,
    pub observer: Arc<dyn LiveObserver>,
    pub clock: SharedClock,
    pub config: ReplayConfig,
}

/// A replay as it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayStarted {
    pub record: ReplayRecord,
    pub class: LiveClassRecord,
    /// Timelines the member rides against.
    pub takers: usize,
}

/// The cheap-to-clone way into this node's replays.
#[derive(Clone)]
pub struct Replays {
    engine: Addr<Engine>,
    deps: Arc<ReplayDeps>,
    /// Each class's timelines, shared while some replay of it runs here.
    timelines: Arc<Mutex<HashMap<ClassId, Weak<Vec<Timeline>>>>>,
    starts: Arc<StartBudget>,
}

impl Replays {
    pub fn start(deps: ReplayDeps) -> Replays {
        let deps = Arc::new(deps);
        let engine = Engine::new(deps.clone()).start();
        let starts = Arc::new(StartBudget::new(deps.config.starts_per_hour));
        Replays {
            engine,
            deps,
            timelines: Arc::default(),
            starts,
        }
    }

    /// Starts a replay of `class` for `user` (`premium_allowed`: the caller may see
    /// premium content).
    pub async fn create(
        &self,
        user: UserId,
        class: ClassId,
        premium_allowed: bool,
    ) -> Result<ReplayStarted, ReplayError> {
        let record = self
            .deps
            .classes
            .class(class)
            .await?
            .ok_or(ReplayError::ClassNotFound)?;
        if record.state != ClassState::Ended {
            return Err(ReplayError::ClassNotEnded);
        }
        if record.premium && !premium_allowed {
            return Err(ReplayError::PremiumRequired);
        }
        let now = self.deps.clock.now();
        self.starts
            .take(user, now)
            .map_err(|wait_ms| ReplayError::StartsSpent((wait_ms as u64).div_ceil(1000)))?;
        let stored = self.store_replay(user, class, now).await;
        if stored.is_err() {
            self.starts.give_back(user, now);
        }
        let (replay, takers) = stored?;
        tracing::info!(replay_id = %replay.id, class_id = %class, "replay started");
        Ok(ReplayStarted {
            record: replay,
            class: record,
            takers,
        })
    }

    /// Stores a new replay of `class` for `user`; answers it with the number of others'
    /// timelines it rides against.
    async fn store_replay(
        &self,
        user: UserId,
        class: ClassId,
        now: crate::domain::UnixMillis,
    ) -> Result<(ReplayRecord, usize), ReplayError> {
        let takers = self
            .deps
            .replays
            .timelines(class, self.deps.config.timeline_takers)
            .await?
            .iter()
            .filter(|t| t.taker != user)
            .count();
        let replay = ReplayRecord {
            id: Uuid::new_v4(),
            class_id: class,
            user,
            created_at: now,
            finished_at: None,
        };
        self.deps.replays.create_replay(&replay).await?;
        Ok((replay, takers))
    }

    /// A metric of the member's replay at `offset` seconds from the class's start; the
    /// board goes to `device`.
    pub async fn metric(
        &self,
        user: UserId,
        replay: Uuid,
        device: DeviceHandle,
        offset: u32,
        sample: Sample,
    ) -> Result<(), ReplayError> {
        let metric = || Metric {
            user,
            replay,
            device: device.clone(),
            offset,
            sample,
        };
        match self.engine.send(metric()).await {
            Ok(Err(ReplayError::NotLoaded)) => {}
            Ok(answer) => return answer,
            Err(_) => return Err(ReplayError::Unavailable),
        }
        let run = self.load(user, replay).await?;
        self.engine
            .send(Install(Box::new(run)))
            .await
            .map_err(|_| ReplayError::Unavailable)??;
        self.engine
            .send(metric())
            .await
            .unwrap_or(Err(ReplayError::Unavailable))
    }

    /// Finishes the member's replay: answers the workout written to their history.
    pub async fn finish(&self, user: UserId, replay: Uuid) -> Result<WorkoutRecord, ReplayError> {
        let run = match self.engine.send(Finish { user, replay }).await {
            Ok(Ok(run)) => *run,
            Ok(Err(ReplayError::NotLoaded)) => self.load(user, replay).await?,
            Ok(Err(err)) => return Err(err),
            Err(_) => return Err(ReplayError::Unavailable),
        };
        engine::write_finished(&self.deps, run).await
    }

    /// Reads a replay of `user` from the store, ready to run here.
    async fn load(&self, user: UserId, replay: Uuid) -> Result<Run, ReplayError> {
        let deps = &self.deps;
        let record = deps
            .replays
            .replay(replay)
            .await?
            .filter(|r| r.user == user)
            .ok_or(ReplayError::NotFound)?;
        if record.finished_at.is_some() {
            return Err(ReplayError::Finished);
        }
        let class = deps
            .classes
            .class(record.class_id)
            .await?
            .ok_or(ReplayError::ClassNotFound)?;
        let timelines = self.timelines_of(record.class_id).await?;
        let name = deps
            .users
            .user_by_id(user)
            .await?
            .map_or_else(|| "You".to_owned(), |u| u.display_name.as_str().to_owned());
        let best = match &class.workout_id {
            Some(w) => deps.workouts.personal_record(user, w).await?,
            None => None,
        };
        Ok(Run::new(record, class, timelines, name, best))
    }

    async fn timelines_of(&self, class: ClassId) -> Result<Arc<Vec<Timeline>>, ReplayError> {
        let cached = self
            .timelines
            .lock()
            .expect("not poisoned")
            .get(&class)
            .and_then(Weak::upgrade);
        if let Some(timelines) = cached {
            return Ok(timelines);
        }
        let loaded = Arc::new(
            self.deps
                .replays
                .timelines(class, self.deps.config.timeline_takers)
                .await?,
        );
        let mut cache = self.timelines.lock().expect("not poisoned");
        cache.retain(|_, weak| weak.strong_count() > 0);
        cache.insert(class, Arc::downgrade(&loaded));
        Ok(loaded)
    }
}
