//! The hub: the way into users' sessions for connections, REST handlers and the bus.
//! Users are spread over shards (each its own actor on its own arbiter) by a hash of their
//! id, so one mailbox never carries the whole node. In a cluster, a user's session has one
//! holder: the hub serves users it holds and sends the rest to their holder (see `cluster`).

mod shard;

use std::sync::{Arc, OnceLock};

use actix::prelude::*;

pub use shard::HubShard;
use shard::{
    AckUserFeed, AttachDevice, BroadcastAll, CountAudience, CountSessions, DetachDevice, DrainAll,
    DrainSome, EditUserPlan, Holds, NotifyAll, NotifyUser, PublishToUser, RefuseNew,
    ReplaceUserEntitlements, Running, SessionUsers, UserPlan,
};

use crate::cluster::{
    Answer, Cluster, Holder, Op, RemoteError, Routed, Target, UserAnswer, UserOp,
};
use crate::device::{DeviceHandle, DeviceKey, family_label};
use crate::domain::UserId;
use crate::events::{EventKind, Frame, family_of};
use crate::session::{AttachAck, SessionDeps, SessionError};

/// Sends a user operation to the node holding the session: the answer, or the operation
/// back when this node should hold it.
async fn route_user(
    cluster: &Cluster,
    user: UserId,
    op: UserOp,
) -> Result<Result<(String, UserAnswer), UserOp>, SessionError> {
    match cluster.route(Target::User(user), Op::User(op)).await {
        Ok(Routed::Remote(node, Answer::User(answer))) => Ok(Ok((node, answer))),
        Ok(Routed::HoldHere(Op::User(op))) => Ok(Err(op)),
        Ok(_) => Err(SessionError::Unavailable),
        Err(RemoteError::Session(err)) => Err(err),
        Err(_) => Err(SessionError::Unavailable),
    }
}

/// A cheap-to-clone handle on every shard.
#[derive(Clone)]
pub struct Hub {
    shards: Arc<[Addr<HubShard>]>,
    /// Set once when the node joins a cluster; shared with the shards.
    cluster: Arc<OnceLock<Cluster>>,
    /// Keeps the shards' arbiters (threads) alive as long as the hub is.
    _arbiters: Arc<Vec<Arbiter>>,
}

impl Hub {
    /// Starts `shards` shards (at least one), each on its own arbiter thread.
    pub fn start(deps: SessionDeps, shards: usize) -> Hub {
        let deps = Arc::new(deps);
        let cluster = Arc::new(OnceLock::new());
        let arbiters: Vec<Arbiter> = (0..shards.max(1)).map(|_| Arbiter::new()).collect();
        let shards: Vec<Addr<HubShard>> = arbiters
            .iter()
            .map(|arbiter| {
                let deps = deps.clone();
                let cluster = cluster.clone();
                HubShard::start_in_arbiter(&arbiter.handle(), move |_| HubShard::new(deps, cluster))
            })
            .collect();
        Hub {
            shards: shards.into(),
            cluster,
            _arbiters: Arc::new(arbiters),
        }
    }

    /// From now on, users whose session is held by another node are served there.
    pub(crate) fn join_cluster(&self, cluster: Cluster) {
        let _ = self.cluster.set(cluster);
    }

    fn shard(&self, user: UserId) -> &Addr<HubShard> {
        let index = (user.as_uuid().as_u128() % self.shards.len() as u128) as usize;
        &self.shards[index]
    }

    /// Whether this node holds the user's session (running, or still persisting).
    pub async fn holds(&self, user: UserId) -> bool {
        self.shard(user).send(Holds { user }).await.unwrap_or(false)
    }

