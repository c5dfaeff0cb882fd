//! The live registry: finds the running class actor for a class id, starting it from the
//! stored record when a class opens (waiting room or live) or changes state, and knows each
//! running class's participant count for the status endpoints. In a cluster a class has
//! one holder: `Live` serves classes running here and sends the rest to their holder.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use actix::prelude::*;

use super::handover::{HandOver, Retire};
use super::messages::{
    ClassPush, ClassStatus, HighFive, JoinClass, LeaveClass, ReportMetric, SendCue,
};
use super::{ClassHandover, JoinAck, LiveClass, LiveDeps, LiveError, Sample};
use crate::cluster::{
    Answer, ClassAnswer, ClassOp, Cluster, HoldGuard, Holder, Op, RemoteError, Request, Routed,
    Target,
};
use crate::device::{DeviceHandle, DeviceKey};
use crate::domain::{ClassId, LiveClassRecord, UserId};

pub struct LiveRegistry {
    deps: Arc<LiveDeps>,
    cluster: Arc<OnceLock<Cluster>>,
    classes: HashMap<ClassId, Addr<LiveClass>>,
    participants: HashMap<ClassId, usize>,
    /// In a cluster: the classes this node holds answer requests while their guard lives.
    holds: HashMap<ClassId, HoldGuard>,
}

impl LiveRegistry {
    fn running_or_start(
        &mut self,
        record: LiveClassRecord,
        ctx: &mut Context<Self>,
    ) -> Addr<LiveClass> {
        if let Some(addr) = self.classes.get(&record.id) {
            return addr.clone();
        }
        let class = LiveClass::new(record, self.deps.clone(), ctx.address().recipient());
        self.install(class)
    }

    fn install(&mut self, class: LiveClass) -> Addr<LiveClass> {
        let id = class.record.id;
        if let Some(cluster) = self.cluster.get() {
            self.holds.insert(id, cluster.hold(Target::Class(id)));
        }
        let addr = class.start();
        self.classes.insert(id, addr.clone());
        addr
    }
}

impl Actor for LiveRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
    }
}

impl LiveRegistry {
    /// Forwards `msg` to the class, starting it from its stored record if it is not
    /// running (the class itself refuses what its state does not allow).
    fn load_and_forward<M, T>(
        &mut self,
        class: ClassId,
        msg: M,
    ) -> ResponseActFuture<Self, Result<T, LiveError>>
    where
        M: Message<Result = Result<T, LiveError>> + Send + 'static,
        T: Send + 'static,
        LiveClass: Handler<M>,
    {
        if let Some(addr) = self.classes.get(&class) {
            let sent = addr.send(msg);
            return Box::pin(
                async move { sent.await.unwrap_or(Err(LiveError::Unavailable)) }.into_actor(self),
            );
        }
        let store = self.deps.classes.clone();
        let load = async move { store.class(class).await };
        Box::pin(load.into_actor(self).then(move |loaded, act, ctx| {
            let reply: std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, LiveError>>>> =
                match loaded {
                    Ok(Some(record)) => {
                        let sent = act.running_or_start(record, ctx).send(msg);
                        Box::pin(async move { sent.await.unwrap_or(Err(LiveError::Unavailable)) })
                    }
                    Ok(None) => Box::pin(std::future::ready(Err(LiveError::NotFound))),
                    Err(err) => {
                        tracing::warn!(class_id = %class, error = %err, "cannot load a class");
                        Box::pin(std::future::ready(Err(LiveError::Unavailable)))
                    }
                };
            reply.into_actor(act)
        }))
    }
}

impl Handler<JoinClass> for LiveRegistry {
    type Result = ResponseActFuture<Self, Result<JoinAck, LiveError>>;

    fn handle(&mut self, msg: JoinClass, _: &mut Context<Self>) -> Self::Result {
        self.load_and_forward(msg.class, msg)
    }
}

impl Handler<SendCue> for LiveRegistry {
    type Result = ResponseActFuture<Self, Result<u64, LiveError>>;

    fn handle(&mut self, msg: SendCue, _: &mut Context<Self>) -> Self::Result {
        self.load_and_forward(msg.class, msg)
    }
}

