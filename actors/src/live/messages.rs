//! Messages a `LiveClass` handles (forwarded by the registry) and the one it reports with.

use crate::events::kinds;
use std::time::Instant;

use actix::prelude::*;
use serde_json::Value;

use super::intervals::MAX_EXTEND_SECONDS;
use super::plausibility;
use super::roster::{RosterCursor, bounded};
use super::{LiveClass, LiveError, Participant, View, leaderboard::Sample};
use crate::device::{Deliver, DeviceHandle, DeviceKey};
use crate::domain::{ClassId, ClassPhase, ClassState, LiveClassRecord, UserId};
use crate::events::Frame;
use crate::events::data::EventData;
use crate::events::data::live::{
    ClassResults, CueInterval, LiveCancelled, LiveCue, LiveEnded, LiveFlagged, LiveHighFive,
    LiveSnapshot, LiveStarted, RosterEntry,
};

/// Joins a socket to the class: it gets `live.snapshot`, then (with `since`) the class
/// events it missed, then live frames.
#[derive(Message)]
#[rtype(result = "Result<JoinAck, LiveError>")]
pub struct JoinClass {
    pub class: ClassId,
    pub user: UserId,
    pub device: DeviceHandle,
    pub since: Option<u64>,
    /// The caller may see premium content (entitlement, coach or admin).
    pub premium_allowed: bool,
    /// The leaderboard the member watches.
    pub view: View,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JoinAck {
    pub class_seq: u64,
    pub participants: usize,
}

/// Takes a socket out of the class (`live.leave`, or the socket closed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct LeaveClass {
    pub class: ClassId,
    pub user: UserId,
    pub device: DeviceKey,
}

/// A coach cue; answers its class seq.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<u64, LiveError>")]
pub struct SendCue {
    pub class: ClassId,
    pub by: UserId,
    pub admin: bool,
    pub text: String,
    pub interval: Option<CueInterval>,
}

/// A participant's metrics (validated at the edge).
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<(), LiveError>")]
pub struct ReportMetric {
    pub class: ClassId,
    pub user: UserId,
    pub sample: Sample,
}

/// A high-five from one participant to another.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<(), LiveError>")]
pub struct HighFive {
    pub class: ClassId,
    pub from: UserId,
    pub to: UserId,
}

/// The class's stored record changed state (start, end, cancel through REST).
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<(), LiveError>")]
pub struct ClassPush {
    pub record: LiveClassRecord,
}

/// How many members are in the class now (the coach is not counted).
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<usize, LiveError>")]
pub struct CountParticipants {
    pub class: ClassId,
}

/// A page of the class's roster as `viewer` sees it.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<RosterAnswer, LiveError>")]
pub struct RosterPage {
    pub class: ClassId,
    pub viewer: UserId,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RosterAnswer {
    pub participants: usize,
    pub following_here: usize,
    pub entries: Vec<RosterEntryWire>,
    pub next_cursor: Option<String>,
}

/// A roster entry as it travels between nodes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RosterEntryWire {
    pub user_id: String,
    pub name: String,
    pub avatar_url: Option<String>,
    pub following: bool,
    pub flagged: Option<String>,
}

impl From<RosterEntry> for RosterEntryWire {
    fn from(e: RosterEntry) -> Self {
        RosterEntryWire {
            user_id: e.user_id,
            name: e.name,
            avatar_url: e.avatar_url,
            following: e.following,
            flagged: e.flagged,
        }
    }
}

/// A member switches the leaderboard they watch.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<(), LiveError>")]
pub struct ChooseView {
    pub class: ClassId,
    pub user: UserId,
    pub view: View,
}

/// What the coach does with the class clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntervalAction {
    Start,
    Skip,
    /// Adds this many seconds (1 to 600) to the current interval.
    Extend(u32),
}

/// The coach starts, skips or extends the current interval.
#[derive(Message, serde::Serialize, serde::Deserialize)]
#[rtype(result = "Result<IntervalAck, LiveError>")]
pub struct IntervalControl {
    pub class: ClassId,
    pub by: UserId,
    pub admin: bool,
    pub action: IntervalAction,
}

/// Where the clock stands after the coach's move: `None` when the timeline is over.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IntervalAck {
    pub index: Option<usize>,
    pub ends_at: Option<String>,
}

/// A class reports its participant count, or that it stopped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ClassStatus {
    pub class: ClassId,
    pub stopped: bool,
    pub participants: usize,
}

