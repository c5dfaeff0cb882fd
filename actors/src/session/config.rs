//! What a session needs to run: its ports and its limits.

use std::sync::Arc;
use std::time::Duration;

use crate::ports::observer::SessionObserver;
use crate::ports::store::{EntitlementStore, FeedStore, PlanStore};

/// Limits and timings of sessions; defaults suit production, tests shorten them.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Sockets one user may hold on a node; attaching one more closes the oldest.
    pub max_devices: usize,
    /// Recent events kept in memory for fast resume.
    pub memory_events: usize,
    /// Most events replayed on resume; a larger gap answers `resume.incomplete`.
    pub replay_limit: usize,
    /// How long a session without devices lives on (a reconnect within it is instant).
    pub idle_grace: Duration,
    /// Attempts to persist a batch before a stopping session gives up on it.
    pub flush_attempts: u32,
    /// Wait between those attempts.
    pub flush_retry: Duration,
    /// How long a feature message's feed entry waits before it is written, unless an
    /// event that someone waits for is written sooner: a broadcast reaches every session
    /// at once, and their writes would otherwise compete for the cores with the deliveries.
    pub broadcast_persist_delay: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            max_devices: 10,
            memory_events: 256,
            replay_limit: 1000,
            idle_grace: Duration::from_secs(30),
            flush_attempts: 5,
            flush_retry: Duration::from_millis(500),
            broadcast_persist_delay: Duration::from_secs(1),
        }
    }
}

/// The ports every session of a node shares.
pub struct SessionDeps {
    pub feed: Arc<dyn FeedStore>,
    pub plans: Arc<dyn PlanStore>,
    pub entitlements: Arc<dyn EntitlementStore>,
    pub observer: Arc<dyn SessionObserver>,
    /// Applies plan commands (see `PlanEditor`).
    pub plan_editor: Arc<dyn super::PlanEditor>,
    pub config: SessionConfig,
    /// Business time: event times, phases, daily caps.
    pub clock: crate::ports::clock::SharedClock,
}