/// Forwards a message to a running class, or answers `missing` when none runs.
macro_rules! forward {
    ($message:ty, $ok:ty, $missing:expr) => {
        impl Handler<$message> for LiveRegistry {
            type Result = ResponseFuture<Result<$ok, LiveError>>;

            fn handle(&mut self, msg: $message, _: &mut Context<Self>) -> Self::Result {
                match self.classes.get(&msg.class) {
                    Some(addr) => {
                        let sent = addr.send(msg);
                        Box::pin(async move { sent.await.unwrap_or(Err(LiveError::Unavailable)) })
                    }
                    None => Box::pin(std::future::ready(Err($missing))),
                }
            }
        }
    };
}

forward!(ReportMetric, (), LiveError::NotJoined);
forward!(HighFive, (), LiveError::NotJoined);

impl Handler<LeaveClass> for LiveRegistry {
    type Result = ();

    fn handle(&mut self, msg: LeaveClass, _: &mut Context<Self>) {
        if let Some(addr) = self.classes.get(&msg.class) {
            addr.do_send(msg);
        }
    }
}

impl Handler<ClassPush> for LiveRegistry {
    type Result = ();

    fn handle(&mut self, msg: ClassPush, ctx: &mut Context<Self>) {
        let record = msg.record.clone();
        self.running_or_start(record, ctx).do_send(msg);
    }
}

impl Handler<ClassStatus> for LiveRegistry {
    type Result = ();

    fn handle(&mut self, msg: ClassStatus, _: &mut Context<Self>) {
        if msg.stopped {
            self.classes.remove(&msg.class);
            self.participants.remove(&msg.class);
            self.holds.remove(&msg.class);
        } else {
            self.participants.insert(msg.class, msg.participants);
        }
    }
}

/// Answers the participant count of every running class.
#[derive(Message)]
#[rtype(result = "HashMap<ClassId, usize>")]
pub struct Counts;

impl Handler<Counts> for LiveRegistry {
    type Result = MessageResult<Counts>;

    fn handle(&mut self, _: Counts, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.participants.clone())
    }
}

/// Answers how many classes run on this node.
#[derive(Message)]
#[rtype(result = "usize")]
struct RunningCount;

impl Handler<RunningCount> for LiveRegistry {
    type Result = usize;

    fn handle(&mut self, _: RunningCount, _: &mut Context<Self>) -> usize {
        self.classes.len()
    }
}

/// Answers whether a class runs on this node.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Running(pub ClassId);

impl Handler<Running> for LiveRegistry {
    type Result = bool;

    fn handle(&mut self, msg: Running, _: &mut Context<Self>) -> bool {
        self.classes.contains_key(&msg.0)
    }
}

/// Starts a class handed over by a draining node (unless it already runs here).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Adopt(pub ClassHandover);

impl Handler<Adopt> for LiveRegistry {
    type Result = ();

    fn handle(&mut self, msg: Adopt, ctx: &mut Context<Self>) {
        let id = msg.0.record.id;
        if self.classes.contains_key(&id) {
            tracing::warn!(class_id = %id, "a handed-over class already runs here; keeping it");
            return;
        }
        let class = LiveClass::adopted(msg.0, self.deps.clone(), ctx.address().recipient());
        self.install(class);
    }
}

/// Lets go of every class (draining): answers them with their holds; requests for them
/// are refused as busy from now on, until their new owner has them.
#[derive(Message)]
#[rtype(result = "Vec<(Addr<LiveClass>, Option<HoldGuard>)>")]
struct ReleaseAll;

impl Handler<ReleaseAll> for LiveRegistry {
    type Result = MessageResult<ReleaseAll>;

    fn handle(&mut self, _: ReleaseAll, _: &mut Context<Self>) -> Self::Result {
        let released = self
            .classes
            .drain()
            .map(|(id, addr)| (addr, self.holds.remove(&id)))
            .collect();
        MessageResult(released)
    }
}

/// A cheap-to-clone handle on the registry.
#[derive(Clone)]
pub struct Live {
    registry: Addr<LiveRegistry>,
    cluster: Arc<OnceLock<Cluster>>,
    _arbiter: Arc<Arbiter>,
}

/// Sends a class operation to the node holding the class: the answer, or the operation
/// back when this node should hold it.
async fn route_class(
    cluster: &Cluster,
    class: ClassId,
    op: ClassOp,
) -> Result<Result<(String, ClassAnswer), ClassOp>, LiveError> {
    match cluster.route(Target::Class(class), Op::Class(op)).await {
        Ok(Routed::Remote(node, Answer::Class(answer))) => Ok(Ok((node, answer))),
        Ok(Routed::HoldHere(Op::Class(op))) => Ok(Err(op)),
        Ok(_) => Err(LiveError::Unavailable),
        Err(RemoteError::Live(err)) => Err(err),
        Err(_) => Err(LiveError::Unavailable),
    }
}

