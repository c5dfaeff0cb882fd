//! Live-class frames: the class's own sequenced events (started, cue, ended, cancelled) and
//! its notices (snapshot, presence, leaderboard, rank, countdown, high-five).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event_data;
use crate::live::leaderboard::Entry;

/// A cue's interval: "sprint 30 s".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CueInterval {
    /// At most 40 characters; `null` when the coach gave none.
    pub label: Option<String>,
    /// 1 to 3600.
    pub seconds: u32,
}

/// A class as a snapshot shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ClassSummary {
    pub id: String,
    pub title: String,
    pub coach_id: String,
    /// `scheduled`, `waiting_room`, `live`, `ended` or `cancelled`.
    pub state: &'static str,
    pub premium: bool,
    pub scheduled_at: String,
    pub started_at: Option<String>,
    pub duration_minutes: u32,
}

/// The first frame after `live.join`: where the class is, then (with `since`) the class
/// events after it follow.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LiveSnapshot {
    pub class: ClassSummary,
    pub class_seq: u64,
    pub participants: usize,
    /// The latest cues, oldest first (as kept for catch-up).
    #[schemars(with = "Vec<LiveCue>")]
    pub cues: Vec<serde_json::Value>,
    pub leaderboard: Vec<Entry>,
    pub since: Option<u64>,
    /// False when the class events after `since` are no longer all kept.
    pub complete: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LiveStarted {
    pub class_id: String,
    pub title: String,
    pub started_at: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LiveCue {
    pub class_id: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<CueInterval>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LiveEnded {
    pub class_id: String,
    pub ended_at: Option<String>,
    /// Everyone who took part (not only those present at the end).
    pub participants: usize,
    pub top: Vec<Entry>,
}

/// The results of an ended class, as the class records them (`GET /v1/live/classes/{id}/results`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ClassResults {
    pub class_id: String,
    pub title: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    /// Everyone who took part.
    pub participants: usize,
    /// Every participant with a metric, best first.
    pub entries: Vec<Entry>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LiveCancelled {
    pub class_id: String,
    pub title: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LivePresence {
    pub class_id: String,
    pub participants: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LiveLeaderboard {
    pub class_id: String,
    pub top: Vec<Entry>,
    /// How many participants have a rank.
    pub ranked: usize,
}

/// A participant's own rank, when it changed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LiveRank {
    pub class_id: String,
    pub rank: usize,
    pub of: usize,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LiveCountdown {
    pub class_id: String,
    pub starts_in_seconds: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LiveHighFive {
    pub class_id: String,
    pub from_user_id: String,
    pub from_name: String,
    pub to_user_id: String,
}

event_data! {
    LiveSnapshot: LIVE_SNAPSHOT, Notice, "The class as it is, first after live.join";
    LiveStarted: LIVE_STARTED, Class, "The class started";
    LiveCue: LIVE_CUE, Class, "The coach's cue";
    LiveEnded: LIVE_ENDED, Class, "The class ended, with its top results";
    LiveCancelled: LIVE_CANCELLED, Class, "The class was cancelled";
    LivePresence: LIVE_PRESENCE, Notice, "How many are in the class (at most once a second)";
    LiveLeaderboard: LIVE_LEADERBOARD, Notice, "The top of the board (at most once a second)";
    LiveRank: LIVE_RANK, Notice, "The participant's own rank changed";
    LiveCountdown: LIVE_COUNTDOWN, Notice, "Seconds until a class in its waiting room starts";
    LiveHighFive: LIVE_HIGH_FIVE, Notice, "A high-five between participants";
}
