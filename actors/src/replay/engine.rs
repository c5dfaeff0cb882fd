//! The node's running replays, in one actor: each takes its member's metrics (checked for
//! plausibility against the offsets, which may not run ahead of time), and a tick pushes
//! each replay that moved its board at most once per `push_interval`. A replay idle for
//! `idle` is let go; finishing writes the ride (`write_finished`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use uuid::Uuid;

use super::board::{board_at, views};
use super::{ReplayDeps, ReplayError};
use crate::device::{Deliver, DeviceHandle};
use crate::domain::{LiveClassRecord, UserId};
use crate::events::data::EventData;
use crate::events::data::live::{LivePersonalRecord, LiveReplayBoard};
use crate::live::Sample;
use crate::live::plausibility::{self, Baseline};
use crate::live::records::{MAX_TIMELINE_SECONDS, beaten, record_sample};
use crate::ports::replays::{ReplayRecord, Timeline};
use crate::ports::workouts::{PersonalRecord, WorkoutKind, WorkoutRecord};

/// How far past the class's length a replay's offsets may go (a paused video).
const OFFSET_SLACK_SECONDS: i64 = 60;
/// How far ahead of the time since the replay started an offset may be (clock skew).
const AHEAD_SECONDS: i64 = 5;

/// One replay running here.
pub struct Run {
    record: ReplayRecord,
    class: LiveClassRecord,
    timelines: Arc<Vec<Timeline>>,
    name: String,
    best: Option<PersonalRecord>,
    beaten: (bool, bool),
    device: Option<DeviceHandle>,
    offset: u32,
    sample: Sample,
    baseline: Baseline,
    rejected: u32,
    timeline: Vec<f32>,
    last_metric: Option<Instant>,
    dirty: bool,
}

impl Run {
    pub fn new(
        record: ReplayRecord,
        class: LiveClassRecord,
        timelines: Arc<Vec<Timeline>>,
        name: String,
        best: Option<PersonalRecord>,
    ) -> Run {
        Run {
            record,
            class,
            timelines,
            name,
            best,
            beaten: (false, false),
            device: None,
            offset: 0,
            sample: Sample::default(),
            baseline: Baseline::start(0),
            rejected: 0,
            timeline: Vec::new(),
            last_metric: None,
            dirty: false,
        }
    }

    fn flagged(&self, flag_after: u32) -> bool {
        self.rejected >= flag_after
    }
}

/// The replays running here, counted per member so one member cannot fill the node.
#[derive(Default)]
struct Runs {
    by_id: HashMap<Uuid, Run>,
    per_user: HashMap<UserId, usize>,
}

impl Runs {
    /// Adds `run` unless its member already rides `per_user` replays here or the node
    /// holds `max`; a run already here stays as it is.
    fn insert(&mut self, run: Run, per_user: usize, max: usize) -> Result<(), ReplayError> {
        if self.by_id.contains_key(&run.record.id) {
            return Ok(());
        }
        let user = run.record.user;
        if self.per_user.get(&user).copied().unwrap_or(0) >= per_user || self.by_id.len() >= max {
            return Err(ReplayError::TooMany);
        }
        *self.per_user.entry(user).or_default() += 1;
        self.by_id.insert(run.record.id, run);
        Ok(())
    }

    fn remove(&mut self, replay: Uuid) -> Option<Run> {
        let run = self.by_id.remove(&replay)?;
        if let Some(n) = self.per_user.get_mut(&run.record.user) {
            *n -= 1;
            if *n == 0 {
                self.per_user.remove(&run.record.user);
            }
        }
        Some(run)
    }
}

pub struct Engine {
    deps: Arc<ReplayDeps>,
    runs: Runs,
}

impl Engine {
    pub fn new(deps: Arc<ReplayDeps>) -> Engine {
        Engine {
            deps,
            runs: Runs::default(),
        }
    }

