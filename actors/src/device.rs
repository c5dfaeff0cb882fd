//! What a session needs from a connected device (one socket): a way to hand it frames and
//! a way to close it, both through one mailbox handle. The WebSocket connection actor in
//! the server crate handles both, as does the proxy of a socket on another node.

use std::time::Instant;

use actix::dev::SendError;
use actix::{Message, Recipient};

use crate::events::Frame;
use crate::fanout::Status;

/// Close codes of the protocol (DESIGN.md, `docs/protocol.md`).
pub mod close {
    /// The server is shutting down or draining; reconnect (elsewhere) and resume.
    pub const GOING_AWAY: u16 = 1001;
    /// A frame was larger than the limit.
    pub const TOO_BIG: u16 = 1009;
    /// Something failed on the server; reconnect and resume.
    pub const INTERNAL: u16 = 1011;
    /// No valid token, or it expired.
    pub const UNAUTHENTICATED: u16 = 4001;
    /// The token does not allow this.
    pub const FORBIDDEN: u16 = 4003;
    /// Too many messages from the client.
    pub const RATE_LIMITED: u16 = 4008;
    /// The client did not read its frames fast enough.
    pub const TOO_SLOW: u16 = 4009;
    /// The user opened more sockets than allowed; the oldest is closed.
    pub const SUPERSEDED: u16 = 4010;
}

/// Identifies one socket within the node.
pub type DeviceKey = u64;

/// A frame for one device, with the moment its event was created (for delivery latency).
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Deliver {
    pub frame: Frame,
    pub family: &'static str,
    pub created: Instant,
}

/// Tells a device to close its socket with `code`. The reason is usually a constant, but
/// one sent by another node arrives as text.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct CloseDevice {
    pub code: u16,
    pub reason: std::borrow::Cow<'static, str>,
}

/// What a device said about itself when it connected; feature messages target by it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientInfo {
    /// `ios`, `android` or `web`.
    pub platform: Option<String>,
    pub app_version: Option<String>,
    pub locale: Option<String>,
    /// The member's time zone (from their token): their day for daily caps.
    #[serde(default)]
    pub zone: Option<crate::domain::TimeZone>,
}

/// What a device is sent: a frame, or the order to close.
#[derive(Message)]
#[rtype(result = "()")]
pub enum ToDevice {
    Deliver(Deliver),
    Close(CloseDevice),
}

/// The way to a device's actor. One handle for frames and closes alike: a recipient costs
/// an allocation or three per clone, and every socket has a copy at its session and one in
/// the node's socket list.
#[derive(Clone)]
pub struct DeviceMailbox(Recipient<ToDevice>);

impl DeviceMailbox {
    pub fn new(recipient: Recipient<ToDevice>) -> Self {
        DeviceMailbox(recipient)
    }

    /// Hands a frame over unless the device's mailbox is full or gone (a full one is a
    /// client too slow to read).
    pub fn try_deliver(&self, deliver: Deliver) -> Result<(), SendError<ToDevice>> {
        self.0.try_send(ToDevice::Deliver(deliver))
    }

    /// Hands a frame over even past the mailbox's bound (replays the device asked for).
    pub fn deliver(&self, deliver: Deliver) {
        self.0.do_send(ToDevice::Deliver(deliver));
    }

    pub fn close(&self, close: CloseDevice) {
        self.0.do_send(ToDevice::Close(close));
    }
}

/// A device as a session holds it.
#[derive(Clone)]
pub struct DeviceHandle {
    pub key: DeviceKey,
    pub mailbox: DeviceMailbox,
    pub client: ClientInfo,
    /// The way to a socket on this node through its thread ([`crate::fanout`]); `None` for
    /// a socket on another node (reached through a proxy).
    pub route: Option<crate::fanout::Route>,
    /// A class participant's socket on another node that the class reaches on the node's
    /// sockets subject, without its proxy (`cluster::RemoteSocket`); closes still go
    /// through the proxy, which stops with them.
    pub remote: Option<crate::cluster::RemoteSocket>,
}

impl DeviceHandle {
    /// Hands a frame over unless the socket's queue is full (a client too slow to read:
    /// `Full`, for the caller to close it 4009 and forget it) or the socket is gone
    /// (`Closed`): on this node through its thread's outbox (`fanout`), after what this
    /// thread sent it before; on the node's sockets subject or through the mailbox of a
    /// proxy for a socket on another node.
    pub fn try_deliver(&self, deliver: Deliver) -> Result<(), SendError<ToDevice>> {
        let Some(route) = &self.route else {
            if let Some(remote) = &self.remote {
                if !remote.is_open() {
                    return Err(SendError::Closed(ToDevice::Deliver(deliver)));
                }
                remote.send(&deliver);
                return Ok(());
            }
            return self.mailbox.try_deliver(deliver);
        };
        match route.status() {
            Status::Open => {
                crate::fanout::send_one(route.home(), self.key, deliver, true);
                Ok(())
            }
            Status::TooSlow => Err(SendError::Full(ToDevice::Deliver(deliver))),
            Status::Gone => Err(SendError::Closed(ToDevice::Deliver(deliver))),
        }
    }

    /// Like [`Self::try_deliver`], closing a socket whose queue is full 4009 (the caller
    /// forgets it on any error).
    pub fn deliver_or_close(&self, deliver: Deliver) -> Result<(), SendError<ToDevice>> {
        let delivered = self.try_deliver(deliver);
        if let Err(SendError::Full(_)) = delivered {
            self.close(CloseDevice {
                code: close::TOO_SLOW,
                reason: "too slow to read".into(),
            });
        }
        delivered
    }

    /// Hands a frame over even past the queue's bound (the bounded catch-up the device
    /// asked for).
    pub fn deliver(&self, deliver: Deliver) {
        match (&self.route, &self.remote) {
            (Some(route), _) => crate::fanout::send_one(route.home(), self.key, deliver, false),
            (None, Some(remote)) if remote.is_open() => remote.catch_up(&deliver),
            (None, Some(_)) => {}
            (None, None) => self.mailbox.deliver(deliver),
        }
    }

    /// Closes the socket after whatever this thread sent it before; the caller forgets it.
    pub fn close(&self, close: CloseDevice) {
        match (&self.route, &self.remote) {
            (Some(route), _) => crate::fanout::close_one(route.home(), self.key, close),
            // Sent from this thread, after its frames; the proxy then stops.
            (None, Some(remote)) => {
                remote.close(close.code, close.reason.to_string());
                self.mailbox.close(close);
            }
            (None, None) => self.mailbox.close(close),
        }
    }
}

/// The event families the server itself produces; metrics label frames by them.
pub const EVENT_FAMILIES: [&str; 10] = [
    "custom",
    "entitlements",
    "live",
    "message",
    "community",
    "content",
    "plan",
    "feed",
    "drop",
    "order",
];

/// The label under which frames of an event family are counted; unknown families (which
/// only custom admin events could produce) share one label.
pub fn family_label(family: &str) -> &'static str {
    EVENT_FAMILIES
        .into_iter()
        .find(|k| *k == family)
        .unwrap_or("other")
}
