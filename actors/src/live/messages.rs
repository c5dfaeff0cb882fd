//! Messages a `LiveClass` handles (forwarded by the registry) and the one it reports with.

use crate::events::kinds;
use std::time::Instant;

use actix::prelude::*;
use serde_json::Value;

use super::{LiveClass, LiveError, Participant, leaderboard::Sample};
use crate::device::{Deliver, DeviceHandle, DeviceKey};
use crate::domain::{ClassId, ClassPhase, ClassState, LiveClassRecord, UserId};
use crate::events::Frame;
use crate::events::data::EventData;
use crate::events::data::live::{
    ClassResults, CueInterval, LiveCancelled, LiveCue, LiveEnded, LiveHighFive, LiveSnapshot,
    LiveStarted,
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
            participants: self.present,
            cues: cues.into_iter().cloned().collect(),
            leaderboard: top,
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
        // The snapshot and the catch-up are bounded, so they may pass the queue bound.
        for frame in std::iter::once(snapshot).chain(replay) {
            msg.device.mailbox.deliver(Deliver {
                frame,
                family: "live",
                created: Instant::now(),
            });
        }
        let newcomer = !self.participants.contains_key(&msg.user);
        let order = self.next_order;
        let participant = self
            .participants
            .entry(msg.user)
            .or_insert_with(|| Participant {
                name: "Participant".into(),
                devices: Vec::new(),
                sample: Sample::default(),
                order,
                last_metric: None,
                last_high_five: None,
                rank: None,
            });
        let arriving = !participant.present();
        participant.devices.retain(|d| d.key != msg.device.key);
        participant.devices.push(msg.device);
        if newcomer {
            self.next_order += 1;
            // Attendance counts members; the coach runs the class.
            if msg.user != self.record.coach {
                self.deps.observer.member_attended();
            }
            let users = self.deps.users.clone();
            let user = msg.user;
            let lookup = async move { users.user_by_id(user).await.ok().flatten() };
            ctx.spawn(lookup.into_actor(self).map(move |found, act, _| {
                if let (Some(found), Some(p)) = (found, act.participants.get_mut(&user)) {
                    p.name = found.display_name.as_str().to_owned();
                    act.leaderboard_dirty = true;
                }
            }));
        }
        if arriving {
            self.present += 1;
            self.presence_dirty = true;
            self.deps.observer.participants_changed(1);
        }
        Ok(JoinAck {
            class_seq: self.class_seq,
            participants: self.present,
        })
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
            self.participant_left();
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
        let participant = self
            .participants
            .get_mut(&msg.user)
            .filter(|p| p.present())
            .ok_or(LiveError::NotJoined)?;
        if participant
            .last_metric
            .is_some_and(|at| at.elapsed() < interval)
        {
            return Err(LiveError::RateLimited);
        }
        participant.last_metric = Some(Instant::now());
        participant.sample.merge(msg.sample);
        self.leaderboard_dirty = true;
        Ok(())
    }
}

impl Handler<HighFive> for LiveClass {
    type Result = Result<(), LiveError>;

    fn handle(&mut self, msg: HighFive, _: &mut Context<Self>) -> Self::Result {
        let interval = self.deps.config.high_five_interval;
        let target_present = self.participants.get(&msg.to).is_some_and(|p| p.present());
        let sender = self
            .participants
            .get_mut(&msg.from)
            .filter(|p| p.present())
            .ok_or(LiveError::NotJoined)?;
        if msg.to == msg.from || !target_present {
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
                let ended = LiveEnded {
                    class_id: class_id.clone(),
                    ended_at: self.record.ended_at.map(crate::events::rfc3339),
                    participants: self.participants.len(),
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
                    participants: self.participants.len(),
                    entries,
                };
                let coach = self.record.coach;
                let finished = self
                    .participants
                    .iter()
                    .filter(|(user, p)| **user != coach && p.present())
                    .count() as u64;
                let store = self.deps.classes.clone();
                let id = self.record.id;
                // A struct of strings, numbers and lists always serializes.
                let text = serde_json::to_string(&results).expect("class results serialize");
                let persist = async move { store.put_results(id, &text).await };
                // The results are readable before anyone is told the class ended.
                ctx.wait(persist.into_actor(self).map(move |persisted, act, ctx| {
                    match persisted {
                        Ok(()) => act.deps.observer.members_completed(finished),
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
