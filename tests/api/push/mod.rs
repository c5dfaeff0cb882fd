//! Push notifications: the APNs and FCM clients against fakes that check what Apple and
//! Google check, devices and settings over HTTP, and the pushes end to end (one node and
//! three).

mod cluster;
mod commerce;
mod flows;
mod providers;
mod routes;
pub mod world;
