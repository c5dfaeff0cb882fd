//! The live registry actor: finds the running class actor for a class id, starting it
//! from the stored record when a class opens (waiting room or live) or changes state, and
//! knows each running class's participant count for the status endpoints. Operations
//! reach a class through one generic message, [`ForClass`]; one that may not start a
//! class gives the operation back when the class does not run here, for [`super::Live`]
//! to send to the class's holder.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use serde::{Deserialize, Serialize};

use super::handover::{HandOver, Retire};
use super::messages::{ClassStatus, LeaveClass};
use super::ops::ForClassOp;
use super::{ClassHandover, LiveClass, LiveDeps, LiveError};
use crate::cluster::{Cluster, HoldGuard, Target};
use crate::domain::{ClassId, LiveClassRecord};

pub struct LiveRegistry {
    deps: Arc<LiveDeps>,
    cluster: Cluster,
    classes: HashMap<ClassId, Addr<LiveClass>>,
    participants: HashMap<ClassId, usize>,
    /// The classes this node holds answer requests while their guard lives.
    holds: HashMap<ClassId, HoldGuard>,
}

impl LiveRegistry {
    pub fn new(deps: Arc<LiveDeps>, cluster: Cluster) -> Self {
        LiveRegistry {
            deps,
            cluster,
            classes: HashMap::new(),
            participants: HashMap::new(),
            holds: HashMap::new(),
        }
    }

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
        if let Some(hold) = self.cluster.hold(Target::Class(id)) {
            self.holds.insert(id, hold);
        }
        let addr = class.start();
        self.classes.insert(id, addr.clone());
        addr
    }

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

impl Actor for LiveRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
    }
}

/// An operation on a class (see `live::ops`). With `start`, a class that does not run
/// here is started (or answers the operation's `MISSING` refusal); without, the
/// operation comes back (`Err`).
pub struct ForClass<M> {
    pub op: M,
    pub start: bool,
}

impl<M, T> Message for ForClass<M>
where
    M: Message<Result = Result<T, LiveError>> + Send + 'static,
    T: Send + 'static,
{
    type Result = Result<Result<T, LiveError>, M>;
}

impl<M, T> Handler<ForClass<M>> for LiveRegistry
where
    M: Message<Result = Result<T, LiveError>> + ForClassOp + Send + 'static,
    T: Send + 'static,
    LiveClass: Handler<M>,
{
    type Result = ResponseActFuture<Self, Result<Result<T, LiveError>, M>>;

    fn handle(&mut self, msg: ForClass<M>, ctx: &mut Context<Self>) -> Self::Result {
        let class = msg.op.class();
        let running = self.classes.get(&class).cloned();
        let answer = |result: Result<T, LiveError>| Ok(result);
        match running {
            Some(addr) => {
                let sent = addr.send(msg.op);
                Box::pin(
                    async move { answer(sent.await.unwrap_or(Err(LiveError::Unavailable))) }
                        .into_actor(self),
                )
            }
            None if !msg.start => Box::pin(std::future::ready(Err(msg.op)).into_actor(self)),
            None => match (M::MISSING, msg.op.record().cloned()) {
                (Some(missing), _) => {
                    Box::pin(std::future::ready(answer(Err(missing))).into_actor(self))
                }
                (None, Some(record)) => {
                    let sent = self.running_or_start(record, ctx).send(msg.op);
                    Box::pin(
                        async move { answer(sent.await.unwrap_or(Err(LiveError::Unavailable))) }
                            .into_actor(self),
                    )
                }
                (None, None) => Box::pin(
                    self.load_and_forward(class, msg.op)
                        .map(move |result, _, _| answer(result)),
                ),
            },
        }
    }
}

/// Takes a socket out of a class running here; answers whether it runs here.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Leave(pub LeaveClass);

impl Handler<Leave> for LiveRegistry {
    type Result = bool;

    fn handle(&mut self, msg: Leave, _: &mut Context<Self>) -> bool {
        match self.classes.get(&msg.0.class) {
            Some(addr) => {
                addr.do_send(msg.0);
                true
            }
            None => false,
        }
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
pub struct RunningCount;

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
#[derive(Message, Debug, Serialize, Deserialize)]
#[rtype(result = "Result<(), LiveError>")]
pub struct Adopt(pub ClassHandover);

impl Handler<Adopt> for LiveRegistry {
    type Result = Result<(), LiveError>;

    fn handle(&mut self, msg: Adopt, ctx: &mut Context<Self>) -> Self::Result {
        let id = msg.0.record.id;
        if self.classes.contains_key(&id) {
            tracing::warn!(class_id = %id, "a handed-over class already runs here; keeping it");
            return Ok(());
        }
        let class = LiveClass::adopted(msg.0, self.deps.clone(), ctx.address().recipient());
        self.install(class);
        Ok(())
    }
}

/// Lets go of every class (draining): answers them with their holds; requests for them
/// are refused as busy from now on, until their new owner has them.
#[derive(Message)]
#[rtype(result = "Vec<(Addr<LiveClass>, Option<HoldGuard>)>")]
pub struct ReleaseAll;

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

/// The class's handover for its new owner (the class runs on until `Retire`).
pub async fn handover_of(class: &Addr<LiveClass>) -> Option<ClassHandover> {
    class.send(HandOver).await.ok()
}

/// The class goes on elsewhere: its participants reconnect there.
pub fn retire(class: &Addr<LiveClass>) {
    class.do_send(Retire);
}
