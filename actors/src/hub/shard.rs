//! A hub shard: owns the sessions of the users that hash to it, counts their devices,
//! and stops a session once it has had no device for the idle grace period. A new
//! session of a user whose previous one is still persisting waits for it (the barrier).
//! Operations reach a session through one generic message, [`ForUser`]; one that may not
//! start a session gives the operation back when the shard does not hold it, for the hub
//! to send to the session's holder.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix::prelude::*;
use futures_util::FutureExt;
use tokio::sync::oneshot;

use crate::cluster::{Cluster, HoldGuard, Target};
use crate::device::{DeviceHandle, DeviceKey};
use crate::domain::UserId;
use crate::session::{
    self, AttachAck, Barrier, SessionDeps, SessionEnded, SessionError, UserSession,
};

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
    cluster: Cluster,
    sessions: HashMap<UserId, Entry>,
    /// Sessions that were told to stop and are still persisting; their holds last until
    /// then, so no other node starts the user's session before this one has persisted.
    stopping: HashMap<UserId, (u64, Barrier, Option<HoldGuard>)>,
    next_generation: u64,
    /// Set when the node drains: no new sessions start here.
    refuse_new: bool,
    /// Users whose account was erased, and when: no session of theirs starts again here
    /// (a late delivery would write a feed back), for [`ERASED_FOR`].
    erased: HashMap<UserId, std::time::Instant>,
}

/// How long an erased user's sessions stay refused: longer than any delivery in flight.
const ERASED_FOR: std::time::Duration = std::time::Duration::from_secs(15 * 60);

impl HubShard {
    pub fn new(deps: Arc<SessionDeps>, cluster: Cluster) -> Self {
        HubShard {
            deps,
            cluster,
            sessions: HashMap::new(),
            stopping: HashMap::new(),
            next_generation: 0,
            refuse_new: false,
            erased: HashMap::new(),
        }
    }

    /// Whether this shard serves the user itself: it holds the session and is not
    /// draining (a draining node keeps serving only sessions still running; a session
    /// still persisting is held until its successor here takes over).
    fn holds(&self, user: UserId) -> bool {
        self.sessions.contains_key(&user) || (!self.refuse_new && self.stopping.contains_key(&user))
    }