impl Live {
    /// Starts the registry (and so every class of this node) on an arbiter of its own.
    pub fn start(deps: LiveDeps) -> Live {
        let arbiter = Arbiter::new();
        let deps = Arc::new(deps);
        let cluster = Arc::new(OnceLock::new());
        let shared = cluster.clone();
        let registry = LiveRegistry::start_in_arbiter(&arbiter.handle(), move |_| LiveRegistry {
            deps,
            cluster: shared,
            classes: HashMap::new(),
            participants: HashMap::new(),
            holds: HashMap::new(),
        });
        Live {
            registry,
            cluster,
            _arbiter: Arc::new(arbiter),
        }
    }

    /// From now on, classes held by another node are served there.
    pub(crate) fn join_cluster(&self, cluster: Cluster) {
        let _ = self.cluster.set(cluster);
    }

    /// How many classes run (are held) on this node.
    pub async fn running_count(&self) -> usize {
        self.registry.send(RunningCount).await.unwrap_or(0)
    }

    /// Whether the class runs on this node.
    pub async fn running(&self, class: ClassId) -> bool {
        self.registry.send(Running(class)).await.unwrap_or(false)
    }

    /// The cluster, when the class is held (or to be held) by another node.
    async fn elsewhere(&self, class: ClassId) -> Option<&Cluster> {
        let cluster = self.cluster.get()?;
        (!self.running(class).await).then_some(cluster)
    }

    /// Carries out an operation on a class anywhere in the cluster.
    async fn class_op(&self, class: ClassId, op: ClassOp) -> Result<ClassAnswer, LiveError> {
        match self.elsewhere(class).await {
            Some(cluster) => match route_class(cluster, class, op).await? {
                Ok((_, answer)) => Ok(answer),
                Err(op) => self.local_class_op(class, op).await,
            },
            None => self.local_class_op(class, op).await,
        }
    }

    /// Carries out an operation on a class held (or to be started) on this node.
    pub(crate) async fn local_class_op(
        &self,
        class: ClassId,
        op: ClassOp,
    ) -> Result<ClassAnswer, LiveError> {
        let unavailable = |_| LiveError::Unavailable;
        Ok(match op {
            ClassOp::Join {
                node,
                key,
                user,
                since,
                premium_allowed,
            } => {
                let cluster = self.cluster.get().ok_or(LiveError::Unavailable)?;
                let holder = Holder::Class(class, user);
                let device = cluster.proxy(user, &node, key, holder, Default::default());
                match self
                    .join_local(class, user, device, since, premium_allowed)
                    .await
                {
                    Ok(ack) => ClassAnswer::Joined(ack),
                    Err(err) => {
                        cluster.dismiss_proxy(holder, &node, key);
                        return Err(err);
                    }
                }
            }
            ClassOp::Leave { node, key, user } => {
                if let Some(cluster) = self.cluster.get() {
                    cluster.dismiss_proxy(Holder::Class(class, user), &node, key);
                }
                self.leave_local(class, user, crate::cluster::ops::remote_key(&node, key));
                ClassAnswer::Done
            }
            ClassOp::Cue {
                by,
                admin,
                text,
                interval,
            } => ClassAnswer::Seq(
                self.registry
                    .send(SendCue {
                        class,
                        by,
                        admin,
                        text,
                        interval,
                    })
                    .await
                    .map_err(unavailable)??,
            ),
            ClassOp::Metric { user, sample } => {
                self.registry
                    .send(ReportMetric {
                        class,
                        user,
                        sample,
                    })
                    .await
                    .map_err(unavailable)??;
                ClassAnswer::Done
            }
            ClassOp::HighFive { from, to } => {
                self.registry
                    .send(HighFive { class, from, to })
                    .await
                    .map_err(unavailable)??;
                ClassAnswer::Done
            }
            ClassOp::Push { record } => {
                self.registry.do_send(ClassPush { record });
                ClassAnswer::Done
            }
            ClassOp::Adopt { handover } => {
                self.registry.do_send(Adopt(handover));
                ClassAnswer::Done
            }
        })
    }

