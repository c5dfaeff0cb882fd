//! Push notifications to members whose app is closed: the devices they register, their
//! notification settings, the providers (APNs over HTTP/2 with token authentication, FCM
//! HTTP v1 with a service account), and the outbox handlers that decide and send.

pub mod apns;
pub mod client;
pub mod error;
pub mod fcm;
pub mod metrics;
pub mod provider;
pub mod tls;

pub use metrics::PushMetrics;
pub use provider::{Priority, PushMessage, PushProvider, SendOutcome};

pub use apns::ApnsProvider;
pub use error::PushSetupError;
pub use fcm::FcmProvider;
