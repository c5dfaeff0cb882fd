//! Operations on a user's session, written once: each is the session's own message
//! (`session::Publish`, ...) with its typed answer. The hub sends it to the session where
//! it is held: to the local shard when this node holds the session (nothing is encoded),
//! or across the bus to the holder, which decodes it into the same message. Adding an
//! operation: the message and its handler in `session/`, and one line in
//! `user_operations!` below.

use actix::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::Hub;
use crate::cluster::ops::{decode, encode};
use crate::cluster::{Holder, Reach, RemoteError};
use crate::device::{ClientInfo, DeviceKey};
use crate::domain::UserId;
use crate::session::{self, AttachAck, SessionError, UserSession};

/// An operation on a user's session: a session message whose result is
/// `Result<Answer, SessionError>`, that can travel to the session's holder.
pub trait UserOperation:
    Message<Result = Result<Self::Answer, SessionError>> + Serialize + Send + 'static
{
    /// What it answers when it succeeds.
    type Answer: Serialize + DeserializeOwned + Send + 'static;
    /// Its variant of [`UserOp`], by which it travels.
    const VARIANT: &'static str;
}

/// A socket of another node attaches to the session held here: the session sends its
/// frames on the node's sockets subject, batched (`batches`), or else through a proxy on
/// the user's subject.
#[derive(Debug, Serialize, Deserialize)]
pub struct RemoteAttach {
    pub node: String,
    pub key: DeviceKey,
    pub client: ClientInfo,
    pub since: Option<u64>,
    /// The socket's node takes batches on its sockets subject (`cluster::Reach::Batches`);
    /// absent from nodes that do not.
    #[serde(default)]
    pub batches: bool,
}

/// A socket of another node left the session held here.
#[derive(Debug, Serialize, Deserialize)]
pub struct RemoteDetach {
    pub node: String,
    pub key: DeviceKey,
}

/// Asks the holder whether the user has a socket connected anywhere; starts no session.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Presence {}

/// Encodes an operation as its [`UserOp`] variant (`{"Publish": {...}}`) without moving it,
/// so the caller keeps it for when this node turns out to be the one to hold the session.
pub(super) fn encode_op<M: UserOperation>(op: &M) -> Box<RawValue> {
    struct Tagged<'a, M>(&'a M);
    impl<M: UserOperation> Serialize for Tagged<'_, M> {
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
pub(super) fn decode_answer<T: DeserializeOwned>(raw: &RawValue) -> Result<T, SessionError> {
    decode::<Result<T, SessionError>>(raw).unwrap_or(Err(SessionError::Unavailable))
}

/// Declares every operation on a user's session: the wire enum [`UserOp`], each message's
/// [`UserOperation`] impl, and how a holder carries out one that came from another node.
macro_rules! user_operations {
    ($($variant:ident($message:ty) -> $answer:ty),* $(,)?) => {
        /// Every operation on a user's session, as it travels between nodes.
        #[derive(Serialize, Deserialize)]
        pub enum UserOp {
            Attach(RemoteAttach),
            Detach(RemoteDetach),
            Presence(Presence),
            $($variant($message),)*
        }

        $(
            impl UserOperation for $message {
                type Answer = $answer;
                const VARIANT: &'static str = stringify!($variant);
            }
        )*

        impl Hub {
            /// Carries out an operation that came from another node, on the session held
            /// (or to be started) here; answers it encoded.
            pub(super) async fn run_op(&self, user: UserId, op: UserOp) -> Box<RawValue> {
                match op {
                    UserOp::Attach(attach) => encode(&self.attach_remote(user, attach).await),
                    UserOp::Detach(detach) => {
                        self.detach_remote(user, detach);
                        encode(&Ok::<(), SessionError>(()))
                    }
                    UserOp::Presence(_) => {
                        encode(&Ok::<bool, SessionError>(self.connected_here(user).await))
                    }
                    $(UserOp::$variant(op) => encode(&self.here(user, op).await),)*
                }
            }
        }
    };
}

user_operations! {
    Publish(session::Publish) -> u64,
    Ack(session::AckFeed) -> u64,
    Plan(session::GetPlan) -> Option<String>,
    EditPlan(session::EditPlan) -> Result<String, String>,
    Entitlements(session::ReplaceEntitlements) -> u64,
}

impl Hub {
    /// Carries out a request another node sent to this one for `user`. A draining node
    /// takes no new sockets and starts nothing: those go to the session's next holder once
    /// this one has persisted it.
    #[tracing::instrument(level = "debug", name = "session.execute", skip_all)]
    pub async fn execute(&self, user: UserId, op: &RawValue) -> Result<Box<RawValue>, RemoteError> {
        let op: UserOp = decode(op)?;
        // A presence question starts nothing, so a draining node still answers it.
        if self.cluster.is_draining()
            && !matches!(op, UserOp::Presence(_))
            && (matches!(op, UserOp::Attach(_)) || !self.running(user).await)
        {
            return Err(RemoteError::Busy);
        }
        Ok(self.run_op(user, op).await)
    }

    /// Attaches a socket of another node through a proxy.
    async fn attach_remote(
        &self,
        user: UserId,
        attach: RemoteAttach,
    ) -> Result<AttachAck, SessionError> {
        let holder = Holder::Session(user);
        let proxies = self.cluster.proxies();
        // The attach catch-up and every later frame leave from the session's thread, the
        // same way, in order.
        let reach = Reach::from_flags(false, attach.batches);
        let proxy = proxies.start(user, &attach.node, attach.key, holder, attach.client, reach);
        let attached = self.attach_here(user, proxy, attach.since).await;
        if attached.is_err() {
            proxies.dismiss(holder, &attach.node, attach.key);
        }
        attached
    }

    fn detach_remote(&self, user: UserId, detach: RemoteDetach) {
        self.cluster
            .proxies()
            .dismiss(Holder::Session(user), &detach.node, detach.key);
        self.detach_here(user, crate::cluster::remote_key(&detach.node, detach.key));
    }

    /// Carries out `op` on the session held (or started) on this node.
    pub(super) async fn here<M>(&self, user: UserId, op: M) -> Result<M::Answer, SessionError>
    where
        M: UserOperation,
        UserSession: Handler<M>,
    {
        match self
            .shard(user)
            .send(super::shard::ForUser {
                user,
                op,
                start: true,
            })
            .await
        {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) | Err(_) => Err(SessionError::Unavailable),
        }
    }
}
