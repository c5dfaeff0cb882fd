//! A hub shard: owns the sessions of the users that hash to it, counts their devices,
//! and stops a session once it has had no device for the idle grace period. A new
//! session of a user whose previous one is still persisting waits for it (the barrier).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use actix::prelude::*;
use futures_util::FutureExt;
use tokio::sync::oneshot;

use crate::cluster::{Cluster, HoldGuard, Target};
use crate::device::{DeviceHandle, DeviceKey};
use crate::domain::UserId;
use crate::events::EventKind;
use crate::session::{
    self, AttachAck, Barrier, SessionDeps, SessionEnded, SessionError, UserSession,
};

/// The user's session from a handler answering `Result<_, SessionError>` futures, or an
/// early `Unavailable` when none may start.
macro_rules! session_or_refuse {
    ($shard:ident, $user:expr, $ctx:ident) => {
        match $shard.session($user, $ctx) {
            Some(entry) => entry,
            None => return Box::pin(std::future::ready(Err(SessionError::Unavailable))),
        }
    };
}

struct Entry {
    addr: Addr<UserSession>,
    generation: u64,
    devices: HashSet<DeviceKey>,
    idle_timer: Option<SpawnHandle>,
    /// In a cluster: answers requests for this user while the session is held here.
    hold: Option<HoldGuard>,
}

pub struct HubShard {
    deps: Arc<SessionDeps>,
    cluster: Arc<OnceLock<Cluster>>,
    sessions: HashMap<UserId, Entry>,
    /// Sessions that were told to stop and are still persisting; their holds last until
    /// then, so no other node starts the user's session before this one has persisted.
    stopping: HashMap<UserId, (u64, Barrier, Option<HoldGuard>)>,
    next_generation: u64,
    /// Set when a clustered node drains: no new sessions start here.
    refuse_new: bool,
}

impl HubShard {
    pub fn new(deps: Arc<SessionDeps>, cluster: Arc<OnceLock<Cluster>>) -> Self {
        HubShard {
            deps,
            cluster,
            sessions: HashMap::new(),
            stopping: HashMap::new(),
            next_generation: 0,
            refuse_new: false,
        }
    }

    /// The user's session, started if there is none (`None` once the node drains in a
    /// cluster: a new session belongs on another node).
    fn session(&mut self, user: UserId, ctx: &mut Context<Self>) -> Option<&mut Entry> {
        if !self.sessions.contains_key(&user) {
            if self.refuse_new {
                return None;
            }
            self.next_generation += 1;
            let generation = self.next_generation;
            let barrier = self.stopping.get(&user).map(|(_, b, _)| b.clone());
            // A session still persisting keeps answering for the user until the new one
            // takes its hold over: two holds would carry out every request twice.
            let inherited = self.stopping.get_mut(&user).and_then(|(_, _, h)| h.take());
            let hold = inherited.or_else(|| self.cluster.get().map(|c| c.hold(Target::User(user))));
            let addr = UserSession::new(
                user,
                generation,
                self.deps.clone(),
                barrier,
                ctx.address().recipient(),
            )
            .start();
            let entry = Entry {
                addr,
                generation,
                devices: HashSet::new(),
                idle_timer: None,
                hold,
            };
            self.sessions.insert(user, entry);
            // A session started for a publish (no device yet) idles out like any other.
            self.schedule_idle(user, ctx);
        }
        self.sessions.get_mut(&user)
    }

    fn schedule_idle(&mut self, user: UserId, ctx: &mut Context<Self>) {
        let grace = self.deps.config.idle_grace;
        let Some(entry) = self.sessions.get_mut(&user) else {
            return;
        };
        if !entry.devices.is_empty() || entry.idle_timer.is_some() {
            return;
        }
        let generation = entry.generation;
        entry.idle_timer = Some(ctx.run_later(grace, move |act, ctx| {
            act.idle_expired(user, generation, ctx)
        }));
    }

    fn cancel_idle(entry: &mut Entry, ctx: &mut Context<Self>) {
        if let Some(timer) = entry.idle_timer.take() {
            ctx.cancel_future(timer);
        }
    }

