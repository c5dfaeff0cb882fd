//! One engine, whatever the scale: a node is its cluster membership, its hub (sessions)
//! and its live registry (classes), built in that order and served together. The cluster
//! carries out other nodes' requests through [`Node`]'s implementation of
//! [`LocalNode`]; nothing here asks how many nodes there are.

use std::sync::{Arc, OnceLock};

use serde_json::value::RawValue;
use uuid::Uuid;

use crate::cluster::{Cluster, Holder, LocalNode, RemoteError, Target};
use crate::device::DeviceKey;
use crate::domain::UserId;
use crate::hub::Hub;
use crate::live::Live;
use crate::ports::bus::BusError;

/// What holds the waiting rooms of drops on this node (the application's drops service,
/// which the engine does not know): carries out an operation on a room from another node.
#[async_trait::async_trait]
pub trait RoomHost: Send + Sync + 'static {
    async fn execute(&self, drop: Uuid, op: &RawValue) -> Result<Box<RawValue>, RemoteError>;
}

/// The engine of one node; cheap to clone.
#[derive(Clone)]
pub struct Node {
    pub cluster: Cluster,
    pub hub: Hub,
    pub live: Live,
    /// Set once the drops service is built (after the node): until then room requests
    /// are refused as busy, and their senders retry.
    rooms: Arc<OnceLock<Arc<dyn RoomHost>>>,
}

impl Node {
    /// Serves the node's part of the cluster: requests from other nodes, heartbeats,
    /// broadcasts. Answers once the subscriptions are active.
    pub async fn serve(cluster: Cluster, hub: Hub, live: Live) -> Result<Node, BusError> {
        let node = Node {
            cluster,
            hub,
            live,
            rooms: Arc::new(OnceLock::new()),
        };
        node.cluster.serve(Arc::new(node.clone())).await?;
        Ok(node)
    }

    /// Hands room requests from other nodes to `host` from now on (once).
    pub fn host_rooms(&self, host: Arc<dyn RoomHost>) {
        let _ = self.rooms.set(host);
    }
}

#[async_trait::async_trait]
impl LocalNode for Node {
    async fn execute(&self, target: Target, op: &RawValue) -> Result<Box<RawValue>, RemoteError> {
        match target {
            Target::User(user) => self.hub.execute(user, op).await,
            Target::Class(class) => self.live.execute(class, op).await,
            Target::Room(drop) => match self.rooms.get() {
                Some(host) => host.execute(drop, op).await,
                None => Err(RemoteError::Busy),
            },
        }
    }

    fn socket_gone(&self, holder: Holder, key: DeviceKey) {
        match holder {
            Holder::Session(user) => self.hub.detach_here(user, key),
            Holder::Class(class, user) => self.live.leave_here(class, user, key),
        }
    }

    async fn holds_user(&self, user: UserId) -> bool {
        self.hub.holds(user).await
    }

    async fn load(&self) -> (usize, usize) {
        (
            self.hub.session_count().await,
            self.live.running_count().await,
        )
    }
}
