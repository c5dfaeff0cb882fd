//! A socket of another node as the holder of a session or class sees it: an actor that
//! takes frames like a local socket and sends them on the user's subject, addressed to
//! (node, socket). Sessions and classes treat it like any device, so their code does not
//! change for a cluster. The cluster keeps a list of proxies, to dismiss them when their
//! socket leaves or their node is gone.

use actix::prelude::*;

use super::Cluster;
use super::wire::DeviceTraffic;
use crate::device::{CloseDevice, Deliver, DeviceKey};
use crate::domain::{ClassId, UserId};

/// What the proxy belongs to, so it can take itself out when its node is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    Session(UserId),
    Class(ClassId, UserId),
}

pub struct RemoteDevice {
    cluster: Cluster,
    node: String,
    key: DeviceKey,
    holder: Holder,
    subject: String,
    stream: String,
    /// Tells this proxy from a newer one for the same socket.
    serial: u64,
}

impl RemoteDevice {
    pub fn new(
        cluster: Cluster,
        user: UserId,
        node: String,
        key: DeviceKey,
        holder: Holder,
        serial: u64,
    ) -> Self {
        let stream = match holder {
            Holder::Session(_) => super::wire::USER_STREAM.to_owned(),
            Holder::Class(class, _) => class.to_string(),
        };
        RemoteDevice {
            subject: super::subjects::user(user),
            cluster,
            node,
            key,
            holder,
            stream,
            serial,
        }
    }

    fn send(&self, traffic: DeviceTraffic) {
        // A full queue is counted by the bus; the socket's node notices the gap.
        let _ = self.cluster.bus().publish(&self.subject, traffic.encode());
    }
}

impl Actor for RemoteDevice {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Same bound as a local socket's queue: a node that cannot keep up looks slow.
        ctx.set_mailbox_capacity(1024);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.cluster
            .forget_proxy(self.holder, &self.node, self.key, self.serial);
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

impl Handler<Deliver> for RemoteDevice {
    type Result = ();

    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) {
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
        self.send(DeviceTraffic::Close {
            node: self.node.clone(),
            key: self.key,
            code: msg.code,
            reason: msg.reason.into_owned(),
        });
        ctx.stop();
    }
}