impl LiveClass {
    fn snapshot(&self, since: Option<u64>) -> (Frame, Vec<Frame>) {
        let oldest = self
            .recent
            .front()
            .map_or(self.class_seq + 1, |(seq, ..)| *seq);
        let (replay, complete) = match since {
            Some(since) if since + 1 >= oldest || since >= self.class_seq => (
                self.recent
                    .iter()
                    .filter(|(seq, ..)| *seq > since)
                    .map(|(.., frame)| frame.clone())
                    .collect(),
                true,
            ),
            Some(_) => (Vec::new(), false),
            None => (Vec::new(), true),
        };
        let cues: Vec<&Value> = self
            .recent
            .iter()
            .filter(|(_, kind, ..)| *kind == kinds::LIVE_CUE)
            .rev()
            .take(self.deps.config.snapshot_cues)
            .map(|(_, _, data, _)| data)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let top: Vec<_> = self
            .ranked()
            .into_iter()
            .take(self.deps.config.leaderboard_size)
            .collect();
        let frame = LiveSnapshot {
            class: self.class_summary(),
            class_seq: self.class_seq,
            participants: self.present(),
            cues: cues.into_iter().cloned().collect(),
            leaderboard: top,
            timeline: self.clock.timeline.clone(),
            interval: self.clock.running.map(|r| self.interval_data(&r)),
            since,
            complete,
        }
        .notice(self.deps.clock.now());
        (frame, replay)
    }
}

impl Handler<JoinClass> for LiveClass {
    type Result = Result<JoinAck, LiveError>;

    fn handle(&mut self, msg: JoinClass, ctx: &mut Context<Self>) -> Self::Result {
        match self.phase() {
            ClassPhase::WaitingRoom | ClassPhase::Live => {}
            ClassPhase::Scheduled => return Err(LiveError::NotOpen),
            ClassPhase::Ended | ClassPhase::Cancelled => return Err(LiveError::ClassOver),
        }
        if self.record.premium && !msg.premium_allowed {
            return Err(LiveError::PremiumRequired);
        }
        let (snapshot, replay) = self.snapshot(msg.since);
        // The snapshot and the catch-up are bounded, so they may pass the queue bound; they
        // take the way the class's next frames take, so they come first.
        for frame in std::iter::once(snapshot).chain(replay) {
            msg.device.deliver(Deliver {
                frame,
                family: "live",
                created: Instant::now(),
            });
        }
        crate::fanout::flush();
        let newcomer = !self.participants.contains_key(&msg.user);
        let order = self.next_order;
        let coach = msg.user == self.record.coach;
        let baseline_at = self
            .record
            .started_at
            .unwrap_or_else(|| self.deps.clock.now());
        let participant = self
            .participants
            .entry(msg.user)
            .or_insert_with(|| Participant::new(order, coach, baseline_at));
        let arriving = !participant.present();
        let load = !participant.loaded;
        participant.loaded = true;
        participant.view = msg.view;
        participant.sent_rank = 0;
        participant.sent_board = 0;
        participant.sent_roster = 0;
        participant.devices.retain(|d| d.key != msg.device.key);
        participant.devices.push(msg.device);
        if newcomer {
            self.next_order += 1;
            // Attendance counts members; the coach runs the class.
            if !coach {
                self.deps.observer.member_attended();
            }
        }
        if load {
            self.load_participant(msg.user, newcomer, ctx);
        }
        if arriving {
            self.participant_arrived(msg.user);
        }
        // The new socket gets the roster and its board at the next push.
        self.roster_dirty = true;
        self.leaderboard_dirty = true;
        Ok(JoinAck {
            class_seq: self.class_seq,
            participants: self.present(),
        })
    }
}

impl LiveClass {
    /// Reads a participant's name, follows, blocks and bests; `announce` tells the
    /// members here who follow them (a first join in this run).
    fn load_participant(&mut self, user: UserId, announce: bool, ctx: &mut Context<Self>) {
        let deps = self.deps.clone();
        let workout = self.record.workout_id.clone();
        let limit = deps.config.social_limit;
        let lookup = async move {
            let found = deps.users.user_by_id(user).await.ok().flatten();
            let following = deps.community.following(user).await.unwrap_or_default();
            let blocked = deps.community.blocked(user).await.unwrap_or_default();
            let best = match workout {
                Some(w) => deps.workouts.personal_record(user, &w).await.ok().flatten(),
                None => None,
            };
            (
                found,
                bounded(following, limit),
                bounded(blocked, limit),
                best,
            )
        };
        ctx.spawn(
            lookup
                .into_actor(self)
                .map(move |(found, following, blocked, best), act, _| {
                    let Some(p) = act.participants.get_mut(&user) else {
                        return;
                    };
                    if let Some(found) = found {
                        p.name = found.display_name.as_str().to_owned();
                    }
                    p.best = best;
                    act.unindex(user);
                    act.social_loaded(user, following, blocked, announce);
                }),
        );
    }
}

