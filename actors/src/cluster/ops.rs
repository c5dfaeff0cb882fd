//! What one node asks of another: an operation on a user's session or a class, sent to the
//! node that holds it (its control subject) or, when nobody does, to the node that should
//! start it. The cluster carries the operation as the JSON its owner (the hub or the live
//! registry) encodes, without knowing it: operations are typed where they are handled.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::device::DeviceKey;
use crate::domain::{ClassId, UserId};

/// Whose holder a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Target {
    User(UserId),
    Class(ClassId),
    /// A drop's waiting room (by drop id): one queue and one admission rate per cluster.
    Room(uuid::Uuid),
}

impl Target {
    /// The key owners are hashed by.
    pub fn key(&self) -> String {
        match self {
            Target::User(user) => format!("user.{user}"),
            Target::Class(class) => format!("live.{class}"),
            Target::Room(drop) => format!("room.{drop}"),
        }
    }
}

/// A request on the bus: the target and its owner's encoding of the operation.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    pub target: Target,
    pub op: Box<RawValue>,
}

/// Why a holder could not carry out a request. What the operation itself refused (a
/// session error, a class error) is part of its typed answer, not this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RemoteError {
    /// This node is draining, the holder is handing over, or nobody can hold the target
    /// now: ask again shortly.
    #[error("busy; try again")]
    Busy,
    #[error("malformed request: {0}")]
    Malformed(String),
}

/// A holder's reply as it travels: the node that answered and the operation's encoded
/// answer (or why there is none).
#[derive(Debug, Serialize, Deserialize)]
pub struct Reply {
    pub node: String,
    pub answer: Result<Box<RawValue>, RemoteError>,
}

/// Encodes a value for the wire; our own operations and answers always serialize.
pub fn encode<T: Serialize>(value: &T) -> Box<RawValue> {
    let text = serde_json::to_string(value).expect("cluster messages serialize");
    RawValue::from_string(text).expect("serde_json writes valid JSON")
}

/// Decodes what [`encode`] made.
pub fn decode<T: for<'de> Deserialize<'de>>(raw: &RawValue) -> Result<T, RemoteError> {
    serde_json::from_str(raw.get()).map_err(|e| RemoteError::Malformed(e.to_string()))
}

/// A socket key on the holder standing for socket `key` of `node`: the high bit keeps it
/// apart from the holder's own socket keys (a counter from 1).
pub fn remote_key(node: &str, key: DeviceKey) -> DeviceKey {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in node.bytes().chain(key.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (1 << 63) | (hash >> 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_carries_its_operation_untouched() {
        let request = Request {
            target: Target::User(UserId::random()),
            op: encode(&serde_json::json!({ "Publish": { "kind": "custom.x", "data": "{}" } })),
        };
        let text = serde_json::to_string(&request).expect("serializes");
        let back: Request = serde_json::from_str(&text).expect("parses");
        assert_eq!(back.target, request.target);
        assert_eq!(back.op.get(), request.op.get());
    }

    #[test]
    fn remote_keys_never_collide_with_local_ones() {
        assert!(remote_key("n1", 1) >= 1 << 63);
        assert_ne!(remote_key("n1", 1), remote_key("n2", 1));
    }
}
