//! Events pushed to apps and their wire frames. A frame is serialized once, when its event
//! is created, and shared (a reference-counted `ByteString`) by every device it goes to.
//!
//! User events: `{"seq":42,"type":"custom.note","at":"2026-01-24T10:00:00.000Z","data":{}}`.
//! Class events, as a participant gets them: `{"class_seq":3,"class_id":"...","type":
//! "live.cue",...}`: a frame names the sequence it belongs to, so an app never mistakes a
//! class's number for its own feed's. Connection notices (`token.expiring`, `resume.incomplete`, `session.ready`) carry no
//! `seq`: they concern one socket and are never replayed.

use std::borrow::Cow;
use std::fmt;

use bytestring::ByteString;
use serde::Serialize;

use crate::domain::UnixMillis;
use crate::ports::store::FeedEvent;

/// A serialized server-to-client frame.
pub type Frame = ByteString;

pub use crate::domain::time::rfc3339;

pub mod data;
pub mod kinds;

/// An event type: `family.name`, lower-case letters, digits, `_` and `.`, at most 64.
/// The kinds the server sends are constants in [`kinds`], checked when compiled; kinds
/// from outside (admin events, the bus) are checked by `parse`, and deserializing checks
/// as `parse` does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventKind(Cow<'static, str>);

impl TryFrom<String> for EventKind {
    type Error = EventKindError;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        if well_formed(&raw) {
            Ok(EventKind(Cow::Owned(raw)))
        } else {
            Err(EventKindError)
        }
    }
}

impl From<EventKind> for String {
    fn from(kind: EventKind) -> String {
        kind.0.into_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event type looks like `family.name`: 3-64 characters of a-z, 0-9, `_` and `.`")]
pub struct EventKindError;

/// The one rule for event kinds, usable at compile time: 3-64 bytes of `a-z0-9_.`, a
/// letter first, at least two dot-separated parts, none empty.
const fn well_formed(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    if bytes.len() < 3 || bytes.len() > 64 || !bytes[0].is_ascii_lowercase() {
        return false;
    }
    let (mut i, mut dots) = (0, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'.' {
            // A dot may neither end the kind nor follow another dot.
            if i + 1 == bytes.len() || bytes[i - 1] == b'.' {
                return false;
            }
            dots += 1;
        } else if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return false;
        }
        i += 1;
    }
    dots > 0
}

impl EventKind {
    /// A kind known when compiling: a malformed one fails the build where it is used in a
    /// `const` (and panics elsewhere).
    pub const fn known(raw: &'static str) -> EventKind {
        assert!(well_formed(raw), "a malformed event kind");
        EventKind(Cow::Borrowed(raw))
    }

    pub fn parse(raw: &str) -> Result<EventKind, EventKindError> {
        EventKind::try_from(raw.to_owned())
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

/// The frame of a class event for its participants: the class's own sequence, named
/// apart from a user's `seq`. `data` must be JSON text.
pub fn class_event_frame(
    class_seq: u64,
    class_id: &str,
    kind: &str,
    at: UnixMillis,
    data: &str,
) -> Frame {
    let kind = serde_json::to_string(kind).expect("string serializes");
    let class_id = serde_json::to_string(class_id).expect("string serializes");
    ByteString::from(format!(
        r#"{{"class_seq":{class_seq},"class_id":{class_id},"type":{kind},"at":"{}","data":{data}}}"#,
        rfc3339(at)
    ))
}

/// The frame of a stored feed event.
pub fn feed_frame(event: &FeedEvent) -> Frame {
    event_frame(event.seq, &event.kind, event.at, &event.data)
}

/// The frame of a connection notice (no `seq`).
pub fn notice_frame(kind: &EventKind, at: UnixMillis, data: &impl Serialize) -> Frame {
    #[derive(Serialize)]
    struct Notice<'a, D> {
        #[serde(rename = "type")]
        kind: &'a str,
        at: String,
        data: &'a D,
    }
    let notice = Notice {
        kind: kind.as_str(),
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
    fn a_class_event_frame_names_the_class_sequence_not_the_users() {
        let frame = class_event_frame(3, "c1", "live.cue", 0, r#"{"text":"go"}"#);
        let value: serde_json::Value = serde_json::from_str(&frame).expect("json");
        assert_eq!(value["class_seq"], 3);
        assert_eq!(value["class_id"], "c1");
        assert!(value.get("seq").is_none(), "{frame}");
        assert_eq!(value["data"]["text"], "go");
    }

    #[test]
    fn a_notice_has_no_seq() {
        let frame = notice_frame(
            &kinds::TOKEN_EXPIRING,
            0,
            &serde_json::json!({"in_seconds": 60}),
        );
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
