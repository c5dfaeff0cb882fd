//! What the core needs from the outside world, as traits the server crate implements.

pub mod store;
