//! Handing a running class to another node when its node drains: the class's sequence,
//! its recent events (for catch-up) and its participants' names, metrics and join order
//! go to the class's new owner, which carries on from there. Participants reconnect and
//! join again with `since`, so they miss nothing and keep their place on the leaderboard.

use crate::events::{EventKind, kinds};
use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::intervals::ClassClock;
use super::plausibility::{Baseline, Implausible};
use super::{LiveClass, LiveDeps, Participant, Sample, messages::ClassStatus};
use crate::device::{CloseDevice, close};
use crate::domain::{LiveClassRecord, UserId};
use crate::events::Frame;

/// Everything a class needs to go on elsewhere.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassHandover {
    pub record: LiveClassRecord,
    pub class_seq: u64,
    pub recent: Vec<HandoverEvent>,
    pub participants: Vec<HandoverParticipant>,
    pub next_order: u64,
    /// The class clock, where it stands.
    #[serde(default)]
    pub clock: ClassClock,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoverEvent {
    pub seq: u64,
    pub kind: String,
    pub data: Value,
    pub frame: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoverParticipant {
    pub user: UserId,
    pub name: String,
    pub sample: Sample,
    pub order: u64,
    #[serde(default)]
    pub coach: bool,
    #[serde(default)]
    pub rejected: u32,
    /// Off the public board, with the reason.
    #[serde(default)]
    pub flagged: Option<String>,
    #[serde(default)]
    pub timeline: Option<Vec<f32>>,
}

/// A class event kind from a handover; anything else is dropped.
fn class_kind(kind: &str) -> Option<EventKind> {
    kinds::CLASS_EVENTS.into_iter().find(|k| k.as_str() == kind)
}

impl LiveClass {
    fn handover(&self) -> ClassHandover {
        ClassHandover {
            record: self.record.clone(),
            class_seq: self.class_seq,
            recent: self
                .recent
                .iter()
                .map(|(seq, kind, data, frame)| HandoverEvent {
                    seq: *seq,
                    kind: kind.as_str().to_owned(),
                    data: data.clone(),
                    frame: frame.to_string(),
                })
                .collect(),
            participants: self
                .participants
                .iter()
                .map(|(user, p)| HandoverParticipant {
                    user: *user,
                    name: p.name.clone(),
                    sample: p.sample,
                    order: p.order,
                    coach: p.coach,
                    rejected: p.rejected,
                    flagged: p.flagged.map(str::to_owned),
                    timeline: p.timeline.clone(),
                })
                .collect(),
            next_order: self.next_order,
            clock: self.clock.clone(),
        }
    }

    /// A class carrying on from a handover; its participants are away until they rejoin.
    pub(super) fn adopted(
        handover: ClassHandover,
        deps: Arc<LiveDeps>,
        registry: Recipient<ClassStatus>,
    ) -> LiveClass {
        let mut class = LiveClass::new(handover.record, deps, registry);
        class.class_seq = handover.class_seq;
        class.next_order = handover.next_order;
        class.recent = handover
            .recent
            .into_iter()
            .filter_map(|e| Some((e.seq, class_kind(&e.kind)?, e.data, Frame::from(e.frame))))
            .collect();
        class.clock = handover.clock;
        let now = class.deps.clock.now();
        class.participants = handover
            .participants
            .into_iter()
            .map(|p| {
                let mut participant = Participant::new(p.order, p.coach, now);
                participant.name = p.name;
                participant.sample = p.sample;
                // Growth is judged from what the member had here.
                participant.baseline = Baseline {
                    output: p.sample.output.unwrap_or(0.0),
                    reps: p.sample.reps.unwrap_or(0),
                    at: now,
                };
                participant.rejected = p.rejected;
                participant.flagged = p
                    .flagged
                    .and_then(|f| Implausible::ALL.into_iter().find(|i| i.as_str() == f))
                    .map(Implausible::as_str);
                participant.timeline = p.timeline;
                (p.user, participant)
            })
            .collect::<HashMap<_, _>>();
        class.recording = class
            .participants
            .values()
            .filter(|p| p.timeline.is_some())
            .count();
        class.leaderboard_dirty = true;
        class
    }
}

/// Answers the class's handover (the class keeps running until `Retire`).
#[derive(Message)]
#[rtype(result = "ClassHandover")]
pub struct HandOver;

impl Handler<HandOver> for LiveClass {
    type Result = MessageResult<HandOver>;

    fn handle(&mut self, _: HandOver, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.handover())
    }
}

/// The class goes on elsewhere: every participant's socket is closed (1001) so the app
/// reconnects and joins it there, then the class stops.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Retire;

impl Handler<Retire> for LiveClass {
    type Result = ();

    fn handle(&mut self, _: Retire, ctx: &mut Context<Self>) {
        for participant in self.participants.values_mut() {
            for device in participant.devices.drain(..) {
                device.close(CloseDevice {
                    code: close::GOING_AWAY,
                    reason: "server going away; reconnect and resume".into(),
                });
            }
        }
        ctx.stop();
    }
}
