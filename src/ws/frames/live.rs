//! Live-class frames: `live.join`, `live.leave`, `live.leaderboard.view`, `live.metric`,
//! `live.high_five`, and the coach's `live.cue` and `live.interval.control`. Values are
//! checked here; the class decides what its state allows.

use actix::prelude::*;
use actix_web_actors::ws::WebsocketContext;
use fitpulse_actors::domain::{ClassId, Role, UserId, text};
use fitpulse_actors::events::data::live::CueInterval;
use fitpulse_actors::live::intervals::MAX_EXTEND_SECONDS;
use fitpulse_actors::live::{IntervalAction, LiveError, Sample, View};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::http::ErrorCode;
use crate::ws::{Connection, replies};

/// Longest cue text, in characters.
const MAX_CUE_CHARS: usize = 280;

/// Rejects a frame whose values are out of range.
fn invalid(id: Option<u64>, message: &str) -> bytestring::ByteString {
    replies::error(id, ErrorCode::InvalidFrame, message)
}

fn live_error(id: Option<u64>, err: LiveError) -> bytestring::ByteString {
    replies::error(id, ErrorCode::from(&err), &err.to_string())
}

/// `{}` on success, the class's refusal otherwise.
fn done(id: Option<u64>, outcome: Result<(), LiveError>) -> bytestring::ByteString {
    match outcome {
        Ok(()) => replies::ok(id, &replies::Done {}),
        Err(err) => live_error(id, err),
    }
}

fn class_id(raw: &str) -> Option<ClassId> {
    raw.parse().ok()
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "LiveJoinRequest")]
#[serde(deny_unknown_fields)]
pub struct LiveJoin {
    class_id: String,
    /// The class seq the app has seen: the class events after it are replayed.
    since: Option<u64>,
    /// The leaderboard to watch: `all` (the default) or `following`.
    #[serde(default)]
    view: ViewName,
}

/// A leaderboard view's name on the wire.
#[derive(Deserialize, JsonSchema, Default, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ViewName {
    #[default]
    All,
    Following,
}

impl From<ViewName> for View {
    fn from(v: ViewName) -> View {
        match v {
            ViewName::All => View::All,
            ViewName::Following => View::Following,
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub struct Joined {
    class_id: String,
    /// The class's newest seq: the class events after it arrive live.
    class_seq: u64,
    participants: usize,
}

impl LiveJoin {
    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        let (Some(user), Some(class)) = (conn.user(), class_id(&self.class_id)) else {
            return conn.reply(ctx, invalid(id, "`class_id` is a class id (UUID)"));
        };
        let live = conn.gateway().live.clone();
        let device = conn.device(ctx);
        let premium = conn.premium_allowed();
        conn.joined(class);
        let view = self.view.into();
        let join = async move {
            live.join(class, user, device, self.since, premium, view)
                .await
        };
        ctx.spawn(join.into_actor(conn).map(move |joined, conn, ctx| {
            let reply = match joined {
                Ok(ack) => replies::ok(
                    id,
                    &Joined {
                        class_id: class.to_string(),
                        class_seq: ack.class_seq,
                        participants: ack.participants,
                    },
                ),
                Err(err) => {
                    conn.left(class);
                    live_error(id, err)
                }
            };
            conn.reply(ctx, reply);
        }));
    }
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "LiveLeaveRequest")]
#[serde(deny_unknown_fields)]
pub struct LiveLeave {
    class_id: String,
}

#[derive(Serialize, JsonSchema)]
pub struct Left {
    class_id: String,
}

impl LiveLeave {
    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        let (Some(user), Some(class)) = (conn.user(), class_id(&self.class_id)) else {
            return conn.reply(ctx, invalid(id, "`class_id` is a class id (UUID)"));
        };
        if conn.left(class) {
            conn.gateway().live.leave(class, user, conn.key());
            conn.reply(
                ctx,
                replies::ok(
                    id,
                    &Left {
                        class_id: class.to_string(),
                    },
                ),
            );
        } else {
            conn.reply(ctx, live_error(id, LiveError::NotJoined));
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "LiveLeaderboardViewRequest")]
#[serde(deny_unknown_fields)]
pub struct LiveLeaderboardView {
    class_id: String,
    view: ViewName,
}

impl LiveLeaderboardView {
    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        let (Some(user), Some(class)) = (conn.user(), class_id(&self.class_id)) else {
            return conn.reply(ctx, invalid(id, "`class_id` is a class id (UUID)"));
        };
        let live = conn.gateway().live.clone();
        let view = self.view.into();
        conn.reply_when_done(ctx, async move {
            done(id, live.choose_view(class, user, view).await)
        });
    }
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "LiveMetricRequest")]
#[serde(deny_unknown_fields)]
pub struct LiveMetric {
    class_id: String,
    /// Seconds per kilometre.
    pace: Option<f64>,
    reps: Option<u32>,
    /// Beats per minute.
    heart_rate: Option<u32>,
    /// Cumulative work in kilojoules.
    output: Option<f64>,
}

