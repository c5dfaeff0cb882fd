//! Events pushed to apps and their wire frames. A frame is serialized once, when its event
//! is created, and shared (a reference-counted `ByteString`) by every device it goes to.
//!
//! User events: `{"seq":42,"type":"custom.note","at":"2026-01-24T10:00:00.000Z","data":{}}`.
//! Connection notices (`token.expiring`, `resume.incomplete`, `session.ready`) carry no
//! `seq`: they concern one socket and are never replayed.

use std::fmt;

use bytestring::ByteString;
use serde::Serialize;

use crate::domain::UnixMillis;
use crate::ports::store::FeedEvent;

/// A serialized server-to-client frame.
pub type Frame = ByteString;

pub use crate::domain::time::rfc3339;

/// An event type: `family.name`, lower-case letters, digits, `_` and `.`, at most 64.
/// Deserializing checks it as `parse` does (kinds also travel between nodes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventKind(String);

impl TryFrom<String> for EventKind {
    type Error = EventKindError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        EventKind::parse(&raw)
    }
}

impl From<EventKind> for String {
    fn from(kind: EventKind) -> String {
        kind.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event type looks like `family.name`: 3-64 characters of a-z, 0-9, `_` and `.`")]
pub struct EventKindError;

impl EventKind {
    pub fn parse(raw: &str) -> Result<EventKind, EventKindError> {
        let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.';
        let well_formed = (3..=64).contains(&raw.len())
            && raw.starts_with(|c: char| c.is_ascii_lowercase())
            && raw.chars().all(plain)
            && raw.split('.').count() >= 2
            && raw.split('.').all(|part| !part.is_empty());
        if well_formed {
            Ok(EventKind(raw.to_owned()))
        } else {
            Err(EventKindError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the first dot: a small, fixed set used as a metrics label.
    pub fn family(&self) -> &str {
        family_of(&self.0)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The family of an event type string (`live.cue` -> `live`).
pub fn family_of(kind: &str) -> &str {
    kind.split('.').next().unwrap_or(kind)
}

/// The frame of a sequenced user event. `data` must be JSON text (it is embedded as is).
pub fn event_frame(seq: u64, kind: &str, at: UnixMillis, data: &str) -> Frame {
    // A JSON string of a validated kind cannot fail to serialize.
    let kind = serde_json::to_string(kind).expect("string serializes");
    ByteString::from(format!(
        r#"{{"seq":{seq},"type":{kind},"at":"{}","data":{data}}}"#,
        rfc3339(at)
    ))
}

/// The frame of a stored feed event.
pub fn feed_frame(event: &FeedEvent) -> Frame {
    event_frame(event.seq, &event.kind, event.at, &event.data)
}

/// The frame of a connection notice (no `seq`).
pub fn notice_frame(kind: &str, at: UnixMillis, data: &impl Serialize) -> Frame {
    #[derive(Serialize)]
    struct Notice<'a, D> {
        #[serde(rename = "type")]
        kind: &'a str,
        at: String,
        data: &'a D,
    }
    let notice = Notice {
        kind,
        at: rfc3339(at),
        data,
    };
    // Serializing a struct of strings and a serializable value into a String cannot fail.
    ByteString::from(serde_json::to_string(&notice).expect("notice serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_frame_is_the_protocol_envelope() {
        let frame = event_frame(42, "custom.note", 1_769_248_800_000, r#"{"text":"hi"}"#);
        let value: serde_json::Value = serde_json::from_str(&frame).expect("json");
        assert_eq!(value["seq"], 42);
        assert_eq!(value["type"], "custom.note");
        assert_eq!(value["at"], "2026-01-24T10:00:00.000Z");
        assert_eq!(value["data"]["text"], "hi");
    }

    #[test]
    fn a_notice_has_no_seq() {
        let frame = notice_frame("token.expiring", 0, &serde_json::json!({"in_seconds": 60}));
        let value: serde_json::Value = serde_json::from_str(&frame).expect("json");
        assert!(value.get("seq").is_none());
        assert_eq!(value["data"]["in_seconds"], 60);
    }

    #[test]
    fn an_event_kind_from_json_is_checked_like_a_parsed_one() {
        let kind: EventKind = serde_json::from_str(r#""live.cue""#).expect("valid kind");
        assert_eq!(serde_json::to_string(&kind).expect("json"), r#""live.cue""#);
        assert!(serde_json::from_str::<EventKind>(r#""Live cue""#).is_err());
    }

    #[test]
    fn event_kinds_are_dotted_lower_case_names() {
        assert_eq!(
            EventKind::parse("live.cue").expect("valid").family(),
            "live"
        );
        for bad in [
            "",
            "cue",
            "Live.cue",
            "live..cue",
            ".cue",
            "live.",
            "live cue",
            "x",
        ] {
            assert!(EventKind::parse(bad).is_err(), "{bad:?}");
        }
    }
}
