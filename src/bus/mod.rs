//! The cluster bus backends (`fitpulse_actors::ports::bus::Bus`): `local` for one process
//! and `nats` for many nodes, chosen by `bus.kind`; and the cluster's metrics.

pub mod local;
mod metrics;
pub mod nats;

pub use metrics::ClusterMetrics;
