//! Client frames: `{"id":7,"type":"feed.ack","data":{"seq":42}}`. One file per family,
//! one enum to dispatch; later capabilities add their frames here. A frame that cannot be
//! read or is not known gets an error reply and the socket stays open.

mod auth;
mod feed;
mod live;
mod ping;
mod plan;

use actix_web_actors::ws::WebsocketContext;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::Connection;
use crate::http::ErrorCode;

pub enum ClientFrame {
    Ping(ping::Ping),
    AuthRefresh(auth::AuthRefresh),
    FeedAck(feed::FeedAck),
    PlanGet(plan::PlanGet),
    LiveJoin(live::LiveJoin),
    LiveLeave(live::LiveLeave),
    LiveMetric(live::LiveMetric),
    LiveHighFive(live::LiveHighFive),
    LiveCue(live::LiveCue),
}

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
    fn decode<T: DeserializeOwned>(
        id: Option<u64>,
        kind: &str,
        data: Value,
    ) -> Result<T, Rejected> {
        serde_json::from_value(data).map_err(|e| Rejected {
            id,
            code: ErrorCode::InvalidFrame,
            message: format!("`{kind}` data: {e}"),
            label: "invalid",
        })
    }
    let id = envelope.id;
    let kind = envelope.kind.as_str();
    let frame = match kind {
        "ping" => ClientFrame::Ping(decode(id, kind, data)?),
        "auth.refresh" => ClientFrame::AuthRefresh(decode(id, kind, data)?),
        "feed.ack" => ClientFrame::FeedAck(decode(id, kind, data)?),
        "plan.get" => ClientFrame::PlanGet(decode(id, kind, data)?),
        "live.join" => ClientFrame::LiveJoin(decode(id, kind, data)?),
        "live.leave" => ClientFrame::LiveLeave(decode(id, kind, data)?),
        "live.metric" => ClientFrame::LiveMetric(decode(id, kind, data)?),
        "live.high_five" => ClientFrame::LiveHighFive(decode(id, kind, data)?),
        "live.cue" => ClientFrame::LiveCue(decode(id, kind, data)?),
        other => {
            return Err(Rejected {
                id,
                code: ErrorCode::UnknownType,
                message: format!("unknown frame type `{other}`"),
                label: "unknown",
            });
        }
    };
    Ok((id, frame))
}

impl ClientFrame {
    pub fn label(&self) -> &'static str {
        match self {
            ClientFrame::Ping(_) => "ping",
            ClientFrame::AuthRefresh(_) => "auth.refresh",
            ClientFrame::FeedAck(_) => "feed.ack",
            ClientFrame::PlanGet(_) => "plan.get",
            ClientFrame::LiveJoin(_) => "live.join",
            ClientFrame::LiveLeave(_) => "live.leave",
            ClientFrame::LiveMetric(_) => "live.metric",
            ClientFrame::LiveHighFive(_) => "live.high_five",
            ClientFrame::LiveCue(_) => "live.cue",
        }
    }

    pub fn handle(
        self,
        id: Option<u64>,
        conn: &mut Connection,
        ctx: &mut WebsocketContext<Connection>,
    ) {
        match self {
            ClientFrame::Ping(frame) => frame.handle(id, conn, ctx),
            ClientFrame::AuthRefresh(frame) => frame.handle(id, conn, ctx),
            ClientFrame::FeedAck(frame) => frame.handle(id, conn, ctx),
            ClientFrame::PlanGet(frame) => frame.handle(id, conn, ctx),
            ClientFrame::LiveJoin(frame) => frame.handle(id, conn, ctx),
            ClientFrame::LiveLeave(frame) => frame.handle(id, conn, ctx),
            ClientFrame::LiveMetric(frame) => frame.handle(id, conn, ctx),
            ClientFrame::LiveHighFive(frame) => frame.handle(id, conn, ctx),
            ClientFrame::LiveCue(frame) => frame.handle(id, conn, ctx),
        }
    }
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
