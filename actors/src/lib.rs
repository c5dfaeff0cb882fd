//! The fitpulse engagement core.
//!
//! - [`domain`]: the types the core reasons about (ids, roles, emails, content refs), parsed
//!   once at the edge and trusted everywhere after.
//! - [`ports`]: what the core needs from the outside world, as traits: the store aggregates
//!   (implemented in the server crate by the embedded and scylla backends) and the bus.
//!
//! - [`session`]: the `UserSession` actor, one per online user per node: sequences the
//!   user's events, keeps recent ones in memory, persists them write-behind, fans frames
//!   out to every attached device, and stops after an idle grace period.
//! - [`hub`]: shards that find or start sessions, count each user's devices, and decide
//!   when an idle session stops; REST and the bus reach users through it.
//! - [`events`] and [`device`]: wire frames and what a session needs from a socket.
//! - [`cluster`]: many nodes as one: one holder per session and class, requests to it and
//!   frames from it over the bus port, membership, draining.
//!
//! Data flow: a connection attaches to the hub -> the hub forwards to the user's session ->
//! the session replays what the device missed, then delivers every new event's shared frame.
//! Nothing in this crate knows about HTTP or CQL.

pub mod cluster;
pub mod device;
pub mod domain;
pub mod events;
pub mod hub;
pub mod live;
pub mod ports;
pub mod session;
