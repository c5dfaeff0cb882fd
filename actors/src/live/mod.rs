//! Live classes: one `LiveClass` actor per running class, held by one node of the
//! cluster, found or started by that node's `LiveRegistry` (`registry`); [`Live`]
//! (`handle`) is the way in, and `ops` the operations it carries to the class's holder.
//!
//! A class numbers its own events (`live.cue`, `live.started`, `live.ended`, ...) with a
//! class `seq`, serializes each once and hands the shared frame to every participant's
//! socket (a full socket queue closes it 4009), keeping recent ones for catch-up. Presence
//! counts, the top-N leaderboard and each participant's own rank are pushed at most once
//! per `push_interval`, and only when they changed. When the class ends, its results are
//! persisted before `live.ended` goes out.

mod config;
mod handle;
mod handover;
pub mod leaderboard;
mod messages;
pub mod ops;
mod registry;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use serde_json::Value;

pub use config::{LiveConfig, LiveDeps};
pub use handle::Live;
pub use handover::ClassHandover;
pub use leaderboard::{Entry, Sample};
pub use messages::{ClassPush, HighFive, JoinAck, JoinClass, ReportMetric, SendCue};
pub use registry::LiveRegistry;

use crate::device::{CloseDevice, Deliver, DeviceHandle, close};
use crate::domain::{ClassPhase, LiveClassRecord, UserId};
use crate::events::data::EventData;
use crate::events::data::live::{
    ClassSummary, LiveCountdown, LiveLeaderboard, LivePresence, LiveRank,
};
use crate::events::{EventKind, Frame, class_event_frame};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum LiveError {
    #[error("no such class")]
    NotFound,
    #[error("the class is not open yet; its waiting room opens before the start")]
    NotOpen,
    #[error("the class is over")]
    ClassOver,
    #[error("this class needs the premium entitlement")]
    PremiumRequired,
    #[error("only the class's coach can do this")]
    NotCoach,
    #[error("join the class first")]
    NotJoined,
    #[error("the class is not live")]
    NotLive,
    #[error("too many; slow down")]
    RateLimited,
    #[error("that participant is not in the class")]
    UnknownParticipant,
    #[error("the class is not available; try again")]
    Unavailable,
}

struct Participant {
    name: String,
    devices: Vec<DeviceHandle>,
    sample: Sample,
    order: u64,
    last_metric: Option<Instant>,
    last_high_five: Option<Instant>,
    rank: Option<usize>,
}

impl Participant {
    fn present(&self) -> bool {
        !self.devices.is_empty()
    }
}

pub struct LiveClass {
    record: LiveClassRecord,
    deps: Arc<LiveDeps>,
    registry: Recipient<messages::ClassStatus>,
    class_seq: u64,
    /// Recent class events: (seq, kind, data, frame).
    recent: VecDeque<(u64, EventKind, Value, Frame)>,
    participants: HashMap<UserId, Participant>,
    next_order: u64,
    presence_dirty: bool,
    leaderboard_dirty: bool,
    last_top: Vec<Entry>,
    present: usize,
}

impl LiveClass {
    fn new(
        record: LiveClassRecord,
        deps: Arc<LiveDeps>,
        registry: Recipient<messages::ClassStatus>,
    ) -> Self {
        LiveClass {
            record,
            deps,
            registry,
            class_seq: 0,
            recent: VecDeque::new(),
            participants: HashMap::new(),
            next_order: 0,
            presence_dirty: false,
            leaderboard_dirty: false,
            last_top: Vec::new(),
            present: 0,
        }
    }

    fn phase(&self) -> ClassPhase {
        self.record.phase(
            self.deps.clock.now(),
            self.deps.config.waiting_room.as_millis() as i64,
        )
    }

    /// Hands `frame` to every present participant's sockets; closes sockets that lag.
    fn broadcast(&mut self, frame: &Frame, family: &'static str) {
        let started = Instant::now();
        let mut left = Vec::new();
        for (user, participant) in self.participants.iter_mut() {
            let had = participant.present();
            participant
                .devices
                .retain(|device| deliver_or_close(device, frame, family));
            if had && !participant.present() {
                left.push(*user);
            }
        }
        for _ in left {
            self.participant_left();
        }
        self.deps.observer.broadcast(started.elapsed());
    }

    fn send_to(&mut self, user: UserId, frame: &Frame, family: &'static str) {
        let mut emptied = false;
        if let Some(participant) = self.participants.get_mut(&user) {
            let had = participant.present();
            participant
                .devices
                .retain(|device| deliver_or_close(device, frame, family));
            emptied = had && !participant.present();
        }
        if emptied {
            self.participant_left();
        }
    }

    fn participant_left(&mut self) {
        self.present = self.present.saturating_sub(1);
        self.presence_dirty = true;
        self.deps.observer.participants_changed(-1);
    }

    /// A sequenced class event, kept for catch-up and sent to everyone present.
    fn class_event<D: EventData>(&mut self, data: &D) -> u64 {
        let (kind, data) = (D::KIND, data.to_value());
        self.class_seq += 1;
        let seq = self.class_seq;
        let frame = class_event_frame(
            seq,
            &self.record.id.to_string(),
            kind.as_str(),
            self.deps.clock.now(),
            &data.to_string(),
        );
        self.broadcast(&frame, "live");
        self.recent.push_back((seq, kind, data, frame));
        while self.recent.len() > self.deps.config.recent_events {
            self.recent.pop_front();
        }
        seq
    }

