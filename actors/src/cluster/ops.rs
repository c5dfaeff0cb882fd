//! Requests one node makes of another: an operation on a user's session or a class,
//! sent to whichever node holds it (its control subject) or, when nobody does, to the
//! node that should start it. JSON, since these are small and rare next to frames.

use serde::{Deserialize, Serialize};

use crate::device::{ClientInfo, DeviceKey};
use crate::domain::{ClassId, LiveClassRecord, UserId};
use crate::events::EventKind;
use crate::live::{ClassHandover, JoinAck, LiveError, Sample};
use crate::ports::store::Entitlement;
use crate::session::{AttachAck, SessionError};

/// Whose holder a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    User(UserId),
    Class(ClassId),
}

impl Target {
    /// The key owners are hashed by.
    pub fn key(&self) -> String {
        match self {
            Target::User(user) => format!("user.{user}"),
            Target::Class(class) => format!("live.{class}"),
        }
    }
}

/// An operation on a user's session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum UserOp {
    /// A socket of `node` attaches: the holder sends its frames on the user's subject.
    Attach {
        node: String,
        key: DeviceKey,
        client: ClientInfo,
        since: Option<u64>,
    },
    Detach {
        node: String,
        key: DeviceKey,
    },
    Publish {
        kind: EventKind,
        data: String,
    },
    Ack {
        seq: u64,
    },
    Plan,
    EditPlan {
        command: String,
    },
    Entitlements {
        entitlements: Vec<Entitlement>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum UserAnswer {
    Attached(AttachAck),
    Done,
    Seq(u64),
    Plan(Option<String>),
    /// The new plan document, or the editor's rejection (JSON).
    Edited(Result<String, String>),
}

/// An operation on a live class.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ClassOp {
    Join {
        node: String,
        key: DeviceKey,
        user: UserId,
        since: Option<u64>,
        premium_allowed: bool,
    },
    Leave {
        node: String,
        key: DeviceKey,
        user: UserId,
    },
    Cue {
        by: UserId,
        admin: bool,
        text: String,
        interval: Option<serde_json::Value>,
    },
    Metric {
        user: UserId,
        sample: Sample,
    },
    HighFive {
        from: UserId,
        to: UserId,
    },
    Push {
        record: LiveClassRecord,
    },
    /// Take over a class from a draining node.
    Adopt {
        handover: ClassHandover,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ClassAnswer {
    Joined(JoinAck),
    Done,
    Seq(u64),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Op {
    User(UserOp),
    Class(ClassOp),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Answer {
    User(UserAnswer),
    Class(ClassAnswer),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub target: Target,
    pub op: Op,
}

/// Why a holder could not carry out a request.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
pub enum RemoteError {
    /// This node is draining or the holder is handing over: ask again shortly.
    #[error("busy; try again")]
    Busy,
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error("malformed request: {0}")]
    Malformed(String),
}

pub type Reply = Result<Answer, RemoteError>;

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
