//! Push notifications to members whose app is closed: the devices they register, their
//! notification settings, the providers (APNs over HTTP/2 with token authentication, FCM
//! HTTP v1 with a service account), and the outbox handlers that decide and send.

pub mod metrics;
pub mod provider;

pub use metrics::PushMetrics;
pub use provider::{Priority, PushMessage, PushProvider, SendOutcome};
