//! The fitpulse engagement core.
//!
//! - [`domain`]: the types the core reasons about (ids, roles, emails, content refs), parsed
//!   once at the edge and trusted everywhere after.
//! - [`ports`]: what the core needs from the outside world, as traits: the store aggregates
//!   (implemented in the server crate by the embedded and scylla backends) and, later, the bus
//!   and the clock.
//!
//! Session, live-class and hub actors grow here; nothing in this crate knows about HTTP or CQL.

pub mod domain;
pub mod ports;