impl Handler<LeaveClass> for LiveClass {
    type Result = ();

    fn handle(&mut self, msg: LeaveClass, _: &mut Context<Self>) {
        let mut emptied = false;
        if let Some(participant) = self.participants.get_mut(&msg.user) {
            let had = participant.present();
            participant.devices.retain(|d| d.key != msg.device);
            emptied = had && !participant.present();
        }
        if emptied {
            self.participant_left(msg.user);
        }
    }
}

impl Handler<SendCue> for LiveClass {
    type Result = Result<u64, LiveError>;

    fn handle(&mut self, msg: SendCue, _: &mut Context<Self>) -> Self::Result {
        if msg.by != self.record.coach && !msg.admin {
            return Err(LiveError::NotCoach);
        }
        match self.phase() {
            ClassPhase::WaitingRoom | ClassPhase::Live => {}
            ClassPhase::Scheduled => return Err(LiveError::NotOpen),
            ClassPhase::Ended | ClassPhase::Cancelled => return Err(LiveError::ClassOver),
        }
        Ok(self.class_event(&LiveCue {
            class_id: self.record.id.to_string(),
            text: msg.text,
            interval: msg.interval,
        }))
    }
}

impl Handler<ReportMetric> for LiveClass {
    type Result = Result<(), LiveError>;

    fn handle(&mut self, msg: ReportMetric, _: &mut Context<Self>) -> Self::Result {
        if self.phase() != ClassPhase::Live {
            return Err(LiveError::NotLive);
        }
        let interval = self.deps.config.metric_interval;
        let now = self.deps.clock.now();
        let bounds = &self.deps.config.plausibility;
        let participant = self
            .participants
            .get_mut(&msg.user)
            .filter(|p| p.counted())
            .ok_or(LiveError::NotJoined)?;
        if participant
            .last_metric
            .is_some_and(|at| at.elapsed() < interval)
        {
            return Err(LiveError::RateLimited);
        }
        participant.last_metric = Some(Instant::now());
        if let Err(why) = plausibility::check(bounds, &participant.baseline, &msg.sample, now) {
            participant.rejected += 1;
            self.deps.observer.metric_rejected(why.as_str());
            let newly_flagged =
                participant.rejected >= bounds.flag_after && participant.flagged.is_none();
            if newly_flagged {
                participant.flagged = Some(why.as_str());
                let frame = LiveFlagged {
                    class_id: self.record.id.to_string(),
                    user_id: msg.user.to_string(),
                    name: participant.name.clone(),
                    reason: why.as_str().to_owned(),
                    rejected: participant.rejected,
                }
                .notice(now);
                tracing::info!(class_id = %self.record.id, user_id = %msg.user, reason = why.as_str(), "participant off the board for implausible metrics");
                self.leaderboard_dirty = true;
                self.roster_dirty = true;
                self.send_to(self.record.coach, &frame, "live");
            }
            return Err(LiveError::Implausible(why.as_str().to_owned()));
        }
        participant.baseline = participant.baseline.after(&msg.sample, now);
        participant.sample.merge(msg.sample);
        self.leaderboard_dirty = true;
        self.sample_accepted(msg.user, &msg.sample, now);
        Ok(())
    }
}

impl Handler<HighFive> for LiveClass {
    type Result = Result<(), LiveError>;

    fn handle(&mut self, msg: HighFive, _: &mut Context<Self>) -> Self::Result {
        let interval = self.deps.config.high_five_interval;
        let target_present = self.participants.get(&msg.to).is_some_and(|p| p.present());
        let hidden = self.hidden(msg.from, msg.to);
        let sender = self
            .participants
            .get_mut(&msg.from)
            .filter(|p| p.present())
            .ok_or(LiveError::NotJoined)?;
        // Someone blocked either way is not in the sender's class as far as they know.
        if msg.to == msg.from || !target_present || hidden {
            return Err(LiveError::UnknownParticipant);
        }
        if sender
            .last_high_five
            .is_some_and(|at| at.elapsed() < interval)
        {
            return Err(LiveError::RateLimited);
        }
        sender.last_high_five = Some(Instant::now());
        let frame = LiveHighFive {
            class_id: self.record.id.to_string(),
            from_user_id: msg.from.to_string(),
            from_name: sender.name.clone(),
            to_user_id: msg.to.to_string(),
        }
        .notice(self.deps.clock.now());
        self.send_to(msg.to, &frame, "live");
        let coach = self.record.coach;
        if coach != msg.to {
            self.send_to(coach, &frame, "live");
        }
        Ok(())
    }
}

