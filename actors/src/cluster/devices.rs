//! The sockets of this node, by user: where notices for a user or for everyone go, and
//! what lets frames sent by the holder of a session or class on another node reach them.
//! The first socket of a user subscribes to the user's subject and the last one
//! unsubscribes (interest-based), so a node only receives traffic for users connected to
//! it; a node alone on its bus subscribes to nothing.
//!
//! Frames from another node are checked per socket and stream: an event frame whose `seq`
//! skips ahead means the bus lost something (a restart, a full queue), so the socket is
//! closed with 1011 and the app resumes with `since`, which replays what was lost.
//! Repeated frames are dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::StreamExt;
use tokio::task::AbortHandle;

use super::wire::{DeviceTraffic, USER_STREAM, frame_seq};
use crate::device::{
    CloseDevice, Deliver, DeviceHandle, DeviceKey, DeviceMailbox, close, family_label,
};
use crate::domain::UserId;
use crate::events::Frame;
use crate::ports::bus::Bus;
use crate::ports::observer::ClusterObserver;

/// What one socket receives from elsewhere, per stream (`u` for the user's feed, or a
/// class id). Lists, not maps: a socket has one or two streams, and every byte here is
/// paid per socket.
struct Stream {
    name: String,
    /// Last seq seen from another node (`None`: take the next as the start).
    last: Option<u64>,
    /// The node serving it from elsewhere (the session's or a class's holder).
    holder: Option<String>,
}

struct Socket {
    key: DeviceKey,
    mailbox: DeviceMailbox,
    streams: Vec<Stream>,
}

impl Socket {
    fn handle(&self) -> DeviceHandle {
        DeviceHandle {
            key: self.key,
            mailbox: self.mailbox.clone(),
            client: Default::default(),
            route: None,
        }
    }

    fn stream(&mut self, name: &str) -> &mut Stream {
        match self.streams.iter().position(|s| s.name == name) {
            Some(index) => &mut self.streams[index],
            None => {
                self.streams.push(Stream {
                    name: name.to_owned(),
                    last: None,
                    holder: None,
                });
                self.streams.last_mut().expect("just pushed")
            }
        }
    }
}

struct UserSockets {
    sockets: Vec<Socket>,
    subscription: Option<AbortHandle>,
}

impl UserSockets {
    fn get_mut(&mut self, key: DeviceKey) -> Option<&mut Socket> {
        self.sockets.iter_mut().find(|s| s.key == key)
    }
}

/// Cheap to clone; shared by the hub, the live registry and the subscription tasks.
#[derive(Clone)]
pub struct LocalDevices {
    node: Arc<str>,
    users: Arc<Mutex<HashMap<UserId, UserSockets>>>,
    /// `None` for a node alone on its bus: nothing can come from elsewhere.
    bus: Option<Arc<dyn Bus>>,
    observer: Arc<dyn ClusterObserver>,
}

