//! The waiting rooms of drops across the cluster. Each room has one holder: the node that
//! holds the drop's room target in the cluster, as a class has one. The holder keeps the
//! queue and admits at the drop's rate for the whole cluster; every other node sends it
//! joins and standing reads over the bus. Nobody holds a room until someone asks for it;
//! then its owner (rendezvous hashing over the live nodes) starts it. A draining holder
//! hands each room to its new owner with every place, every admission and the draw still
//! to come. Alone on its bus, a node holds every room itself.

use std::collections::HashMap;
use std::sync::Arc;

use fitpulse_actors::cluster::ops::{decode, encode};
use fitpulse_actors::cluster::{Cluster, HoldGuard, RemoteError, Routed, Target};
use fitpulse_actors::domain::UserId;
use fitpulse_actors::hub::Hub;
use fitpulse_actors::ports::clock::SharedClock;
use fitpulse_actors::ports::drops::DropRecord;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::task::AbortHandle;
use uuid::Uuid;

use super::waiting_room::{JoinRefusal, RoomHandover, Standing, WaitingRoom};
use crate::auth::tokens::AccessTokens;

/// What one node asks of a room's holder.
#[derive(Debug, Serialize, Deserialize)]
pub enum RoomOp {
    Join {
        user: UserId,
    },
    Standing {
        user: UserId,
    },
    Waiting,
    /// Time the drop's orphaned reservations (the holder of the room target keeps the
    /// drop); answers once the target is held.
    Keep,
    /// Take over the room from a draining node.
    Adopt(RoomHandover),
}

/// The room's holder could not be reached (it is moving, or the bus is down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the drop's waiting room cannot be reached; try again")]
pub struct RoomUnavailable;

/// A room this node holds.
struct Held {
    room: Arc<WaitingRoom>,
    admitting: Option<AbortHandle>,
    /// While alive, the room's requests come here.
    _hold: Option<HoldGuard>,
}

pub struct Rooms {
    cluster: Cluster,
    tokens: Arc<AccessTokens>,
    hub: Hub,
    clock: SharedClock,
    /// A room opens this long before its drop starts.
    pre_queue_ms: i64,
    held: tokio::sync::Mutex<HashMap<Uuid, Held>>,
}

