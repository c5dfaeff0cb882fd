//! A socket of another node as the holder of a session or class sees it: an actor that
//! takes frames like a local socket and sends them on the user's subject, addressed to
//! (node, socket). Sessions and classes treat it like any device, so their code does not
//! change for a cluster. [`Proxies`] lists them, to dismiss them when their socket leaves
//! or their node is gone. A class participant's socket on a node that takes class frames
//! on its sockets subject is reached without the proxy ([`RemoteSocket`], in the handle):
//! its proxy then only carries the close, on the same subject. A session's frames go that
//! way too when the socket's node takes batches ([`Reach::Batches`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix::prelude::*;

use super::remote_socket::RemoteSocket;
use super::wire::DeviceTraffic;
use crate::device::{
    ClientInfo, CloseDevice, Deliver, DeviceHandle, DeviceKey, DeviceMailbox, ToDevice, close,
};
use crate::domain::{ClassId, UserId};
use crate::ports::bus::Bus;

/// How a socket's node takes frames from a holder on another node, by what it said when
/// the socket attached or joined (nodes of older versions say less).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reach {
    /// Only through the socket's proxy, one message per frame on the user's subject.
    #[default]
    Proxy,
    /// A class's frames on the node's sockets subject, one message each.
    Frames,
    /// Any holder's frames on the node's sockets subject, several in one message
    /// (`cluster::outgoing`).
    Batches,
}

impl Reach {
    /// What a join or attach says: `batched` (class frames on the sockets subject) and
    /// `batches` (several messages in one).
    pub fn from_flags(batched: bool, batches: bool) -> Reach {
        match (batched, batches) {
            (_, true) => Reach::Batches,
            (true, false) => Reach::Frames,
            (false, false) => Reach::Proxy,
        }
    }
}

/// What the proxy belongs to, so it can take itself out when its node is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    Session(UserId),
    Class(ClassId, UserId),
}

/// The proxies by (what they serve, node, socket key), with the serial telling a proxy
/// from a newer one for the same socket.
type Table = HashMap<(Holder, String, DeviceKey), (u64, Addr<RemoteDevice>)>;

/// The proxies of this node; cheap to clone.
#[derive(Clone)]
pub struct Proxies {
    bus: Arc<dyn Bus>,
    table: Arc<Mutex<Table>>,
    next: Arc<AtomicU64>,
    /// Where proxies run: requests are served on plain tokio tasks, outside any actor
    /// system context, so proxies get an arbiter of their own.
    arbiter: Arc<Arbiter>,
}

