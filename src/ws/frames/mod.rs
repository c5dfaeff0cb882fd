//! Client frames: `{"id":7,"type":"feed.ack","data":{"seq":42}}`. One file per family,
//! one list (`client_frames!`) to dispatch; a new frame is one line there. A frame that cannot be
//! read or is not known gets an error reply and the socket stays open.

mod auth;
mod feed;
mod live;
mod ping;
mod plan;
mod replay;

use actix_web_actors::ws::WebsocketContext;
use schemars::{Schema, SchemaGenerator};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Connection;
use crate::http::ErrorCode;

/// A frame that got no further than parsing.
#[derive(Debug)]
pub struct Rejected {
    pub id: Option<u64>,
    pub code: ErrorCode,
    pub message: String,
    /// The metrics label it is counted under.
    pub label: &'static str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    #[serde(default)]
    id: Option<u64>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Option<Value>,
}

/// Reads a client frame: its id (for the reply) and what it asks.
pub fn parse(text: &str) -> Result<(Option<u64>, ClientFrame), Rejected> {
    let value: Value = serde_json::from_str(text).map_err(|e| Rejected {
        id: None,
        code: ErrorCode::MalformedFrame,
        message: format!("not JSON: {e}"),
        label: "malformed",
    })?;
    let id = value.get("id").and_then(Value::as_u64);
    let invalid = |message: String| Rejected {
        id,
        code: ErrorCode::InvalidFrame,
        message,
        label: "invalid",
    };
    let envelope: Envelope = serde_json::from_value(value).map_err(|e| invalid(e.to_string()))?;
    let data = envelope
        .data
        .unwrap_or_else(|| Value::Object(Default::default()));
    let id = envelope.id;
    let kind = envelope.kind.as_str();
    let frame = decode_frame(id, kind, data)?;
    Ok((id, frame))
}

/// A client frame for documents: its `type`, what it asks, and the schemas of its data
/// and of its reply's data.
pub struct ClientFrameDoc {
    pub kind: &'static str,
    pub summary: &'static str,
    pub data: fn(&mut SchemaGenerator) -> Schema,
    pub reply: fn(&mut SchemaGenerator) -> Schema,
}

/// Every client frame, once: its `type`, its variant, its data type (whose `handle` does
/// the work) and its reply's data type. Adding a frame is a line here and the file of its
/// family.
macro_rules! client_frames {
    ($($kind:literal => $variant:ident($data:ty) -> $reply:ty, $summary:literal;)*) => {
        pub enum ClientFrame {
            $($variant($data),)*
        }

        /// The `type` of every client frame, in the order listed.
        pub const FRAME_TYPES: &[&str] = &[$($kind,)*];

        /// Every client frame with the schemas of its data and reply.
        pub fn documents() -> Vec<ClientFrameDoc> {
            vec![$(ClientFrameDoc {
                kind: $kind,
                summary: $summary,
                data: |generator| generator.subschema_for::<$data>(),
                reply: |generator| generator.subschema_for::<$reply>(),
            },)*]
        }

        fn decode_frame(id: Option<u64>, kind: &str, data: Value) -> Result<ClientFrame, Rejected> {
            match kind {
                $($kind => Ok(ClientFrame::$variant(decode(id, kind, data)?)),)*
                other => Err(Rejected {
                    id,
                    code: ErrorCode::UnknownType,
                    message: format!("unknown frame type `{other}`"),
                    label: "unknown",
                }),
            }
        }

        impl ClientFrame {
            pub fn label(&self) -> &'static str {
                match self {
                    $(ClientFrame::$variant(_) => $kind,)*
                }
            }

            pub fn handle(
                self,
                id: Option<u64>,
                conn: &mut Connection,
                ctx: &mut WebsocketContext<Connection>,
            ) {
                match self {
                    $(ClientFrame::$variant(frame) => frame.handle(id, conn, ctx),)*
                }
            }
        }
    };
}

