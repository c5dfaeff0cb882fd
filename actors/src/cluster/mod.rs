//! Many nodes, one service: a user's sockets, a class's participants and a drop's buyers
//! may be on any node, yet each user's feed and each class is sequenced in one place.
//!
//! Every user session and every live class has one holder in the cluster: the node that
//! runs its actor and subscribes to its control subject. Other nodes send the holder what
//! they are asked to do (publish, attach a socket, join a class, cue...) as requests on
//! that subject. When nobody answers there, nobody holds it, and the request goes to the
//! node the membership view names as owner (rendezvous hashing), which starts it. A
//! socket on another node is a `RemoteDevice` proxy at the holder: the session or class
//! delivers to it like to any socket, and the proxy sends the frames on the user's subject
//! to the socket's node (`devices`), which checks their sequence and hands them over.
//!
//! The holder of a session stays its holder until the session idles out or its node
//! drains, so membership changes move nothing that is running. A draining node hands its
//! classes to their new owners, closes its sockets (1001, in batches) and persists its
//! sessions before it lets go of their subjects; apps reconnect elsewhere and resume.
//! While the bus is down each node goes on serving what it holds; requests to other nodes
//! are retried for `retry_for`, and frames lost meanwhile are found by their sequence.

mod devices;
mod membership;
pub mod ops;
mod remote_device;
mod subjects;
pub mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::StreamExt;
use tokio::task::AbortHandle;

pub use devices::LocalDevices;
pub use membership::{Membership, NodeInfo, NodeLoad, NodeView};
pub use ops::{
    Answer, ClassAnswer, ClassOp, Op, RemoteError, Reply, Request, Target, UserAnswer, UserOp,
};
pub use remote_device::{Dismiss, Holder, RemoteDevice};

use crate::device::{DeviceHandle, DeviceKey};
use crate::domain::UserId;
use crate::events::Frame;
use crate::hub::Hub;
use crate::live::Live;
use crate::ports::bus::{Bus, BusError, BusSubscription};
use crate::ports::observer::ClusterObserver;

/// Timings of the cluster layer.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub node_id: String,
    /// This node's HTTP address, shown in the node list.
    pub http: String,
    pub heartbeat: Duration,
    /// A node not heard from for this long (while the bus is up) is gone.
    pub node_timeout: Duration,
    /// One attempt of a request to another node.
    pub request_timeout: Duration,
    /// How long a request keeps being retried while the holder is busy or the bus down.
    pub retry_for: Duration,
}

/// What a request ended in.
pub enum Routed {
    /// The holder on another node (named) answered.
    Remote(String, Answer),
    /// Nobody holds the target and this node should: carry out `op` here.
    HoldHere(Op),
}

/// While alive, this node answers requests for a target it holds.
pub struct HoldGuard(AbortHandle);

impl Drop for HoldGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The proxies of sockets of other nodes, by (what they serve, node, socket key), with the
/// serial telling a proxy from a newer one for the same socket.
type Proxies = HashMap<(Holder, String, DeviceKey), (u64, Addr<RemoteDevice>)>;

/// Cheap to clone; every clone is the same cluster membership of this node.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    bus: Arc<dyn Bus>,
    config: ClusterConfig,
    membership: Membership,
    devices: LocalDevices,
    observer: Arc<dyn ClusterObserver>,
    hub: OnceLock<Hub>,
    live: OnceLock<Live>,
    proxies: Mutex<Proxies>,
    next_proxy: std::sync::atomic::AtomicU64,
    /// Where proxies run: requests are served on plain tokio tasks, outside any actor
    /// system context, so proxies get an arbiter of their own.
    proxy_arbiter: Arbiter,
    draining: AtomicBool,
    /// Until a node has heard the others (one node timeout after its start) it starts
    /// nothing: its view would name it owner of everything.
    started: Instant,
}

