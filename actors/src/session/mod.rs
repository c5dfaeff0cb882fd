//! The `UserSession` actor: one per online user per node.
//!
//! On start it waits for the user's previous session on this node to finish persisting
//! (so sequence numbers never repeat), then loads the feed head, recent events, plan and
//! entitlements. Each published event gets the next `seq`, is serialized once, handed to
//! every attached device (a socket here through its thread's outbox, `crate::fanout`,
//! with what other sessions on this shard send that thread; a full queue means a slow
//! reader: it is closed 4009), kept in memory for resume, and persisted write-behind: a flush is
//! always in flight while events are pending, and a publisher's reply waits for the flush
//! that holds its event; only feature messages' entries, which nobody waits for, wait a
//! moment longer (`broadcast_persist_delay`). Stopping flushes everything first.

mod broadcast;
mod config;
mod entitlements;
mod messages;
mod plan;

use crate::events::kinds;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use futures_util::future::{BoxFuture, Shared};
use tokio::sync::oneshot;

pub use broadcast::{Audience, AudienceFilter, Broadcast, InAudience};
pub use config::{SessionConfig, SessionDeps};
pub use entitlements::ReplaceEntitlements;
pub use messages::{
    AckFeed, Attach, AttachAck, Detach, Drain, GetPlan, Publish, SessionEnded, Stop,
};
pub use plan::{EditPlan, Notify, PlanChange, PlanEditor};

use crate::device::{CloseDevice, Deliver, DeviceHandle, DeviceKey, close, family_label};
use crate::domain::UserId;
use crate::events::{EventKind, Frame, event_frame};
use crate::ports::store::{Entitlement, FeedEvent, StoreError};

/// True if an activity event's data is `user`'s own finished workout.
pub fn own_workout(data: &str, user: UserId) -> bool {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(data) else {
        return false;
    };
    value["type"] == "workout_finished" && value["user_id"] == user.to_string()
}

/// The `id` field of a broadcast event's data.
fn broadcast_id(data: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(data)
        .ok()?
        .get("id")?
        .as_str()
        .map(str::to_owned)
}

/// Resolves when the previous session of the same user on this node has persisted all.
pub type Barrier = Shared<BoxFuture<'static, ()>>;

#[derive(Debug, Clone, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum SessionError {
    #[error("the user's session is not available; try again")]
    Unavailable,
    #[error("the store failed: {0}")]
    Store(String),
    #[error("the acknowledged seq {0} is beyond the newest event")]
    AckBeyondHead(u64),
}

impl From<StoreError> for SessionError {
    fn from(err: StoreError) -> Self {
        SessionError::Store(err.to_string())
    }
}

/// An event kept in memory for resume.
struct Recent {
    seq: u64,
    frame: Frame,
}

/// Everything loaded from the store when a session starts.
struct Loaded {
    last_seq: u64,
    read_seq: u64,
    recent: Vec<FeedEvent>,
    plan: Option<String>,
    entitlements: Vec<Entitlement>,
}

pub struct UserSession {
    user: UserId,
    generation: u64,
    deps: Arc<SessionDeps>,
    barrier: Option<Barrier>,
    on_end: Recipient<SessionEnded>,
    last_seq: u64,
    read_seq: u64,
    plan: Option<String>,
    entitlements: Vec<Entitlement>,
    recent: VecDeque<Recent>,
    /// Attached devices, oldest first.
    devices: Vec<DeviceHandle>,
    /// Events not yet persisted, and the publishers waiting for them.
    pending: Vec<FeedEvent>,
    waiters: Vec<(u64, oneshot::Sender<Result<u64, SessionError>>)>,
    flushing: bool,
    /// Tells the flush in flight, when it was sent behind others, to go at once.
    hurry: Option<oneshot::Sender<()>>,
    /// A flush put off for events nobody waits for (`flush_later`).
    flush_timer: Option<SpawnHandle>,
    failed_flushes: u32,
    /// Set once asked to stop: signalled after the last flush.
    stopping: Option<oneshot::Sender<()>>,
    /// Broadcast ids already delivered to this user (see `broadcast`).
    broadcasts_seen: std::collections::HashSet<String>,
    /// When recent feature messages reached the user (the last two days), counted per the
    /// member's own day against the daily cap.
    broadcast_times: std::collections::VecDeque<crate::domain::UnixMillis>,
    /// When the user last finished a workout, as far as the kept feed tells (audiences
    /// such as "no workout in 7 days").
    last_workout_at: Option<crate::domain::UnixMillis>,
}

impl UserSession {
    pub fn new(
        user: UserId,
        generation: u64,
        deps: Arc<SessionDeps>,
        barrier: Option<Barrier>,
        on_end: Recipient<SessionEnded>,
    ) -> Self {
        UserSession {
            user,
            generation,
            deps,
            barrier,
            on_end,
            last_seq: 0,
            read_seq: 0,
            plan: None,
            entitlements: Vec::new(),
            recent: VecDeque::new(),
            devices: Vec::new(),
            pending: Vec::new(),
            waiters: Vec::new(),
            flushing: false,
            hurry: None,
            flush_timer: None,
            failed_flushes: 0,
            stopping: None,
            broadcasts_seen: std::collections::HashSet::new(),
            broadcast_times: std::collections::VecDeque::new(),
            last_workout_at: None,
        }
    }

