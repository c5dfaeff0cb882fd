//! [`Live`]: the cheap-to-clone way into live classes for sockets, REST handlers and
//! other nodes. A class has one holder in the cluster: an operation goes to this node's
//! registry when the class runs here, with nothing encoded, and across the bus to the
//! holder otherwise (see `ops`).

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;

use super::messages::{
    ChooseView, ClassPush, CountParticipants, HighFive, IntervalAck, IntervalAction,
    IntervalControl, JoinClass, LeaveClass, ReportMetric, RosterAnswer, RosterPage, SendCue,
};
use super::ops::{self, ClassOp, ClassOperation, RemoteLeave};
use super::registry::{self, Adopt, Counts, ForClass, Leave, LiveRegistry, ReleaseAll, Running};
use super::{JoinAck, LiveClass, LiveDeps, LiveError, Sample, View};
use crate::cluster::{Cluster, Routed, Target};
use crate::device::{DeviceHandle, DeviceKey};
use crate::domain::{ClassId, LiveClassRecord, UserId};
use crate::events::data::live::CueInterval;

/// A cheap-to-clone handle on the registry.
#[derive(Clone)]
pub struct Live {
    registry: Addr<LiveRegistry>,
    pub(super) cluster: Cluster,
    _arbiter: Arc<Arbiter>,
}

impl Live {
    /// Starts the registry (and so every class of this node) on an arbiter of its own,
    /// serving the classes this node holds in `cluster`.
    pub fn start(deps: LiveDeps, cluster: Cluster) -> Live {
        let arbiter = Arbiter::new();
        let deps = Arc::new(deps);
        let shared = cluster.clone();
        let registry = LiveRegistry::start_in_arbiter(&arbiter.handle(), move |_| {
            LiveRegistry::new(deps, shared)
        });
        Live {
            registry,
            cluster,
            _arbiter: Arc::new(arbiter),
        }
    }

    /// How many classes run (are held) on this node.
    pub async fn running_count(&self) -> usize {
        self.registry
            .send(registry::RunningCount)
            .await
            .unwrap_or(0)
    }

    /// Whether the class runs on this node.
    pub async fn running(&self, class: ClassId) -> bool {
        self.registry.send(Running(class)).await.unwrap_or(false)
    }

    /// Carries out `op` on its class wherever it runs, starting it (here or on the node
    /// that should hold it) if nobody does.
    #[tracing::instrument(level = "debug", name = "class.call", skip_all, fields(op = crate::op_name::<M>()))]
    pub async fn call<M>(&self, op: M) -> Result<M::Answer, LiveError>
    where
        M: ClassOperation,
        LiveClass: Handler<M>,
    {
        let class = op.class();
        let start = self.cluster.starts_without_asking();
        let op = match self.registry.send(ForClass { op, start }).await {
            Ok(Ok(answer)) => return answer,
            Ok(Err(op)) => op,
            Err(_) => return Err(LiveError::Unavailable),
        };
        match self
            .cluster
            .route(Target::Class(class), || ops::encode_op(&op))
            .await
        {
            Ok(Routed::Remote(_, answer)) => ops::decode_answer(&answer),
            Ok(Routed::HoldHere) => self.here(op).await,
            Err(_) => Err(LiveError::Unavailable),
        }
    }

