//! The sockets of this node, by user, in a cluster: what lets frames sent by the holder of
//! a session or class on another node reach them. The first socket of a user subscribes
//! to the user's subject and the last one unsubscribes (interest-based), so a node only
//! receives traffic for users connected to it.
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
use crate::device::{CloseDevice, Deliver, DeviceHandle, DeviceKey, close, family_label};
use crate::domain::UserId;
use crate::events::Frame;
use crate::ports::bus::Bus;
use crate::ports::observer::ClusterObserver;

struct Socket {
    handle: DeviceHandle,
    /// Last seq seen per stream from another node (`None`: take the next as the start).
    last: HashMap<String, Option<u64>>,
    /// The node serving each stream from elsewhere (the session's or a class's holder).
    holders: HashMap<String, String>,
}

struct UserSockets {
    sockets: HashMap<DeviceKey, Socket>,
    subscription: Option<AbortHandle>,
}

/// Cheap to clone; shared by the hub, the live registry and the subscription tasks.
#[derive(Clone)]
pub struct LocalDevices {
    node: Arc<str>,
    users: Arc<Mutex<HashMap<UserId, UserSockets>>>,
}

impl LocalDevices {
    pub fn new(node: &str) -> Self {
        LocalDevices {
            node: node.into(),
            users: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, UserSockets>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a socket; the user's first socket subscribes to the user's subject (active
    /// when this returns, so the holder's first frames are not missed).
    pub async fn register(
        &self,
        user: UserId,
        handle: DeviceHandle,
        bus: &Arc<dyn Bus>,
        observer: &Arc<dyn ClusterObserver>,
    ) {
        let first = {
            let mut users = self.lock();
            let entry = users.entry(user).or_insert_with(|| UserSockets {
                sockets: HashMap::new(),
                subscription: None,
            });
            let first = entry.sockets.is_empty() && entry.subscription.is_none();
            entry.sockets.insert(
                handle.key,
                Socket {
                    handle,
                    last: HashMap::new(),
                    holders: HashMap::new(),
                },
            );
            first
        };
        if !first {
            return;
        }
        let subscription = match bus.subscribe(&super::subjects::user(user)).await {
            Ok(subscription) => subscription,
            Err(err) => {
                // Without it nothing from other nodes reaches these sockets: they reconnect
                // and the next first socket subscribes again.
                tracing::warn!(user_id = %user, error = %err, "cannot subscribe to a user's subject");
                if let Some(entry) = self.lock().remove(&user) {
                    for socket in entry.sockets.values() {
                        socket.handle.close.do_send(CloseDevice {
                            code: close::INTERNAL,
                            reason: "reconnect and resume".into(),
                        });
                    }
                }
                return;
            }
        };
        let this = self.clone();
        let observer = observer.clone();
        let task = tokio::spawn(async move {
            let mut subscription = subscription;
            while let Some(message) = subscription.next().await {
                match DeviceTraffic::decode(&message.payload) {
                    Some(traffic) => this.dispatch(user, traffic, &observer),
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
        entry.sockets.remove(&key);
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
        if let Some(socket) = self
            .lock()
            .get_mut(&user)
            .and_then(|u| u.sockets.get_mut(&key))
        {
            socket.last.insert(stream.to_owned(), since);
        }
    }

    /// Records which node serves `stream` to a socket (so its loss can be noticed).
    pub fn served(&self, user: UserId, key: DeviceKey, stream: &str, node: &str) {
        if let Some(socket) = self
            .lock()
            .get_mut(&user)
            .and_then(|u| u.sockets.get_mut(&key))
        {
            socket.holders.insert(stream.to_owned(), node.to_owned());
        }
    }

    /// The sockets served anything by `node`.
    pub fn served_by(&self, node: &str) -> Vec<DeviceHandle> {
        self.sockets_where(|holders| holders.values().any(|n| n == node))
    }

    /// The sockets served a session or class by another node.
    pub fn served_from_elsewhere(&self) -> Vec<DeviceHandle> {
        self.sockets_where(|holders| !holders.is_empty())
    }

    /// The sockets whose remote holders (stream -> node) pass `keep`.
    fn sockets_where(&self, keep: impl Fn(&HashMap<String, String>) -> bool) -> Vec<DeviceHandle> {
        self.lock()
            .values()
            .flat_map(|u| u.sockets.values())
            .filter(|s| keep(&s.holders))
            .map(|s| s.handle.clone())
            .collect()
    }

    /// Hands a notice to every socket of the user on this node.
    pub fn notify_user(&self, user: UserId, frame: &Frame, family: &'static str) {
        if let Some(entry) = self.lock().get(&user) {
            for socket in entry.sockets.values() {
                deliver(&socket.handle, frame.clone(), family);
            }
        }
    }

    /// Hands a notice to every socket on this node.
    pub fn notify_all(&self, frame: &Frame, family: &'static str) {
        for entry in self.lock().values() {
            for socket in entry.sockets.values() {
                deliver(&socket.handle, frame.clone(), family);
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
            .flat_map(|(user, u)| u.sockets.values().map(|s| (*user, s.handle.clone())))
            .collect()
    }

    fn dispatch(&self, user: UserId, traffic: DeviceTraffic, observer: &Arc<dyn ClusterObserver>) {
        match traffic {
            DeviceTraffic::Frame {
                node,
                key,
                stream,
                family,
                frame,
            } if *node == *self.node => {
                let mut users = self.lock();
                let Some(socket) = users.get_mut(&user).and_then(|u| u.sockets.get_mut(&key))
                else {
                    return;
                };
                if stream == USER_STREAM && frame.starts_with(r#"{"type":"resume.incomplete""#) {
                    // The app refetches; what follows starts anew.
                    socket.last.insert(stream.clone(), None);
                }
                if let Some(seq) = frame_seq(&frame) {
                    let last = socket.last.entry(stream).or_insert(None);
                    match *last {
                        Some(previous) if seq <= previous => return,
                        Some(previous) if seq > previous + 1 => {
                            observer.gap();
                            tracing::warn!(user_id = %user, missed_after = previous, got = seq, "frames lost on the bus; closing the socket so the app resumes");
                            socket.handle.close.do_send(CloseDevice {
                                code: close::INTERNAL,
                                reason: "missed events; reconnect and resume".into(),
                            });
                            return;
                        }
                        _ => *last = Some(seq),
                    }
                }
                deliver(&socket.handle, frame, family_label(&family));
            }
            DeviceTraffic::Close {
                node,
                key,
                code,
                reason,
            } if *node == *self.node => {
                tracing::debug!(user_id = %user, key, code, "another node closes a socket here");
                if let Some(socket) = self.lock().get(&user).and_then(|u| u.sockets.get(&key)) {
                    socket.handle.close.do_send(CloseDevice {
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
fn deliver(handle: &DeviceHandle, frame: Frame, family: &'static str) {
    let message = Deliver {
        frame,
        family,
        created: Instant::now(),
    };
    if let Err(actix::prelude::SendError::Full(_)) = handle.deliver.try_send(message) {
        handle.close.do_send(CloseDevice {
            code: close::TOO_SLOW,
            reason: "too slow to read".into(),
        });
    }
}