    /// Attaches a device to the user's session, replaying what it missed since `since`.
    /// In a cluster the session may be held by another node, which then sends the
    /// device's frames over the bus.
    pub async fn attach(
        &self,
        user: UserId,
        device: DeviceHandle,
        since: Option<u64>,
    ) -> Result<AttachAck, SessionError> {
        if let Some(cluster) = self.cluster.get() {
            let key = device.key;
            cluster
                .devices()
                .register(user, device.clone(), cluster.bus(), cluster.observer())
                .await;
            cluster
                .devices()
                .expect(user, key, crate::cluster::wire::USER_STREAM, since);
            if !self.serves_here(cluster, user).await {
                let op = UserOp::Attach {
                    node: cluster.node_id().to_owned(),
                    key,
                    client: device.client.clone(),
                    since,
                };
                match route_user(cluster, user, op).await {
                    Ok(Ok((node, UserAnswer::Attached(ack)))) => {
                        let stream = crate::cluster::wire::USER_STREAM;
                        cluster.devices().served(user, key, stream, &node);
                        return Ok(ack);
                    }
                    Ok(Ok(_)) => {
                        cluster.devices().unregister(user, key);
                        return Err(SessionError::Unavailable);
                    }
                    Ok(Err(_)) => {}
                    Err(err) => {
                        cluster.devices().unregister(user, key);
                        return Err(err);
                    }
                }
            }
        }
        self.attach_local(user, device, since).await
    }

    pub(crate) async fn attach_local(
        &self,
        user: UserId,
        device: DeviceHandle,
        since: Option<u64>,
    ) -> Result<AttachAck, SessionError> {
        self.shard(user)
            .send(AttachDevice {
                user,
                device,
                since,
            })
            .await
            .unwrap_or(Err(SessionError::Unavailable))
    }

    pub fn detach(&self, user: UserId, device: DeviceKey) {
        let Some(cluster) = self.cluster.get() else {
            return self.detach_local(user, device);
        };
        cluster.devices().unregister(user, device);
        let (hub, cluster) = (self.clone(), cluster.clone());
        tokio::spawn(async move {
            if hub.running(user).await {
                return hub.detach_local(user, device);
            }
            let op = UserOp::Detach {
                node: cluster.node_id().to_owned(),
                key: device,
            };
            if let Err(err) = route_user(&cluster, user, op).await {
                tracing::debug!(user_id = %user, error = %err, "detaching from another node failed");
            }
        });
    }

    /// A socket its session closed (too slow, superseded, drained). In a cluster the
    /// session may be held elsewhere and only this node knows the socket went (a frame
    /// gap closes sockets here), so it detaches like any other; alone, nothing is left.
    pub fn closed(&self, user: UserId, device: DeviceKey) {
        if self.cluster.get().is_some() {
            self.detach(user, device);
        }
    }

    pub(crate) fn detach_local(&self, user: UserId, device: DeviceKey) {
        self.shard(user).do_send(DetachDevice { user, device });
    }

    /// Whether this node serves the user itself: it holds the session and is not
    /// draining (a draining node keeps serving only sessions still running).
    async fn serves_here(&self, cluster: &Cluster, user: UserId) -> bool {
        match cluster.is_draining() {
            true => self.running(user).await,
            false => self.holds(user).await,
        }
    }

    /// Whether the user's session runs here (not merely persisting before it stops).
    pub async fn running(&self, user: UserId) -> bool {
        self.shard(user)
            .send(Running { user })
            .await
            .unwrap_or(false)
    }

    /// Carries out an operation on the user's session wherever it is held.
    async fn user_op(&self, user: UserId, op: UserOp) -> Result<UserAnswer, SessionError> {
        if let Some(cluster) = self.cluster.get()
            && !self.serves_here(cluster, user).await
        {
            match route_user(cluster, user, op).await? {
                Ok((_, answer)) => return Ok(answer),
                Err(op) => return self.local_user_op(user, op).await,
            }
        }
        self.local_user_op(user, op).await
    }