impl Proxies {
    pub fn new(bus: Arc<dyn Bus>) -> Proxies {
        Proxies {
            bus,
            table: Arc::new(Mutex::new(HashMap::new())),
            next: Arc::new(AtomicU64::new(0)),
            arbiter: Arc::new(Arbiter::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A proxy for socket `key` of `node` (replacing an older one for the same socket).
    /// By `reach`, a class (from `Frames` on) or a session (with `Batches`) reaches the
    /// socket on its node's sockets subject without the proxy.
    pub fn start(
        &self,
        user: UserId,
        node: &str,
        key: DeviceKey,
        holder: Holder,
        client: ClientInfo,
        reach: Reach,
    ) -> DeviceHandle {
        let serial = self.next.fetch_add(1, Ordering::Relaxed);
        let stream = match holder {
            Holder::Session(_) => super::wire::USER_STREAM.to_owned(),
            Holder::Class(class, _) => class.to_string(),
        };
        let direct = match (holder, reach) {
            (_, Reach::Batches) | (Holder::Class(..), Reach::Frames) => Some(RemoteSocket::new(
                self.bus.clone(),
                node,
                user,
                key,
                stream.clone(),
                reach == Reach::Batches,
            )),
            _ => None,
        };
        let proxy = RemoteDevice {
            subject: super::subjects::user(user),
            bus: self.bus.clone(),
            proxies: self.clone(),
            node: node.to_owned(),
            key,
            holder,
            stream,
            serial,
            direct: direct.clone(),
        };
        let addr = RemoteDevice::start_in_arbiter(&self.arbiter.handle(), |_| proxy);
        if let Some((_, old)) = self
            .lock()
            .insert((holder, node.to_owned(), key), (serial, addr.clone()))
        {
            old.do_send(Dismiss);
        }
        DeviceHandle {
            key: super::ops::remote_key(node, key),
            mailbox: DeviceMailbox::new(addr.recipient()),
            client,
            route: None,
            remote: direct,
        }
    }

    /// Stops a proxy without telling its socket (the socket left).
    pub fn dismiss(&self, holder: Holder, node: &str, key: DeviceKey) {
        if let Some((_, addr)) = self.lock().remove(&(holder, node.to_owned(), key)) {
            addr.do_send(Dismiss);
        }
    }

    /// A node left: closes its proxies (1011, so a node wrongly taken for gone hears that
    /// its sockets must resume) and answers what they were attached to.
    pub fn node_gone(&self, node: &str) -> Vec<(Holder, DeviceKey)> {
        let gone: Vec<((Holder, String, DeviceKey), Addr<RemoteDevice>)> = {
            let mut table = self.lock();
            let keys: Vec<_> = table
                .keys()
                .filter(|(_, n, _)| n == node)
                .cloned()
                .collect();
            keys.into_iter()
                .filter_map(|k| table.remove(&k).map(|(_, addr)| (k, addr)))
                .collect()
        };
        gone.into_iter()
            .map(|((holder, node, key), addr)| {
                addr.do_send(CloseDevice {
                    code: close::INTERNAL,
                    reason: "reconnect and resume".into(),
                });
                (holder, super::ops::remote_key(&node, key))
            })
            .collect()
    }

    /// A proxy stopped: forgets it, unless a newer one took its place.
    fn forget(&self, holder: Holder, node: &str, key: DeviceKey, serial: u64) {
        let mut table = self.lock();
        let id = (holder, node.to_owned(), key);
        if table.get(&id).is_some_and(|(s, _)| *s == serial) {
            table.remove(&id);
        }
    }
}

pub struct RemoteDevice {
    bus: Arc<dyn Bus>,
    proxies: Proxies,
    node: String,
    key: DeviceKey,
    holder: Holder,
    subject: String,
    stream: String,
    serial: u64,
    /// The socket on its node's sockets subject, when the node takes class frames there.
    direct: Option<RemoteSocket>,
}

impl RemoteDevice {
    fn send(&self, traffic: DeviceTraffic) {
        // A full queue is counted by the bus; the socket's node notices the gap.
        let _ = self.bus.publish(&self.subject, traffic.encode());
    }
}

impl Actor for RemoteDevice {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Same bound as a local socket's queue: a node that cannot keep up looks slow.
        ctx.set_mailbox_capacity(1024);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if let Some(direct) = &self.direct {
            direct.gone();
        }
        self.proxies
            .forget(self.holder, &self.node, self.key, self.serial);
    }
}

/// Stops the proxy without telling its socket (the socket left, or its node is gone).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Dismiss;

impl Handler<Dismiss> for RemoteDevice {
    type Result = ();

    fn handle(&mut self, _: Dismiss, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<ToDevice> for RemoteDevice {
    type Result = ();

    fn handle(&mut self, msg: ToDevice, ctx: &mut Context<Self>) {
        match msg {
            ToDevice::Deliver(deliver) => Handler::<Deliver>::handle(self, deliver, ctx),
            ToDevice::Close(close) => Handler::<CloseDevice>::handle(self, close, ctx),
        }
    }
}

impl Handler<Deliver> for RemoteDevice {
    type Result = ();

    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) {
        // A class sends a socket that has `direct` its frames itself (`DeviceHandle`), from
        // its own thread; only those keep their order with the class's other frames.
        if let Some(direct) = &self.direct {
            if direct.is_open() {
                direct.send(&msg);
            }
            return;
        }
        self.send(DeviceTraffic::Frame {
            node: self.node.clone(),
            key: self.key,
            stream: self.stream.clone(),
            family: msg.family.to_owned(),
            frame: msg.frame,
        });
    }
}

impl Handler<CloseDevice> for RemoteDevice {
    type Result = ();

    fn handle(&mut self, msg: CloseDevice, ctx: &mut Context<Self>) {
        tracing::debug!(node = %self.node, key = self.key, stream = %self.stream, code = msg.code, "closing a socket of another node");
        if let Some(direct) = &self.direct {
            // Sent once: not again when the holder already sent it itself, after its
            // frames (`DeviceHandle::close`).
            direct.close(msg.code, msg.reason.into_owned());
            return ctx.stop();
        }
        self.send(DeviceTraffic::Close {
            node: self.node.clone(),
            key: self.key,
            code: msg.code,
            reason: msg.reason.into_owned(),
        });
        ctx.stop();
    }
}
