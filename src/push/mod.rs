//! Push notifications to members whose app is closed: the devices they register, their
//! notification settings, the providers (APNs over HTTP/2 with token authentication, FCM
//! HTTP v1 with a service account), and the outbox handlers that decide and send.
//!
//! - [`notify`]: how the rest of the server asks for a push (queues an outbox item).
//! - [`handler`]: the outbox handler of `push.*` items, with the fan-outs.
//! - [`sender`]: the rules for one member (settings, presence, quiet hours, cap) and
//!   the sending to each of their devices.
//! - [`notification`], [`texts`]: what is pushed, in the device's language.
//! - [`settings`]: categories and quiet hours; [`devices`]: registering an install.
//! - [`provider`]: what a provider is to the rest of the server; [`apns`], [`fcm`]: the
//!   two providers, over [`client`] and [`tls`]; [`providers`]: the configured ones;
//!   [`health`]: whether each is up, from the answers to real pushes.

pub mod apns;
pub mod client;
pub mod devices;
pub mod error;
pub mod fcm;
pub mod handler;
pub mod health;
pub mod items;
pub mod metrics;
pub mod notification;
pub mod notify;
pub mod provider;
pub mod providers;
pub mod sender;
pub mod settings;
pub mod texts;
pub mod tls;

pub use apns::ApnsProvider;
pub use error::PushSetupError;
pub use fcm::FcmProvider;
pub use metrics::PushMetrics;
pub use notify::Notifier;
pub use provider::{Priority, PushMessage, PushProvider, SendOutcome};