    async fn load(
        user: UserId,
        deps: Arc<SessionDeps>,
        barrier: Option<Barrier>,
    ) -> Result<Loaded, StoreError> {
        if let Some(barrier) = barrier {
            barrier.await;
        }
        let head = deps.feed.feed_head(user).await?;
        let keep = deps.config.memory_events as u64;
        let recent = deps
            .feed
            .events_after(
                user,
                head.last_seq.saturating_sub(keep),
                deps.config.memory_events,
            )
            .await?;
        Ok(Loaded {
            last_seq: head.last_seq,
            read_seq: head.read_seq,
            recent,
            plan: deps.plans.plan(user).await?,
            entitlements: deps.entitlements.entitlements(user).await?,
        })
    }

    fn remember(&mut self, seq: u64, frame: Frame) {
        self.recent.push_back(Recent { seq, frame });
        while self.recent.len() > self.deps.config.memory_events {
            self.recent.pop_front();
        }
    }

    /// Remembers the user's own finished workouts (their activity events name them).
    fn note_activity(&mut self, kind: &str, data: &str, at: crate::domain::UnixMillis) {
        if kind != kinds::COMMUNITY_ACTIVITY.as_str() {
            return;
        }
        if own_workout(data, self.user) {
            self.last_workout_at = Some(self.last_workout_at.map_or(at, |last| last.max(at)));
        }
    }

    /// Hands `frame` to every device; a device whose queue is full is closed as too slow.
    fn deliver(&mut self, frame: &Frame, family: &'static str, created: Instant) {
        let observer = self.deps.observer.clone();
        self.devices.retain(|device| {
            let message = Deliver {
                frame: frame.clone(),
                family,
                created,
            };
            match device.deliver_or_close(message) {
                Ok(()) => true,
                Err(SendError::Full(_)) => {
                    observer.slow_consumer();
                    false
                }
                Err(SendError::Closed(_)) => false,
            }
        });
    }

    /// Adds a device, closing the oldest when the user already has the maximum.
    fn add_device(&mut self, device: DeviceHandle) {
        while self.devices.len() >= self.deps.config.max_devices {
            let oldest = self.devices.remove(0);
            oldest.close(CloseDevice {
                code: close::SUPERSEDED,
                reason: "too many connections; the oldest was closed".into(),
            });
        }
        self.devices.push(device);
    }

    fn remove_device(&mut self, key: DeviceKey) {
        self.devices.retain(|d| d.key != key);
    }

    /// Sequences, delivers and queues an event for persistence; returns its seq and a
    /// receiver told once it is persisted.
    fn publish(
        &mut self,
        kind: &EventKind,
        data: &str,
        ctx: &mut Context<Self>,
    ) -> (u64, oneshot::Receiver<Result<u64, SessionError>>) {
        let seq = self.sequence(kind, data);
        let (tx, rx) = oneshot::channel();
        self.waiters.push((seq, tx));
        self.hurry_flush();
        self.flush(ctx);
        (seq, rx)
    }

    /// Someone now waits for what follows the flush in flight: if it was sent behind
    /// others, it goes at once.
    fn hurry_flush(&mut self) {
        if let Some(tell) = self.hurry.take() {
            let _ = tell.send(());
        }
    }

    /// Sequences and delivers an event and adds it to the pending ones, without starting
    /// a flush.
    fn sequence(&mut self, kind: &EventKind, data: &str) -> u64 {
        self.last_seq += 1;
        let seq = self.last_seq;
        let at = self.deps.clock.now();
        self.note_activity(kind.as_str(), data, at);
        let frame = event_frame(seq, kind.as_str(), at, data);
        self.deliver(&frame, family_label(kind.family()), Instant::now());
        self.remember(seq, frame);
        self.pending.push(FeedEvent {
            seq,
            kind: kind.as_str().to_owned(),
            at,
            data: data.to_owned(),
        });
        seq
    }

    /// Persists the pending events after `delay`, or with the next flush if one starts
    /// sooner (an event someone waits for, a stop): for events nobody waits for.
    fn flush_later(&mut self, delay: std::time::Duration, ctx: &mut Context<Self>) {
        if delay.is_zero() {
            return self.flush(ctx);
        }
        // A flush in flight takes what is pending when it ends.
        if self.flushing || self.flush_timer.is_some() {
            return;
        }
        self.flush_timer = Some(ctx.run_later(delay, |act, ctx| {
            act.flush_timer = None;
            act.flush(ctx);
        }));
    }

