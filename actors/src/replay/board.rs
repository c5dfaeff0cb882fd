//! A replay's board at one offset: the member ranked against every recorded timeline of
//! the class at the same second from the start (a timeline that ended earlier holds its
//! last value). Pure, over the class's timelines shared by every replay of it.

use crate::domain::UserId;
use crate::live::leaderboard::Entry;
use crate::live::{Sample, board::around};
use crate::ports::replays::Timeline;

/// A recorded taker's output at `second` (the last value once their timeline ended; 0
/// before it began).
pub fn output_at(timeline: &Timeline, second: usize) -> f32 {
    match timeline.output.get(second) {
        Some(value) => *value,
        None => timeline.output.last().copied().unwrap_or(0.0),
    }
}

/// The board at `second` with the member at `output`: every recorded taker but the member,
/// best first (a tie goes to who rode first), the member placed after those ahead or level.
/// Answers the board and the member's position on it.
pub fn board_at(
    timelines: &[Timeline],
    member: UserId,
    name: &str,
    second: usize,
    output: f64,
) -> (Vec<Entry>, usize) {
    let mut rows: Vec<(f64, &str, String)> = timelines
        .iter()
        .filter(|t| t.taker != member)
        .map(|t| {
            (
                f64::from(output_at(t, second)),
                t.name.as_str(),
                t.taker.to_string(),
            )
        })
        .collect();
    // Stable: equal outputs keep the stored (recording) order.
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let at = rows.iter().take_while(|r| r.0 >= output).count();
    let me = member.to_string();
    rows.insert(at, (output, name, me));
    let entries = rows
        .into_iter()
        .enumerate()
        .map(|(i, (value, name, user))| Entry {
            rank: i + 1,
            user_id: user,
            name: name.to_owned(),
            sample: Sample {
                output: Some(value),
                ..Sample::default()
            },
        })
        .collect();
    (entries, at)
}

/// The top `size` and the member's neighbourhood.
pub fn views(board: &[Entry], at: usize, size: usize) -> (Vec<Entry>, Vec<Entry>) {
    (
        board.iter().take(size).cloned().collect(),
        around(board, at),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::workouts::WorkoutKind;

    fn timeline(name: &str, output: &[f32]) -> Timeline {
        Timeline {
            taker: UserId::random(),
            name: name.into(),
            kind: WorkoutKind::Live,
            recorded_at: 0,
            output: output.to_vec(),
        }
    }

    #[test]
    fn the_member_is_ranked_against_everyone_at_the_same_second() {
        let a = timeline("a", &[0.0, 1.0, 2.0, 3.0]);
        let b = timeline("b", &[0.0, 2.0, 4.0]);
        let me = UserId::random();
        let rank =
            |second, output| board_at(&[a.clone(), b.clone()], me, "me", second, output).1 + 1;
        assert_eq!(rank(1, 0.5), 3);
        assert_eq!(rank(1, 1.5), 2);
        assert_eq!(rank(2, 4.5), 1);
        // b's timeline ended at 4.0 and holds it.
        assert_eq!(rank(9, 3.5), 2);
        // Level with someone: they rode first.
        assert_eq!(rank(3, 3.0), 3);
    }

    #[test]
    fn the_members_own_earlier_ride_is_not_on_their_board() {
        let me = UserId::random();
        let mut mine = timeline("me before", &[5.0]);
        mine.taker = me;
        let (board, at) = board_at(&[mine], me, "me", 0, 1.0);
        assert_eq!((board.len(), at), (1, 0));
    }
}
