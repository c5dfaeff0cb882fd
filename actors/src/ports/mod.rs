//! What the core needs from the outside world, as traits the server crate implements.

pub mod accounts;
pub mod audit;
pub mod bus;
pub mod clock;
pub mod commerce;
pub mod community;
pub mod drops;
pub mod messages;
pub mod observer;
pub mod push;
pub mod replays;
pub mod store;
pub mod workouts;