impl Rooms {
    pub fn new(
        cluster: Cluster,
        tokens: Arc<AccessTokens>,
        hub: Hub,
        clock: SharedClock,
        pre_queue_ms: i64,
    ) -> Rooms {
        Rooms {
            cluster,
            tokens,
            hub,
            clock,
            pre_queue_ms,
            held: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Joins `user` to the drop's queue, wherever its holder is.
    pub async fn join(
        &self,
        drop: &DropRecord,
        user: UserId,
    ) -> Result<Result<Standing, JoinRefusal>, RoomUnavailable> {
        Ok(self.call(drop, RoomOp::Join { user }).await?.0)
    }

    /// Where `user` stands in the drop's queue (`None`: not in it).
    pub async fn standing(
        &self,
        drop: &DropRecord,
        user: UserId,
    ) -> Result<Option<Standing>, RoomUnavailable> {
        Ok(self.call(drop, RoomOp::Standing { user }).await?.0)
    }

    /// Has the holder of the drop's room target (the drop's keeper) time its orphaned
    /// reservations; answers the keeper's node id.
    pub async fn keep(&self, drop: &DropRecord) -> Result<String, RoomUnavailable> {
        Ok(self.call::<()>(drop, RoomOp::Keep).await?.1)
    }

    /// How many wait in the drop's queue, and the node holding it.
    pub async fn waiting(&self, drop: &DropRecord) -> Result<(usize, String), RoomUnavailable> {
        self.call(drop, RoomOp::Waiting).await
    }

    /// Sends `op` to the room's holder, or carries it out here when this node should
    /// hold the room; answers the answer and the node that gave it.
    async fn call<T: DeserializeOwned>(
        &self,
        drop: &DropRecord,
        op: RoomOp,
    ) -> Result<(T, String), RoomUnavailable> {
        let routed = self
            .cluster
            .route(Target::Room(drop.id), || encode(&op))
            .await
            .map_err(|_| RoomUnavailable)?;
        let (node, answer) = match routed {
            Routed::HoldHere => (
                self.cluster.node_id().to_owned(),
                self.here(drop, op).await.map_err(|_| RoomUnavailable)?,
            ),
            Routed::Remote(node, answer) => (node, answer),
        };
        let answer = decode(&answer).map_err(|err| {
            tracing::warn!(drop_id = %drop.id, error = %err, "a malformed answer from a room's holder");
            RoomUnavailable
        })?;
        Ok((answer, node))
    }

    /// Carries out a request from another node for the room of `drop`. A draining node
    /// takes over nothing and starts nothing: it answers only for rooms it still holds
    /// (until it hands them over).
    pub async fn execute(
        &self,
        drop: Option<&DropRecord>,
        op: RoomOp,
    ) -> Result<Box<RawValue>, RemoteError> {
        if self.cluster.is_draining() && matches!(op, RoomOp::Adopt(_)) {
            return Err(RemoteError::Busy);
        }
        match (op, drop) {
            (RoomOp::Adopt(handover), _) => Ok(encode(&self.adopt(handover).await)),
            (op, Some(drop)) => self.here(drop, op).await,
            (_, None) => Err(RemoteError::Malformed("no such drop".into())),
        }
    }

    /// Carries out `op` on the room held here, starting it if it is not (busy when this
    /// node is draining and does not hold it).
    async fn here(&self, drop: &DropRecord, op: RoomOp) -> Result<Box<RawValue>, RemoteError> {
        if let RoomOp::Adopt(handover) = op {
            return Ok(encode(&self.adopt(handover).await));
        }
        let room = self.room_here(drop).await.ok_or(RemoteError::Busy)?;
        let now = self.clock.now();
        Ok(match op {
            RoomOp::Join { user } => encode(&room.join(user, now)),
            RoomOp::Standing { user } => encode(&room.standing(user)),
            RoomOp::Waiting => encode(&room.waiting()),
            RoomOp::Keep => encode(&()),
            RoomOp::Adopt(_) => unreachable!("handled above"),
        })
    }

    /// The room held here, started now if it is not; none on a draining node (which
    /// starts nothing: its rooms are being handed over).
    async fn room_here(&self, drop: &DropRecord) -> Option<Arc<WaitingRoom>> {
        let mut held = self.held.lock().await;
        if let Some(h) = held.get(&drop.id) {
            return Some(h.room.clone());
        }
        if self.cluster.is_draining() {
            return None;
        }
        let rate = drop.admission_per_second.unwrap_or(1);
        let room = WaitingRoom::new(
            drop.id,
            rate,
            drop.starts_at - self.pre_queue_ms,
            drop.starts_at,
        );
        let admits = drop.admission_per_second.is_some();
        held.insert(drop.id, self.install(room.clone(), admits));
        Some(room)
    }

    /// Takes the room's requests here, and starts admitting from it when the drop has
    /// a waiting room (`admits`; without one the target only keeps the drop).
    fn install(&self, room: Arc<WaitingRoom>, admits: bool) -> Held {
        let id = room.drop_id();
        let admitting = admits.then(|| {
            room.clone()
                .run(self.tokens.clone(), self.hub.clone(), self.clock.clone())
        });
        Held {
            room,
            admitting,
            _hold: self.cluster.hold(Target::Room(id)),
        }
    }

    /// Takes over a room handed over by a draining node (unless it is held here already).
    async fn adopt(&self, handover: RoomHandover) {
        let mut held = self.held.lock().await;
        let id = handover.drop_id;
        if held.contains_key(&id) {
            tracing::warn!(drop_id = %id, "a handed-over waiting room is held here already; keeping it");
            return;
        }
        let waiting = handover.waiting_count();
        held.insert(id, self.install(WaitingRoom::adopted(handover), true));
        tracing::info!(drop_id = %id, waiting, "took over a waiting room");
    }

    /// Draining: hands every room held here to its new owner. Requests for them are
    /// refused as busy meanwhile (their senders retry), and go to the new holder after.
    /// Alone, a room has nobody to go to: it ends with the node.
    pub async fn hand_over(&self) {
        let released: Vec<(Uuid, Held)> = self.held.lock().await.drain().collect();
        let cluster = &self.cluster;
        let handovers = released.into_iter().map(|(id, held)| async move {
            if let Some(admitting) = &held.admitting {
                admitting.abort();
            }
            let op = encode(&RoomOp::Adopt(held.room.handover()));
            match cluster.ask_owner(Target::Room(id), op).await {
                Ok(_) => tracing::info!(drop_id = %id, "waiting room handed over"),
                Err(err) => {
                    tracing::warn!(drop_id = %id, error = %err, "no node took the waiting room; its queue is lost")
                }
            }
            drop(held);
        });
        futures_util::future::join_all(handovers).await;
    }
}

/// Room requests from other nodes, carried out by this node's drops service.
pub struct RoomRequests(pub Arc<super::Drops>);

#[async_trait::async_trait]
impl fitpulse_actors::node::RoomHost for RoomRequests {
    async fn execute(&self, drop: Uuid, op: &RawValue) -> Result<Box<RawValue>, RemoteError> {
        self.0.room_request(drop, op).await
    }
}
