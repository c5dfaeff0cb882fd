//! The live registry: finds the running class actor for a class id, starting it from the
//! stored record when a class opens (waiting room or live) or changes state, and knows each
//! running class's participant count for the status endpoints.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;

use super::messages::{
    ClassPush, ClassStatus, HighFive, JoinClass, LeaveClass, ReportMetric, SendCue,
};
use super::{JoinAck, LiveClass, LiveDeps, LiveError, Sample};
use crate::device::{DeviceHandle, DeviceKey};
use crate::domain::{ClassId, LiveClassRecord, UserId};

pub struct LiveRegistry {
    deps: Arc<LiveDeps>,
    classes: HashMap<ClassId, Addr<LiveClass>>,
    participants: HashMap<ClassId, usize>,
}

impl LiveRegistry {
    fn running_or_start(
        &mut self,
        record: LiveClassRecord,
        ctx: &mut Context<Self>,
    ) -> Addr<LiveClass> {
        let deps = self.deps.clone();
        let registry = ctx.address().recipient();
        self.classes
            .entry(record.id)
            .or_insert_with(|| LiveClass::new(record, deps, registry).start())
            .clone()
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

/// A cheap-to-clone handle on the registry.
#[derive(Clone)]
pub struct Live {
    registry: Addr<LiveRegistry>,
    _arbiter: Arc<Arbiter>,
}

impl Live {
    /// Starts the registry (and so every class of this node) on an arbiter of its own.
    pub fn start(deps: LiveDeps) -> Live {
        let arbiter = Arbiter::new();
        let deps = Arc::new(deps);
        let registry = LiveRegistry::start_in_arbiter(&arbiter.handle(), move |_| LiveRegistry {
            deps,
            classes: HashMap::new(),
            participants: HashMap::new(),
        });
        Live {
            registry,
            _arbiter: Arc::new(arbiter),
        }
    }

    pub async fn join(
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
        self.registry
            .send(SendCue {
                class,
                by,
                admin,
                text,
                interval,
            })
            .await
            .unwrap_or(Err(LiveError::Unavailable))
    }

    pub async fn metric(
        &self,
        class: ClassId,
        user: UserId,
        sample: Sample,
    ) -> Result<(), LiveError> {
        self.registry
            .send(ReportMetric {
                class,
                user,
                sample,
            })
            .await
            .unwrap_or(Err(LiveError::Unavailable))
    }

    pub async fn high_five(
        &self,
        class: ClassId,
        from: UserId,
        to: UserId,
    ) -> Result<(), LiveError> {
        self.registry
            .send(HighFive { class, from, to })
            .await
            .unwrap_or(Err(LiveError::Unavailable))
    }

    /// Tells the class its stored state changed (after a REST start, end or cancel).
    pub fn changed(&self, record: LiveClassRecord) {
        self.registry.do_send(ClassPush { record });
    }

    /// Participants per running class on this node.
    pub async fn counts(&self) -> HashMap<ClassId, usize> {
        self.registry.send(Counts).await.unwrap_or_default()
    }
}