    /// Carries out `op` on its class on this node, starting the class if needed.
    pub(super) async fn here<M, T>(&self, op: M) -> Result<T, LiveError>
    where
        M: Message<Result = Result<T, LiveError>> + ops::ForClassOp + Send + 'static,
        T: Send + 'static,
        LiveClass: Handler<M>,
    {
        match self.registry.send(ForClass { op, start: true }).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) | Err(_) => Err(LiveError::Unavailable),
        }
    }

    /// Starts a class handed over by a draining node.
    pub(super) async fn adopt(&self, adopt: Adopt) -> Result<(), LiveError> {
        self.registry
            .send(adopt)
            .await
            .unwrap_or(Err(LiveError::Unavailable))
    }

    pub async fn join(
        &self,
        class: ClassId,
        user: UserId,
        device: DeviceHandle,
        since: Option<u64>,
        premium_allowed: bool,
        view: View,
    ) -> Result<JoinAck, LiveError> {
        let key = device.key;
        let devices = self.cluster.devices();
        // Frames may arrive before the answer: expect them first.
        devices.expect(user, key, &class.to_string(), since);
        let join = JoinClass {
            class,
            user,
            device,
            since,
            premium_allowed,
            view,
        };
        let start = self.cluster.starts_without_asking();
        let join = match self.registry.send(ForClass { op: join, start }).await {
            Ok(Ok(answer)) => return answer,
            Ok(Err(join)) => join,
            Err(_) => return Err(LiveError::Unavailable),
        };
        let remote = ops::RemoteJoin {
            node: self.cluster.node_id().to_owned(),
            key,
            user,
            since,
            premium_allowed,
            view,
            batched: true,
            batches: true,
        };
        let routed = self
            .cluster
            .route(Target::Class(class), || {
                crate::cluster::ops::encode(&ClassOp::Join(remote))
            })
            .await;
        match routed {
            Ok(Routed::Remote(node, answer)) => {
                let joined = ops::decode_answer(&answer);
                if joined.is_ok() {
                    devices.served(user, key, &class.to_string(), &node);
                }
                joined
            }
            Ok(Routed::HoldHere) => self.here(join).await,
            Err(_) => Err(LiveError::Unavailable),
        }
    }

    /// A socket leaves a class (`live.leave`, or it closed), here or on its holder.
    pub fn leave(&self, class: ClassId, user: UserId, device: DeviceKey) {
        let left = self.registry.send(Leave(LeaveClass {
            class,
            user,
            device,
        }));
        let cluster = self.cluster.clone();
        tokio::spawn(async move {
            if left.await.unwrap_or(false) || cluster.starts_without_asking() {
                return;
            }
            let remote = RemoteLeave {
                node: cluster.node_id().to_owned(),
                key: device,
                user,
            };
            let routed = cluster
                .route(Target::Class(class), || {
                    crate::cluster::ops::encode(&ClassOp::Leave(remote))
                })
                .await;
            if let Err(err) = routed {
                tracing::debug!(class_id = %class, error = %err, "leaving a class on another node failed");
            }
        });
    }

    /// Takes a socket out of a class running here, if it runs here.
    pub(crate) fn leave_here(&self, class: ClassId, user: UserId, device: DeviceKey) {
        self.registry.do_send(Leave(LeaveClass {
            class,
            user,
            device,
        }));
    }

    pub async fn cue(
        &self,
        class: ClassId,
        by: UserId,
        admin: bool,
        text: String,
        interval: Option<CueInterval>,
    ) -> Result<u64, LiveError> {
        self.call(SendCue {
            class,
            by,
            admin,
            text,
            interval,
        })
        .await
    }

    pub async fn metric(
        &self,
        class: ClassId,
        user: UserId,
        sample: Sample,
    ) -> Result<(), LiveError> {
        self.call(ReportMetric {
            class,
            user,
            sample,
        })
        .await
    }

    pub async fn high_five(
        &self,
        class: ClassId,
        from: UserId,
        to: UserId,
    ) -> Result<(), LiveError> {
        self.call(HighFive { class, from, to }).await
    }

    /// Tells the class its stored state changed (after a REST start, end or cancel), on
    /// whichever node holds it; answers once the class has taken it, so what the caller
    /// does next (a cue) comes after it.
    pub async fn changed(&self, record: LiveClassRecord) -> Result<(), LiveError> {
        self.call(ClassPush { record }).await
    }

    /// Draining: hands every class held here to its new owner, then closes their
    /// participants' sockets (1001) so they join again there. Alone, a class has nobody
    /// to go to: it ends with the node, and its participants come back to it.
    pub async fn hand_over(&self) {
        let released = self.registry.send(ReleaseAll).await.unwrap_or_default();
        let cluster = &self.cluster;
        // All at once: each may wait for its owner up to `bus.retry_ms`, and the sessions
        // still have to persist within the same grace period.
        let handovers = released.into_iter().map(|(addr, hold)| async move {
            let Some(handover) = registry::handover_of(&addr).await else {
                return;
            };
            let class = handover.record.id;
            let op = crate::cluster::ops::encode(&ClassOp::Adopt(Adopt(handover)));
            match cluster.ask_owner(Target::Class(class), op).await {
                Ok(_) => tracing::info!(class_id = %class, "class handed over"),
                Err(err) => {
                    tracing::info!(class_id = %class, error = %err, "no node took the class; it starts again wherever it is next asked for")
                }
            }
            registry::retire(&addr);
            drop(hold);
        });
        futures_util::future::join_all(handovers).await;
    }

    /// Members in the class now, wherever it runs (0 when it does not run).
    pub async fn participants(&self, class: ClassId) -> usize {
        self.call(CountParticipants { class }).await.unwrap_or(0)
    }

    /// A page of the class's roster as `viewer` sees it.
    pub async fn roster(
        &self,
        class: ClassId,
        viewer: UserId,
        cursor: Option<String>,
        limit: usize,
    ) -> Result<RosterAnswer, LiveError> {
        self.call(RosterPage {
            class,
            viewer,
            cursor,
            limit,
        })
        .await
    }

    /// The member watches another leaderboard view.
    pub async fn choose_view(
        &self,
        class: ClassId,
        user: UserId,
        view: View,
    ) -> Result<(), LiveError> {
        self.call(ChooseView { class, user, view }).await
    }

    /// The coach starts, skips or extends the class's current interval.
    pub async fn interval(
        &self,
        class: ClassId,
        by: UserId,
        admin: bool,
        action: IntervalAction,
    ) -> Result<IntervalAck, LiveError> {
        self.call(IntervalControl {
            class,
            by,
            admin,
            action,
        })
        .await
    }

    /// Participants per running class on this node.
    pub async fn counts(&self) -> HashMap<ClassId, usize> {
        self.registry.send(Counts).await.unwrap_or_default()
    }
}
