//! One socket. Authenticated before it starts; then it attaches to the user's session and
//! writes the frames its session and classes hand it: through its thread's bounded outbox
//! (`fitpulse_actors::fanout`), and through its bounded mailbox for the attach catch-up and
//! frames from other nodes; a full queue of either means the client stopped reading, and
//! the socket is closed 4009. It enforces frame size and message rate (pings and pongs
//! included), pings to find dead peers, warns before its token expires and closes 4001
//! when it does unless the app sent `auth.refresh`.

use std::collections::{BTreeSet, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_http::ws::Item;
use actix_web::web::{Bytes, BytesMut};
use actix_web_actors::ws::{self, CloseCode, CloseReason, ProtocolError};
use bytestring::ByteString;
use fitpulse_actors::device::{
    ClientInfo, CloseDevice, Deliver, DeviceHandle, DeviceKey, DeviceMailbox, ToDevice, close,
};
use fitpulse_actors::domain::{ClassId, Role, UserId, now_millis};
use fitpulse_actors::events::data::EventData;
use fitpulse_actors::events::data::session::TokenExpiring;
use fitpulse_actors::fanout::{self, Handed, Route};
use governor::clock::QuantaClock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tracing::Instrument;

use super::Gateway;
use super::frames;
use super::replies;
use crate::auth::AuthUser;
use crate::auth::tokens::Principal;
use crate::http::address_cap::Slot;

/// Unique per node, so sessions can tell sockets apart.
fn next_device_key() -> DeviceKey {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The clock of every socket's rate limit, made once: making one probes the CPU for a
/// usable counter, which in a VM cost more than the rest of a socket's setup.
fn rate_clock() -> QuantaClock {
    static CLOCK: std::sync::OnceLock<QuantaClock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(QuantaClock::default).clone()
}

/// The roles and premium access of a socket's token.
#[derive(Debug, Clone, Copy)]
struct Grants {
    coach: bool,
    admin: bool,
    premium: bool,
}

impl Grants {
    fn of(caller: &AuthUser) -> Grants {
        Grants {
            coach: caller.has_role(Role::Coach),
            admin: caller.has_role(Role::Admin),
            premium: caller.premium(),
        }
    }
}

/// When the socket's timed work is next due.
#[derive(Debug, Default, Clone, Copy)]
struct Due {
    ping: Option<Instant>,
    warning: Option<Instant>,
    expiry: Option<Instant>,
}

impl Due {
    fn next(&self) -> Option<Instant> {
        [self.ping, self.warning, self.expiry]
            .into_iter()
            .flatten()
            .min()
    }
}

/// A frame split in continuation frames, being reassembled.
struct Partial {
    text: bool,
    bytes: BytesMut,
}

pub struct Connection {
    gateway: Arc<Gateway>,
    key: DeviceKey,
    /// `None` for a refused socket, which only closes.
    user: Option<UserId>,
    /// What the token allows, kept as flags: every byte here is paid per socket.
    grants: Grants,
    /// Live classes this socket joined; left when it closes.
    classes: HashSet<ClassId>,
    refusal: Option<(u16, String)>,
    since: Option<u64>,
    attached: bool,
    last_heard: Instant,
    token_expires_at: i64,
    /// The socket's one timer, armed for the earliest of `due`: every wake of the actor
    /// polls each timer it has, and a socket is woken for every frame it writes.
    timer: Option<SpawnHandle>,
    due: Due,
    rate: DefaultDirectRateLimiter,
    partial: Option<Partial>,
    client: ClientInfo,
    /// The way sessions and classes reach this socket on its thread (once started).
    route: Option<Route>,
    /// The upgrade request's span, which each frame's span links to (traced only).
    upgrade: Option<Box<opentelemetry::trace::SpanContext>>,
    /// This socket's place under its address's cap, given back when the actor is dropped.
    _slot: Option<Slot>,
}

impl Connection {
    pub fn new(
        gateway: Arc<Gateway>,
        caller: AuthUser,
        user: UserId,
        since: Option<u64>,
        client: ClientInfo,
    ) -> Self {
        let limits = &gateway.limits;
        // Settings validation keeps both above zero.
        let per_second = NonZeroU32::new(limits.messages_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.message_burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        let rate = RateLimiter::direct_with_clock(quota, rate_clock());
        Connection {
            gateway,
            key: next_device_key(),
            user: Some(user),
            grants: Grants::of(&caller),
            classes: HashSet::new(),
            refusal: None,
            since,
            attached: false,
            last_heard: Instant::now(),
            token_expires_at: caller.expires_at,
            timer: None,
            due: Due::default(),
            rate,
            partial: None,
            client,
            route: None,
            upgrade: crate::telemetry::propagation::current_link(),
            _slot: None,
        }
    }

    /// Keeps `slot` (this socket's place under the per-address cap) while the socket lives.
    pub fn holding(mut self, slot: Slot) -> Self {
        self._slot = Some(slot);
        self
    }

    /// A socket that closes with `code` as soon as it opens.
    pub fn refuse(gateway: Arc<Gateway>, code: u16, reason: &str) -> Self {
        let nobody = AuthUser {
            principal: Principal::User(UserId::random()),
            roles: BTreeSet::new(),
            scopes: BTreeSet::new(),
            expires_at: 0,
            email_verified: false,
            timezone: None,
        };
        let mut connection = Connection::new(
            gateway,
            nobody,
            UserId::random(),
            None,
            ClientInfo::default(),
        );
        connection.user = None;
        connection.refusal = Some((code, reason.to_owned()));
        connection
    }

    pub fn user(&self) -> Option<UserId> {
        self.user
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    pub fn key(&self) -> DeviceKey {
        self.key
    }

    /// Admins pass every role check.
    pub fn has_role(&self, role: Role) -> bool {
        match role {
            Role::Member => true,
            Role::Coach => self.grants.coach,
            Role::Admin => self.grants.admin,
        }
    }

    /// Premium content: the entitlement's scope, or staff.
    pub fn premium_allowed(&self) -> bool {
        self.grants.premium
    }

    /// The handle a session or class uses to reach this socket.
    pub fn device(&self, ctx: &mut ws::WebsocketContext<Self>) -> DeviceHandle {
        DeviceHandle {
            key: self.key,
            mailbox: DeviceMailbox::new(ctx.address().recipient()),
            client: self.client.clone(),
            route: self.route.clone(),
            remote: None,
        }
    }

    pub fn joined(&mut self, class: ClassId) {
        self.classes.insert(class);
    }

    pub fn left(&mut self, class: ClassId) -> bool {
        self.classes.remove(&class)
    }

    /// Closes the socket with `code` and stops.
    pub fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: u16, reason: &str) {
        self.gateway
            .metrics
            .ws_closed_total
            .with_label_values(&[&code.to_string()])
            .inc();
        ctx.close(Some(CloseReason {
            code: CloseCode::from(code),
            description: Some(reason.to_owned()),
        }));
        ctx.stop();
    }

    /// Writes a server frame that is not an event (a reply or a notice).
    pub fn send(&mut self, ctx: &mut ws::WebsocketContext<Self>, label: &str, frame: ByteString) {
        self.gateway
            .metrics
            .ws_messages_sent_total
            .with_label_values(&[label])
            .inc();
        ctx.text(frame);
    }

    pub fn reply(&mut self, ctx: &mut ws::WebsocketContext<Self>, frame: ByteString) {
        self.send(ctx, "reply", frame);
    }

    /// Replies with what `work` answers once it is done, without holding up other frames.
    pub fn reply_when_done(
        &mut self,
        ctx: &mut ws::WebsocketContext<Self>,
        work: impl std::future::Future<Output = ByteString> + 'static,
    ) {
        // The work belongs to the frame's span, current while the frame is handled.
        ctx.spawn(
            work.instrument(tracing::Span::current())
                .into_actor(self)
                .map(|reply, conn, ctx| conn.reply(ctx, reply)),
        );
    }

    /// (Re)arms the `token.expiring` notice and the 4001 close for the current token.
    pub fn schedule_token_expiry(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let now = now_millis() / 1000;
        let left = Duration::from_secs(self.token_expires_at.saturating_sub(now).max(0) as u64);
        let warning = left.saturating_sub(self.gateway.limits.token_expiry_warning);
        let at = Instant::now();
        self.due.warning = Some(at + warning);
        self.due.expiry = Some(at + left);
        self.arm(ctx);
    }

    /// Sets the socket's timer for the earliest thing due.
    fn arm(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        if let Some(timer) = self.timer.take() {
            ctx.cancel_future(timer);
        }
        let Some(next) = self.due.next() else {
            return;
        };
        let wait = next.saturating_duration_since(Instant::now());
        self.timer = Some(ctx.run_later(wait, |act, ctx| {
            act.timer = None;
            act.on_timer(ctx);
        }));
    }

    /// Whatever is due now: the 4001 close, the `token.expiring` notice, a ping.
    fn on_timer(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let now = Instant::now();
        if self.due.expiry.is_some_and(|at| at <= now) {
            return self.close(ctx, close::UNAUTHENTICATED, "token expired");
        }
        if self.due.warning.is_some_and(|at| at <= now) {
            self.due.warning = None;
            let expires_at = self.token_expires_at;
            let in_seconds = (expires_at - now_millis() / 1000).max(0);
            let notice = TokenExpiring {
                expires_at: fitpulse_actors::events::rfc3339(expires_at * 1000),
                in_seconds,
            }
            .notice(now_millis());
            self.send(ctx, "token", notice);
        }
        if self.due.ping.is_some_and(|at| at <= now) {
            self.due.ping = Some(now + self.gateway.limits.heartbeat_interval);
            if !self.heartbeat(ctx) {
                return;
            }
        }
        self.arm(ctx);
    }

    /// Accepts a refreshed token: its expiry, roles and scopes (entitlements may have
    /// changed since the socket opened).
    pub fn token_refreshed(&mut self, caller: AuthUser, ctx: &mut ws::WebsocketContext<Self>) {
        self.token_expires_at = caller.expires_at;
        self.grants = Grants::of(&caller);
        self.schedule_token_expiry(ctx);
    }

    /// Pings the peer; false (and the actor stopped) when it has been silent too long.
    fn heartbeat(&mut self, ctx: &mut ws::WebsocketContext<Self>) -> bool {
        if self.last_heard.elapsed() > self.gateway.limits.client_timeout {
            tracing::debug!(device = self.key, "socket silent for too long; dropping it");
            self.gateway
                .metrics
                .ws_closed_total
                .with_label_values(&["timeout"])
                .inc();
            ctx.stop();
            false
        } else {
            ctx.ping(b"");
            true
        }
    }

    fn attach(&mut self, user: UserId, ctx: &mut ws::WebsocketContext<Self>) {
        let device = self.device(ctx);
        let attach = self.gateway.hub.clone();
        let since = self.since;
        let attaching = async move { attach.attach(user, device, since).await };
        // `wait`: client frames are handled only once the session knows this socket.
        ctx.wait(
            attaching
                .into_actor(self)
                .map(|attached, act, ctx| match attached {
                    Ok(ack) => {
                        act.attached = true;
                        tracing::debug!(
                            device = act.key,
                            replayed = ack.replayed,
                            complete = ack.complete,
                            "socket attached"
                        );
                    }
                    Err(err) => {
                        tracing::warn!(device = act.key, error = %err, "socket could not attach");
                        act.close(ctx, close::INTERNAL, "session unavailable; reconnect");
                    }
                }),
        );
    }

    /// Counts a client frame against the rate limit; false (and closed 4008) when over it.
    fn within_rate(&mut self, ctx: &mut ws::WebsocketContext<Self>) -> bool {
        if self.rate.check().is_ok() {
            return true;
        }
        self.close(ctx, close::RATE_LIMITED, "too many messages");
        false
    }

    fn received(&self, label: &str) {
        self.gateway
            .metrics
            .ws_messages_received_total
            .with_label_values(&[label])
            .inc();
    }

    fn on_text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        match frames::parse(text) {
            Ok((id, frame)) => {
                self.received(frame.label());
                // A socket lives for hours: each frame is a trace of its own, linked to the
                // upgrade rather than inside it.
                let span = tracing::debug_span!(
                    "ws.frame",
                    otel.name = frame.label(),
                    otel.kind = "server",
                    frame = frame.label(),
                );
                crate::telemetry::propagation::add_link(&span, self.upgrade.as_deref());
                let _entered = span.enter();
                frame.handle(id, self, ctx);
            }
            Err(rejected) => {
                self.received(rejected.label);
                let reply = replies::error(rejected.id, rejected.code, &rejected.message);
                self.reply(ctx, reply);
            }
        }
    }

    /// Adds a continuation frame; answers the whole frame once it is complete.
    fn continuation(
        &mut self,
        item: Item,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> Option<(bool, Bytes)> {
        let (start, text, bytes, last) = match item {
            Item::FirstText(b) => (true, true, b, false),
            Item::FirstBinary(b) => (true, false, b, false),
            Item::Continue(b) => (false, false, b, false),
            Item::Last(b) => (false, false, b, true),
        };
        if start {
            self.partial = Some(Partial {
                text,
                bytes: BytesMut::from(&bytes[..]),
            });
            return None;
        }
        let Some(partial) = self.partial.as_mut() else {
            self.close(
                ctx,
                CloseCode::Protocol.into(),
                "continuation without a first frame",
            );
            return None;
        };
        partial.bytes.extend_from_slice(&bytes);
        if partial.bytes.len() > self.gateway.limits.max_frame_bytes {
            self.close(ctx, close::TOO_BIG, "frame too big");
            return None;
        }
        if !last {
            return None;
        }
        self.partial.take().map(|p| (p.text, p.bytes.freeze()))
    }

    fn on_binary(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        self.received("binary");
        let code = crate::http::ErrorCode::UnsupportedFrame;
        let reply = replies::error(None, code, code.default_message());
        self.reply(ctx, reply);
    }
}

impl Actor for Connection {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some((code, reason)) = self.refusal.take() {
            self.close(ctx, code, &reason);
            return;
        }
        self.gateway.metrics.ws_connections.inc();
        ctx.set_mailbox_capacity(self.gateway.limits.outbound_queue);
        // What sessions and classes hand this socket on its own thread, under the same bound.
        if let Some((inbox, route)) = fanout::open(self.key, self.gateway.limits.outbound_queue) {
            ctx.add_stream(inbox);
            self.route = Some(route);
        }
        self.due.ping = Some(Instant::now() + self.gateway.limits.heartbeat_interval);
        self.schedule_token_expiry(ctx);
        if let Some(user) = self.user {
            self.attach(user, ctx);
        }
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        if self.user.is_none() {
            return;
        }
        self.gateway.metrics.ws_connections.dec();
        if let Some(user) = self.user {
            match self.attached {
                true => self.gateway.hub.detach(user, self.key),
                // Closed by its session; in a cluster the node still lets go of it.
                false => self.gateway.hub.closed(user, self.key),
            }
        }
        if let Some(user) = self.user {
            for class in self.classes.drain() {
                self.gateway.live.leave(class, user, self.key);
            }
        }
    }
}

impl Handler<ToDevice> for Connection {
    type Result = ();

    fn handle(&mut self, msg: ToDevice, ctx: &mut Self::Context) {
        match msg {
            ToDevice::Deliver(deliver) => Handler::<Deliver>::handle(self, deliver, ctx),
            ToDevice::Close(close) => Handler::<CloseDevice>::handle(self, close, ctx),
        }
    }
}

/// What fan-out handed this socket on its thread, in the order it was sent.
impl StreamHandler<Handed> for Connection {
    fn handle(&mut self, msg: Handed, ctx: &mut Self::Context) {
        match msg {
            Handed::Frame(deliver) => Handler::<Deliver>::handle(self, deliver, ctx),
            Handed::Close(close) => Handler::<CloseDevice>::handle(self, close, ctx),
            // Its senders saw the overflow too (`Route::status`): they forgot the socket and
            // the session counted it as a slow consumer.
            Handed::TooSlow => self.close(ctx, close::TOO_SLOW, "too slow to read"),
        }
    }

    /// The outbox never ends while the socket lives; nothing to do when it is dropped.
    fn finished(&mut self, _: &mut Self::Context) {}
}

impl Handler<Deliver> for Connection {
    type Result = ();

    fn handle(&mut self, msg: Deliver, ctx: &mut Self::Context) {
        self.gateway
            .metrics
            .event_delivery_seconds
            .observe(msg.created.elapsed().as_secs_f64());
        self.send(ctx, msg.family, msg.frame);
    }
}

impl Handler<CloseDevice> for Connection {
    type Result = ();

    fn handle(&mut self, msg: CloseDevice, ctx: &mut Self::Context) {
        // The session already forgot this socket.
        self.attached = false;
        self.close(ctx, msg.code, &msg.reason);
    }
}

impl StreamHandler<Result<ws::Message, ProtocolError>> for Connection {
    fn handle(&mut self, msg: Result<ws::Message, ProtocolError>, ctx: &mut Self::Context) {
        self.last_heard = Instant::now();
        let msg = match msg {
            Ok(msg) => msg,
            Err(ProtocolError::Overflow) => {
                return self.close(ctx, close::TOO_BIG, "frame too big");
            }
            Err(err) => {
                tracing::debug!(device = self.key, error = %err, "websocket protocol error");
                return self.close(ctx, CloseCode::Protocol.into(), "protocol error");
            }
        };
        match msg {
            // Control frames count toward the rate limit too: each ping costs a pong.
            ws::Message::Ping(payload) => {
                if self.within_rate(ctx) {
                    ctx.pong(&payload);
                }
            }
            ws::Message::Pong(_) => {
                self.within_rate(ctx);
            }
            ws::Message::Nop => {}
            ws::Message::Close(reason) => {
                ctx.close(reason);
                ctx.stop();
            }
            ws::Message::Text(text) => {
                if self.within_rate(ctx) {
                    self.on_text(&text, ctx);
                }
            }
            ws::Message::Binary(_) => {
                if self.within_rate(ctx) {
                    self.on_binary(ctx);
                }
            }
            ws::Message::Continuation(item) => {
                if let Some((text, bytes)) = self.continuation(item, ctx) {
                    if !self.within_rate(ctx) {
                        return;
                    }
                    match (text, std::str::from_utf8(&bytes)) {
                        (true, Ok(text)) => self.on_text(text, ctx),
                        (true, Err(_)) => {
                            self.close(ctx, CloseCode::Invalid.into(), "text frame is not UTF-8")
                        }
                        (false, _) => self.on_binary(ctx),
                    }
                }
            }
        }
    }
}
