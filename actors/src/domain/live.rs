//! Live classes as the core knows them: who runs them, when, and where they stand.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{UnixMillis, UserId};

/// A live class's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClassId(Uuid);

impl ClassId {
    pub fn random() -> Self {
        ClassId(Uuid::new_v4())
    }

    pub fn from_uuid(id: Uuid) -> Self {
        ClassId(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for ClassId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for ClassId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(ClassId)
    }
}

/// The stored state of a class. The waiting room is not stored: it is a scheduled class
/// whose start is near (see [`LiveClassRecord::phase`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassState {
    Scheduled,
    Live,
    Ended,
    Cancelled,
}

impl ClassState {
    pub fn as_str(self) -> &'static str {
        match self {
            ClassState::Scheduled => "scheduled",
            ClassState::Live => "live",
            ClassState::Ended => "ended",
            ClassState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<ClassState> {
        [
            ClassState::Scheduled,
            ClassState::Live,
            ClassState::Ended,
            ClassState::Cancelled,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

/// What the apps show: the stored state, with the waiting room made explicit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassPhase {
    Scheduled,
    WaitingRoom,
    Live,
    Ended,
    Cancelled,
}

impl ClassPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            ClassPhase::Scheduled => "scheduled",
            ClassPhase::WaitingRoom => "waiting_room",
            ClassPhase::Live => "live",
            ClassPhase::Ended => "ended",
            ClassPhase::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveClassRecord {
    pub id: ClassId,
    pub coach: UserId,
    pub title: String,
    pub workout_id: Option<String>,
    pub scheduled_at: UnixMillis,
    pub duration_minutes: u32,
    pub premium: bool,
    pub state: ClassState,
    pub started_at: Option<UnixMillis>,
    pub ended_at: Option<UnixMillis>,
    pub created_at: UnixMillis,
}

impl LiveClassRecord {
    /// The phase at `now`, with a waiting room that opens `waiting_room_ms` before start.
    pub fn phase(&self, now: UnixMillis, waiting_room_ms: i64) -> ClassPhase {
        match self.state {
            ClassState::Scheduled if now >= self.scheduled_at - waiting_room_ms => {
                ClassPhase::WaitingRoom
            }
            ClassState::Scheduled => ClassPhase::Scheduled,
            ClassState::Live => ClassPhase::Live,
            ClassState::Ended => ClassPhase::Ended,
            ClassState::Cancelled => ClassPhase::Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(state: ClassState, scheduled_at: UnixMillis) -> LiveClassRecord {
        LiveClassRecord {
            id: ClassId::random(),
            coach: UserId::random(),
            title: "HIIT".into(),
            workout_id: None,
            scheduled_at,
            duration_minutes: 30,
            premium: false,
            state,
            started_at: None,
            ended_at: None,
            created_at: 0,
        }
    }

    #[test]
    fn the_waiting_room_opens_before_the_scheduled_start() {
        let c = class(ClassState::Scheduled, 10 * 60_000);
        assert_eq!(c.phase(0, 5 * 60_000), ClassPhase::Scheduled);
        assert_eq!(c.phase(5 * 60_000, 5 * 60_000), ClassPhase::WaitingRoom);
        assert_eq!(
            c.phase(11 * 60_000, 5 * 60_000),
            ClassPhase::WaitingRoom,
            "late coaches keep the room open"
        );
        assert_eq!(class(ClassState::Live, 0).phase(0, 0), ClassPhase::Live);
    }

    #[test]
    fn states_parse_from_their_names() {
        for state in [
            ClassState::Scheduled,
            ClassState::Live,
            ClassState::Ended,
            ClassState::Cancelled,
        ] {
            assert_eq!(ClassState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ClassState::parse("waiting_room"), None);
    }
}
