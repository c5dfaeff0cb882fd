//! The class clock in the class actor: the coach's start, skip and extend, intervals that
//! run out, and the `live.interval` class event each move sends. The class wakes itself at
//! the current interval's end; the push tick checks too, so a clock the tests hold still
//! moves only when they move it.

use std::time::Duration;

use actix::prelude::*;

use super::intervals::{ClockError, Running};
use super::{LiveClass, LiveError};
use crate::events::data::live::LiveInterval;
use crate::events::rfc3339;

impl From<ClockError> for LiveError {
    fn from(err: ClockError) -> Self {
        match err {
            ClockError::NoTimeline => LiveError::NoTimeline,
            ClockError::NotStarted | ClockError::Over => LiveError::ClockStopped,
        }
    }
}

impl LiveClass {
    /// The `live.interval` data for `running`.
    pub(super) fn interval_data(&self, running: &Running) -> LiveInterval {
        LiveInterval {
            class_id: self.record.id.to_string(),
            index: running.index,
            of: self.clock.timeline.len(),
            label: self.clock.timeline[running.index].label.clone(),
            seconds: running.seconds(),
            started_at: rfc3339(running.started_at),
            ends_at: rfc3339(running.ends_at),
            next: self.clock.next_preview(running),
        }
    }

    /// Tells the class where the clock stands now and wakes the class at the end.
    pub(super) fn clock_moved(&mut self, running: Option<Running>, ctx: &mut Context<Self>) {
        if let Some(timer) = self.clock_timer.take() {
            ctx.cancel_future(timer);
        }
        let Some(running) = running else {
            return;
        };
        let data = self.interval_data(&running);
        self.class_event(&data);
        let wait = (running.ends_at - self.deps.clock.now()).max(0) as u64;
        self.clock_timer = Some(ctx.run_later(Duration::from_millis(wait), |act, ctx| {
            act.clock_timer = None;
            act.tick_clock(ctx);
        }));
    }

    /// Moves past intervals that ran out.
    pub(super) fn tick_clock(&mut self, ctx: &mut Context<Self>) {
        if let Some(now_running) = self.clock.advance(self.deps.clock.now()) {
            self.clock_moved(now_running, ctx);
        }
    }
}
