//! The class clock: a class scheduled with a workout takes the workout's blocks as its
//! timeline of intervals. The coach starts it, skips or extends the current interval, and
//! an interval that runs out gives way to the next. Pure state over business time; the
//! class turns each move into a `live.interval` class event and wakes itself at `ends_at`.

use serde::{Deserialize, Serialize};

use crate::domain::UnixMillis;
use crate::events::data::live::IntervalPreview;

/// Longest extension in one step, in seconds.
pub const MAX_EXTEND_SECONDS: u32 = 600;

/// Where the clock stands: the current interval, since when and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    pub index: usize,
    pub started_at: UnixMillis,
    pub ends_at: UnixMillis,
}

impl Running {
    /// The interval's length, extensions included.
    pub fn seconds(&self) -> u32 {
        ((self.ends_at - self.started_at).max(0) / 1000) as u32
    }
}

/// Why the clock refused a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockError {
    /// The class has no workout, so no timeline.
    NoTimeline,
    /// Skip or extend before start.
    NotStarted,
    /// The last interval is over.
    Over,
}

/// A class's timeline and where it stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassClock {
    pub timeline: Vec<IntervalPreview>,
    pub running: Option<Running>,
    /// The last interval ran out (or was skipped).
    pub over: bool,
}

impl ClassClock {
    pub fn new(timeline: Vec<IntervalPreview>) -> ClassClock {
        ClassClock {
            timeline,
            running: None,
            over: false,
        }
    }

    fn begin(&mut self, index: usize, now: UnixMillis) -> Running {
        let seconds = self.timeline[index].seconds;
        let running = Running {
            index,
            started_at: now,
            ends_at: now + i64::from(seconds) * 1000,
        };
        self.running = Some(running);
        running
    }

    /// Starts the first interval, or the current one again from `now`.
    pub fn start(&mut self, now: UnixMillis) -> Result<Running, ClockError> {
        if self.timeline.is_empty() {
            return Err(ClockError::NoTimeline);
        }
        self.over = false;
        let index = self.running.map_or(0, |r| r.index);
        Ok(self.begin(index, now))
    }

    /// Ends the current interval now and starts the next; `Ok(None)` when it was the last.
    pub fn skip(&mut self, now: UnixMillis) -> Result<Option<Running>, ClockError> {
        let current = self.current()?;
        Ok(self.next_after(current.index, now))
    }

    /// Adds `seconds` to the current interval.
    pub fn extend(&mut self, seconds: u32, now: UnixMillis) -> Result<Running, ClockError> {
        let mut current = self.current()?;
        // An interval extended after it ran out (and before the class woke) starts over.
        current.ends_at = current.ends_at.max(now) + i64::from(seconds) * 1000;
        self.running = Some(current);
        Ok(current)
    }

    /// Moves on past every interval that ran out by `now`: answers the interval that is
    /// current afterwards when it changed (`Some(None)`: the timeline is over).
    pub fn advance(&mut self, now: UnixMillis) -> Option<Option<Running>> {
        let mut changed = None;
        while let Some(current) = self.running {
            if current.ends_at > now {
                break;
            }
            // The next starts when this one ended, so a late wake-up keeps the schedule.
            changed = Some(self.next_after(current.index, current.ends_at));
        }
        changed
    }

    fn current(&self) -> Result<Running, ClockError> {
        match self.running {
            Some(running) => Ok(running),
            None if self.timeline.is_empty() => Err(ClockError::NoTimeline),
            None if self.over => Err(ClockError::Over),
            None => Err(ClockError::NotStarted),
        }
    }

    fn next_after(&mut self, index: usize, at: UnixMillis) -> Option<Running> {
        if index + 1 < self.timeline.len() {
            Some(self.begin(index + 1, at))
        } else {
            self.running = None;
            self.over = true;
            None
        }
    }

    /// The interval after the current one.
    pub fn next_preview(&self, running: &Running) -> Option<IntervalPreview> {
        self.timeline.get(running.index + 1).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> ClassClock {
        ClassClock::new(
            [("Warm-up", 60), ("Sprint", 30), ("Cool-down", 120)]
                .into_iter()
                .map(|(label, seconds)| IntervalPreview {
                    label: label.into(),
                    seconds,
                })
                .collect(),
        )
    }

    #[test]
    fn intervals_run_out_one_after_another_on_schedule() {
        let mut c = clock();
        let first = c.start(1_000).expect("start");
        assert_eq!((first.index, first.ends_at), (0, 61_000));
        assert_eq!(c.advance(60_999), None, "not yet");
        // Woken late: the sprint still started when the warm-up ended.
        let sprint = c.advance(62_000).expect("moved").expect("running");
        assert_eq!(
            (sprint.index, sprint.started_at, sprint.ends_at),
            (1, 61_000, 91_000)
        );
        // Asleep through two ends: straight to the end.
        assert_eq!(c.advance(300_000), Some(None));
        assert!(c.over);
        assert_eq!(c.skip(300_001), Err(ClockError::Over));
    }

    #[test]
    fn the_coach_skips_and_extends_the_current_interval() {
        let mut c = clock();
        assert_eq!(c.skip(0), Err(ClockError::NotStarted));
        c.start(0).expect("start");
        let sprint = c.skip(10_000).expect("skip").expect("next");
        assert_eq!((sprint.index, sprint.ends_at), (1, 40_000));
        let longer = c.extend(30, 20_000).expect("extend");
        assert_eq!((longer.ends_at, longer.seconds()), (70_000, 60));
        assert_eq!(
            c.next_preview(&longer).map(|p| p.label),
            Some("Cool-down".into())
        );
        c.skip(21_000).expect("skip");
        assert_eq!(
            c.skip(22_000),
            Ok(None),
            "skipping the last ends the timeline"
        );
    }

    #[test]
    fn a_class_without_a_workout_has_no_clock() {
        let mut c = ClassClock::new(Vec::new());
        assert_eq!(c.start(0), Err(ClockError::NoTimeline));
        assert_eq!(c.extend(30, 0), Err(ClockError::NoTimeline));
    }
}
