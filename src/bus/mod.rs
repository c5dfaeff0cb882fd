//! The cluster bus backends (`fitpulse_actors::ports::bus::Bus`): `local` for one process
//! and `nats` for many nodes, chosen by `bus.kind`; announcements between nodes; and the
//! cluster's metrics.

pub mod announce;
pub mod local;
mod metrics;
pub mod nats;

pub use metrics::ClusterMetrics;
