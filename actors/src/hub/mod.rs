//! The hub: the way into users' sessions for connections, REST handlers and the bus.
//! Users are spread over shards (each its own actor on its own arbiter) by a hash of their
//! id, so one mailbox never carries the whole node.

mod shard;

use std::sync::Arc;

use actix::prelude::*;

pub use shard::HubShard;
use shard::{
    AckUserFeed, AttachDevice, BroadcastAll, CountAudience, CountSessions, DetachDevice, DrainAll,
    EditUserPlan, NotifyAll, NotifyUser, PublishToUser, ReplaceUserEntitlements, UserPlan,
};

use crate::device::{DeviceHandle, DeviceKey};
use crate::domain::UserId;
use crate::events::{EventKind, Frame};
use crate::session::{AttachAck, PlanEdit, SessionDeps, SessionError};

/// A cheap-to-clone handle on every shard.
#[derive(Clone)]
pub struct Hub {
    shards: Arc<[Addr<HubShard>]>,
    /// Keeps the shards' arbiters (threads) alive as long as the hub is.
    _arbiters: Arc<Vec<Arbiter>>,
}

impl Hub {
    /// Starts `shards` shards (at least one), each on its own arbiter thread.
    pub fn start(deps: SessionDeps, shards: usize) -> Hub {
        let deps = Arc::new(deps);
        let arbiters: Vec<Arbiter> = (0..shards.max(1)).map(|_| Arbiter::new()).collect();
        let shards: Vec<Addr<HubShard>> = arbiters
            .iter()
            .map(|arbiter| {
                let deps = deps.clone();
                HubShard::start_in_arbiter(&arbiter.handle(), move |_| HubShard::new(deps))
            })
            .collect();
        Hub {
            shards: shards.into(),
            _arbiters: Arc::new(arbiters),
        }
    }

    fn shard(&self, user: UserId) -> &Addr<HubShard> {
        let index = (user.as_uuid().as_u128() % self.shards.len() as u128) as usize;
        &self.shards[index]
    }

    /// Attaches a device to the user's session, replaying what it missed since `since`.
    pub async fn attach(
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
        self.shard(user)
            .send(PublishToUser { user, kind, data })
            .await
            .unwrap_or(Err(SessionError::Unavailable))
    }

    pub async fn ack_feed(&self, user: UserId, seq: u64) -> Result<u64, SessionError> {
        self.shard(user)
            .send(AckUserFeed { user, seq })
            .await
            .unwrap_or(Err(SessionError::Unavailable))
    }

    pub async fn plan(&self, user: UserId) -> Result<Option<String>, SessionError> {
        self.shard(user)
            .send(UserPlan { user })
            .await
            .unwrap_or(Err(SessionError::Unavailable))
    }

    /// Runs `edit` against the user's plan in their session (started if needed), stores
    /// the result and tells the user's devices. The outer error is the session's, the
    /// inner one the edit's own rejection.
    pub async fn edit_plan<E: Send + 'static>(
        &self,
        user: UserId,
        edit: PlanEdit<E>,
    ) -> Result<Result<String, E>, SessionError> {
        self.shard(user)
            .send(EditUserPlan { user, edit })
            .await
            .unwrap_or(Err(SessionError::Unavailable))
    }

    /// Gives the user's session (started if needed) their current entitlements and tells
    /// their devices with `entitlements.changed`; answers the event's seq.
    pub async fn replace_entitlements(
        &self,
        user: UserId,
        entitlements: Vec<crate::ports::store::Entitlement>,
    ) -> Result<u64, SessionError> {
        self.shard(user)
            .send(ReplaceUserEntitlements { user, entitlements })
            .await
            .unwrap_or(Err(SessionError::Unavailable))
    }

    /// Sends a connection notice to the user's devices on this node, if any are connected.
    pub fn notify_user(&self, user: UserId, frame: Frame, kind: &'static str) {
        self.shard(user).do_send(NotifyUser { user, frame, kind });
    }

    /// Sends a connection notice (serialized once) to every device on this node.
    pub fn notify_all(&self, frame: Frame, kind: &'static str) {
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

    /// Closes every socket with 1001 and persists every session (graceful shutdown).
    pub async fn drain(&self) {
        let drains = self.shards.iter().map(|s| s.send(DrainAll));
        futures_util::future::join_all(drains).await;
    }
}
