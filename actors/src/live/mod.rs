//! Live classes: one `LiveClass` actor per running class, held by one node of the
//! cluster, found or started by that node's `LiveRegistry` (`registry`); [`Live`]
//! (`handle`) is the way in, and `ops` the operations it carries to the class's holder.
//!
//! A class numbers its own events (`live.cue`, `live.started`, `live.ended`, ...) with a
//! class `seq`, serializes each once and hands the shared frame to every participant's
//! socket: one parcel per socket thread of the node (`crate::fanout`), so the fan-out runs
//! on every core (a full socket queue closes it 4009), keeping recent ones for catch-up. Presence
//! counts, the top-N leaderboard and each participant's own rank are pushed at most once
//! per `push_interval`, and only when they changed. When the class ends, its results are
//! persisted before `live.ended` goes out.
//!
//! The coach runs the class: they get its frames but are never a participant (not counted,
//! ranked or listed). Around that core: the roster with people each member follows
//! (`roster`), leaderboard views (`board`), the class clock of a workout's intervals
//! (`intervals`, `class_clock`), the plausibility check on metrics (`plausibility`), and
//! what the class leaves behind: workout history, personal records and the timelines that
//! on-demand replays race against (`records`).

pub mod board;
mod class_clock;
mod config;
mod handle;
mod handover;
pub mod intervals;
pub mod leaderboard;
mod messages;
pub mod ops;
pub mod plausibility;
pub mod records;
mod registry;
mod roster;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use serde_json::Value;

pub use config::{LiveConfig, LiveDeps, WorkoutBlocks};
pub use handle::Live;
pub use handover::ClassHandover;
pub use leaderboard::{Entry, Sample};
pub use messages::{
    ChooseView, ClassPush, CountParticipants, HighFive, IntervalAck, IntervalAction,
    IntervalControl, JoinAck, JoinClass, ReportMetric, RosterAnswer, RosterPage, SendCue,
};
pub use registry::LiveRegistry;

use crate::cluster::NodeRecipients;
use crate::device::{Deliver, DeviceHandle};
use crate::domain::{ClassPhase, LiveClassRecord, UserId};
use crate::events::data::EventData;
use crate::events::data::live::{ClassSummary, LiveCountdown, LivePresence};
use crate::events::{EventKind, Frame, class_event_frame};
use crate::fanout;
use crate::ports::workouts::PersonalRecord;

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
    #[error("the metric is implausible ({0}); it was not counted")]
    Implausible(String),
    #[error("the class has no workout, so no intervals")]
    NoTimeline,
    #[error("the class clock is not running (start it first, or its last interval is over)")]
    ClockStopped,
}

/// Whether `raw` is a roster cursor (a `next_cursor` of an earlier page).
pub fn roster_cursor_ok(raw: &str) -> bool {
    roster::RosterCursor::parse(raw).is_some()
}

/// Which leaderboard a participant watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// Everyone in the class.
    #[default]
    All,
    /// The member and the people they follow.
    Following,
}

impl View {
    pub fn as_str(self) -> &'static str {
        match self {
            View::All => "all",
            View::Following => "following",
        }
    }
}

struct Participant {
    name: String,
    /// The class's coach: gets the class's frames, is never counted, ranked or listed.
    coach: bool,
    devices: Vec<DeviceHandle>,
    sample: Sample,
    order: u64,
    last_metric: Option<Instant>,
    last_high_five: Option<Instant>,
    /// Name, follows, blocks and bests were read from the store (once per run here).
    loaded: bool,
    view: View,
    rank: Option<usize>,
    /// Hashes of the last rank, leaderboard (following view) and roster frames sent.
    sent_rank: u64,
    sent_board: u64,
    sent_roster: u64,
    /// Whom the participant follows and whom they blocked (bounded when read).
    following: HashSet<UserId>,
    blocked: HashSet<UserId>,
    baseline: plausibility::Baseline,
    rejected: u32,
    /// Off the public board, with the last rejection's reason.
    flagged: Option<&'static str>,
    /// The participant's bests on the class's workout, and which were beaten (told once).
    best: Option<PersonalRecord>,
    beaten: (bool, bool),
    /// Cumulative output per second of the class, for on-demand replays (bounded takers).
    timeline: Option<Vec<f32>>,
}

