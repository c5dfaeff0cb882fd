//! What a class leaves behind for each member: a timeline of their output (one sample a
//! second, for the first `timeline_takers` who report), a personal-record notice the moment
//! they beat a best on the class's workout, and, when the class ends, a workout in their
//! history, their bests raised and their timeline kept for on-demand replays.

use futures_util::StreamExt;
use uuid::Uuid;

use super::{LiveClass, Sample};
use crate::domain::{UnixMillis, UserId};
use crate::events::data::EventData;
use crate::events::data::live::LivePersonalRecord;
use crate::ports::replays::Timeline;
use crate::ports::workouts::{PersonalRecord, WorkoutKind, WorkoutRecord};

/// Store writes at once while a class's records are written.
const WRITES_AT_ONCE: usize = 16;

/// Longest timeline kept: 300 minutes, the longest class.
pub const MAX_TIMELINE_SECONDS: usize = 300 * 60;

/// Sets the output at `second` of a timeline, filling the seconds before it with the last
/// value (a second without a sample repeats the one before).
pub fn record_sample(timeline: &mut Vec<f32>, second: usize, output: f32) {
    if second >= MAX_TIMELINE_SECONDS {
        return;
    }
    let last = timeline.last().copied().unwrap_or(0.0);
    if timeline.len() <= second {
        timeline.resize(second + 1, last);
    }
    timeline[second] = output;
}

/// A member's workout id for a class: the same on every write, so writing it twice (a
/// retry, a class ended on a node that took it over) keeps one record.
pub fn workout_record_id(class: Uuid, user: UserId) -> Uuid {
    Uuid::new_v5(&class, user.to_string().as_bytes())
}

/// The bests `sample` beats, as (metric, value, previous best); `told` remembers which
/// metrics were already told this ride (output, reps), so each is told once.
pub fn beaten(
    best: &PersonalRecord,
    sample: &Sample,
    told: &mut (bool, bool),
) -> Vec<(&'static str, f64, f64)> {
    let mut beaten = Vec::new();
    if let (Some(value), Some(previous), false) = (sample.output, best.best_output, told.0)
        && value > previous
    {
        told.0 = true;
        beaten.push(("output", value, previous));
    }
    if let (Some(value), Some(previous), false) = (sample.reps, best.most_reps, told.1)
        && value > previous
    {
        told.1 = true;
        beaten.push(("reps", f64::from(value), f64::from(previous)));
    }
    beaten
}

impl LiveClass {
    /// After an accepted sample: the timeline, and a personal record beaten (told once).
    pub(super) fn sample_accepted(&mut self, user: UserId, sample: &Sample, now: UnixMillis) {
        let started = self.record.started_at.unwrap_or(now);
        let second = ((now - started).max(0) / 1000) as usize;
        let takers = self.deps.config.timeline_takers;
        let class_id = self.record.id.to_string();
        let workout = self.record.workout_id.clone();
        let mut told = Vec::new();
        let recording = self.recording;
        let Some(p) = self.participants.get_mut(&user) else {
            return;
        };
        if let Some(output) = p.sample.output {
            if p.timeline.is_none() && recording < takers {
                p.timeline = Some(Vec::new());
                self.recording += 1;
            }
            if let Some(timeline) = p.timeline.as_mut() {
                record_sample(timeline, second, output as f32);
            }
        }
        if let (Some(best), Some(workout)) = (&p.best, workout) {
            for (metric, value, previous) in beaten(best, sample, &mut p.beaten) {
                told.push(LivePersonalRecord {
                    class_id: class_id.clone(),
                    workout_id: workout.clone(),
                    metric,
                    value,
                    previous,
                });
            }
        }
        for record in told {
            self.send_to(user, &record.notice(now), "live");
        }
    }

    /// Writes every member's workout, bests and timeline once the class ended; detached,
    /// so the class stops at once.
    pub(super) fn write_records(&self) {
        let ended_at = self
            .record
            .ended_at
            .unwrap_or_else(|| self.deps.clock.now());
        let started_at = self.record.started_at.unwrap_or(self.record.scheduled_at);
        let ranked = self.ranked();
        let of = ranked.len() as u32;
        let class = self.record.id;
        let mut workouts = Vec::new();
        let mut timelines = Vec::new();
        for (user, p) in &self.participants {
            // A member finished the class if they were there at the end or worked out.
            if p.coach || (!p.present() && p.sample == Sample::default()) {
                continue;
            }
            let me = user.to_string();
            let rank = ranked
                .iter()
                .find(|e| e.user_id == me)
                .map(|e| e.rank as u32);
            workouts.push(WorkoutRecord {
                id: workout_record_id(class.as_uuid(), *user),
                user: *user,
                kind: WorkoutKind::Live,
                class_id: Some(class),
                workout_id: self.record.workout_id.clone(),
                title: self.record.title.clone(),
                started_at,
                finished_at: ended_at,
                output: p.sample.output,
                reps: p.sample.reps,
                rank,
                of: rank.map(|_| of),
            });
            if let Some(output) = &p.timeline
                && p.flagged.is_none()
            {
                timelines.push(Timeline {
                    taker: *user,
                    name: p.name.clone(),
                    kind: WorkoutKind::Live,
                    recorded_at: ended_at,
                    output: output.clone(),
                });
            }
        }
        let deps = self.deps.clone();
        let write = async move {
            let max = deps.config.timeline_takers;
            let workouts = futures_util::stream::iter(workouts).for_each_concurrent(
                WRITES_AT_ONCE,
                |w| {
                    let deps = deps.clone();
                    async move {
                        if let Err(err) = deps.workouts.record_workout(&w).await {
                            tracing::warn!(user_id = %w.user, error = %err, "cannot record a workout");
                        }
                        if let Some(workout_id) = &w.workout_id
                            && (w.output.is_some() || w.reps.is_some())
                            && let Err(err) = deps
                                .workouts
                                .raise_personal_record(w.user, workout_id, w.output, w.reps, w.finished_at)
                                .await
                        {
                            tracing::warn!(user_id = %w.user, error = %err, "cannot raise a personal record");
                        }
                    }
                },
            );
            workouts.await;
            futures_util::stream::iter(timelines)
                .for_each_concurrent(WRITES_AT_ONCE, |t| {
                    let deps = deps.clone();
                    async move {
                        if let Err(err) = deps.replays.put_timeline(class, &t, max).await {
                            tracing::warn!(class_id = %class, error = %err, "cannot keep a timeline");
                        }
                    }
                })
                .await;
        };
        actix::spawn(write);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_repeats_the_last_value_through_seconds_without_a_sample() {
        let mut t = Vec::new();
        record_sample(&mut t, 2, 1.5);
        record_sample(&mut t, 5, 4.0);
        record_sample(&mut t, 5, 4.5);
        assert_eq!(t, [0.0, 0.0, 1.5, 1.5, 1.5, 4.5]);
        record_sample(&mut t, MAX_TIMELINE_SECONDS, 9.0);
        assert_eq!(t.len(), 6, "bounded");
    }

    #[test]
    fn a_members_workout_id_is_stable_per_class_and_user() {
        let (class, user) = (Uuid::new_v4(), UserId::random());
        assert_eq!(
            workout_record_id(class, user),
            workout_record_id(class, user)
        );
        assert_ne!(
            workout_record_id(class, user),
            workout_record_id(class, UserId::random())
        );
    }
}