    fn idle_expired(&mut self, user: UserId, generation: u64, ctx: &mut Context<Self>) {
        let still_idle = self
            .sessions
            .get(&user)
            .is_some_and(|e| e.generation == generation && e.devices.is_empty());
        if !still_idle {
            return;
        }
        let Some(entry) = self.sessions.remove(&user) else {
            return;
        };
        let (done, stopped) = oneshot::channel();
        entry.addr.do_send(session::Stop { done });
        self.remember_stopping(user, generation, stopped, entry.hold, ctx);
    }

    /// Keeps the stopping session's barrier until it has persisted everything.
    fn remember_stopping(
        &mut self,
        user: UserId,
        generation: u64,
        stopped: oneshot::Receiver<()>,
        hold: Option<HoldGuard>,
        ctx: &mut Context<Self>,
    ) {
        let barrier: Barrier = stopped.map(|_| ()).boxed().shared();
        let previous = self
            .stopping
            .insert(user, (generation, barrier.clone(), hold));
        // A hold of an older generation goes when the newer one is in place.
        drop(previous);
        ctx.spawn(barrier.into_actor(self).map(move |(), act, _| {
            if act
                .stopping
                .get(&user)
                .is_some_and(|(g, _, _)| *g == generation)
            {
                act.stopping.remove(&user);
            }
        }));
    }
}

impl Actor for HubShard {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // REST pushes and attaches queue here in bursts; `send` callers wait for room.
        ctx.set_mailbox_capacity(1024);
    }
}

/// Attaches a device to its user's session (see `session::Attach`).
#[derive(Message)]
#[rtype(result = "Result<AttachAck, SessionError>")]
pub struct AttachDevice {
    pub user: UserId,
    pub device: DeviceHandle,
    pub since: Option<u64>,
}

impl Handler<AttachDevice> for HubShard {
    type Result = ResponseFuture<Result<AttachAck, SessionError>>;

    fn handle(&mut self, msg: AttachDevice, ctx: &mut Context<Self>) -> Self::Result {
        let entry = session_or_refuse!(self, msg.user, ctx);
        entry.devices.insert(msg.device.key);
        Self::cancel_idle(entry, ctx);
        let sent = entry.addr.send(session::Attach {
            device: msg.device,
            since: msg.since,
        });
        Box::pin(async move { sent.await.unwrap_or(Err(SessionError::Unavailable)) })
    }
}

/// A device's socket closed (or it was dropped as too slow).
#[derive(Message)]
#[rtype(result = "()")]
pub struct DetachDevice {
    pub user: UserId,
    pub device: DeviceKey,
}

impl Handler<DetachDevice> for HubShard {
    type Result = ();

    fn handle(&mut self, msg: DetachDevice, ctx: &mut Context<Self>) {
        let Some(entry) = self.sessions.get_mut(&msg.user) else {
            return;
        };
        if entry.devices.remove(&msg.device) {
            entry.addr.do_send(session::Detach { device: msg.device });
        }
        if entry.devices.is_empty() {
            self.schedule_idle(msg.user, ctx);
        }
    }
}

/// Publishes an event to a user, online or not (see `session::Publish`).
#[derive(Message)]
#[rtype(result = "Result<u64, SessionError>")]
pub struct PublishToUser {
    pub user: UserId,
    pub kind: EventKind,
    pub data: String,
}

impl Handler<PublishToUser> for HubShard {
    type Result = ResponseFuture<Result<u64, SessionError>>;

    fn handle(&mut self, msg: PublishToUser, ctx: &mut Context<Self>) -> Self::Result {
        let sent = session_or_refuse!(self, msg.user, ctx)
            .addr
            .send(session::Publish {
                kind: msg.kind,
                data: msg.data,
            });
        Box::pin(async move { sent.await.unwrap_or(Err(SessionError::Unavailable)) })
    }
}

/// Moves a user's read position (see `session::AckFeed`).
#[derive(Message)]
#[rtype(result = "Result<u64, SessionError>")]
pub struct AckUserFeed {
    pub user: UserId,
    pub seq: u64,
}

impl Handler<AckUserFeed> for HubShard {
    type Result = ResponseFuture<Result<u64, SessionError>>;

    fn handle(&mut self, msg: AckUserFeed, ctx: &mut Context<Self>) -> Self::Result {
        let sent = session_or_refuse!(self, msg.user, ctx)
            .addr
            .send(session::AckFeed { seq: msg.seq });
        Box::pin(async move { sent.await.unwrap_or(Err(SessionError::Unavailable)) })
    }
}

