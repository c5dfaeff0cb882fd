//! Broadcasts (feature messages): one message handed to every session on the node, each of
//! which decides for itself whether its user is in the audience, using what it knows
//! (entitlements, the devices' platform, version and locale). A session delivers a
//! broadcast once, only while a device is connected (offline users find it in their
//! inbox), and at most `daily_cap` a day per user; what it delivers becomes a sequenced
//! event of the user's feed like any other, and is told to the broadcast's observer. Its
//! feed entry is written a moment later (`broadcast_persist_delay`), after the fan-out.

use std::sync::Arc;

use actix::prelude::*;

use super::UserSession;
use crate::device::ClientInfo;
use crate::domain::{UnixMillis, UserId, local_date};
use crate::events::EventKind;
use crate::ports::observer::BroadcastObserver;
use crate::ports::store::Entitlement;

/// Who a session's user is, for audience checks.
pub struct Audience<'a> {
    pub user: UserId,
    pub entitlements: &'a [Entitlement],
    /// The connected devices.
    pub devices: Vec<&'a ClientInfo>,
    /// When the user last finished a workout, if known.
    pub last_workout_at: Option<UnixMillis>,
    pub now: UnixMillis,
}

/// Decides whether a user is in a broadcast's audience.
pub trait AudienceFilter: Send + Sync {
    fn matches(&self, audience: &Audience<'_>) -> bool;
}

/// A broadcast as sessions receive it: the event data is serialized once and shared.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Broadcast {
    /// Delivered at most once per session (the message id).
    pub id: String,
    pub kind: EventKind,
    pub data: Arc<str>,
    pub filter: Arc<dyn AudienceFilter>,
    /// Broadcasts of this kind a user gets per UTC day at most.
    pub daily_cap: Option<u32>,
    /// Hears each session that delivers it.
    pub observer: Arc<dyn BroadcastObserver>,
}

/// Answers whether the session's user is in the audience (for dry runs).
#[derive(Message)]
#[rtype(result = "bool")]
pub struct InAudience {
    pub filter: Arc<dyn AudienceFilter>,
}

const DAY_MS: i64 = 86_400_000;

impl UserSession {
    fn audience(&self) -> Audience<'_> {
        Audience {
            user: self.user,
            entitlements: &self.entitlements,
            devices: self.devices.iter().map(|d| &d.client).collect(),
            last_workout_at: self.last_workout_at,
            now: self.deps.clock.now(),
        }
    }

    /// How many broadcasts the user got today, in the zone of their devices (the first
    /// one that names a zone; UTC without one).
    fn delivered_today(&mut self, now: UnixMillis) -> usize {
        while self
            .broadcast_times
            .front()
            .is_some_and(|at| now - at > 2 * DAY_MS)
        {
            self.broadcast_times.pop_front();
        }
        let zone = self.devices.iter().find_map(|d| d.client.zone);
        let today = local_date(now, zone);
        self.broadcast_times
            .iter()
            .filter(|at| local_date(**at, zone) == today)
            .count()
    }
}

impl Handler<Broadcast> for UserSession {
    type Result = ();

    fn handle(&mut self, msg: Broadcast, ctx: &mut Context<Self>) {
        if self.devices.is_empty() || self.broadcasts_seen.contains(&msg.id) {
            return;
        }
        if !msg.filter.matches(&self.audience()) {
            return;
        }
        let now = self.deps.clock.now();
        if let Some(cap) = msg.daily_cap {
            if self.delivered_today(now) >= cap as usize {
                return;
            }
            self.broadcast_times.push_back(now);
        }
        self.broadcasts_seen.insert(msg.id);
        // Where a user's delivery is decided: once per user, however many devices; told
        // before the frame goes out, so whoever sees the frame finds it counted.
        msg.observer.delivered();
        self.sequence(&msg.kind, &msg.data);
        // Nobody waits for its feed entry: written after the delay, clear of the fan-out.
        self.flush_later(self.deps.config.broadcast_persist_delay, ctx);
    }
}

impl Handler<InAudience> for UserSession {
    type Result = bool;

    fn handle(&mut self, msg: InAudience, _: &mut Context<Self>) -> bool {
        !self.devices.is_empty() && msg.filter.matches(&self.audience())
    }
}
