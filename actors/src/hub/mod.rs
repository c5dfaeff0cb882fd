//! The hub: the way into users' sessions for connections, REST handlers and other nodes.
//! Users are spread over shards (each its own actor on its own arbiter) by a hash of their
//! id, so one mailbox never carries the whole node. Every session has one holder in the
//! cluster (see `cluster`): an operation goes to the local shard when this node holds the
//! session, with nothing encoded, and across the bus to the holder otherwise.
//!
//! - `shard`: the shard actor, which starts, holds and stops sessions.
//! - `ops`: the operations on a session (`Hub::call`) and how a holder carries out one
//!   that came from another node.

pub mod ops;
mod shard;

use std::sync::Arc;

use actix::prelude::*;

pub use ops::{UserOp, UserOperation};
pub use shard::HubShard;
use shard::{
    AttachDevice, BroadcastAll, CountAudience, CountSessions, DetachDevice, DrainAll, ForUser,
    Holds, RefuseNew, Running,
};

use crate::cluster::wire::USER_STREAM;
use crate::cluster::{Cluster, Routed, Target};
use crate::device::{DeviceHandle, DeviceKey, family_label};
use crate::domain::UserId;
use crate::events::{EventKind, Frame};
use crate::session::{AttachAck, SessionDeps, SessionError, UserSession};

/// A cheap-to-clone handle on every shard.
#[derive(Clone)]
pub struct Hub {
    shards: Arc<[Addr<HubShard>]>,
    cluster: Cluster,
    /// Keeps the shards' arbiters (threads) alive as long as the hub is.
    _arbiters: Arc<Vec<Arbiter>>,
}

impl Hub {
    /// Starts `shards` shards (at least one), each on its own arbiter thread, serving the
    /// sessions this node holds in `cluster`.
    pub fn start(deps: SessionDeps, shards: usize, cluster: Cluster) -> Hub {
        let deps = Arc::new(deps);
        let arbiters: Vec<Arbiter> = (0..shards.max(1)).map(|_| Arbiter::new()).collect();
        let shards: Vec<Addr<HubShard>> = arbiters
            .iter()
            .map(|arbiter| {
                let (deps, cluster) = (deps.clone(), cluster.clone());
                HubShard::start_in_arbiter(&arbiter.handle(), move |_| HubShard::new(deps, cluster))
            })
            .collect();
        Hub {
            shards: shards.into(),
            cluster,
            _arbiters: Arc::new(arbiters),
        }
    }

    fn shard(&self, user: UserId) -> &Addr<HubShard> {
        let index = (user.as_uuid().as_u128() % self.shards.len() as u128) as usize;
        &self.shards[index]
    }

    /// Carries out `op` on the user's session wherever it is held, starting it (here or
    /// on the node that should hold it) if nobody does.
    #[tracing::instrument(level = "debug", name = "session.call", skip_all, fields(op = crate::op_name::<M>()))]
    pub async fn call<M>(&self, user: UserId, op: M) -> Result<M::Answer, SessionError>
    where
        M: UserOperation,
        UserSession: actix::Handler<M>,
    {
        let start = self.cluster.starts_without_asking();
        let op = match self.shard(user).send(ForUser { user, op, start }).await {
            Ok(Ok(answer)) => return answer,
            Ok(Err(op)) => op,
            Err(_) => return Err(SessionError::Unavailable),
        };
        match self
            .cluster
            .route(Target::User(user), || ops::encode_op(&op))
            .await
        {
            Ok(Routed::Remote(_, answer)) => ops::decode_answer(&answer),
            Ok(Routed::HoldHere) => self.here(user, op).await,
            Err(_) => Err(SessionError::Unavailable),
        }
    }

    /// Whether this node holds the user's session (running, or still persisting).
    pub async fn holds(&self, user: UserId) -> bool {
        self.shard(user).send(Holds { user }).await.unwrap_or(false)
    }