/// Answers a user's plan document.
#[derive(Message)]
#[rtype(result = "Result<Option<String>, SessionError>")]
pub struct UserPlan {
    pub user: UserId,
}

impl Handler<UserPlan> for HubShard {
    type Result = ResponseFuture<Result<Option<String>, SessionError>>;

    fn handle(&mut self, msg: UserPlan, ctx: &mut Context<Self>) -> Self::Result {
        let sent = session_or_refuse!(self, msg.user, ctx)
            .addr
            .send(session::GetPlan);
        Box::pin(async move { sent.await.map_err(|_| SessionError::Unavailable) })
    }
}

impl Handler<SessionEnded> for HubShard {
    type Result = ();

    fn handle(&mut self, msg: SessionEnded, _: &mut Context<Self>) {
        if self
            .sessions
            .get(&msg.user)
            .is_some_and(|e| e.generation == msg.generation)
        {
            self.sessions.remove(&msg.user);
        }
    }
}

/// Answers how many sessions this shard holds.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountSessions;

impl Handler<CountSessions> for HubShard {
    type Result = usize;

    fn handle(&mut self, _: CountSessions, _: &mut Context<Self>) -> usize {
        self.sessions.len()
    }
}

/// Closes every device with 1001 and persists every session; answers when all are done.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DrainAll;

impl Handler<DrainAll> for HubShard {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: DrainAll, _: &mut Context<Self>) -> Self::Result {
        let mut done = Vec::new();
        let mut holds = Vec::new();
        for (_, entry) in self.sessions.drain() {
            let (tx, rx) = oneshot::channel();
            entry.addr.do_send(session::Drain { done: tx });
            done.push(rx.map(|_| ()).boxed());
            holds.extend(entry.hold);
        }
        let holds: Vec<HoldGuard> = self
            .stopping
            .drain()
            .filter_map(|(_, (_, barrier, hold))| {
                done.push(barrier.boxed());
                hold
            })
            .chain(holds)
            .collect();
        Box::pin(async move {
            futures_util::future::join_all(done).await;
            // Persisted: other nodes may start these users' sessions now.
            drop(holds);
        })
    }
}

/// Drains the sessions of some users (see `DrainAll`); answers when they are persisted.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DrainSome(pub Vec<UserId>);

impl Handler<DrainSome> for HubShard {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: DrainSome, ctx: &mut Context<Self>) -> Self::Result {
        let mut done = Vec::new();
        for user in msg.0 {
            let Some(entry) = self.sessions.remove(&user) else {
                continue;
            };
            let (tx, rx) = oneshot::channel();
            entry.addr.do_send(session::Drain { done: tx });
            self.remember_stopping(user, entry.generation, rx, entry.hold, ctx);
            if let Some((_, barrier, _)) = self.stopping.get(&user) {
                done.push(barrier.clone());
            }
        }
        Box::pin(async move {
            futures_util::future::join_all(done).await;
        })
    }
}

/// From now on no new session starts in this shard (a clustered node draining).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RefuseNew;

impl Handler<RefuseNew> for HubShard {
    type Result = ();

    fn handle(&mut self, _: RefuseNew, _: &mut Context<Self>) {
        self.refuse_new = true;
    }
}

/// Answers the users whose sessions this shard holds.
#[derive(Message)]
#[rtype(result = "Vec<UserId>")]
pub struct SessionUsers;

impl Handler<SessionUsers> for HubShard {
    type Result = MessageResult<SessionUsers>;

    fn handle(&mut self, _: SessionUsers, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.sessions.keys().copied().collect())
    }
}

/// Answers whether the user's session runs in this shard (not merely persisting).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Running {
    pub user: UserId,
}

impl Handler<Running> for HubShard {
    type Result = bool;

    fn handle(&mut self, msg: Running, _: &mut Context<Self>) -> bool {
        self.sessions.contains_key(&msg.user)
    }
}

/// Answers whether this shard holds the user's session (running or still persisting).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Holds {
    pub user: UserId,
}

impl Handler<Holds> for HubShard {
    type Result = bool;

