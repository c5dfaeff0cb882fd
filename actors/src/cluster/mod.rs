//! Many nodes, one service, and one node is a cluster of one: a user's sockets, a class's
//! participants and a drop's buyers may be on any node, yet each user's feed and each class
//! is sequenced in one place. The code above this module never asks how many nodes there
//! are; a single server runs it on the in-process bus, where it is alone.
//!
//! Every user session and every live class has one holder in the cluster: the node that
//! runs its actor and subscribes to its control subject. Other nodes send the holder what
//! they are asked to do (publish, attach a socket, join a class, cue...) as requests on
//! that subject. When nobody answers there, nobody holds it, and the request goes to the
//! node the membership view names as owner (rendezvous hashing), which starts it. A node
//! alone on its bus skips the asking: whatever it does not hold, it starts. A socket on
//! another node is a `RemoteDevice` proxy at the holder: the session or class delivers to it
//! like to any socket, and the proxy sends the frames on the user's subject to the socket's
//! node (`devices`), which checks their sequence and hands them over.
//!
//! This module sits below the hub and the live registry: it carries their operations as
//! the JSON they encode, and carries requests out through [`LocalNode`], which the node
//! implements over its hub and live registry and hands to [`Cluster::serve`].
//!
//! The holder of a session stays its holder until the session idles out or its node
//! drains, so membership changes move nothing that is running. A draining node hands its
//! classes to their new owners, closes its sockets (1001, in batches) and persists its
//! sessions before it lets go of their subjects; apps reconnect elsewhere and resume.
//! While the bus is down each node goes on serving what it holds; requests to other nodes
//! are retried for `retry_for`, and frames lost meanwhile are found by their sequence.

mod devices;
mod held;
mod membership;
pub mod ops;
mod outgoing;
#[cfg(test)]
mod recording_bus;
mod remote_device;
mod remote_socket;
mod subjects;
pub mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tracing::Instrument;

pub use devices::LocalDevices;
pub use held::{HELD_IN_FLIGHT, HoldGuard};
use held::{HELD_QUEUE, Held};
pub use membership::{Membership, NodeInfo, NodeLoad, NodeView};
pub use ops::{RemoteError, Reply, Request, Target, remote_key};
pub use remote_device::{Holder, Proxies, Reach, RemoteDevice};
pub use remote_socket::{NodeRecipients, RemoteSocket};

use crate::device::{DeviceHandle, DeviceKey};
use crate::domain::UserId;
use crate::events::Frame;
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
    /// The bus reaches no other node (a single server's in-process bus): there is nobody
    /// to ask who holds what, nothing to subscribe to per user, nobody to wait for.
    pub alone: bool,
}

/// What the cluster needs of the node it runs on: carrying out requests, and what goes
/// with a node leaving, the bus coming back and the heartbeat. The node implements it over
/// its hub and live registry.
#[async_trait::async_trait]
pub trait LocalNode: Send + Sync + 'static {
    /// Carries out an operation (encoded by the hub or the live registry) on `target`,
    /// held here or to be started here; answers the operation's encoded answer.
    async fn execute(&self, target: Target, op: &RawValue) -> Result<Box<RawValue>, RemoteError>;
    /// A socket of another node left what it was attached to here (its node is gone).
    fn socket_gone(&self, holder: Holder, key: DeviceKey);
    /// Whether this node holds the user's session.
    async fn holds_user(&self, user: UserId) -> bool;
    /// Sessions and classes held here, for the heartbeat.
    async fn load(&self) -> (usize, usize);
}

