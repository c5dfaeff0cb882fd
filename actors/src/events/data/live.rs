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
    /// The intervals of the class's workout; empty when it has none.
    pub timeline: Vec<IntervalPreview>,
    /// Where the class clock stands; `null` before the coach starts it and after the end.
    pub interval: Option<LiveInterval>,
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
    /// `all` (shared by everyone watching it) or `following` (this member's own).
    pub view: &'static str,
    pub top: Vec<Entry>,
    /// How many participants have a rank.
    pub ranked: usize,
}

/// A participant's own rank, when it changed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LiveRank {
    pub class_id: String,
    /// The view the rank is in: `all` or `following`.
    pub view: &'static str,
    pub rank: usize,
    pub of: usize,
    /// Up to 3 above and 3 below the member, the member included.
    pub around: Vec<Entry>,
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

/// One member of a class as the roster shows them to one viewer.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RosterEntry {
    pub user_id: String,
    pub name: String,
    /// The member's avatar, when they set one.
    pub avatar_url: Option<String>,
    /// The viewer follows this member.
    pub following: bool,
    /// Only in the coach's view: why the member is off the public board.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged: Option<String>,
}

/// Who is in the class, as this member sees it: the first page, people they follow first
/// (at most once a second, when the page changed for them; a new count alone comes in
/// `live.presence`). Later pages: `GET /v1/live/classes/{id}/roster`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LiveRoster {
    pub class_id: String,
    /// Members present when the page was sent (the coach is not counted); `live.presence`
    /// carries every change.
    pub participants: usize,
    /// How many of them the viewer follows.
    pub following_here: usize,
    /// People the viewer follows first, then everyone else by when they joined; people
    /// blocked either way are not shown.
    pub entries: Vec<RosterEntry>,
    /// For `GET /v1/live/classes/{id}/roster?cursor=`: `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Someone the member follows joined the class.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LiveFriendJoined {
    pub class_id: String,
    pub user_id: String,
    pub name: String,
    pub avatar_url: Option<String>,
}

/// An interval as a preview of what comes next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IntervalPreview {
    pub label: String,
    pub seconds: u32,
}

/// The class clock moved to an interval of the class's workout: started by the coach,
/// reached when the one before ran out, skipped to, or extended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LiveInterval {
    pub class_id: String,
    /// 0-based position in the timeline, of `of` intervals.
    pub index: usize,
    pub of: usize,
    pub label: String,
    /// The interval's length, extensions included.
    pub seconds: u32,
    pub started_at: String,
    pub ends_at: String,
    /// The interval after this one; `null` for the last.
    pub next: Option<IntervalPreview>,
}

/// The member beat a personal best on this workout (once per metric per workout taken).
#[derive(Debug, Serialize, JsonSchema)]
pub struct LivePersonalRecord {
    /// The class (live) or the class replayed (on demand).
    pub class_id: String,
    pub workout_id: String,
    /// `output` (kJ) or `reps`.
    pub metric: &'static str,
    pub value: f64,
    /// The best it beat.
    pub previous: f64,
}

/// To the coach: a participant's metrics were implausible too often; they are off the
/// public board.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LiveFlagged {
    pub class_id: String,
    pub user_id: String,
    pub name: String,
    /// The last rejection's reason, such as `output_rate`.
    pub reason: String,
    pub rejected: u32,
}

/// An on-demand replay's board at the member's offset (at most once a second).
#[derive(Debug, Serialize, JsonSchema)]
pub struct LiveReplayBoard {
    pub replay_id: String,
    pub class_id: String,
    /// Seconds from the class's start.
    pub offset: u32,
    /// The member's place among everyone recorded at this offset, and of how many.
    pub rank: usize,
    pub of: usize,
    pub top: Vec<Entry>,
    /// Up to 3 above and 3 below the member, the member included.
    pub around: Vec<Entry>,
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
    LiveRoster: LIVE_ROSTER, Notice, "Who is in the class, people the member follows first (at most once a second)";
    LiveFriendJoined: LIVE_FRIEND_JOINED, Notice, "Someone the member follows joined the class";
    LiveInterval: LIVE_INTERVAL, Class, "The class clock moved to an interval";
    LivePersonalRecord: LIVE_PERSONAL_RECORD, Notice, "A personal best beaten";
    LiveFlagged: LIVE_FLAGGED, Notice, "To the coach: a participant is off the board for implausible metrics";
    LiveReplayBoard: LIVE_REPLAY_BOARD, Notice, "An on-demand replay's board at the member's offset (at most once a second)";
}
