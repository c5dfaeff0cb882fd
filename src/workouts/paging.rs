//! The history's paging inputs, parsed at the edge: an opaque cursor (where the last page
//! ended: its last workout's finish time and id, base64url so clients never build one) and
//! a page size within bounds.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fitpulse_actors::ports::workouts::{WorkoutCursor, WorkoutRecord};
use uuid::Uuid;

/// A page when the caller does not say, and the largest one.
pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

/// A cursor this server did not hand out (or one cut short or edited).
#[derive(Debug, thiserror::Error)]
#[error("not a cursor from this list")]
pub struct BadCursor;

/// A page size outside 1 to [`MAX_LIMIT`].
#[derive(Debug, thiserror::Error)]
#[error("between 1 and {MAX_LIMIT}")]
pub struct BadLimit;

/// Where the next page of a history starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryCursor(WorkoutCursor);

impl HistoryCursor {
    /// The cursor after `last`, the last workout of a page.
    pub fn after(last: &WorkoutRecord) -> Self {
        HistoryCursor(WorkoutCursor {
            finished_at: last.finished_at,
            id: last.id,
        })
    }

    pub fn parse(raw: &str) -> Result<Self, BadCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| BadCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| BadCursor)?;
        let (at, id) = text.split_once('.').ok_or(BadCursor)?;
        Ok(HistoryCursor(WorkoutCursor {
            finished_at: at.parse().map_err(|_| BadCursor)?,
            id: Uuid::parse_str(id).map_err(|_| BadCursor)?,
        }))
    }

    /// The opaque form handed to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.0.finished_at, self.0.id))
    }

    pub fn position(&self) -> WorkoutCursor {
        self.0
    }
}

/// How many workouts a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimit(usize);

impl HistoryLimit {
    /// The caller's page size, [`DEFAULT_LIMIT`] when absent.
    pub fn parse(raw: Option<usize>) -> Result<Self, BadLimit> {
        match raw.unwrap_or(DEFAULT_LIMIT) {
            n @ 1..=MAX_LIMIT => Ok(HistoryLimit(n)),
            _ => Err(BadLimit),
        }
    }

    pub fn get(&self) -> usize {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_the_position_it_was_made_from() {
        let position = WorkoutCursor {
            finished_at: 1_733_000_000_123,
            id: Uuid::new_v4(),
        };
        let cursor = HistoryCursor(position);
        assert_eq!(
            HistoryCursor::parse(&cursor.encode())
                .expect("parses")
                .position(),
            position
        );
    }

    #[test]
    fn a_cursor_not_handed_out_is_rejected() {
        for raw in [
            "",
            "!!",
            "bm90LWEtY3Vyc29y",
            &URL_SAFE_NO_PAD.encode("12.not-a-uuid"),
        ] {
            assert!(HistoryCursor::parse(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn a_limit_outside_1_to_100_is_rejected_and_absent_means_20() {
        assert_eq!(HistoryLimit::parse(None).expect("default").get(), 20);
        assert_eq!(HistoryLimit::parse(Some(100)).expect("max").get(), 100);
        assert!(HistoryLimit::parse(Some(0)).is_err());
        assert!(HistoryLimit::parse(Some(101)).is_err());
    }
}