    fn push_boards(&mut self) {
        let now = self.deps.clock.now();
        let size = self.deps.config.leaderboard_size;
        let idle = self.deps.config.idle;
        let gone: Vec<Uuid> = self
            .runs
            .by_id
            .iter()
            .filter(|(_, run)| run.last_metric.is_some_and(|at| at.elapsed() >= idle))
            .map(|(id, _)| *id)
            .collect();
        for replay in gone {
            self.runs.remove(replay);
        }
        for run in self.runs.by_id.values_mut().filter(|r| r.dirty) {
            run.dirty = false;
            let Some(device) = &run.device else {
                continue;
            };
            let output = run.sample.output.unwrap_or(0.0);
            let (board, at) = board_at(
                &run.timelines,
                run.record.user,
                &run.name,
                run.offset as usize,
                output,
            );
            let (top, around) = views(&board, at, size);
            let frame = LiveReplayBoard {
                replay_id: run.record.id.to_string(),
                class_id: run.class.id.to_string(),
                offset: run.offset,
                rank: at + 1,
                of: board.len(),
                top,
                around,
            }
            .notice(now);
            deliver(device, frame);
        }
    }
}

/// Hands a frame to the replay's socket; one that lags is closed, like in a class.
fn deliver(device: &DeviceHandle, frame: crate::events::Frame) {
    let message = Deliver {
        frame,
        family: "live",
        created: Instant::now(),
    };
    let _ = device.deliver_or_close(message);
}

impl Actor for Engine {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        ctx.run_interval(self.deps.config.push_interval, |act, _| act.push_boards());
    }
}

/// A replay runs here from now on, unless its member already rides `max_runs_per_user`
/// here or the node holds `max_runs`.
#[derive(Message)]
#[rtype(result = "Result<(), ReplayError>")]
pub struct Install(pub Box<Run>);

impl Handler<Install> for Engine {
    type Result = Result<(), ReplayError>;

    fn handle(&mut self, msg: Install, _: &mut Context<Self>) -> Self::Result {
        let config = &self.deps.config;
        self.runs
            .insert(*msg.0, config.max_runs_per_user, config.max_runs)
    }
}

/// A metric of a replay at `offset`.
#[derive(Message)]
#[rtype(result = "Result<(), ReplayError>")]
pub struct Metric {
    pub user: UserId,
    pub replay: Uuid,
    pub device: DeviceHandle,
    pub offset: u32,
    pub sample: Sample,
}

impl Handler<Metric> for Engine {
    type Result = Result<(), ReplayError>;

    fn handle(&mut self, msg: Metric, _: &mut Context<Self>) -> Self::Result {
        let deps = self.deps.clone();
        let config = &deps.config;
        let run = self
            .runs
            .by_id
            .get_mut(&msg.replay)
            .ok_or(ReplayError::NotLoaded)?;
        if run.record.user != msg.user {
            return Err(ReplayError::NotFound);
        }
        if run
            .last_metric
            .is_some_and(|at| at.elapsed() < config.metric_interval)
        {
            return Err(ReplayError::RateLimited);
        }
        let offset = i64::from(msg.offset);
        if offset < i64::from(run.offset) {
            return Err(ReplayError::BadOffset("behind the last one"));
        }
        if offset > i64::from(run.class.duration_minutes) * 60 + OFFSET_SLACK_SECONDS {
            return Err(ReplayError::BadOffset("past the class's end"));
        }
        let riding = (deps.clock.now() - run.record.created_at) / 1000;
        if offset > riding + AHEAD_SECONDS {
            return Err(ReplayError::BadOffset(
                "ahead of the time since the replay started",
            ));
        }
        run.last_metric = Some(Instant::now());
        run.device = Some(msg.device);
        // Growth is judged on the class's own time: the offsets.
        if let Err(why) =
            plausibility::check(&config.bounds, &run.baseline, &msg.sample, offset * 1000)
        {
            run.rejected += 1;
            deps.observer.metric_rejected(why.as_str());
            return Err(ReplayError::Implausible(why.as_str()));
        }
        run.baseline = run.baseline.after(&msg.sample, offset * 1000);
        run.sample.merge(msg.sample);
        run.offset = msg.offset;
        run.dirty = true;
        if let Some(output) = run.sample.output {
            record_sample(&mut run.timeline, msg.offset as usize, output as f32);
        }
        if let (Some(best), Some(workout)) = (&run.best, &run.class.workout_id) {
            let now = deps.clock.now();
            for (metric, value, previous) in beaten(best, &msg.sample, &mut run.beaten) {
                if let Some(device) = &run.device {
                    let frame = LivePersonalRecord {
                        class_id: run.class.id.to_string(),
                        workout_id: workout.clone(),
                        metric,
                        value,
                        previous,
                    }
                    .notice(now);
                    deliver(device, frame);
                }
            }
        }
        Ok(())
    }
}

