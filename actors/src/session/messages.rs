//! Messages a `UserSession` handles (sent by its hub shard) and the one it sends back.

use std::time::Instant;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::{SessionError, UserSession};
use crate::device::{CloseDevice, Deliver, DeviceHandle, DeviceKey, close};
use crate::domain::UserId;
use crate::events::data::EventData;
use crate::events::data::session::{ResumeIncomplete, SessionReady};
use crate::events::{EventKind, Frame, feed_frame};

/// Attaches a device; it first gets `session.ready`, then every event after `since`
/// (or `resume.incomplete` when they are no longer kept), then live events.
#[derive(Message)]
#[rtype(result = "Result<AttachAck, SessionError>")]
pub struct Attach {
    pub device: DeviceHandle,
    pub since: Option<u64>,
}

/// What an attach found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttachAck {
    pub last_seq: u64,
    pub replayed: usize,
    pub complete: bool,
}

/// Detaches a device (its socket closed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Detach {
    pub device: DeviceKey,
}

/// Publishes an event to the user; answers its seq once it is persisted.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<u64, SessionError>")]
pub struct Publish {
    pub kind: EventKind,
    /// JSON text of the event's data.
    pub data: String,
}

/// Moves the user's read position forward; answers the position now recorded.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<u64, SessionError>")]
pub struct AckFeed {
    pub seq: u64,
}

/// Answers the user's plan document.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<Option<String>, SessionError>")]
pub struct GetPlan;

/// Stops the (idle) session once everything is persisted; `done` fires then.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop {
    pub done: oneshot::Sender<()>,
}

/// Closes every device with 1001, persists everything, stops; `done` fires then.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drain {
    pub done: oneshot::Sender<()>,
}

/// Sent by a session to its hub shard when it stops for any reason.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionEnded {
    pub user: UserId,
    pub generation: u64,
}

/// What an attaching device is sent before live events.
enum Replay {
    Frames(Vec<Frame>),
    Incomplete { oldest: Option<u64> },
}

impl UserSession {
    fn complete_attach(
        &mut self,
        device: DeviceHandle,
        since: Option<u64>,
        replay: Replay,
        reply: oneshot::Sender<Result<AttachAck, SessionError>>,
    ) {
        let now = self.deps.clock.now();
        let entitlements: Vec<&str> = self
            .entitlements
            .iter()
            .filter(|e| e.is_active_at(now))
            .map(|e| e.name.as_str())
            .collect();
        let ready = SessionReady {
            user_id: self.user.to_string(),
            last_seq: self.last_seq,
            read_seq: self.read_seq,
            since,
            entitlements: entitlements.into_iter().map(str::to_owned).collect(),
        }
        .notice(now);
        // Replayed frames are bounded by `replay_limit`, so they may exceed the queue bound.
        // They go through the socket's mailbox, which it reads before anything else once
        // attached: `session.ready` is the first frame on every socket, then the catch-up,
        // then what the session sends it later (through its thread's outbox). A socket of
        // another node reached on its node's subject gets them from this thread too, ahead
        // of the session's later frames there (past the bound, as catch-up).
        let send = |frame: Frame| {
            let deliver = Deliver {
                frame,
                family: "session",
                created: Instant::now(),
            };
            match (&device.route, &device.remote) {
                (None, Some(_)) => device.deliver(deliver),
                _ => device.mailbox.deliver(deliver),
            }
        };
        send(ready);
        let (replayed, complete) = match replay {
            Replay::Frames(frames) => {
                let count = frames.len();
                frames.into_iter().for_each(send);
                (count, true)
            }
            Replay::Incomplete { oldest } => {
                send(
                    ResumeIncomplete {
                        since: since.unwrap_or_default(),
                        oldest_kept: oldest,
                        last_seq: self.last_seq,
                    }
                    .notice(now),
                );
                (0, false)
            }
        };
        self.add_device(device);
        let _ = reply.send(Ok(AttachAck {
            last_seq: self.last_seq,
            replayed,
            complete,
        }));
    }
}

impl Handler<Attach> for UserSession {
    type Result = ResponseFuture<Result<AttachAck, SessionError>>;