    /// Starts persisting the pending events unless a flush is already in flight; when it
    /// ends, the next batch (what arrived meanwhile) follows.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.flushing {
            return;
        }
        if self.pending.is_empty() {
            if let Some(done) = self.stopping.take() {
                ctx.stop();
                let _ = done.send(());
            }
            return;
        }
        if let Some(timer) = self.flush_timer.take() {
            ctx.cancel_future(timer);
        }
        self.flushing = true;
        let batch = std::mem::take(&mut self.pending);
        let waiters = std::mem::take(&mut self.waiters);
        let feed = self.deps.feed.clone();
        let user = self.user;
        // Nobody waiting (entries written behind their delivery): the store may let the
        // appends someone waits for go first, until someone waits for what follows this
        // batch (it goes before theirs) or the session stops.
        let hurry = (waiters.is_empty() && self.stopping.is_none()).then(|| {
            let (tell, hurry) = oneshot::channel();
            self.hurry = Some(tell);
            hurry
        });
        let write = async move {
            let result = match hurry {
                Some(hurry) => feed.append_events_behind(user, &batch, hurry).await,
                None => feed.append_events(user, &batch).await,
            };
            (batch, result)
        };
        ctx.spawn(
            write
                .into_actor(self)
                .map(move |(batch, result), act, ctx| {
                    act.flushing = false;
                    act.hurry = None;
                    match result {
                        Ok(()) => {
                            act.failed_flushes = 0;
                            for (seq, waiter) in waiters {
                                let _ = waiter.send(Ok(seq));
                            }
                            act.flush(ctx);
                        }
                        Err(err) => act.flush_failed(batch, waiters, err, ctx),
                    }
                }),
        );
    }

    /// Puts a failed batch back in front and retries later; a stopping session gives up
    /// after `flush_attempts` and tells the waiting publishers.
    fn flush_failed(
        &mut self,
        batch: Vec<FeedEvent>,
        waiters: Vec<(u64, oneshot::Sender<Result<u64, SessionError>>)>,
        err: StoreError,
        ctx: &mut Context<Self>,
    ) {
        self.failed_flushes += 1;
        tracing::warn!(user_id = %self.user, error = %err, attempt = self.failed_flushes, "persisting feed events failed");
        if self.stopping.is_some() && self.failed_flushes >= self.deps.config.flush_attempts {
            tracing::error!(user_id = %self.user, events = batch.len(), "giving up on unpersisted feed events");
            for (_, waiter) in waiters {
                let _ = waiter.send(Err(SessionError::Store(err.to_string())));
            }
            self.pending.clear();
            self.flush(ctx);
            return;
        }
        let mut restored = batch;
        restored.append(&mut self.pending);
        self.pending = restored;
        let mut restored_waiters = waiters;
        restored_waiters.append(&mut self.waiters);
        self.waiters = restored_waiters;
        ctx.run_later(self.deps.config.flush_retry, |act, ctx| act.flush(ctx));
    }

    /// Frames of the events after `since`, from memory when it reaches back that far.
    fn replay_from_memory(&self, since: u64) -> Option<Vec<Frame>> {
        let oldest = self.recent.front().map_or(self.last_seq + 1, |r| r.seq);
        (oldest <= since + 1).then(|| {
            self.recent
                .iter()
                .filter(|r| r.seq > since)
                .map(|r| r.frame.clone())
                .collect()
        })
    }

    /// Asks to stop once everything is persisted; `done` fires after the last flush.
    fn stop_after_flush(&mut self, done: oneshot::Sender<()>, ctx: &mut Context<Self>) {
        self.stopping = Some(done);
        self.hurry_flush();
        self.flush(ctx);
    }
}

impl Actor for UserSession {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.deps.observer.session_started();
        let load = Self::load(self.user, self.deps.clone(), self.barrier.take());
        // `wait` holds every message until the state is loaded, so nothing is sequenced
        // before the head is known.
        ctx.wait(load.into_actor(self).map(|loaded, act, ctx| match loaded {
            Ok(loaded) => {
                act.last_seq = loaded.last_seq;
                act.read_seq = loaded.read_seq;
                act.plan = loaded.plan;
                act.entitlements = loaded.entitlements;
                for event in loaded.recent {
                    // Feature messages already in the feed count against the day's cap
                    // and are not delivered again.
                    if event.kind == kinds::MESSAGE_FEATURE.as_str() {
                        act.broadcast_times.push_back(event.at);
                        if let Some(id) = broadcast_id(&event.data) {
                            act.broadcasts_seen.insert(id);
                        }
                    }
                    act.note_activity(&event.kind, &event.data, event.at);
                    let frame = crate::events::feed_frame(&event);
                    act.remember(event.seq, frame);
                }
            }
            Err(err) => {
                tracing::error!(user_id = %act.user, error = %err, "cannot load the session");
                ctx.stop();
            }
        }));
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.deps.observer.session_stopped();
        for device in &self.devices {
            device.close(CloseDevice {
                code: close::INTERNAL,
                reason: "session ended; reconnect".into(),
            });
        }
        self.on_end.do_send(SessionEnded {
            user: self.user,
            generation: self.generation,
        });
        if let Some(done) = self.stopping.take() {
            let _ = done.send(());
        }
    }
}