    /// Whether the user has a socket connected on any node. The node holding the user's
    /// session answers (it knows every device attached to it, local or remote), so every
    /// node reaches the same answer; no session is started to find out. When the holder
    /// cannot be asked, the answer is `false`: a push too many beats a missed reminder.
    pub async fn connected(&self, user: UserId) -> bool {
        if let Ok(Some(connected)) = self.shard(user).send(shard::Connected { user }).await {
            return connected;
        }
        let encode = || crate::cluster::ops::encode(&UserOp::Presence(ops::Presence {}));
        match self.cluster.route(Target::User(user), encode).await {
            Ok(Routed::Remote(_, answer)) => ops::decode_answer(&answer).unwrap_or(false),
            Ok(Routed::HoldHere) | Err(_) => false,
        }
    }

    /// Whether a session held here has a connected device; `false` when none is held.
    pub(crate) async fn connected_here(&self, user: UserId) -> bool {
        matches!(
            self.shard(user).send(shard::Connected { user }).await,
            Ok(Some(true))
        )
    }

    /// Ends the user's session on this node for good, once it has persisted, and starts
    /// none for them again (the account is being erased: nothing may be written after).
    pub async fn end_session(&self, user: UserId) {
        let _ = self.shard(user).send(shard::EndSession { user }).await;
    }

    /// Whether the user's session runs here (not merely persisting before it stops).
    pub async fn running(&self, user: UserId) -> bool {
        self.shard(user)
            .send(Running { user })
            .await
            .unwrap_or(false)
    }

    /// Attaches a device to the user's session, replaying what it missed since `since`.
    /// The session may be held by another node, which then sends the device's frames
    /// over the bus.
    pub async fn attach(
        &self,
        user: UserId,
        device: DeviceHandle,
        since: Option<u64>,
    ) -> Result<AttachAck, SessionError> {
        let (key, client) = (device.key, device.client.clone());
        let devices = self.cluster.devices();
        devices.register(user, device.clone()).await;
        devices.expect(user, key, USER_STREAM, since);
        let start = self.cluster.starts_without_asking();
        let attach = AttachDevice {
            user,
            device,
            since,
            start,
        };
        let device = match self.shard(user).send(attach).await {
            Ok(Ok(attached)) => return self.unless_failed(user, key, attached),
            Ok(Err(device)) => device,
            Err(_) => return self.unless_failed(user, key, Err(SessionError::Unavailable)),
        };
        let remote = ops::RemoteAttach {
            node: self.cluster.node_id().to_owned(),
            key,
            client,
            since,
            batches: true,
        };
        let routed = self
            .cluster
            .route(Target::User(user), || {
                crate::cluster::ops::encode(&UserOp::Attach(remote))
            })
            .await;
        let attached = match routed {
            Ok(Routed::Remote(node, answer)) => {
                let attached = ops::decode_answer(&answer);
                if attached.is_ok() {
                    devices.served(user, key, USER_STREAM, &node);
                }
                attached
            }
            Ok(Routed::HoldHere) => self.attach_here(user, device, since).await,
            Err(_) => Err(SessionError::Unavailable),
        };
        self.unless_failed(user, key, attached)
    }

    /// A socket that could not attach is no socket of this node.
    fn unless_failed(
        &self,
        user: UserId,
        key: DeviceKey,
        attached: Result<AttachAck, SessionError>,
    ) -> Result<AttachAck, SessionError> {
        if attached.is_err() {
            self.cluster.devices().unregister(user, key);
        }
        attached
    }

    /// Attaches a device to the session held (or started) on this node.
    async fn attach_here(
        &self,
        user: UserId,
        device: DeviceHandle,
        since: Option<u64>,
    ) -> Result<AttachAck, SessionError> {
        let attach = AttachDevice {
            user,
            device,
            since,
            start: true,
        };
        match self.shard(user).send(attach).await {
            Ok(Ok(attached)) => attached,
            Ok(Err(_)) | Err(_) => Err(SessionError::Unavailable),
        }
    }