    /// The user's session, started if there is none (`None` once the node drains: a new
    /// session belongs on another node).
    fn session(&mut self, user: UserId, ctx: &mut Context<Self>) -> Option<&mut Entry> {
        if !self.sessions.contains_key(&user) {
            if self.refuse_new || self.erased.contains_key(&user) {
                return None;
            }
            self.next_generation += 1;
            let generation = self.next_generation;
            let barrier = self.stopping.get(&user).map(|(_, b, _)| b.clone());
            // A session still persisting keeps answering for the user until the new one
            // takes its hold over: two holds would carry out every request twice.
            let inherited = self.stopping.get_mut(&user).and_then(|(_, _, h)| h.take());
            let hold = inherited.or_else(|| self.cluster.hold(Target::User(user)));
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

/// An operation on a user's session (see `hub::ops`). With `start`, a session is started
/// if none runs; without, the operation comes back (`Err`) unless this shard holds the
/// session.
pub struct ForUser<M> {
    pub user: UserId,
    pub op: M,
    pub start: bool,
}

impl<M, T> Message for ForUser<M>
where
    M: Message<Result = Result<T, SessionError>> + Send + 'static,
    T: Send + 'static,
{
    type Result = Result<Result<T, SessionError>, M>;
}

impl<M, T> Handler<ForUser<M>> for HubShard
where
    M: Message<Result = Result<T, SessionError>> + Send + 'static,
    T: Send + 'static,
    UserSession: Handler<M>,
{
    type Result = ResponseFuture<Result<Result<T, SessionError>, M>>;

    fn handle(&mut self, msg: ForUser<M>, ctx: &mut Context<Self>) -> Self::Result {
        if !msg.start && !self.holds(msg.user) {
            return Box::pin(std::future::ready(Err(msg.op)));
        }
        let Some(entry) = self.session(msg.user, ctx) else {
            return Box::pin(std::future::ready(Ok(Err(SessionError::Unavailable))));
        };
        let sent = entry.addr.send(msg.op);
        Box::pin(async move { Ok(sent.await.unwrap_or(Err(SessionError::Unavailable))) })
    }
}

/// Attaches a device to its user's session (see `session::Attach`); with `start` as in
/// [`ForUser`] (the device comes back when the session is held elsewhere).
#[derive(Message)]
#[rtype(result = "Result<Result<AttachAck, SessionError>, DeviceHandle>")]
pub struct AttachDevice {
    pub user: UserId,
    pub device: DeviceHandle,
    pub since: Option<u64>,
    pub start: bool,
}

impl Handler<AttachDevice> for HubShard {
    type Result = ResponseFuture<Result<Result<AttachAck, SessionError>, DeviceHandle>>;

    fn handle(&mut self, msg: AttachDevice, ctx: &mut Context<Self>) -> Self::Result {
        if !msg.start && !self.holds(msg.user) {
            return Box::pin(std::future::ready(Err(msg.device)));
        }
        let Some(entry) = self.session(msg.user, ctx) else {
            return Box::pin(std::future::ready(Ok(Err(SessionError::Unavailable))));
        };
        entry.devices.insert(msg.device.key);
        Self::cancel_idle(entry, ctx);
        let sent = entry.addr.send(session::Attach {
            device: msg.device,
            since: msg.since,
        });
        Box::pin(async move { Ok(sent.await.unwrap_or(Err(SessionError::Unavailable))) })
    }
}

/// A device's socket closed (or it was dropped as too slow); answers whether the user's
/// session runs in this shard (if not, it is held elsewhere or gone).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct DetachDevice {
    pub user: UserId,
    pub device: DeviceKey,
}

impl Handler<DetachDevice> for HubShard {
    type Result = bool;

    fn handle(&mut self, msg: DetachDevice, ctx: &mut Context<Self>) -> bool {
        let Some(entry) = self.sessions.get_mut(&msg.user) else {
            return false;
        };
        if entry.devices.remove(&msg.device) {
            entry.addr.do_send(session::Detach { device: msg.device });
        }
        if entry.devices.is_empty() {
            self.schedule_idle(msg.user, ctx);
        }
        true
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

/// Ends one user's session here for good (the account is being erased): its devices
/// close with 1001, it persists and stops, and none starts again; answers once nothing of
/// it is left to write (also when it was already stopping).
#[derive(Message)]
#[rtype(result = "()")]
pub struct EndSession {
    pub user: UserId,
}

impl Handler<EndSession> for HubShard {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: EndSession, _: &mut Context<Self>) -> Self::Result {
        self.erased.retain(|_, at| at.elapsed() < ERASED_FOR);
        self.erased.insert(msg.user, std::time::Instant::now());
        let mut done = Vec::new();
        let mut holds = Vec::new();
        if let Some(entry) = self.sessions.remove(&msg.user) {
            let (tx, rx) = oneshot::channel();
            entry.addr.do_send(session::Drain { done: tx });
            done.push(rx.map(|_| ()).boxed());
            holds.extend(entry.hold);
        }
        if let Some((_, barrier, hold)) = self.stopping.remove(&msg.user) {
            done.push(barrier.boxed());
            holds.extend(hold);
        }
        Box::pin(async move {
            futures_util::future::join_all(done).await;
            drop(holds);
        })
    }
}

/// From now on no new session starts in this shard (the node is draining).
#[derive(Message)]
#[rtype(result = "()")]
pub struct RefuseNew;

impl Handler<RefuseNew> for HubShard {
    type Result = ();

    fn handle(&mut self, _: RefuseNew, _: &mut Context<Self>) {
        self.refuse_new = true;
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

/// Answers whether the user's session here has a connected device; `None` when this
/// shard holds no session of the user (running or persisting).
#[derive(Message)]
#[rtype(result = "Option<bool>")]
pub struct Connected {
    pub user: UserId,
}

impl Handler<Connected> for HubShard {
    type Result = Option<bool>;

    fn handle(&mut self, msg: Connected, _: &mut Context<Self>) -> Option<bool> {
        match self.sessions.get(&msg.user) {
            Some(entry) => Some(!entry.devices.is_empty()),
            None => self.stopping.contains_key(&msg.user).then_some(false),
        }
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
