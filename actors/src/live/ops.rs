//! Operations on a live class, written once: each is the class's own message (`SendCue`,
//! ...) with its typed answer. [`Live`] sends it to the class where it runs: to the local
//! registry when this node holds the class (nothing is encoded), or across the bus to the
//! holder, which decodes it into the same message. Adding an operation: the message and
//! its handler in `messages.rs`, and one line in `class_operations!` below.

use actix::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::handle::Live;
use super::messages::{
    ChooseView, ClassPush, CountParticipants, HighFive, IntervalAck, IntervalControl, JoinClass,
    ReportMetric, RosterAnswer, RosterPage, SendCue,
};
use super::registry::Adopt;
use super::{JoinAck, LiveError, View};
use crate::cluster::ops::{decode, encode};
use crate::cluster::{Holder, Reach, RemoteError};
use crate::device::DeviceKey;
use crate::domain::{ClassId, LiveClassRecord, UserId};

/// What the registry needs to know to find (or start) the class an operation is for.
pub trait ForClassOp {
    fn class(&self) -> ClassId;
    /// What a class not running here answers, when the operation may not start it
    /// (`None`: the class is started from its stored record).
    const MISSING: Option<LiveError> = None;
    /// The record to start the class from, when the operation carries it.
    fn record(&self) -> Option<&LiveClassRecord> {
        None
    }
}

/// An operation on a class that can travel to the class's holder.
pub trait ClassOperation:
    Message<Result = Result<Self::Answer, LiveError>> + ForClassOp + Serialize + Send + 'static
{
    type Answer: Serialize + DeserializeOwned + Send + 'static;
    /// Its variant of [`ClassOp`], by which it travels.
    const VARIANT: &'static str;
}

impl ForClassOp for JoinClass {
    fn class(&self) -> ClassId {
        self.class
    }
}

impl ForClassOp for SendCue {
    fn class(&self) -> ClassId {
        self.class
    }
}

impl ForClassOp for ReportMetric {
    fn class(&self) -> ClassId {
        self.class
    }
    const MISSING: Option<LiveError> = Some(LiveError::NotJoined);
}

impl ForClassOp for HighFive {
    fn class(&self) -> ClassId {
        self.class
    }
    const MISSING: Option<LiveError> = Some(LiveError::NotJoined);
}

impl ForClassOp for CountParticipants {
    fn class(&self) -> ClassId {
        self.class
    }
    // A class that does not run has nobody in it; asking never starts one.
    const MISSING: Option<LiveError> = Some(LiveError::NotFound);
}

impl ForClassOp for RosterPage {
    fn class(&self) -> ClassId {
        self.class
    }
    const MISSING: Option<LiveError> = Some(LiveError::NotFound);
}

impl ForClassOp for ChooseView {
    fn class(&self) -> ClassId {
        self.class
    }
    const MISSING: Option<LiveError> = Some(LiveError::NotJoined);
}

impl ForClassOp for IntervalControl {
    fn class(&self) -> ClassId {
        self.class
    }
}

impl ForClassOp for ClassPush {
    fn class(&self) -> ClassId {
        self.record.id
    }
    fn record(&self) -> Option<&LiveClassRecord> {
        Some(&self.record)
    }
}

/// A socket of another node joins the class held here, through a proxy.
#[derive(Debug, Serialize, Deserialize)]
pub struct RemoteJoin {
    pub node: String,
    pub key: DeviceKey,
    pub user: UserId,
    pub since: Option<u64>,
    pub premium_allowed: bool,
    #[serde(default)]
    pub view: View,
    /// The socket's node takes class frames on its sockets subject, for many of its
    /// sockets at once (`cluster::RemoteSocket`); absent from nodes that do not.
    #[serde(default)]
    pub batched: bool,
    /// And several messages in one (`cluster::Reach::Batches`).
    #[serde(default)]
    pub batches: bool,
}

/// A socket of another node left the class held here.
#[derive(Debug, Serialize, Deserialize)]
pub struct RemoteLeave {
    pub node: String,
    pub key: DeviceKey,
    pub user: UserId,
}