    pub async fn join(
        &self,
        class: ClassId,
        user: UserId,
        device: DeviceHandle,
        since: Option<u64>,
        premium_allowed: bool,
    ) -> Result<JoinAck, LiveError> {
        if let Some(cluster) = self.elsewhere(class).await {
            // Frames may arrive before the answer: expect them first.
            cluster
                .devices()
                .expect(user, device.key, &class.to_string(), since);
            let op = ClassOp::Join {
                node: cluster.node_id().to_owned(),
                key: device.key,
                user,
                since,
                premium_allowed,
            };
            match route_class(cluster, class, op).await? {
                Ok((node, ClassAnswer::Joined(ack))) => {
                    cluster
                        .devices()
                        .served(user, device.key, &class.to_string(), &node);
                    return Ok(ack);
                }
                Ok(_) => return Err(LiveError::Unavailable),
                Err(_) => {}
            }
        }
        self.join_local(class, user, device, since, premium_allowed)
            .await
    }

    async fn join_local(
        &self,
        class: ClassId,
        user: UserId,
        device: DeviceHandle,
        since: Option<u64>,
        premium_allowed: bool,
    ) -> Result<JoinAck, LiveError> {
        self.registry
            .send(JoinClass {
                class,
                user,
                device,
                since,
                premium_allowed,
            })
            .await
            .unwrap_or(Err(LiveError::Unavailable))
    }

    pub fn leave(&self, class: ClassId, user: UserId, device: DeviceKey) {
        let Some(cluster) = self.cluster.get().cloned() else {
            return self.leave_local(class, user, device);
        };
        let live = self.clone();
        tokio::spawn(async move {
            if live.running(class).await {
                return live.leave_local(class, user, device);
            }
            let op = ClassOp::Leave {
                node: cluster.node_id().to_owned(),
                key: device,
                user,
            };
            if let Err(err) = route_class(&cluster, class, op).await {
                tracing::debug!(class_id = %class, error = %err, "leaving a class on another node failed");
            }
        });
    }

    pub(crate) fn leave_local(&self, class: ClassId, user: UserId, device: DeviceKey) {
        self.registry.do_send(LeaveClass {
            class,
            user,
            device,
        });
    }

    pub async fn cue(
        &self,
        class: ClassId,
        by: UserId,
        admin: bool,
        text: String,
        interval: Option<serde_json::Value>,
    ) -> Result<u64, LiveError> {
        let op = ClassOp::Cue {
            by,
            admin,
            text,
            interval,
        };
        match self.class_op(class, op).await? {
            ClassAnswer::Seq(seq) => Ok(seq),
            _ => Err(LiveError::Unavailable),
        }
    }

    pub async fn metric(
        &self,
        class: ClassId,
        user: UserId,
        sample: Sample,
    ) -> Result<(), LiveError> {
        self.class_op(class, ClassOp::Metric { user, sample })
            .await
            .map(|_| ())
    }

    pub async fn high_five(
        &self,
        class: ClassId,
        from: UserId,
        to: UserId,
    ) -> Result<(), LiveError> {
        self.class_op(class, ClassOp::HighFive { from, to })
            .await
            .map(|_| ())
    }

    /// Tells the class its stored state changed (after a REST start, end or cancel), on
    /// whichever node holds it; answers once the class has it in its mailbox, so what the
    /// caller does next (a cue) comes after it.
    pub async fn changed(&self, record: LiveClassRecord) -> Result<(), LiveError> {
        self.class_op(record.id, ClassOp::Push { record })
            .await
            .map(|_| ())
    }

    /// Draining: hands every class held here to its new owner, then closes their
    /// participants' sockets (1001) so they join again there.
    pub async fn hand_over(&self) {
        let Some(cluster) = self.cluster.get() else {
            return;
        };
        let released = self.registry.send(ReleaseAll).await.unwrap_or_default();
        // All at once: each may wait for its owner up to `bus.retry_ms`, and the sessions
        // still have to persist within the same grace period.
        let handovers = released.into_iter().map(|(addr, hold)| async move {
            let Ok(handover) = addr.send(HandOver).await else {
                return;
            };
            let class = handover.record.id;
            let request = Request {
                target: Target::Class(class),
                op: Op::Class(ClassOp::Adopt { handover }),
            };
            match cluster.ask_owner(request).await {
                Ok(_) => tracing::info!(class_id = %class, "class handed over"),
                Err(err) => {
                    tracing::warn!(class_id = %class, error = %err, "cannot hand a class over; it restarts elsewhere")
                }
            }
            addr.do_send(Retire);
            drop(hold);
        });
        futures_util::future::join_all(handovers).await;
    }

    /// Participants per running class on this node.
    pub async fn counts(&self) -> HashMap<ClassId, usize> {
        self.registry.send(Counts).await.unwrap_or_default()
    }
}