impl Participant {
    fn new(order: u64, coach: bool, at: crate::domain::UnixMillis) -> Participant {
        Participant {
            name: "Participant".into(),
            coach,
            devices: Vec::new(),
            sample: Sample::default(),
            order,
            last_metric: None,
            last_high_five: None,
            loaded: false,
            view: View::All,
            rank: None,
            sent_rank: 0,
            sent_board: 0,
            sent_roster: 0,
            following: HashSet::new(),
            blocked: HashSet::new(),
            baseline: plausibility::Baseline::start(at),
            rejected: 0,
            flagged: None,
            best: None,
            beaten: (false, false),
            timeline: None,
        }
    }

    fn present(&self) -> bool {
        !self.devices.is_empty()
    }

    /// A member who counts: present and not the coach.
    fn counted(&self) -> bool {
        !self.coach && self.present()
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
    roster_dirty: bool,
    last_top: Vec<Entry>,
    /// Members present now (the coach is not counted), by join order.
    present_order: BTreeMap<u64, UserId>,
    /// Who follows whom among participants: followee -> followers.
    followers: HashMap<UserId, HashSet<UserId>>,
    clock: intervals::ClassClock,
    clock_timer: Option<SpawnHandle>,
    /// Participants with a timeline being recorded.
    recording: usize,
    /// Members' own board frames, pushed in chunks.
    rank_round: Option<board::RankRound>,
}

impl LiveClass {
    fn new(
        record: LiveClassRecord,
        deps: Arc<LiveDeps>,
        registry: Recipient<messages::ClassStatus>,
    ) -> Self {
        let timeline = record
            .workout_id
            .as_deref()
            .and_then(|w| deps.blocks.blocks(w))
            .unwrap_or_default();
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
            roster_dirty: false,
            last_top: Vec::new(),
            present_order: BTreeMap::new(),
            followers: HashMap::new(),
            clock: intervals::ClassClock::new(timeline),
            clock_timer: None,
            recording: 0,
            rank_round: None,
        }
    }

    /// Members present now.
    fn present(&self) -> usize {
        self.present_order.len()
    }

    /// Members who took part in this run (the coach is not one).
    fn took_part(&self) -> usize {
        self.participants.values().filter(|p| !p.coach).count()
    }

    fn phase(&self) -> ClassPhase {
        self.record.phase(
            self.deps.clock.now(),
            self.deps.config.waiting_room.as_millis() as i64,
        )
    }

    /// Hands `frame` to every present participant's sockets; closes sockets that lag.
    fn broadcast(&mut self, frame: &Frame, family: &'static str) {
        self.broadcast_to(frame, family, |_| true);
    }

    /// Hands `frame` to the sockets of the participants `to` picks: one parcel per socket
    /// thread of this node, handed over at once (`fanout`); one bus message per other node
    /// for its sockets (`cluster::NodeRecipients`), or, for a node that does not take
    /// those, one through each socket's proxy.
    fn broadcast_to(
        &mut self,
        frame: &Frame,
        family: &'static str,
        to: impl Fn(&Participant) -> bool,
    ) {
        let started = Instant::now();
        let deliver = Deliver {
            frame: frame.clone(),
            family,
            created: started,
        };
        let mut here = fanout::Recipients::default();
        let mut there = NodeRecipients::default();
        let mut left = Vec::new();
        for (user, participant) in self.participants.iter_mut() {
            if !to(participant) {
                continue;
            }
            let had = participant.present();
            participant.devices.retain(|device| match &device.route {
                Some(route) if route.status() == fanout::Status::Open => {
                    here.add(route.home(), device.key);
                    true
                }
                Some(_) => deliver_or_close(device, frame, family),
                None => match &device.remote {
                    Some(remote) if remote.is_open() => {
                        there.add(remote);
                        true
                    }
                    // Its proxy stopped: forgotten, as on a closed mailbox.
                    Some(_) => false,
                    // Through the proxy; forgotten when its queue is full (closed 4009).
                    None => deliver_or_close(device, frame, family),
                },
            });
            if had && !participant.present() {
                left.push(*user);
            }
        }
        fanout::send_shared(&deliver, here);
        there.send(&deliver);
        // Everyone's next frame comes after this one: hand it over now.
        fanout::flush();
        for user in left {
            self.participant_left(user);
        }
        self.deps.observer.broadcast(started.elapsed());
    }