/// Checks a sample's values against the protocol's ranges (the class's plausibility rules
/// come after); `empty` is the message for a sample with no value at all.
pub(super) fn in_range(sample: Sample, empty: &'static str) -> Result<Sample, &'static str> {
    if sample == Sample::default() {
        return Err(empty);
    }
    if sample.pace.is_some_and(|p| !(60.0..=3600.0).contains(&p)) {
        return Err("`pace` is 60 to 3600 seconds per km");
    }
    if sample.reps.is_some_and(|r| r > 100_000) {
        return Err("`reps` is at most 100000");
    }
    if sample.heart_rate.is_some_and(|h| !(30..=250).contains(&h)) {
        return Err("`heart_rate` is 30 to 250 bpm");
    }
    if sample
        .output
        .is_some_and(|o| !(0.0..=100_000.0).contains(&o))
    {
        return Err("`output` is 0 to 100000 kJ");
    }
    Ok(sample)
}

impl LiveMetric {
    fn sample(&self) -> Result<Sample, &'static str> {
        let sample = Sample {
            pace: self.pace,
            reps: self.reps,
            heart_rate: self.heart_rate,
            output: self.output,
        };
        in_range(
            sample,
            "send at least one of pace, reps, heart_rate, output",
        )
    }

    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        let (Some(user), Some(class)) = (conn.user(), class_id(&self.class_id)) else {
            return conn.reply(ctx, invalid(id, "`class_id` is a class id (UUID)"));
        };
        let sample = match self.sample() {
            Ok(sample) => sample,
            Err(message) => return conn.reply(ctx, invalid(id, message)),
        };
        let live = conn.gateway().live.clone();
        conn.reply_when_done(ctx, async move {
            done(id, live.metric(class, user, sample).await)
        });
    }
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "LiveHighFiveRequest")]
#[serde(deny_unknown_fields)]
pub struct LiveHighFive {
    class_id: String,
    to_user_id: String,
}

impl LiveHighFive {
    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        let (Some(user), Some(class)) = (conn.user(), class_id(&self.class_id)) else {
            return conn.reply(ctx, invalid(id, "`class_id` is a class id (UUID)"));
        };
        let Ok(to) = self.to_user_id.parse::<UserId>() else {
            return conn.reply(ctx, invalid(id, "`to_user_id` is a user id (UUID)"));
        };
        let live = conn.gateway().live.clone();
        conn.reply_when_done(ctx, async move {
            done(id, live.high_five(class, user, to).await)
        });
    }
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "IntervalRequest")]
#[serde(deny_unknown_fields)]
pub struct Interval {
    label: Option<String>,
    seconds: u32,
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "LiveCueRequest")]
#[serde(deny_unknown_fields)]
pub struct LiveCue {
    class_id: String,
    text: String,
    interval: Option<Interval>,
}

#[derive(Serialize, JsonSchema)]
pub struct Cued {
    /// The cue's class seq.
    class_seq: u64,
}

impl LiveCue {
    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        let (Some(user), Some(class)) = (conn.user(), class_id(&self.class_id)) else {
            return conn.reply(ctx, invalid(id, "`class_id` is a class id (UUID)"));
        };
        if !conn.has_role(Role::Coach) {
            return conn.reply(ctx, live_error(id, LiveError::NotCoach));
        }
        let text = match text::line(&self.text, MAX_CUE_CHARS) {
            Ok(text) => text,
            Err(err) => return conn.reply(ctx, invalid(id, &format!("`text` {err}"))),
        };
        let interval = match self.interval {
            Some(i) if !(1..=3600).contains(&i.seconds) => {
                return conn.reply(ctx, invalid(id, "`interval.seconds` is 1 to 3600"));
            }
            Some(i) => {
                let label = i.label.as_deref().filter(|l| !l.trim().is_empty());
                let label = match label.map(|l| text::line(l, 40)).transpose() {
                    Ok(label) => label,
                    Err(err) => {
                        return conn.reply(ctx, invalid(id, &format!("`interval.label` {err}")));
                    }
                };
                Some(CueInterval {
                    label,
                    seconds: i.seconds,
                })
            }
            None => None,
        };
        // Admins may cue any class, to help out a coach.
        let admin = conn.has_role(Role::Admin);
        let live = conn.gateway().live.clone();
        conn.reply_when_done(ctx, async move {
            match live.cue(class, user, admin, text, interval).await {
                Ok(class_seq) => replies::ok(id, &Cued { class_seq }),
                Err(err) => live_error(id, err),
            }
        });
    }
}

/// What the coach does with the class clock.
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum ClockAction {
    Start,
    Skip,
    Extend,
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "LiveIntervalControlRequest")]
#[serde(deny_unknown_fields)]
pub struct LiveIntervalControl {
    class_id: String,
    action: ClockAction,
    /// Only with `extend`: 1 to 600.
    seconds: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
pub struct ClockMoved {
    /// The current interval's index; `null` when the timeline is over.
    index: Option<usize>,
    ends_at: Option<String>,
}

impl LiveIntervalControl {
    fn action(&self) -> Result<IntervalAction, &'static str> {
        match (self.action, self.seconds) {
            (ClockAction::Start, None) => Ok(IntervalAction::Start),
            (ClockAction::Skip, None) => Ok(IntervalAction::Skip),
            (ClockAction::Extend, Some(s)) if (1..=MAX_EXTEND_SECONDS).contains(&s) => {
                Ok(IntervalAction::Extend(s))
            }
            (ClockAction::Extend, _) => Err("`extend` takes `seconds`, 1 to 600"),
            _ => Err("only `extend` takes `seconds`"),
        }
    }

    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        let (Some(user), Some(class)) = (conn.user(), class_id(&self.class_id)) else {
            return conn.reply(ctx, invalid(id, "`class_id` is a class id (UUID)"));
        };
        if !conn.has_role(Role::Coach) {
            return conn.reply(ctx, live_error(id, LiveError::NotCoach));
        }
        let action = match self.action() {
            Ok(action) => action,
            Err(message) => return conn.reply(ctx, invalid(id, message)),
        };
        let admin = conn.has_role(Role::Admin);
        let live = conn.gateway().live.clone();
        conn.reply_when_done(ctx, async move {
            match live.interval(class, user, admin, action).await {
                Ok(ack) => replies::ok(
                    id,
                    &ClockMoved {
                        index: ack.index,
                        ends_at: ack.ends_at,
                    },
                ),
                Err(err) => live_error(id, err),
            }
        });
    }
}
