//! The days a member finished a workout on, counted in their time zone like check-ins, for
//! the streak: a day with a finished workout keeps a streak going as a check-in does.

use fitpulse_actors::domain::time::day_number;
use fitpulse_actors::domain::{TimeZone, UserId, local_date};
use fitpulse_actors::ports::store::StoreError;
use fitpulse_actors::ports::workouts::{WorkoutCursor, WorkoutStore};

/// Workouts read per store call while walking back through the history.
const PAGE: usize = 100;
/// The most workouts one walk reads, so a member logging many a day still costs bounded
/// reads (a year of five a day).
const MAX_READ: usize = 5 * 366;

/// The distinct days, newest first, on which `user` finished a workout from `oldest` (a day
/// number in `zone`) on.
pub async fn finished_days(
    store: &dyn WorkoutStore,
    user: UserId,
    zone: Option<TimeZone>,
    oldest: i32,
) -> Result<Vec<i32>, StoreError> {
    let mut days: Vec<i32> = Vec::new();
    let mut cursor: Option<WorkoutCursor> = None;
    let mut read = 0;
    while read < MAX_READ {
        let page = store.workouts(user, cursor, PAGE).await?;
        read += page.len();
        for workout in &page {
            let day = day_number(local_date(workout.finished_at, zone));
            if day < oldest {
                return Ok(days);
            }
            // Newest first, so a repeated day is always the last one pushed.
            if days.last() != Some(&day) {
                days.push(day);
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => {
                cursor = Some(WorkoutCursor {
                    finished_at: last.finished_at,
                    id: last.id,
                });
            }
            _ => break,
        }
    }
    Ok(days)
}