/// Encodes an operation as its [`ClassOp`] variant without moving it.
pub(super) fn encode_op<M: ClassOperation>(op: &M) -> Box<RawValue> {
    struct Tagged<'a, M>(&'a M);
    impl<M: ClassOperation> Serialize for Tagged<'_, M> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = s.serialize_map(Some(1))?;
            map.serialize_entry(M::VARIANT, self.0)?;
            map.end()
        }
    }
    encode(&Tagged(op))
}

/// Decodes the answer of an operation carried out by another node.
pub(super) fn decode_answer<T: DeserializeOwned>(raw: &RawValue) -> Result<T, LiveError> {
    decode::<Result<T, LiveError>>(raw).unwrap_or(Err(LiveError::Unavailable))
}

/// Declares every operation on a class: the wire enum [`ClassOp`], each message's
/// [`ClassOperation`] impl, and how a holder carries out one from another node.
macro_rules! class_operations {
    ($($variant:ident($message:ty) -> $answer:ty),* $(,)?) => {
        /// Every operation on a class, as it travels between nodes.
        #[derive(Serialize, Deserialize)]
        pub enum ClassOp {
            Join(RemoteJoin),
            Leave(RemoteLeave),
            /// Take over a class from a draining node.
            Adopt(Adopt),
            $($variant($message),)*
        }

        $(
            impl ClassOperation for $message {
                type Answer = $answer;
                const VARIANT: &'static str = stringify!($variant);
            }
        )*

        impl Live {
            /// Carries out an operation that came from another node; answers it encoded.
            async fn run_op(&self, class: ClassId, op: ClassOp) -> Box<RawValue> {
                match op {
                    ClassOp::Join(join) => encode(&self.join_remote(class, join).await),
                    ClassOp::Leave(leave) => {
                        self.leave_remote(class, leave);
                        encode(&Ok::<(), LiveError>(()))
                    }
                    ClassOp::Adopt(adopt) => encode(&self.adopt(adopt).await),
                    $(ClassOp::$variant(op) => encode(&self.here(op).await),)*
                }
            }
        }
    };
}

class_operations! {
    Cue(SendCue) -> u64,
    Metric(ReportMetric) -> (),
    HighFive(HighFive) -> (),
    Push(ClassPush) -> (),
    Count(CountParticipants) -> usize,
    Roster(RosterPage) -> RosterAnswer,
    View(ChooseView) -> (),
    Interval(IntervalControl) -> IntervalAck,
}

impl Live {
    /// Carries out a request another node sent to this one for `class`. A draining node
    /// adopts nothing and starts nothing; it answers only for classes it still runs
    /// (until it hands them over).
    #[tracing::instrument(level = "debug", name = "class.execute", skip_all)]
    pub async fn execute(
        &self,
        class: ClassId,
        op: &RawValue,
    ) -> Result<Box<RawValue>, RemoteError> {
        let op: ClassOp = decode(op)?;
        if self.cluster.is_draining()
            && (matches!(op, ClassOp::Adopt(_)) || !self.running(class).await)
        {
            return Err(RemoteError::Busy);
        }
        Ok(self.run_op(class, op).await)
    }

    async fn join_remote(&self, class: ClassId, join: RemoteJoin) -> Result<JoinAck, LiveError> {
        let holder = Holder::Class(class, join.user);
        let proxies = self.cluster.proxies();
        let device = proxies.start(
            join.user,
            &join.node,
            join.key,
            holder,
            Default::default(),
            Reach::from_flags(join.batched, join.batches),
        );
        let joined = self
            .here(JoinClass {
                class,
                user: join.user,
                device,
                since: join.since,
                premium_allowed: join.premium_allowed,
                view: join.view,
            })
            .await;
        if joined.is_err() {
            proxies.dismiss(holder, &join.node, join.key);
        }
        joined
    }

    fn leave_remote(&self, class: ClassId, leave: RemoteLeave) {
        self.cluster
            .proxies()
            .dismiss(Holder::Class(class, leave.user), &leave.node, leave.key);
        self.leave_here(
            class,
            leave.user,
            crate::cluster::remote_key(&leave.node, leave.key),
        );
    }
}