    fn handle(&mut self, msg: Attach, ctx: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        match msg.since {
            None => self.complete_attach(msg.device, None, Replay::Frames(Vec::new()), tx),
            Some(since) if since == self.last_seq => {
                self.complete_attach(msg.device, Some(since), Replay::Frames(Vec::new()), tx)
            }
            // The app has seen events this node does not know: it must refetch.
            Some(since) if since > self.last_seq => self.complete_attach(
                msg.device,
                Some(since),
                Replay::Incomplete { oldest: None },
                tx,
            ),
            Some(since) => match self.replay_from_memory(since) {
                Some(frames) => {
                    self.complete_attach(msg.device, Some(since), Replay::Frames(frames), tx)
                }
                None => {
                    let (feed, user) = (self.deps.feed.clone(), self.user);
                    let limit = self.deps.config.replay_limit;
                    let read = async move {
                        let oldest = feed.oldest_seq(user).await?;
                        let events = feed.events_after(user, since, limit + 1).await?;
                        Ok::<_, crate::ports::store::StoreError>((oldest, events))
                    };
                    // `wait`: no event is sequenced between the read and the attach, so
                    // the replay and live delivery neither overlap nor leave a gap.
                    ctx.wait(read.into_actor(self).map(move |read, act, _| match read {
                        Ok((oldest, events)) => {
                            let gap = oldest.is_none_or(|o| o > since + 1) || events.len() > limit;
                            let replay = if gap {
                                Replay::Incomplete { oldest }
                            } else {
                                let last_read = events.last().map_or(since, |e| e.seq);
                                let mut frames: Vec<Frame> =
                                    events.iter().map(feed_frame).collect();
                                // Events not persisted yet are only in memory.
                                frames.extend(
                                    act.recent
                                        .iter()
                                        .filter(|r| r.seq > last_read)
                                        .map(|r| r.frame.clone()),
                                );
                                Replay::Frames(frames)
                            };
                            act.complete_attach(msg.device, Some(since), replay, tx);
                        }
                        Err(err) => {
                            let _ = tx.send(Err(err.into()));
                        }
                    }));
                }
            },
        }
        Box::pin(async move { rx.await.unwrap_or(Err(SessionError::Unavailable)) })
    }
}

impl Handler<Detach> for UserSession {
    type Result = ();

    fn handle(&mut self, msg: Detach, _: &mut Context<Self>) {
        self.remove_device(msg.device);
    }
}

impl Handler<Publish> for UserSession {
    type Result = ResponseFuture<Result<u64, SessionError>>;

    fn handle(&mut self, msg: Publish, ctx: &mut Context<Self>) -> Self::Result {
        let (_, persisted) = self.publish(&msg.kind, &msg.data, ctx);
        Box::pin(async move { persisted.await.unwrap_or(Err(SessionError::Unavailable)) })
    }
}

impl Handler<AckFeed> for UserSession {
    type Result = ResponseFuture<Result<u64, SessionError>>;

    fn handle(&mut self, msg: AckFeed, _: &mut Context<Self>) -> Self::Result {
        if msg.seq > self.last_seq {
            return Box::pin(std::future::ready(Err(SessionError::AckBeyondHead(
                msg.seq,
            ))));
        }
        if msg.seq <= self.read_seq {
            return Box::pin(std::future::ready(Ok(self.read_seq)));
        }
        self.read_seq = msg.seq;
        let (feed, user, seq) = (self.deps.feed.clone(), self.user, msg.seq);
        Box::pin(async move {
            feed.set_read_seq(user, seq).await?;
            Ok(seq)
        })
    }
}

impl Handler<GetPlan> for UserSession {
    type Result = Result<Option<String>, SessionError>;

    fn handle(&mut self, _: GetPlan, _: &mut Context<Self>) -> Self::Result {
        Ok(self.plan.clone())
    }
}

impl Handler<Stop> for UserSession {
    type Result = ();

    fn handle(&mut self, msg: Stop, ctx: &mut Context<Self>) {
        self.stop_after_flush(msg.done, ctx);
    }
}

impl Handler<Drain> for UserSession {
    type Result = ();

    fn handle(&mut self, msg: Drain, ctx: &mut Context<Self>) {
        for device in self.devices.drain(..) {
            device.close(CloseDevice {
                code: close::GOING_AWAY,
                reason: "server going away; reconnect and resume".into(),
            });
        }
        self.stop_after_flush(msg.done, ctx);
    }
}
