//! On-demand replay frames: `live.replay.metric` (the member's metrics at an offset from
//! the class's start) and `live.replay.finish`. A replay starts over REST
//! (`POST /v1/live/classes/{id}/replays`); its board comes back as `live.replay_board`.

use actix_web_actors::ws::WebsocketContext;
use fitpulse_actors::live::Sample;
use fitpulse_actors::replay::ReplayError;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::ErrorCode;
use crate::ws::{Connection, replies};

fn invalid(id: Option<u64>, message: &str) -> bytestring::ByteString {
    replies::error(id, ErrorCode::InvalidFrame, message)
}

fn replay_error(id: Option<u64>, err: ReplayError) -> bytestring::ByteString {
    replies::error(id, ErrorCode::from(&err), &err.to_string())
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "LiveReplayMetricRequest")]
#[serde(deny_unknown_fields)]
pub struct LiveReplayMetric {
    replay_id: String,
    /// Seconds from the class's start (never going back).
    offset: u32,
    /// Cumulative work in kilojoules.
    output: Option<f64>,
    reps: Option<u32>,
    /// Beats per minute.
    heart_rate: Option<u32>,
}

impl LiveReplayMetric {
    fn sample(&self) -> Result<Sample, &'static str> {
        let sample = Sample {
            pace: None,
            reps: self.reps,
            heart_rate: self.heart_rate,
            output: self.output,
        };
        super::live::in_range(sample, "send at least one of output, reps, heart_rate")
    }

    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        let (Some(user), Ok(replay)) = (conn.user(), self.replay_id.parse::<Uuid>()) else {
            return conn.reply(ctx, invalid(id, "`replay_id` is a replay id (UUID)"));
        };
        let sample = match self.sample() {
            Ok(sample) => sample,
            Err(message) => return conn.reply(ctx, invalid(id, message)),
        };
        let replays = conn.gateway().replays.clone();
        let device = conn.device(ctx);
        let offset = self.offset;
        conn.reply_when_done(ctx, async move {
            match replays.metric(user, replay, device, offset, sample).await {
                Ok(()) => replies::ok(id, &replies::Done {}),
                Err(err) => replay_error(id, err),
            }
        });
    }
}

#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "LiveReplayFinishRequest")]
#[serde(deny_unknown_fields)]
pub struct LiveReplayFinish {
    replay_id: String,
}

/// The ride as the member's history keeps it.
#[derive(Serialize, JsonSchema)]
pub struct ReplayFinished {
    workout_id: String,
    class_id: String,
    output: Option<f64>,
    reps: Option<u32>,
    /// The place at the last offset, of how many.
    rank: Option<u32>,
    of: Option<u32>,
}

impl LiveReplayFinish {
    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        let (Some(user), Ok(replay)) = (conn.user(), self.replay_id.parse::<Uuid>()) else {
            return conn.reply(ctx, invalid(id, "`replay_id` is a replay id (UUID)"));
        };
        let replays = conn.gateway().replays.clone();
        conn.reply_when_done(ctx, async move {
            match replays.finish(user, replay).await {
                Ok(w) => replies::ok(
                    id,
                    &ReplayFinished {
                        workout_id: w.id.to_string(),
                        class_id: w.class_id.map(|c| c.to_string()).unwrap_or_default(),
                        output: w.output,
                        reps: w.reps,
                        rank: w.rank,
                        of: w.of,
                    },
                ),
                Err(err) => replay_error(id, err),
            }
        });
    }
}