    /// A socket closed: it leaves the user's session, here or on the node holding it.
    pub fn detach(&self, user: UserId, device: DeviceKey) {
        self.cluster.devices().unregister(user, device);
        let hub = self.clone();
        let detached = self.shard(user).send(DetachDevice { user, device });
        tokio::spawn(async move {
            if detached.await.unwrap_or(false) || hub.cluster.starts_without_asking() {
                return;
            }
            let remote = ops::RemoteDetach {
                node: hub.cluster.node_id().to_owned(),
                key: device,
            };
            let routed = hub
                .cluster
                .route(Target::User(user), || {
                    crate::cluster::ops::encode(&UserOp::Detach(remote))
                })
                .await;
            if let Err(err) = routed {
                tracing::debug!(user_id = %user, error = %err, "detaching from another node failed");
            }
        });
    }

    /// A socket its session closed (too slow, superseded, drained): the session forgot it
    /// already; the node lets go of it like of any other.
    pub fn closed(&self, user: UserId, device: DeviceKey) {
        self.detach(user, device);
    }

    /// Detaches a socket from the session held here, if any.
    pub(crate) fn detach_here(&self, user: UserId, device: DeviceKey) {
        self.shard(user).do_send(DetachDevice { user, device });
    }

    /// Publishes an event to the user (starting their session if needed); answers its
    /// seq once the event is persisted.
    pub async fn publish(
        &self,
        user: UserId,
        kind: EventKind,
        data: String,
    ) -> Result<u64, SessionError> {
        self.call(user, crate::session::Publish { kind, data })
            .await
    }

    pub async fn ack_feed(&self, user: UserId, seq: u64) -> Result<u64, SessionError> {
        self.call(user, crate::session::AckFeed { seq }).await
    }

    pub async fn plan(&self, user: UserId) -> Result<Option<String>, SessionError> {
        self.call(user, crate::session::GetPlan).await
    }

    /// Applies a plan command (see `session::PlanEditor`) to the user's plan in their
    /// session (started if needed), stores the result and tells the user's devices. The
    /// outer error is the session's, the inner one the editor's rejection.
    pub async fn edit_plan(
        &self,
        user: UserId,
        command: String,
    ) -> Result<Result<String, String>, SessionError> {
        self.call(user, crate::session::EditPlan { command }).await
    }

    /// Gives the user's session (started if needed) their current entitlements and tells
    /// their devices with `entitlements.changed`; answers the event's seq.
    pub async fn replace_entitlements(
        &self,
        user: UserId,
        entitlements: Vec<crate::ports::store::Entitlement>,
    ) -> Result<u64, SessionError> {
        self.call(user, crate::session::ReplaceEntitlements { entitlements })
            .await
    }

    /// Sends a connection notice to the user's connected devices (on every node).
    pub fn notify_user(&self, user: UserId, frame: Frame, kind: &EventKind) {
        self.cluster
            .notify_user(user, &frame, family_label(kind.family()));
    }

    /// Sends a connection notice (serialized once) to every connected device (on every
    /// node).
    pub fn notify_all(&self, frame: Frame, kind: &EventKind) {
        self.cluster.notify_all(&frame, family_label(kind.family()));
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

    /// Starts no new session from now on (the node is draining: new sessions belong on
    /// the nodes that stay).
    pub async fn refuse_new_sessions(&self) {
        let sends = self.shards.iter().map(|s| s.send(RefuseNew));
        futures_util::future::join_all(sends).await;
    }

    /// Closes every socket of this node with 1001, `batch` at a time with up to `jitter`
    /// between batches (so reconnects spread out), then persists every session and lets
    /// go of it (graceful shutdown). Sockets on other nodes attached to sessions held here
    /// are closed too, after their session is persisted, and reconnect to a node that
    /// holds it anew.
    pub async fn drain(&self, batch: usize, jitter: std::time::Duration) {
        let sockets = self.cluster.devices().all_by_user();
        let sockets = sockets.into_iter().map(|(_, socket)| socket).collect();
        crate::cluster::close_in_batches(
            sockets,
            crate::device::close::GOING_AWAY,
            "server going away; reconnect and resume",
            batch,
            jitter,
        )
        .await;
        let drains = self.shards.iter().map(|s| s.send(DrainAll));
        futures_util::future::join_all(drains).await;
    }
}