impl LocalDevices {
    pub fn new(node: &str, bus: Option<Arc<dyn Bus>>, observer: Arc<dyn ClusterObserver>) -> Self {
        LocalDevices {
            node: node.into(),
            users: Arc::new(Mutex::new(HashMap::new())),
            bus,
            observer,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, UserSockets>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a socket; the user's first socket subscribes to the user's subject (active
    /// when this returns, so the holder's first frames are not missed).
    pub async fn register(&self, user: UserId, handle: DeviceHandle) {
        let first = {
            let mut users = self.lock();
            let entry = users.entry(user).or_insert_with(|| UserSockets {
                sockets: Vec::with_capacity(1),
                subscription: None,
            });
            let first = entry.sockets.is_empty() && entry.subscription.is_none();
            entry.sockets.retain(|s| s.key != handle.key);
            entry.sockets.push(Socket {
                key: handle.key,
                mailbox: handle.mailbox,
                streams: Vec::new(),
            });
            first
        };
        let Some(bus) = self.bus.as_ref().filter(|_| first) else {
            return;
        };
        let subscription = match bus.subscribe(&super::subjects::user(user)).await {
            Ok(subscription) => subscription,
            Err(err) => {
                // Without it nothing from other nodes reaches these sockets: they reconnect
                // and the next first socket subscribes again.
                tracing::warn!(user_id = %user, error = %err, "cannot subscribe to a user's subject");
                if let Some(entry) = self.lock().remove(&user) {
                    for socket in &entry.sockets {
                        socket.mailbox.close(CloseDevice {
                            code: close::INTERNAL,
                            reason: "reconnect and resume".into(),
                        });
                    }
                }
                return;
            }
        };
        let this = self.clone();
        let task = tokio::spawn(async move {
            let mut subscription = subscription;
            while let Some(message) = subscription.next().await {
                match DeviceTraffic::decode(&message.payload) {
                    Some(traffic) => this.dispatch(user, traffic),
                    None => {
                        tracing::warn!(user_id = %user, "malformed traffic on a user's subject")
                    }
                }
            }
        });
        let mut users = self.lock();
        match users.get_mut(&user) {
            Some(entry) if !entry.sockets.is_empty() => {
                if let Some(old) = entry.subscription.replace(task.abort_handle()) {
                    old.abort();
                }
            }
            // Every socket left while subscribing.
            _ => task.abort(),
        }
    }

    /// Removes a socket; the user's last socket unsubscribes.
    pub fn unregister(&self, user: UserId, key: DeviceKey) {
        let mut users = self.lock();
        let Some(entry) = users.get_mut(&user) else {
            return;
        };
        entry.sockets.retain(|s| s.key != key);
        if entry.sockets.is_empty() {
            if let Some(task) = entry.subscription.take() {
                task.abort();
            }
            users.remove(&user);
        }
    }

    /// Expects frames of `stream` for a socket from another node, continuing after
    /// `since` (or starting with whatever comes first).
    pub fn expect(&self, user: UserId, key: DeviceKey, stream: &str, since: Option<u64>) {
        if let Some(socket) = self.lock().get_mut(&user).and_then(|u| u.get_mut(key)) {
            socket.stream(stream).last = since;
        }
    }

    /// Records which node serves `stream` to a socket (so its loss can be noticed).
    pub fn served(&self, user: UserId, key: DeviceKey, stream: &str, node: &str) {
        if let Some(socket) = self.lock().get_mut(&user).and_then(|u| u.get_mut(key)) {
            socket.stream(stream).holder = Some(node.to_owned());
        }
    }

    /// The sockets served anything by `node`.
    pub fn served_by(&self, node: &str) -> Vec<DeviceHandle> {
        self.lock()
            .values()
            .flat_map(|u| &u.sockets)
            .filter(|s| {
                s.streams
                    .iter()
                    .any(|st| st.holder.as_deref() == Some(node))
            })
            .map(Socket::handle)
            .collect()
    }

    /// Hands a notice to every socket of the user on this node.
    pub fn notify_user(&self, user: UserId, frame: &Frame, family: &'static str) {
        if let Some(entry) = self.lock().get(&user) {
            for socket in &entry.sockets {
                deliver(socket, frame.clone(), family);
            }
        }
    }

    /// Hands a notice to every socket on this node.
    pub fn notify_all(&self, frame: &Frame, family: &'static str) {
        for entry in self.lock().values() {
            for socket in &entry.sockets {
                deliver(socket, frame.clone(), family);
            }
        }
    }

    /// Sockets on this node.
    pub fn count(&self) -> usize {
        self.lock().values().map(|u| u.sockets.len()).sum()
    }

    /// Every socket on this node, to close them (draining, or after the bus came back).
    pub fn all_by_user(&self) -> Vec<(UserId, DeviceHandle)> {
        self.lock()
            .iter()
            .flat_map(|(user, u)| u.sockets.iter().map(|s| (*user, s.handle())))
            .collect()
    }

    fn dispatch(&self, user: UserId, traffic: DeviceTraffic) {
        match traffic {
            DeviceTraffic::Frame {
                node,
                key,
                stream,
                family,
                frame,
            } if *node == *self.node => {
                let mut users = self.lock();
                let Some(socket) = users.get_mut(&user).and_then(|u| u.get_mut(key)) else {
                    return;
                };
                if stream == USER_STREAM && frame.starts_with(r#"{"type":"resume.incomplete""#) {
                    // The app refetches; what follows starts anew.
                    socket.stream(&stream).last = None;
                }
                if let Some(seq) = frame_seq(&frame) {
                    let last = &mut socket.stream(&stream).last;
                    match *last {
                        Some(previous) if seq <= previous => return,
                        Some(previous) if seq > previous + 1 => {
                            self.observer.gap();
                            tracing::warn!(user_id = %user, missed_after = previous, got = seq, "frames lost on the bus; closing the socket so the app resumes");
                            socket.mailbox.close(CloseDevice {
                                code: close::INTERNAL,
                                reason: "missed events; reconnect and resume".into(),
                            });
                            return;
                        }
                        _ => *last = Some(seq),
                    }
                }
                deliver(socket, frame, family_label(&family));
            }
            DeviceTraffic::Close {
                node,
                key,
                code,
                reason,
            } if *node == *self.node => {
                tracing::debug!(user_id = %user, key, code, "another node closes a socket here");
                if let Some(socket) = self
                    .lock()
                    .get(&user)
                    .and_then(|u| u.sockets.iter().find(|s| s.key == key))
                {
                    socket.mailbox.close(CloseDevice {
                        code,
                        reason: reason.into(),
                    });
                }
            }
            DeviceTraffic::Notice {
                origin,
                family,
                frame,
            } if *origin != *self.node => {
                self.notify_user(user, &frame, family_label(&family));
            }
            _ => {}
        }
    }
}

/// Hands a frame to a socket; a full queue closes it as too slow, like local delivery.
fn deliver(socket: &Socket, frame: Frame, family: &'static str) {
    let message = Deliver {
        frame,
        family,
        created: Instant::now(),
    };
    if let Err(actix::prelude::SendError::Full(_)) = socket.mailbox.try_deliver(message) {
        socket.mailbox.close(CloseDevice {
            code: close::TOO_SLOW,
            reason: "too slow to read".into(),
        });
    }
}
