//! What live classes need to run: their ports and their timings.

use std::sync::Arc;
use std::time::Duration;

use crate::hub::Hub;
use crate::ports::observer::LiveObserver;
use crate::ports::store::{LiveClassStore, UserStore};

#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// How long before its start a class's waiting room opens.
    pub waiting_room: Duration,
    /// Entries in the pushed leaderboard.
    pub leaderboard_size: usize,
    /// Class events kept for catching up with a class `since`.
    pub recent_events: usize,
    /// Cues included in the snapshot of a joiner without `since`.
    pub snapshot_cues: usize,
    /// Presence and leaderboard pushes happen at most this often.
    pub push_interval: Duration,
    /// Countdown notices in the waiting room.
    pub countdown_interval: Duration,
    /// Per participant: at most one metric per this interval, one high-five per that.
    pub metric_interval: Duration,
    pub high_five_interval: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            waiting_room: Duration::from_secs(10 * 60),
            leaderboard_size: 10,
            recent_events: 200,
            snapshot_cues: 5,
            push_interval: Duration::from_secs(1),
            countdown_interval: Duration::from_secs(10),
            metric_interval: Duration::from_millis(250),
            high_five_interval: Duration::from_secs(2),
        }
    }
}

/// The ports every class of a node shares.
pub struct LiveDeps {
    pub classes: Arc<dyn LiveClassStore>,
    pub users: Arc<dyn UserStore>,
    /// For `live.started` and friends to reminded users who have not joined.
    pub hub: Hub,
    pub observer: Arc<dyn LiveObserver>,
    pub config: LiveConfig,
    /// Business time: event times, phases, daily caps.
    pub clock: crate::ports::clock::SharedClock,
}