    /// Carries out an operation on the session held (or to be started) on this node.
    pub(crate) async fn local_user_op(
        &self,
        user: UserId,
        op: UserOp,
    ) -> Result<UserAnswer, SessionError> {
        let shard = self.shard(user);
        let unavailable = |_| SessionError::Unavailable;
        Ok(match op {
            UserOp::Attach {
                node,
                key,
                client,
                since,
            } => {
                let cluster = self.cluster.get().ok_or(SessionError::Unavailable)?;
                let holder = Holder::Session(user);
                let proxy = cluster.proxy(user, &node, key, holder, client);
                match self.attach_local(user, proxy, since).await {
                    Ok(ack) => UserAnswer::Attached(ack),
                    Err(err) => {
                        cluster.dismiss_proxy(holder, &node, key);
                        return Err(err);
                    }
                }
            }
            UserOp::Detach { node, key } => {
                if let Some(cluster) = self.cluster.get() {
                    cluster.dismiss_proxy(Holder::Session(user), &node, key);
                }
                self.detach_local(user, crate::cluster::ops::remote_key(&node, key));
                UserAnswer::Done
            }
            UserOp::Publish { kind, data } => UserAnswer::Seq(
                shard
                    .send(PublishToUser { user, kind, data })
                    .await
                    .map_err(unavailable)??,
            ),
            UserOp::Ack { seq } => UserAnswer::Seq(
                shard
                    .send(AckUserFeed { user, seq })
                    .await
                    .map_err(unavailable)??,
            ),
            UserOp::Plan => {
                UserAnswer::Plan(shard.send(UserPlan { user }).await.map_err(unavailable)??)
            }
            UserOp::EditPlan { command } => UserAnswer::Edited(
                shard
                    .send(EditUserPlan { user, command })
                    .await
                    .map_err(unavailable)??,
            ),
            UserOp::Entitlements { entitlements } => UserAnswer::Seq(
                shard
                    .send(ReplaceUserEntitlements { user, entitlements })
                    .await
                    .map_err(unavailable)??,
            ),
        })
    }

    /// Publishes an event to the user (starting their session if needed); answers its
    /// seq once the event is persisted.
    pub async fn publish(
        &self,
        user: UserId,
        kind: EventKind,
        data: String,
    ) -> Result<u64, SessionError> {
        let op = UserOp::Publish { kind, data };
        match self.user_op(user, op).await? {
            UserAnswer::Seq(seq) => Ok(seq),
            _ => Err(SessionError::Unavailable),
        }
    }

    pub async fn ack_feed(&self, user: UserId, seq: u64) -> Result<u64, SessionError> {
        match self.user_op(user, UserOp::Ack { seq }).await? {
            UserAnswer::Seq(seq) => Ok(seq),
            _ => Err(SessionError::Unavailable),
        }
    }

    pub async fn plan(&self, user: UserId) -> Result<Option<String>, SessionError> {
        match self.user_op(user, UserOp::Plan).await? {
            UserAnswer::Plan(plan) => Ok(plan),
            _ => Err(SessionError::Unavailable),
        }
    }

    /// Applies a plan command (see `session::PlanEditor`) to the user's plan in their
    /// session (started if needed), stores the result and tells the user's devices. The
    /// outer error is the session's, the inner one the editor's rejection.
    pub async fn edit_plan(
        &self,
        user: UserId,
        command: String,
    ) -> Result<Result<String, String>, SessionError> {
        match self.user_op(user, UserOp::EditPlan { command }).await? {
            UserAnswer::Edited(edited) => Ok(edited),
            _ => Err(SessionError::Unavailable),
        }
    }

    /// Gives the user's session (started if needed) their current entitlements and tells
    /// their devices with `entitlements.changed`; answers the event's seq.
    pub async fn replace_entitlements(
        &self,
        user: UserId,
        entitlements: Vec<crate::ports::store::Entitlement>,
    ) -> Result<u64, SessionError> {
        match self
            .user_op(user, UserOp::Entitlements { entitlements })
            .await?
        {
            UserAnswer::Seq(seq) => Ok(seq),
            _ => Err(SessionError::Unavailable),
        }
    }

