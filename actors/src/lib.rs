//! The fitpulse engagement core.
//!
//! - [`domain`]: the types the core reasons about (ids, roles, emails, content refs), parsed
//!   once at the edge and trusted everywhere after.
//! - [`ports`]: what the core needs from the outside world, as traits: the store aggregates
//!   (implemented in the server crate by the embedded and scylla backends), the bus, and
//!   the clock business time is read from (real, or manual in tests).
//!
//! - [`session`]: the `UserSession` actor, one per online user in the cluster: sequences
//!   the user's events, keeps recent ones in memory, persists them write-behind, fans
//!   frames out to every attached device, and stops after an idle grace period.
//! - [`hub`]: shards that find or start sessions, count each user's devices, and decide
//!   when an idle session stops; REST, sockets and other nodes reach users through it.
//! - [`live`]: live-class actors, their registry, and [`live::Live`], the way into them;
//!   [`replay`]: on-demand rides of an ended class against the people who took it.
//! - [`events`] and [`device`]: wire frames, the event kinds the server sends
//!   ([`events::kinds`]), and what a session needs from a socket; [`fanout`]: frames
//!   handed to sockets on their own threads, one parcel per thread for a class's fan-out.
//! - [`cluster`]: one holder per session and class, requests to it and frames from it over
//!   the bus port, membership, draining. A single server is a cluster of one.
//! - [`node`]: the engine of one node: cluster, hub and live registry, served together.
//!
//! Dependencies go one way: `node` -> `live` -> `hub` -> `cluster` -> `ports`, `device`,
//! `domain`, `events`; `session` is the hub's actor and knows none of them.
//!
//! Data flow: a connection attaches to the hub -> the hub sends the attach to the user's
//! session where it is held (its local shard, or the holder node over the bus) -> the
//! session replays what the device missed, then delivers every new event's shared frame.
//! Nothing in this crate knows about HTTP or CQL.

pub mod cluster;
pub mod device;
pub mod domain;
pub mod events;
pub mod fanout;
pub mod hub;
pub mod live;
pub mod node;
pub mod ports;
pub mod replay;
pub mod session;

/// The short name of an operation's type (`EditPlan`), for span fields.
pub fn op_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}