/// The replay stops running here; answers it for writing.
#[derive(Message)]
#[rtype(result = "Result<Box<Run>, ReplayError>")]
pub struct Finish {
    pub user: UserId,
    pub replay: Uuid,
}

impl Handler<Finish> for Engine {
    type Result = Result<Box<Run>, ReplayError>;

    fn handle(&mut self, msg: Finish, _: &mut Context<Self>) -> Self::Result {
        match self.runs.by_id.get(&msg.replay) {
            None => Err(ReplayError::NotLoaded),
            Some(run) if run.record.user != msg.user => Err(ReplayError::NotFound),
            Some(_) => Ok(Box::new(self.runs.remove(msg.replay).expect("present"))),
        }
    }
}

/// Writes a finished ride: the replay marked finished (once), the workout in the member's
/// history, bests raised, and the timeline kept for later riders (unless implausible).
pub async fn write_finished(deps: &ReplayDeps, run: Run) -> Result<WorkoutRecord, ReplayError> {
    let now = deps.clock.now();
    if !deps.replays.finish_replay(run.record.id, now).await? {
        return Err(ReplayError::Finished);
    }
    let output = run.sample.output;
    let (rank, of) = match output {
        Some(output) => {
            let (board, at) = board_at(
                &run.timelines,
                run.record.user,
                &run.name,
                run.offset as usize,
                output,
            );
            (Some(at as u32 + 1), Some(board.len() as u32))
        }
        None => (None, None),
    };
    let workout = WorkoutRecord {
        id: run.record.id,
        user: run.record.user,
        kind: WorkoutKind::Replay,
        class_id: Some(run.class.id),
        workout_id: run.class.workout_id.clone(),
        title: run.class.title.clone(),
        started_at: run.record.created_at,
        finished_at: now,
        output,
        reps: run.sample.reps,
        rank,
        of,
    };
    deps.workouts.record_workout(&workout).await?;
    if let Some(workout_id) = &workout.workout_id
        && (output.is_some() || workout.reps.is_some())
    {
        deps.workouts
            .raise_personal_record(workout.user, workout_id, output, workout.reps, now)
            .await?;
    }
    if output.is_some() && !run.flagged(deps.config.bounds.flag_after) {
        let mut timeline = run.timeline;
        timeline.truncate(MAX_TIMELINE_SECONDS);
        let kept = Timeline {
            taker: run.record.user,
            name: run.name,
            kind: WorkoutKind::Replay,
            recorded_at: now,
            output: timeline,
        };
        deps.replays
            .put_timeline(run.class.id, &kept, deps.config.timeline_takers)
            .await?;
    }
    tracing::info!(replay_id = %run.record.id, "replay finished");
    Ok(workout)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ClassId, ClassState};

    fn run(user: UserId) -> Run {
        let class = LiveClassRecord {
            id: ClassId::random(),
            coach: UserId::random(),
            title: "Ride".into(),
            workout_id: None,
            scheduled_at: 0,
            duration_minutes: 30,
            premium: false,
            state: ClassState::Ended,
            started_at: Some(0),
            ended_at: Some(1),
            created_at: 0,
        };
        let record = ReplayRecord {
            id: Uuid::new_v4(),
            class_id: class.id,
            user,
            created_at: 0,
            finished_at: None,
        };
        Run::new(record, class, Arc::default(), "me".into(), None)
    }

    #[test]
    fn a_member_rides_a_bounded_number_of_replays_at_once() {
        let mut runs = Runs::default();
        let me = UserId::random();
        let first = run(me);
        let first_id = first.record.id;
        assert_eq!(runs.insert(first, 2, 10), Ok(()));
        assert_eq!(runs.insert(run(me), 2, 10), Ok(()));
        assert_eq!(runs.insert(run(me), 2, 10), Err(ReplayError::TooMany));
        // Someone else still rides; a finished one makes room again.
        assert_eq!(runs.insert(run(UserId::random()), 2, 10), Ok(()));
        assert!(runs.remove(first_id).is_some());
        assert_eq!(runs.insert(run(me), 2, 10), Ok(()));
    }

    #[test]
    fn the_node_holds_a_bounded_number_of_replays() {
        let mut runs = Runs::default();
        for _ in 0..3 {
            assert_eq!(runs.insert(run(UserId::random()), 2, 3), Ok(()));
        }
        assert_eq!(
            runs.insert(run(UserId::random()), 2, 3),
            Err(ReplayError::TooMany)
        );
    }
}
