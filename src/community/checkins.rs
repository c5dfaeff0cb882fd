//! Daily check-ins: one per user and day (in the member's time zone, UTC without one),
//! made or edited only on the day itself, and the streak of consecutive active days: a day
//! counts when it has a check-in or a finished workout. A user's first check-in of a day
//! is an activity for their followers and groups; edits are not announced again.

use super::events::CommunityActivity;
use chrono::NaiveDate;
use fitpulse_actors::domain::time::{date_of_day, day_number};
use fitpulse_actors::domain::{TimeZone, UnixMillis, UserId, local_date};
use fitpulse_actors::ports::community::CheckinRecord;

use super::{Community, CommunityError};
use crate::workouts::days::finished_days;

/// How many days of history a read covers (and so the longest streak it can count).
const HISTORY_DAYS: usize = 366;
/// Check-ins a listing shows when the caller does not say.
const DEFAULT_SHOWN: usize = 30;

/// A check-in as the member sends it, its texts already cleaned at the edge.
#[derive(Debug, Clone)]
pub struct NewCheckin {
    /// The day it is for; today when absent (the only day that can be checked in).
    pub date: Option<NaiveDate>,
    pub mood: String,
    /// 1-5.
    pub satisfaction: u8,
    pub note: Option<String>,
}

/// A stored check-in, and whether it is the day's first (rather than an edit).
#[derive(Debug, Clone)]
pub struct CheckinSaved {
    pub record: CheckinRecord,
    pub created: bool,
}

/// The newest check-ins of a user and their current streak.
#[derive(Debug, Clone)]
pub struct CheckinHistory {
    pub items: Vec<CheckinRecord>,
    pub streak_days: u32,
}

/// The day of `now` in `zone` (UTC without one) as a day number.
fn today(now: UnixMillis, zone: Option<TimeZone>) -> i32 {
    day_number(local_date(now, zone))
}

/// The days that count towards a streak: those with a check-in or a finished workout, each
/// once, newest first (both inputs newest first).
pub fn active_days(checkins: &[i32], workouts: &[i32]) -> Vec<i32> {
    let mut days: Vec<i32> = checkins.iter().chain(workouts).copied().collect();
    days.sort_unstable_by(|a, b| b.cmp(a));
    days.dedup();
    days
}

/// Consecutive active days, ending today (or yesterday: a streak is not broken before the
/// day is over). `days` are newest first, each once.
pub fn streak(days: &[i32], today: i32) -> u32 {
    let mut expected = match days.first() {
        Some(&d) if d == today || d == today - 1 => d,
        _ => return 0,
    };
    let mut count = 0;
    for &day in days {
        if day != expected {
            break;
        }
        count += 1;
        expected -= 1;
    }
    count
}

impl Community {
    /// Makes or replaces `user`'s check-in of today. Only today's can be made or edited:
    /// yesterday is settled and tomorrow has not happened.
    pub async fn check_in(
        &self,
        user: UserId,
        zone: Option<TimeZone>,
        checkin: NewCheckin,
    ) -> Result<CheckinSaved, CommunityError> {
        let now = self.clock.now();
        let today = today(now, zone);
        let day = checkin.date.map_or(today, day_number);
        if day > today {
            return Err(CommunityError::invalid(
                "date",
                "a check-in cannot be in the future",
            ));
        }
        if day < today {
            return Err(CommunityError::invalid(
                "date",
                "only today's check-in can be made or edited",
            ));
        }
        if !(1..=5).contains(&checkin.satisfaction) {
            return Err(CommunityError::invalid("satisfaction", "1 to 5"));
        }
        let community = &self.stores.community;
        let existed = community
            .checkins(user, 1)
            .await?
            .first()
            .is_some_and(|c| c.day == day);
        let record = CheckinRecord {
            day,
            mood: checkin.mood,
            satisfaction: checkin.satisfaction,
            note: checkin.note,
            updated_at: now,
        };
        community.put_checkin(user, &record).await?;
        if !existed {
            let data = CommunityActivity::Checkin {
                user_id: user.to_string(),
                mood: record.mood.clone(),
                date: date_of_day(day).to_string(),
            };
            self.activity(user, &data).await?;
        }
        Ok(CheckinSaved {
            record,
            created: !existed,
        })
    }

    /// `user`'s newest check-ins (`limit` of them, 30 by default, at most a year's worth)
    /// and their streak of check-in or workout days, counted over the whole year whatever
    /// `limit` shows.
    pub async fn checkins(
        &self,
        user: UserId,
        zone: Option<TimeZone>,
        limit: Option<usize>,
    ) -> Result<CheckinHistory, CommunityError> {
        let limit = limit.unwrap_or(DEFAULT_SHOWN).clamp(1, HISTORY_DAYS);
        let mut items = self.stores.community.checkins(user, HISTORY_DAYS).await?;
        let checkin_days: Vec<i32> = items.iter().map(|c| c.day).collect();
        let today = today(self.clock.now(), zone);
        let oldest = today - HISTORY_DAYS as i32;
        let workout_days = finished_days(self.stores.workouts.as_ref(), user, zone, oldest).await?;
        let streak_days = streak(&active_days(&checkin_days, &workout_days), today);
        items.truncate(limit);
        Ok(CheckinHistory { items, streak_days })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_counts_consecutive_days_up_to_today_or_yesterday() {
        assert_eq!(streak(&[100, 99, 98, 96], 100), 3);
        assert_eq!(streak(&[99, 98], 100), 2, "today is not over yet");
        assert_eq!(streak(&[97, 96], 100), 0);
        assert_eq!(streak(&[], 100), 0);
    }

    #[test]
    fn a_workout_day_fills_a_day_without_a_check_in() {
        let days = active_days(&[100, 98], &[99, 99, 97]);
        assert_eq!(days, vec![100, 99, 98, 97]);
        assert_eq!(streak(&days, 100), 4);
        assert_eq!(streak(&active_days(&[100], &[]), 100), 1);
        assert_eq!(
            streak(&active_days(&[], &[99]), 100),
            1,
            "a workout alone counts"
        );
    }

    #[test]
    fn a_day_with_both_a_check_in_and_a_workout_counts_once() {
        let days = active_days(&[100, 99], &[100, 99]);
        assert_eq!(days, vec![100, 99]);
        assert_eq!(streak(&days, 100), 2);
    }
}