impl Cluster {
    pub fn new(
        bus: Arc<dyn Bus>,
        config: ClusterConfig,
        started_at: i64,
        observer: Arc<dyn ClusterObserver>,
    ) -> Cluster {
        let me = NodeInfo {
            id: config.node_id.clone(),
            http: config.http.clone(),
            started_at,
            draining: false,
            load: NodeLoad::default(),
        };
        Cluster {
            inner: Arc::new(Inner {
                membership: Membership::new(me, config.node_timeout),
                devices: LocalDevices::new(&config.node_id),
                bus,
                config,
                observer,
                hub: OnceLock::new(),
                live: OnceLock::new(),
                proxies: Mutex::new(HashMap::new()),
                next_proxy: std::sync::atomic::AtomicU64::new(0),
                proxy_arbiter: Arbiter::new(),
                draining: AtomicBool::new(false),
                started: Instant::now(),
            }),
        }
    }

    /// Connects the hub and the live registry of this node (each joins once).
    pub fn bind(&self, hub: &Hub, live: &Live) {
        let _ = self.inner.hub.set(hub.clone());
        let _ = self.inner.live.set(live.clone());
        hub.join_cluster(self.clone());
        live.join_cluster(self.clone());
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.inner.bus
    }

    pub fn membership(&self) -> &Membership {
        &self.inner.membership
    }

    pub fn devices(&self) -> &LocalDevices {
        &self.inner.devices
    }

    pub fn observer(&self) -> &Arc<dyn ClusterObserver> {
        &self.inner.observer
    }

    pub fn node_id(&self) -> &str {
        &self.inner.config.node_id
    }

    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    pub(crate) fn hub(&self) -> &Hub {
        self.inner.hub.get().expect("the cluster is bound to a hub")
    }

    pub(crate) fn live(&self) -> &Live {
        self.inner
            .live
            .get()
            .expect("the cluster is bound to a live registry")
    }

    /// Starts answering requests to this node, the heartbeat and the broadcast listener.
    /// Answers once the subscriptions are active.
    pub async fn start(&self) -> Result<(), BusError> {
        let node = self
            .inner
            .bus
            .subscribe(&subjects::node(self.node_id()))
            .await?;
        let this = self.clone();
        tokio::spawn(async move { this.serve(node, false).await });
        let heard = self.inner.bus.subscribe(subjects::HEARTBEAT).await?;
        let this = self.clone();
        tokio::spawn(async move { this.listen_heartbeats(heard).await });
        let broadcast = self.inner.bus.subscribe(subjects::BROADCAST).await?;
        let this = self.clone();
        tokio::spawn(async move { this.listen_broadcasts(broadcast).await });
        let this = self.clone();
        tokio::spawn(async move { this.heartbeat().await });
        let this = self.clone();
        tokio::spawn(async move { this.resync_after_reconnects().await });
        Ok(())
    }

    /// Subscribes to the target's control subject; requests are answered one at a time
    /// (in order) while the guard lives.
    pub fn hold(&self, target: Target) -> HoldGuard {
        let this = self.clone();
        let task = tokio::spawn(async move {
            match this.inner.bus.subscribe(&subjects::control(target)).await {
                Ok(subscription) => this.serve(subscription, true).await,
                Err(err) => {
                    tracing::warn!(target = %target.key(), error = %err, "cannot subscribe to a control subject")
                }
            }
        });
        HoldGuard(task.abort_handle())
    }

    async fn serve(&self, mut requests: BusSubscription, in_order: bool) {
        while let Some(message) = requests.next().await {
            let Some(reply) = message.reply else {
                continue;
            };
            let this = self.clone();
            let answer = async move {
                let outcome = match serde_json::from_slice::<Request>(&message.payload) {
                    Ok(request) => this.execute(request).await,
                    Err(err) => Err(RemoteError::Malformed(err.to_string())),
                };
                // A reply of our own types always serializes.
                let bytes =
                    serde_json::to_vec(&(this.node_id(), outcome)).expect("reply serializes");
                if let Err(err) = this.inner.bus.publish(&reply, bytes.into()) {
                    tracing::warn!(error = %err, "cannot answer a cluster request");
                }
            };
            if in_order {
                answer.await;
            } else {
                tokio::spawn(answer);
            }
        }
    }