    /// Sends `frame` to one participant's sockets (after whatever was sent before it).
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
            self.participant_left(user);
        }
    }

    /// The participant's first socket arrived (again).
    fn participant_arrived(&mut self, user: UserId) {
        let Some(p) = self.participants.get(&user) else {
            return;
        };
        if p.coach {
            return;
        }
        self.present_order.insert(p.order, user);
        self.presence_dirty = true;
        self.roster_dirty = true;
        self.deps.observer.participants_changed(1);
    }

    /// The participant's last socket left.
    fn participant_left(&mut self, user: UserId) {
        let Some(p) = self.participants.get(&user) else {
            return;
        };
        if p.coach || self.present_order.remove(&p.order).is_none() {
            return;
        }
        self.presence_dirty = true;
        self.roster_dirty = true;
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

    /// The public board: members with a metric, best first; the coach and flagged
    /// participants are not on it.
    fn ranked(&self) -> Vec<Entry> {
        leaderboard::rank(
            self.participants
                .iter()
                .filter(|(_, p)| !p.coach && p.flagged.is_none())
                .map(|(user, p)| leaderboard::Ranked {
                    user: *user,
                    name: &p.name,
                    sample: p.sample,
                    order: p.order,
                })
                .collect(),
        )
    }

    /// Presence, rosters, the leaderboard and personal ranks, each only when changed.
    fn push_changes(&mut self, ctx: &mut Context<Self>) {
        if self.presence_dirty {
            self.presence_dirty = false;
            let frame = LivePresence {
                class_id: self.record.id.to_string(),
                participants: self.present(),
            }
            .notice(self.deps.clock.now());
            self.broadcast(&frame, "live");
            self.registry.do_send(messages::ClassStatus {
                class: self.record.id,
                stopped: false,
                participants: self.present(),
            });
        }
        if self.roster_dirty {
            self.roster_dirty = false;
            self.push_rosters();
        }
        if self.leaderboard_dirty {
            self.leaderboard_dirty = false;
            self.push_boards(ctx);
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

/// Delivers `frame` to one socket; false when it is gone, or its queue is full (then it is
/// closed 4009).
fn deliver_or_close(device: &DeviceHandle, frame: &Frame, family: &'static str) -> bool {
    let message = Deliver {
        frame: frame.clone(),
        family,
        created: Instant::now(),
    };
    device.deliver_or_close(message).is_ok()
}

impl Actor for LiveClass {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.deps.observer.class_started();
        // A 10k-participant class gets bursts of joins and metrics.
        ctx.set_mailbox_capacity(4096);
        ctx.run_interval(self.deps.config.push_interval, |act, ctx| {
            act.tick_clock(ctx);
            act.push_changes(ctx);
            // Woken by a join or cue it refused (not open yet, or over): nothing to hold.
            let open = matches!(act.phase(), ClassPhase::WaitingRoom | ClassPhase::Live);
            if !open && act.present() == 0 {
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
            .participants_changed(-(self.present() as i64));
        self.registry.do_send(messages::ClassStatus {
            class: self.record.id,
            stopped: true,
            participants: 0,
        });
    }
}