impl Handler<ClassPush> for LiveClass {
    type Result = Result<(), LiveError>;

    fn handle(&mut self, msg: ClassPush, ctx: &mut Context<Self>) -> Self::Result {
        self.record = msg.record;
        let class_id = self.record.id.to_string();
        match self.record.state {
            ClassState::Scheduled => {}
            ClassState::Live => {
                let started = LiveStarted {
                    class_id,
                    title: self.record.title.clone(),
                    started_at: self.record.started_at.map(crate::events::rfc3339),
                };
                self.class_event(&started);
                self.notify_absent(&started);
            }
            ClassState::Cancelled => {
                let cancelled = LiveCancelled {
                    class_id,
                    title: self.record.title.clone(),
                };
                self.class_event(&cancelled);
                self.notify_absent(&cancelled);
                ctx.stop();
            }
            ClassState::Ended => {
                let entries = self.ranked();
                let took_part = self.took_part();
                let ended = LiveEnded {
                    class_id: class_id.clone(),
                    ended_at: self.record.ended_at.map(crate::events::rfc3339),
                    participants: took_part,
                    top: entries
                        .iter()
                        .take(self.deps.config.leaderboard_size)
                        .cloned()
                        .collect(),
                };
                let results = ClassResults {
                    class_id,
                    title: self.record.title.clone(),
                    started_at: self.record.started_at.map(crate::events::rfc3339),
                    ended_at: self.record.ended_at.map(crate::events::rfc3339),
                    participants: took_part,
                    entries,
                };
                let finished = self.present() as u64;
                let store = self.deps.classes.clone();
                let id = self.record.id;
                // A struct of strings, numbers and lists always serializes.
                let text = serde_json::to_string(&results).expect("class results serialize");
                let persist = async move { store.put_results(id, &text).await };
                // The results are readable before anyone is told the class ended.
                ctx.wait(persist.into_actor(self).map(move |persisted, act, ctx| {
                    match persisted {
                        Ok(()) => {
                            act.deps.observer.members_completed(finished);
                            act.write_records();
                        }
                        Err(err) => {
                            tracing::error!(class_id = %act.record.id, error = %err, "cannot persist class results");
                        }
                    }
                    act.class_event(&ended);
                    act.notify_absent(&ended);
                    ctx.stop();
                }));
            }
        }
        Ok(())
    }
}

impl Handler<CountParticipants> for LiveClass {
    type Result = Result<usize, LiveError>;

    fn handle(&mut self, _: CountParticipants, _: &mut Context<Self>) -> Self::Result {
        Ok(self.present())
    }
}

impl Handler<RosterPage> for LiveClass {
    type Result = Result<RosterAnswer, LiveError>;

    fn handle(&mut self, msg: RosterPage, _: &mut Context<Self>) -> Self::Result {
        // The route checked the cursor's shape; one that does not parse starts over.
        let cursor = msg.cursor.as_deref().and_then(RosterCursor::parse);
        let page = self.roster_page(msg.viewer, cursor, msg.limit);
        Ok(RosterAnswer {
            participants: self.present(),
            following_here: page.following_here,
            entries: page.entries.into_iter().map(Into::into).collect(),
            next_cursor: page.next.map(|c| c.encode()),
        })
    }
}

impl Handler<ChooseView> for LiveClass {
    type Result = Result<(), LiveError>;

    fn handle(&mut self, msg: ChooseView, _: &mut Context<Self>) -> Self::Result {
        if !self
            .participants
            .get(&msg.user)
            .is_some_and(|p| p.present())
        {
            return Err(LiveError::NotJoined);
        }
        self.choose_view(msg.user, msg.view);
        Ok(())
    }
}

impl Handler<IntervalControl> for LiveClass {
    type Result = Result<IntervalAck, LiveError>;

    fn handle(&mut self, msg: IntervalControl, ctx: &mut Context<Self>) -> Self::Result {
        if msg.by != self.record.coach && !msg.admin {
            return Err(LiveError::NotCoach);
        }
        if self.phase() != ClassPhase::Live {
            return Err(LiveError::NotLive);
        }
        let now = self.deps.clock.now();
        let running = match msg.action {
            IntervalAction::Start => Some(self.clock.start(now)?),
            IntervalAction::Skip => self.clock.skip(now)?,
            IntervalAction::Extend(seconds) => Some(
                self.clock
                    .extend(seconds.clamp(1, MAX_EXTEND_SECONDS), now)?,
            ),
        };
        self.clock_moved(running, ctx);
        Ok(IntervalAck {
            index: running.map(|r| r.index),
            ends_at: running.map(|r| crate::events::rfc3339(r.ends_at)),
        })
    }
}