    /// Sends a connection notice to the user's connected devices (on every node).
    pub fn notify_user(&self, user: UserId, frame: Frame, kind: &'static str) {
        match self.cluster.get() {
            Some(cluster) => cluster.notify_user(user, &frame, family_label(family_of(kind))),
            None => self.shard(user).do_send(NotifyUser { user, frame, kind }),
        }
    }

    /// Sends a connection notice (serialized once) to every connected device (on every
    /// node).
    pub fn notify_all(&self, frame: Frame, kind: &'static str) {
        if let Some(cluster) = self.cluster.get() {
            return cluster.notify_all(&frame, family_label(family_of(kind)));
        }
        for shard in self.shards.iter() {
            shard.do_send(NotifyAll {
                frame: frame.clone(),
                kind,
            });
        }
    }

    /// Hands a broadcast to every session with a connected device on this node; each
    /// decides whether its user is in the audience. Answers how many sessions got it.
    pub async fn broadcast(&self, broadcast: crate::session::Broadcast) -> usize {
        let sends = self
            .shards
            .iter()
            .map(|s| s.send(BroadcastAll(broadcast.clone())));
        futures_util::future::join_all(sends)
            .await
            .into_iter()
            .map(|r| r.unwrap_or(0))
            .sum()
    }

    /// How many connected users on this node are in an audience (for dry runs).
    pub async fn count_audience(
        &self,
        filter: std::sync::Arc<dyn crate::session::AudienceFilter>,
    ) -> usize {
        let asks = self
            .shards
            .iter()
            .map(|s| s.send(CountAudience(filter.clone())));
        futures_util::future::join_all(asks)
            .await
            .into_iter()
            .map(|r| r.unwrap_or(0))
            .sum()
    }

    /// Sessions held on this node.
    pub async fn session_count(&self) -> usize {
        let counts = self.shards.iter().map(|s| s.send(CountSessions));
        futures_util::future::join_all(counts)
            .await
            .into_iter()
            .map(|c| c.unwrap_or(0))
            .sum()
    }

    /// Starts no new session from now on (a clustered node beginning to drain: new
    /// sessions belong on the nodes that stay).
    pub async fn refuse_new_sessions(&self) {
        let sends = self.shards.iter().map(|s| s.send(RefuseNew));
        futures_util::future::join_all(sends).await;
    }

    /// Closes every socket of this node with 1001, `batch` at a time with up to `jitter`
    /// between batches (so reconnects spread out), then persists every session and lets
    /// go of it (graceful shutdown). In a cluster, sockets on other nodes attached to
    /// sessions held here are closed too, after their session is persisted, and reconnect
    /// to a node that holds it anew.
    pub async fn drain(&self, batch: usize, jitter: std::time::Duration) {
        if let Some(cluster) = self.cluster.get() {
            let sockets = cluster.devices().all_by_user();
            let sockets = sockets.into_iter().map(|(_, socket)| socket).collect();
            crate::cluster::close_in_batches(
                sockets,
                crate::device::close::GOING_AWAY,
                "server going away; reconnect and resume",
                batch,
                jitter,
            )
            .await;
        } else {
            // Sessions close their own sockets: drain them a batch of users at a time.
            for (index, shard) in self.shards.iter().enumerate() {
                let users = shard.send(SessionUsers).await.unwrap_or_default();
                for (round, chunk) in users.chunks(batch.max(1)).enumerate() {
                    if index + round > 0 {
                        tokio::time::sleep(crate::cluster::jitter(jitter)).await;
                    }
                    let _ = shard.send(DrainSome(chunk.to_vec())).await;
                }
            }
        }
        let drains = self.shards.iter().map(|s| s.send(DrainAll));
        futures_util::future::join_all(drains).await;
    }
}