    fn handle(&mut self, msg: Holds, _: &mut Context<Self>) -> bool {
        self.sessions.contains_key(&msg.user) || self.stopping.contains_key(&msg.user)
    }
}

/// Applies a plan command in the user's session (see `session::EditPlan`).
#[derive(Message)]
#[rtype(result = "Result<Result<String, String>, SessionError>")]
pub struct EditUserPlan {
    pub user: UserId,
    pub command: String,
}

impl Handler<EditUserPlan> for HubShard {
    type Result = ResponseFuture<Result<Result<String, String>, SessionError>>;

    fn handle(&mut self, msg: EditUserPlan, ctx: &mut Context<Self>) -> Self::Result {
        let sent = session_or_refuse!(self, msg.user, ctx)
            .addr
            .send(session::EditPlan {
                command: msg.command,
            });
        Box::pin(async move { sent.await.unwrap_or(Err(SessionError::Unavailable)) })
    }
}

/// Hands a notice to every session of this shard that has a device attached.
#[derive(Message)]
#[rtype(result = "()")]
pub struct NotifyAll {
    pub frame: crate::events::Frame,
    pub kind: &'static str,
}

impl Handler<NotifyAll> for HubShard {
    type Result = ();

    fn handle(&mut self, msg: NotifyAll, _: &mut Context<Self>) {
        for entry in self.sessions.values().filter(|e| !e.devices.is_empty()) {
            entry.addr.do_send(session::Notify {
                frame: msg.frame.clone(),
                kind: msg.kind,
            });
        }
    }
}

/// Replaces a user's entitlements in their session (see `session::ReplaceEntitlements`).
#[derive(Message)]
#[rtype(result = "Result<u64, SessionError>")]
pub struct ReplaceUserEntitlements {
    pub user: UserId,
    pub entitlements: Vec<crate::ports::store::Entitlement>,
}

impl Handler<ReplaceUserEntitlements> for HubShard {
    type Result = ResponseFuture<Result<u64, SessionError>>;

    fn handle(&mut self, msg: ReplaceUserEntitlements, ctx: &mut Context<Self>) -> Self::Result {
        let sent =
            session_or_refuse!(self, msg.user, ctx)
                .addr
                .send(session::ReplaceEntitlements {
                    entitlements: msg.entitlements,
                });
        Box::pin(async move { sent.await.unwrap_or(Err(SessionError::Unavailable)) })
    }
}

/// Hands a notice to one user's devices, if the user has a session here (never starts one).
#[derive(Message)]
#[rtype(result = "()")]
pub struct NotifyUser {
    pub user: UserId,
    pub frame: crate::events::Frame,
    pub kind: &'static str,
}

impl Handler<NotifyUser> for HubShard {
    type Result = ();

    fn handle(&mut self, msg: NotifyUser, _: &mut Context<Self>) {
        if let Some(entry) = self.sessions.get(&msg.user) {
            entry.addr.do_send(session::Notify {
                frame: msg.frame,
                kind: msg.kind,
            });
        }
    }
}

/// Hands a broadcast to every session of this shard that has a device attached.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct BroadcastAll(pub session::Broadcast);

impl Handler<BroadcastAll> for HubShard {
    type Result = usize;

    fn handle(&mut self, msg: BroadcastAll, _: &mut Context<Self>) -> usize {
        let mut handed = 0;
        for entry in self.sessions.values().filter(|e| !e.devices.is_empty()) {
            entry.addr.do_send(msg.0.clone());
            handed += 1;
        }
        handed
    }
}

/// Counts the sessions of this shard whose user is in an audience.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CountAudience(pub std::sync::Arc<dyn session::AudienceFilter>);

impl Handler<CountAudience> for HubShard {
    type Result = ResponseFuture<usize>;

    fn handle(&mut self, msg: CountAudience, _: &mut Context<Self>) -> Self::Result {
        let asks: Vec<_> = self
            .sessions
            .values()
            .filter(|e| !e.devices.is_empty())
            .map(|e| {
                e.addr.send(session::InAudience {
                    filter: msg.0.clone(),
                })
            })
            .collect();
        Box::pin(async move {
            futures_util::future::join_all(asks)
                .await
                .into_iter()
                .filter(|r| matches!(r, Ok(true)))
                .count()
        })
    }
}