client_frames! {
    "ping" => Ping(ping::Ping) -> ping::Pong, "Checks the connection; answers the server's time";
    "auth.refresh" => AuthRefresh(auth::AuthRefresh) -> auth::Refreshed, "Replaces the socket's access token with a new one of the same user";
    "feed.ack" => FeedAck(feed::FeedAck) -> feed::Acked, "Moves the read position shared by the user's devices forward";
    "plan.get" => PlanGet(plan::PlanGet) -> plan::StoredPlan, "Reads the user's stored plan";
    "live.join" => LiveJoin(live::LiveJoin) -> live::Joined, "Joins a class (with `since`: catches up its events after that class seq)";
    "live.leave" => LiveLeave(live::LiveLeave) -> live::Left, "Leaves a class";
    "live.leaderboard.view" => LiveLeaderboardView(live::LiveLeaderboardView) -> super::replies::Done, "Switches the leaderboard the member watches: `all` or `following`";
    "live.metric" => LiveMetric(live::LiveMetric) -> super::replies::Done, "Reports the participant's metrics (at most 4 a second)";
    "live.high_five" => LiveHighFive(live::LiveHighFive) -> super::replies::Done, "Sends a high-five to another participant (one per 2 s)";
    "live.cue" => LiveCue(live::LiveCue) -> live::Cued, "The coach's cue to the class (coach of the class or admin)";
    "live.interval.control" => LiveIntervalControl(live::LiveIntervalControl) -> live::ClockMoved, "The coach starts, skips or extends the class's current interval";
    "live.replay.metric" => LiveReplayMetric(replay::LiveReplayMetric) -> super::replies::Done, "The member's metrics in an on-demand replay, at an offset from the class's start (at most 4 a second)";
    "live.replay.finish" => LiveReplayFinish(replay::LiveReplayFinish) -> replay::ReplayFinished, "Finishes an on-demand replay: the ride goes into the member's history";
}

/// The labels rejected frames are counted under.
pub const REJECTED_LABELS: [&str; 4] = ["unknown", "malformed", "invalid", "binary"];

/// A frame's data, read as its type says.
fn decode<T: DeserializeOwned>(id: Option<u64>, kind: &str, data: Value) -> Result<T, Rejected> {
    serde_json::from_value(data).map_err(|e| Rejected {
        id,
        code: ErrorCode::InvalidFrame,
        message: format!("`{kind}` data: {e}"),
        label: "invalid",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(text: &str) -> Rejected {
        match parse(text) {
            Ok(_) => panic!("accepted {text}"),
            Err(r) => r,
        }
    }

    #[test]
    fn a_known_frame_parses_with_its_id() {
        let (id, frame) = parse(r#"{"id":7,"type":"feed.ack","data":{"seq":3}}"#).expect("valid");
        assert_eq!(id, Some(7));
        assert_eq!(frame.label(), "feed.ack");
        let (id, frame) = parse(r#"{"type":"ping"}"#).expect("data is optional");
        assert_eq!((id, frame.label()), (None, "ping"));
    }

    #[test]
    fn text_that_is_not_json_is_malformed() {
        let r = rejected("{nope");
        assert_eq!((r.code.as_str(), r.id), ("malformed_frame", None));
    }

    #[test]
    fn an_unknown_type_keeps_the_id_for_the_reply() {
        let r = rejected(r#"{"id":9,"type":"teleport","data":{}}"#);
        assert_eq!((r.code.as_str(), r.id), ("unknown_type", Some(9)));
    }

    #[test]
    fn wrong_data_or_extra_fields_are_invalid() {
        for text in [
            r#"{"id":1,"type":"feed.ack","data":{"seq":"three"}}"#,
            r#"{"id":1,"type":"feed.ack","data":{"seq":3,"extra":true}}"#,
            r#"{"id":1,"type":"ping","data":{},"junk":1}"#,
            r#"{"id":1}"#,
        ] {
            assert_eq!(rejected(text).code.as_str(), "invalid_frame", "{text}");
        }
    }
}