    fn class_summary(&self) -> ClassSummary {
        ClassSummary {
            id: self.record.id.to_string(),
            title: self.record.title.clone(),
            coach_id: self.record.coach.to_string(),
            state: self.phase().as_str(),
            premium: self.record.premium,
            scheduled_at: crate::events::rfc3339(self.record.scheduled_at),
            started_at: self.record.started_at.map(crate::events::rfc3339),
            duration_minutes: self.record.duration_minutes,
        }
    }

    fn ranked(&self) -> Vec<Entry> {
        leaderboard::rank(
            self.participants
                .iter()
                .map(|(user, p)| leaderboard::Ranked {
                    user: *user,
                    name: &p.name,
                    sample: p.sample,
                    order: p.order,
                })
                .collect(),
        )
    }

    /// Presence, leaderboard and personal ranks, each only when changed.
    fn push_changes(&mut self) {
        let class_id = self.record.id.to_string();
        if self.presence_dirty {
            self.presence_dirty = false;
            let frame = LivePresence {
                class_id: class_id.clone(),
                participants: self.present,
            }
            .notice(self.deps.clock.now());
            self.broadcast(&frame, "live");
            self.registry.do_send(messages::ClassStatus {
                class: self.record.id,
                stopped: false,
                participants: self.present,
            });
        }
        if !self.leaderboard_dirty {
            return;
        }
        self.leaderboard_dirty = false;
        let ranked = self.ranked();
        let of = ranked.len();
        let top: Vec<Entry> = ranked
            .iter()
            .take(self.deps.config.leaderboard_size)
            .cloned()
            .collect();
        if top != self.last_top {
            let frame = LiveLeaderboard {
                class_id: class_id.clone(),
                top: top.clone(),
                ranked: of,
            }
            .notice(self.deps.clock.now());
            self.broadcast(&frame, "live");
            self.last_top = top;
        }
        for entry in ranked {
            let Ok(user) = entry.user_id.parse::<UserId>() else {
                continue;
            };
            let changed = self
                .participants
                .get_mut(&user)
                .is_some_and(|p| p.rank.replace(entry.rank) != Some(entry.rank));
            if changed {
                let frame = LiveRank {
                    class_id: class_id.clone(),
                    rank: entry.rank,
                    of,
                }
                .notice(self.deps.clock.now());
                self.send_to(user, &frame, "live");
            }
        }
    }

    /// Tells users who reminded themselves or joined earlier, and are not here now, about
    /// a class event, through their own feeds.
    fn notify_absent<D: EventData>(&mut self, data: &D) {
        let (kind, data) = (D::KIND, data.to_json());
        let present: HashSet<UserId> = self
            .participants
            .iter()
            .filter(|(_, p)| p.present())
            .map(|(u, _)| *u)
            .collect();
        let joined: Vec<UserId> = self.participants.keys().copied().collect();
        let deps = self.deps.clone();
        let class = self.record.id;
        let notify = async move {
            let mut users: HashSet<UserId> = match deps.classes.reminders(class).await {
                Ok(users) => users.into_iter().collect(),
                Err(err) => {
                    tracing::warn!(class_id = %class, error = %err, "cannot read class reminders");
                    HashSet::new()
                }
            };
            users.extend(joined);
            for user in users.difference(&present) {
                if let Err(err) = deps.hub.publish(*user, kind.clone(), data.clone()).await {
                    tracing::warn!(user_id = %user, error = %err, "cannot notify a user of a class event");
                }
            }
        };
        // Detached from the actor: a class that ends stops at once, the notices go on.
        actix::spawn(notify);
    }
}

/// Delivers `frame` to one socket; false (and the socket closed 4009) when its queue is full.
fn deliver_or_close(device: &DeviceHandle, frame: &Frame, family: &'static str) -> bool {
    let message = Deliver {
        frame: frame.clone(),
        family,
        created: Instant::now(),
    };
    match device.mailbox.try_deliver(message) {
        Ok(()) => true,
        Err(SendError::Full(_)) => {
            device.mailbox.close(CloseDevice {
                code: close::TOO_SLOW,
                reason: "too slow to read".into(),
            });
            false
        }
        Err(SendError::Closed(_)) => false,
    }
}

impl Actor for LiveClass {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.deps.observer.class_started();
        // A 10k-participant class gets bursts of joins and metrics.
        ctx.set_mailbox_capacity(4096);
        ctx.run_interval(self.deps.config.push_interval, |act, ctx| {
            act.push_changes();
            // Woken by a join or cue it refused (not open yet, or over): nothing to hold.
            let open = matches!(act.phase(), ClassPhase::WaitingRoom | ClassPhase::Live);
            if !open && act.present == 0 {
                ctx.stop();
            }
        });
        ctx.run_interval(self.deps.config.countdown_interval, |act, _| {
            if act.phase() == ClassPhase::WaitingRoom {
                let now = act.deps.clock.now();
                let starts_in = (act.record.scheduled_at - now).max(0) / 1000;
                let frame = LiveCountdown {
                    class_id: act.record.id.to_string(),
                    starts_in_seconds: starts_in,
                }
                .notice(now);
                act.broadcast(&frame, "live");
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.deps.observer.class_stopped();
        self.deps
            .observer
            .participants_changed(-(self.present as i64));
        self.registry.do_send(messages::ClassStatus {
            class: self.record.id,
            stopped: true,
            participants: 0,
        });
    }
}