/// What routing a request ended in.
pub enum Routed {
    /// The holder on another node (named) answered.
    Remote(String, Box<RawValue>),
    /// Nobody holds the target and this node should: carry it out here.
    HoldHere,
}

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
    proxies: Proxies,
    observer: Arc<dyn ClusterObserver>,
    /// Requests for held targets, answered once `serve` runs (they queue until then).
    held: mpsc::Sender<Held>,
    held_queue: std::sync::Mutex<Option<mpsc::Receiver<Held>>>,
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
        let (held, held_queue) = mpsc::channel(HELD_QUEUE);
        let subscribing_bus = (!config.alone).then(|| bus.clone());
        Cluster {
            inner: Arc::new(Inner {
                membership: Membership::new(me, config.node_timeout),
                devices: LocalDevices::new(&config.node_id, subscribing_bus, observer.clone()),
                proxies: Proxies::new(bus.clone()),
                bus,
                config,
                observer,
                held,
                held_queue: std::sync::Mutex::new(Some(held_queue)),
                draining: AtomicBool::new(false),
                started: Instant::now(),
            }),
        }
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.inner.bus
    }

    pub fn membership(&self) -> &Membership {
        &self.inner.membership
    }

    /// This node's sockets.
    pub fn devices(&self) -> &LocalDevices {
        &self.inner.devices
    }

    /// Proxies of other nodes' sockets attached here.
    pub fn proxies(&self) -> &Proxies {
        &self.inner.proxies
    }

    pub fn node_id(&self) -> &str {
        &self.inner.config.node_id
    }

    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// Whether this node may start a session or class it does not hold without asking
    /// anyone: it is alone on its bus and not draining.
    pub fn starts_without_asking(&self) -> bool {
        self.inner.config.alone && !self.is_draining()
    }

    /// Starts answering requests to this node (through `node`), the heartbeat and the
    /// broadcast listener. Answers once the subscriptions are active.
    pub async fn serve(&self, node: Arc<dyn LocalNode>) -> Result<(), BusError> {
        let requests = self
            .inner
            .bus
            .subscribe(&subjects::node(self.node_id()))
            .await?;
        let this = self.clone();
        let to_node = node.clone();
        tokio::spawn(async move { this.answer_node_requests(requests, to_node).await });
        let held = self
            .inner
            .held_queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(held) = held {
            tokio::spawn(held::carry_out_held(held, node.clone()));
        }
        if !self.inner.config.alone {
            let sockets = self
                .inner
                .bus
                .subscribe(&subjects::sockets(self.node_id()))
                .await?;
            let this = self.clone();
            tokio::spawn(async move { this.take_socket_traffic(sockets).await });
        }
        let heard = self
            .inner
            .bus
            .subscribe_control(subjects::HEARTBEAT)
            .await?;
        let this = self.clone();
        let to_node = node.clone();
        tokio::spawn(async move { this.listen_heartbeats(heard, to_node).await });
        let broadcast = self.inner.bus.subscribe(subjects::BROADCAST).await?;
        let this = self.clone();
        tokio::spawn(async move { this.listen_broadcasts(broadcast).await });
        let this = self.clone();
        let to_node = node.clone();
        tokio::spawn(async move { this.heartbeat(to_node).await });
        let this = self.clone();
        tokio::spawn(async move { this.resync_after_reconnects(node).await });
        Ok(())
    }

    /// Frames and closes for this node's sockets from classes and sessions held elsewhere,
    /// in the order they were sent (a batch in its order).
    async fn take_socket_traffic(&self, mut traffic: BusSubscription) {
        while let Some(message) = traffic.next().await {
            match wire::decode_socket_traffic(&message.payload) {
                Some(traffic) => self.inner.devices.take_all(traffic),
                None => tracing::warn!(
                    bytes = message.payload.len(),
                    "malformed traffic on this node's sockets subject"
                ),
            }
        }
    }

    /// Requests on this node's own subject: to start what nobody holds. Concurrent.
    async fn answer_node_requests(&self, mut requests: BusSubscription, node: Arc<dyn LocalNode>) {
        while let Some(message) = requests.next().await {
            let Some(reply) = message.reply else {
                continue;
            };
            let (this, node) = (self.clone(), node.clone());
            let trace = message.trace.clone();
            tokio::spawn(
                async move {
                    let answer = match serde_json::from_slice::<Request>(&message.payload) {
                        Ok(request) => node.execute(request.target, &request.op).await,
                        Err(err) => Err(RemoteError::Malformed(err.to_string())),
                    };
                    this.reply(&reply, answer);
                }
                .instrument(trace),
            );
        }
    }

    fn reply(&self, to: &str, answer: Result<Box<RawValue>, RemoteError>) {
        let reply = Reply {
            node: self.node_id().to_owned(),
            answer,
        };
        // A reply of our own types always serializes.
        let bytes = serde_json::to_vec(&reply).expect("reply serializes");
        if let Err(err) = self.inner.bus.publish(to, bytes.into()) {
            tracing::warn!(error = %err, "cannot answer a cluster request");
        }
    }

    /// Sends the operation `encode` makes to the holder of `target`, or finds out that
    /// this node should hold it. Retries while holders are busy or the bus is down, for
    /// `retry_for` at most; a request that timed out is not repeated (it may have been
    /// carried out). Alone on its bus, the answer is at once: hold it here.
    #[tracing::instrument(level = "debug", name = "cluster.route", skip_all, fields(target = %target.key()))]
    pub async fn route(
        &self,
        target: Target,
        encode: impl FnOnce() -> Box<RawValue>,
    ) -> Result<Routed, RemoteError> {
        if self.inner.config.alone {
            return match self.is_draining() {
                false => Ok(Routed::HoldHere),
                true => Err(RemoteError::Busy),
            };
        }
        let request = Request {
            target,
            op: encode(),
        };
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
                    return Ok(Routed::HoldHere);
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
                Ok(bytes) => match serde_json::from_slice::<Reply>(&bytes) {
                    Ok(Reply {
                        answer: Err(RemoteError::Busy),
                        ..
                    }) => {}
                    Ok(Reply { node, answer }) => {
                        self.inner.observer.request("answered");
                        return answer.map(|answer| Routed::Remote(node, answer));
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
    /// draining node hands a class over. Alone, there is nobody to hand it to.
    pub async fn ask_owner(
        &self,
        target: Target,
        op: Box<RawValue>,
    ) -> Result<Box<RawValue>, RemoteError> {
        if self.inner.config.alone {
            return Err(RemoteError::Busy);
        }
        let payload: bytes::Bytes = serde_json::to_vec(&Request { target, op })
            .expect("request serializes")
            .into();
        let deadline = Instant::now() + self.inner.config.retry_for;
        loop {
            let owner = self
                .inner
                .membership
                .owner(&target.key())
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
                match asked.map(|bytes| serde_json::from_slice::<Reply>(&bytes)) {
                    Ok(Ok(Reply {
                        answer: Err(RemoteError::Busy),
                        ..
                    }))
                    | Err(_) => {}
                    Ok(Ok(reply)) => return reply.answer,
                    Ok(Err(err)) => return Err(RemoteError::Malformed(err.to_string())),
                }
            }
            if Instant::now() >= deadline {
                return Err(RemoteError::Busy);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A node left: its sockets leave every session and class held here, and sockets here
    /// that it served are asked to resume.
    fn node_gone(&self, node: &str, local: &dyn LocalNode) {
        let gone = self.inner.proxies.node_gone(node);
        tracing::info!(node, sockets = gone.len(), "a node left the cluster");
        let orphans = self.inner.devices.served_by(node);
        tokio::spawn(async move {
            ask_to_resume(orphans, "reconnect and resume").await;
        });
        for (holder, key) in gone {
            local.socket_gone(holder, key);
        }
    }

    /// Hands a notice to every socket of the cluster.
    pub fn notify_all(&self, frame: &Frame, family: &'static str) {
        self.inner.devices.notify_all(frame, family);
        if self.inner.config.alone {
            return;
        }
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
        if self.inner.config.alone {
            return;
        }
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
        let _ = self
            .inner
            .bus
            .publish_control(subjects::HEARTBEAT, bytes.into());
    }

    async fn heartbeat(&self, node: Arc<dyn LocalNode>) {
        let mut tick = tokio::time::interval(self.inner.config.heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut was_connected = true;
        loop {
            tick.tick().await;
            // Busy shards must not delay the heartbeat (others would take this node for
            // gone): a load figure that does not come in time keeps its last value.
            let wait = self.inner.config.heartbeat / 2;
            let load = tokio::time::timeout(wait, node.load()).await;
            let sockets = self.inner.devices.count();
            self.inner.membership.update_me(|me| {
                if let Ok((sessions, classes)) = load {
                    me.load.sessions = sessions;
                    me.load.classes = classes;
                }
                me.load.sockets = sockets;
            });
            self.announce();
            let connected = self.inner.bus.connected();
            if connected && was_connected {
                for gone in self.inner.membership.expire() {
                    self.node_gone(&gone, node.as_ref());
                }
            } else if connected {
                // Back from an outage: silence while away says nothing; hear them anew.
                self.inner.membership.touch_all();
            }
            was_connected = connected;
        }
    }

    async fn listen_heartbeats(&self, mut heard: BusSubscription, node: Arc<dyn LocalNode>) {
        while let Some(message) = heard.next().await {
            match serde_json::from_slice::<NodeInfo>(&message.payload) {
                Ok(info) => {
                    let id = info.id.clone();
                    if self.inner.membership.heard(info) {
                        // Restarted under the same name: what it had here is gone.
                        self.node_gone(&id, node.as_ref());
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
    async fn resync_after_reconnects(&self, node: Arc<dyn LocalNode>) {
        loop {
            self.inner.bus.reconnected().await;
            tracing::info!("the bus is back; asking sockets served from other nodes to resume");
            let mut remote = Vec::new();
            for (user, handle) in self.inner.devices.all_by_user() {
                if !node.holds_user(user).await {
                    remote.push(handle);
                }
            }
            ask_to_resume(remote, "reconnect and resume").await;
        }
    }
}

/// Sockets asked to resume at once, at most; a pause of up to 100 ms follows each batch,
/// so that thousands of apps do not reconnect and rejoin at once.
const RESUME_BATCH: usize = 200;

/// Closes sockets whose frames from another node may have been lost (1011, in batches of
/// [`RESUME_BATCH`]), so their apps reconnect and resume with `since`.
async fn ask_to_resume(sockets: Vec<DeviceHandle>, reason: &'static str) {
    let internal = crate::device::close::INTERNAL;
    close_in_batches(
        sockets,
        internal,
        reason,
        RESUME_BATCH,
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
            // Through the socket's thread when it is on this node: after the frames
            // queued for it there.
            socket.close(crate::device::CloseDevice {
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
