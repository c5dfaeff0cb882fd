//! What live classes need to run: their ports and their timings.

use std::sync::Arc;
use std::time::Duration;

use super::plausibility::Bounds;
use crate::events::data::live::IntervalPreview;
use crate::hub::Hub;
use crate::ports::community::CommunityStore;
use crate::ports::observer::LiveObserver;
use crate::ports::replays::ReplayStore;
use crate::ports::store::{LiveClassStore, UserStore};
use crate::ports::workouts::WorkoutStore;

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
    /// Entries in a member's `live.roster` page.
    pub roster_page_size: usize,
    /// Follows and blocks read per member at most.
    pub social_limit: usize,
    /// Members whose output timeline a class records for on-demand replays, and how many
    /// timelines a class keeps in all.
    pub timeline_takers: usize,
    pub plausibility: Bounds,
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
            roster_page_size: 20,
            social_limit: 5_000,
            timeline_takers: 500,
            plausibility: Bounds::default(),
        }
    }
}

/// The ports every class of a node shares.
pub struct LiveDeps {
    pub classes: Arc<dyn LiveClassStore>,
    pub users: Arc<dyn UserStore>,
    /// Follows and blocks, for rosters and the following board.
    pub community: Arc<dyn CommunityStore>,
    /// Workout history and personal records.
    pub workouts: Arc<dyn WorkoutStore>,
    /// Timelines for on-demand replays.
    pub replays: Arc<dyn ReplayStore>,
    /// A class's intervals, from its workout.
    pub blocks: Arc<dyn WorkoutBlocks>,
    /// For `live.started` and friends to reminded users who have not joined.
    pub hub: Hub,
    pub observer: Arc<dyn LiveObserver>,
    pub config: LiveConfig,
    /// Business time: event times, phases, daily caps.
    pub clock: crate::ports::clock::SharedClock,
}

/// The blocks of a catalog workout as a class's intervals (the catalog lives in the
/// server crate).
pub trait WorkoutBlocks: Send + Sync {
    /// `None` for an unknown workout.
    fn blocks(&self, workout_id: &str) -> Option<Vec<IntervalPreview>>;
}