    /// Carries out a request here (this node holds the target, or should).
    pub async fn execute(&self, request: Request) -> Reply {
        match (request.target, request.op) {
            (Target::User(user), Op::User(op)) => {
                // A draining node starts nothing and takes no new sockets: those go to the
                // session's next holder, once this one has persisted it.
                let attach = matches!(op, UserOp::Attach { .. });
                if self.is_draining() && (attach || !self.hub().running(user).await) {
                    return Err(RemoteError::Busy);
                }
                Ok(Answer::User(self.hub().local_user_op(user, op).await?))
            }
            (Target::Class(class), Op::Class(op)) => {
                // A draining node adopts nothing and starts nothing; it answers only for
                // classes it still runs (until it hands them over).
                let adopting = matches!(op, ClassOp::Adopt { .. });
                if self.is_draining() && (adopting || !self.live().running(class).await) {
                    return Err(RemoteError::Busy);
                }
                Ok(Answer::Class(self.live().local_class_op(class, op).await?))
            }
            _ => Err(RemoteError::Malformed("target and operation differ".into())),
        }
    }

    /// Sends `op` to the holder of `target`, or finds out that this node should hold it.
    /// Retries while holders are busy or the bus is down, for `retry_for` at most; a
    /// request that timed out is not repeated (it may have been carried out).
    pub async fn route(&self, target: Target, op: Op) -> Result<Routed, RemoteError> {
        let request = Request { target, op };
        let payload: bytes::Bytes = serde_json::to_vec(&request)
            .expect("request serializes")
            .into();
        let timeout = self.inner.config.request_timeout;
        let deadline = Instant::now() + self.inner.config.retry_for;
        let mut pause = Duration::from_millis(20);
        let control = subjects::control(target);
        loop {
            let owner = self.inner.membership.owner(&target.key());
            let settled = self.inner.started.elapsed() >= self.inner.config.node_timeout;
            let mine = owner.as_deref() == Some(self.node_id());
            let asked = self
                .inner
                .bus
                .request(&control, payload.clone(), timeout)
                .await;
            let attempt = match asked {
                Err(BusError::NoResponders) if mine && settled && !self.is_draining() => {
                    return Ok(Routed::HoldHere(request.op));
                }
                Err(BusError::NoResponders) => match owner.filter(|_| !mine) {
                    Some(owner) => {
                        self.inner
                            .bus
                            .request(&subjects::node(&owner), payload.clone(), timeout)
                            .await
                    }
                    None => Err(BusError::NoResponders),
                },
                // Without the bus nobody can tell whether another node holds the target, so
                // nothing new starts anywhere (two holders would each number its events).
                other => other,
            };
            match attempt {
                Ok(bytes) => match serde_json::from_slice::<(String, Reply)>(&bytes) {
                    Ok((_, Err(RemoteError::Busy))) => {}
                    Ok((node, reply)) => {
                        self.inner.observer.request("answered");
                        return reply.map(|answer| Routed::Remote(node, answer));
                    }
                    Err(err) => return Err(RemoteError::Malformed(err.to_string())),
                },
                Err(BusError::TimedOut) => {
                    self.inner.observer.request("failed");
                    return Err(RemoteError::Busy);
                }
                Err(_) => {}
            }
            if Instant::now() + pause > deadline {
                self.inner.observer.request("failed");
                return Err(RemoteError::Busy);
            }
            self.inner.observer.request("retried");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Sends a request straight to the target's owner (not to its holder): how a
    /// draining node hands a class over.
    pub async fn ask_owner(&self, request: Request) -> Result<Answer, RemoteError> {
        let payload: bytes::Bytes = serde_json::to_vec(&request)
            .expect("request serializes")
            .into();
        let deadline = Instant::now() + self.inner.config.retry_for;
        loop {
            let owner = self
                .inner
                .membership
                .owner(&request.target.key())
                .filter(|owner| owner != self.node_id());
            if let Some(owner) = owner {
                let asked = self
                    .inner
                    .bus
                    .request(
                        &subjects::node(&owner),
                        payload.clone(),
                        self.inner.config.request_timeout,
                    )
                    .await;
                match asked.map(|bytes| serde_json::from_slice::<(String, Reply)>(&bytes)) {
                    Ok(Ok((_, Err(RemoteError::Busy)))) | Err(_) => {}
                    Ok(Ok((_, reply))) => return reply,
                    Ok(Err(err)) => return Err(RemoteError::Malformed(err.to_string())),
                }
            }
            if Instant::now() >= deadline {
                return Err(RemoteError::Busy);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A proxy for socket `key` of `node`, registered so it can be dismissed.
    pub(crate) fn proxy(
        &self,
        user: UserId,
        node: &str,
        key: DeviceKey,
        holder: Holder,
        client: crate::device::ClientInfo,
    ) -> DeviceHandle {
        let id = (holder, node.to_owned(), key);
        let serial = self.inner.next_proxy.fetch_add(1, Ordering::Relaxed);
        let proxy = RemoteDevice::new(self.clone(), user, node.to_owned(), key, holder, serial);
        let addr = RemoteDevice::start_in_arbiter(&self.inner.proxy_arbiter.handle(), |_| proxy);
        let mut proxies = self.inner.proxies.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, old)) = proxies.insert(id, (serial, addr.clone())) {
            old.do_send(Dismiss);
        }
        DeviceHandle {
            key: ops::remote_key(node, key),
            deliver: addr.clone().recipient(),
            close: addr.recipient(),
            client,
        }
    }

    /// Takes a proxy out of the list (the caller tells it what to do).
    fn take_proxy(&self, holder: Holder, node: &str, key: DeviceKey) -> Option<Addr<RemoteDevice>> {
        let mut proxies = self.inner.proxies.lock().unwrap_or_else(|e| e.into_inner());
        proxies
            .remove(&(holder, node.to_owned(), key))
            .map(|(_, addr)| addr)
    }

    pub(crate) fn dismiss_proxy(&self, holder: Holder, node: &str, key: DeviceKey) {
        if let Some(addr) = self.take_proxy(holder, node, key) {
            addr.do_send(Dismiss);
        }
    }

    /// A proxy stopped: forgets it, unless a newer one took its place.
    pub(crate) fn forget_proxy(&self, holder: Holder, node: &str, key: DeviceKey, serial: u64) {
        let mut proxies = self.inner.proxies.lock().unwrap_or_else(|e| e.into_inner());
        let id = (holder, node.to_owned(), key);
        if proxies.get(&id).is_some_and(|(s, _)| *s == serial) {
            proxies.remove(&id);
        }
    }

    /// A node left: its sockets leave every session and class held here.
    fn node_gone(&self, node: &str) {
        let gone: Vec<(Holder, DeviceKey)> = {
            let proxies = self.inner.proxies.lock().unwrap_or_else(|e| e.into_inner());
            proxies
                .keys()
                .filter(|(_, n, _)| n == node)
                .map(|(holder, _, key)| (*holder, *key))
                .collect()
        };
        tracing::info!(node, sockets = gone.len(), "a node left the cluster");
        // Sockets here whose session or class that node held hear nothing more from it.
        let orphans = self.inner.devices.served_by(node);
        tokio::spawn(async move {
            ask_to_resume(orphans).await;
        });
        for (holder, key) in gone {
            // Told, not just dropped: a node wrongly taken for gone hears that its socket
            // must resume, rather than silently getting nothing more.
            if let Some(addr) = self.take_proxy(holder, node, key) {
                addr.do_send(crate::device::CloseDevice {
                    code: crate::device::close::INTERNAL,
                    reason: "reconnect and resume".into(),
                });
            }
            let local_key = ops::remote_key(node, key);
            match holder {
                Holder::Session(user) => self.hub().detach_local(user, local_key),
                Holder::Class(class, user) => self.live().leave_local(class, user, local_key),
            }
        }
    }

    /// Hands a notice to every socket of the cluster.
    pub fn notify_all(&self, frame: &Frame, family: &'static str) {
        self.inner.devices.notify_all(frame, family);
        let notice = wire::DeviceTraffic::Notice {
            origin: self.node_id().to_owned(),
            family: family.to_owned(),
            frame: frame.clone(),
        };
        let _ = self.inner.bus.publish(subjects::BROADCAST, notice.encode());
    }

    /// Hands a notice to every socket of a user, on every node.
    pub fn notify_user(&self, user: UserId, frame: &Frame, family: &'static str) {
        self.inner.devices.notify_user(user, frame, family);
        let notice = wire::DeviceTraffic::Notice {
            origin: self.node_id().to_owned(),
            family: family.to_owned(),
            frame: frame.clone(),
        };
        let _ = self
            .inner
            .bus
            .publish(&subjects::user(user), notice.encode());
    }

    /// Stops owning anything new and tells the others at once.
    pub fn begin_draining(&self) {
        self.inner.draining.store(true, Ordering::Release);
        self.inner.membership.update_me(|me| me.draining = true);
        self.announce();
    }

    fn announce(&self) {
        let me = self.inner.membership.me();
        let bytes = serde_json::to_vec(&me).expect("node info serializes");
        let _ = self.inner.bus.publish(subjects::HEARTBEAT, bytes.into());
    }

    async fn heartbeat(&self) {
        let mut tick = tokio::time::interval(self.inner.config.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_connected = true;
        loop {
            tick.tick().await;
            // Busy shards must not delay the heartbeat (others would take this node for
            // gone): a load figure that does not come in time keeps its last value.
            let wait = self.inner.config.heartbeat / 2;
            let sessions = tokio::time::timeout(wait, self.hub().session_count()).await;
            let classes = tokio::time::timeout(wait, self.live().running_count()).await;
            let sockets = self.inner.devices.count();
            self.inner.membership.update_me(|me| {
                me.load.sessions = sessions.unwrap_or(me.load.sessions);
                me.load.classes = classes.unwrap_or(me.load.classes);
                me.load.sockets = sockets;
            });
            self.announce();
            let connected = self.inner.bus.connected();
            if connected && was_connected {
                for node in self.inner.membership.expire() {
                    self.node_gone(&node);
                }
            } else if connected {
                // Back from an outage: silence while away says nothing; hear them anew.
                self.inner.membership.touch_all();
            }
            was_connected = connected;
        }
    }

    async fn listen_heartbeats(&self, mut heard: BusSubscription) {
        while let Some(message) = heard.next().await {
            match serde_json::from_slice::<NodeInfo>(&message.payload) {
                Ok(info) => {
                    let id = info.id.clone();
                    if self.inner.membership.heard(info) {
                        // Restarted under the same name: what it had here is gone.
                        self.node_gone(&id);
                    }
                }
                Err(err) => tracing::warn!(error = %err, "malformed heartbeat"),
            }
        }
    }

    async fn listen_broadcasts(&self, mut messages: BusSubscription) {
        while let Some(message) = messages.next().await {
            if let Some(wire::DeviceTraffic::Notice {
                origin,
                family,
                frame,
            }) = wire::DeviceTraffic::decode(&message.payload)
                && origin != self.node_id()
            {
                self.inner
                    .devices
                    .notify_all(&frame, crate::device::family_label(&family));
            }
        }
    }

    /// After the bus comes back, frames sent while it was away may be lost without a
    /// later frame to show it: sockets served a session or class from another node are
    /// closed (1011, in batches) so their apps resume with `since` and rejoin classes.
    async fn resync_after_reconnects(&self) {
        loop {
            self.inner.bus.reconnected().await;
            tracing::info!("the bus is back; asking sockets served from other nodes to resume");
            let hub = self.hub().clone();
            let mut remote = Vec::new();
            for (user, handle) in self.inner.devices.all_by_user() {
                if !hub.holds(user).await {
                    remote.push(handle);
                }
            }
            ask_to_resume(remote).await;
        }
    }
}

/// Closes sockets whose frames from another node may have been lost (1011, 200 at a time),
/// so their apps reconnect and resume with `since`.
async fn ask_to_resume(sockets: Vec<DeviceHandle>) {
    let internal = crate::device::close::INTERNAL;
    close_in_batches(
        sockets,
        internal,
        "reconnect and resume",
        200,
        Duration::from_millis(100),
    )
    .await;
}

/// Closes sockets `batch` at a time with a random pause of up to `jitter` between
/// batches, so their reconnects do not arrive at once.
pub async fn close_in_batches(
    sockets: Vec<DeviceHandle>,
    code: u16,
    reason: &'static str,
    batch: usize,
    jitter: Duration,
) {
    for (index, chunk) in sockets.chunks(batch.max(1)).enumerate() {
        if index > 0 {
            tokio::time::sleep(self::jitter(jitter)).await;
        }
        for socket in chunk {
            socket.close.do_send(crate::device::CloseDevice {
                code,
                reason: reason.into(),
            });
        }
    }
}

/// A random pause of up to `max`, without a random-number crate (`RandomState` is
/// seeded randomly per process and per call).
pub fn jitter(max: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0);
    max.mul_f64((hasher.finish() >> 11) as f64 / (1u64 << 53) as f64)
}
