//! A member's time zone: an IANA name (`Europe/Lisbon`, `America/Sao_Paulo`), the zone
//! their days are counted in (check-in streaks, plan days). Without one, days are UTC.

use std::fmt;

use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Serialize};

use super::UnixMillis;
use super::time::date_of;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(chrono_tz::Tz);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a time zone is an IANA name such as `Europe/Lisbon`")]
pub struct TimeZoneError;

impl TimeZone {
    /// Only exact IANA names (as the tz database spells them): what devices report.
    pub fn parse(raw: &str) -> Result<TimeZone, TimeZoneError> {
        if raw.len() > 64 {
            return Err(TimeZoneError);
        }
        raw.parse::<chrono_tz::Tz>()
            .map(TimeZone)
            .map_err(|_| TimeZoneError)
    }

    pub fn as_str(&self) -> &'static str {
        self.0.name()
    }

    /// The calendar day of an instant in this zone.
    pub fn date_of(&self, at: UnixMillis) -> NaiveDate {
        DateTime::from_timestamp_millis(at)
            .map(|utc| utc.with_timezone(&self.0).date_naive())
            .unwrap_or(NaiveDate::MIN)
    }
}

/// The wall-clock time of an instant in `zone`, or in UTC without one.
pub fn local_time(at: UnixMillis, zone: Option<TimeZone>) -> chrono::NaiveTime {
    let utc = DateTime::from_timestamp_millis(at).unwrap_or_default();
    match zone {
        Some(zone) => utc.with_timezone(&zone.0).time(),
        None => utc.time(),
    }
}

/// The first instant after `at` whose wall-clock time in `zone` (UTC without one) is
/// `time`. A time that occurs twice (the hour repeated when clocks go back) counts at each
/// occurrence; one skipped by a jump forward is taken as the end of the jump.
pub fn next_wall_time(
    at: UnixMillis,
    zone: Option<TimeZone>,
    time: chrono::NaiveTime,
) -> UnixMillis {
    use chrono::TimeZone as _;
    let tz = zone.map_or(chrono_tz::Tz::UTC, |z| z.0);
    let local = DateTime::from_timestamp_millis(at)
        .unwrap_or_default()
        .with_timezone(&tz);
    let mut day = local.date_naive();
    // Today's occurrence may already have passed; tomorrow's (or the day after, across a
    // jump) is then the next.
    for _ in 0..3 {
        let wall = day.and_time(time);
        let candidates: Vec<i64> = match tz.from_local_datetime(&wall) {
            chrono::LocalResult::Single(t) => vec![t.timestamp_millis()],
            chrono::LocalResult::Ambiguous(first, second) => {
                vec![first.timestamp_millis(), second.timestamp_millis()]
            }
            chrono::LocalResult::None => end_of_gap(&tz, wall).into_iter().collect(),
        };
        if let Some(instant) = candidates.into_iter().find(|t| *t > at) {
            return instant;
        }
        day = day.succ_opt().unwrap_or(day);
    }
    at + 86_400_000
}

/// The first instant at or after the skipped wall time `wall`: the minute the clocks
/// jumped to (jumps are whole minutes, at most a few hours).
fn end_of_gap(tz: &chrono_tz::Tz, wall: chrono::NaiveDateTime) -> Option<i64> {
    use chrono::TimeZone as _;
    let before = (1..=4).find_map(|h| {
        tz.from_local_datetime(&(wall - chrono::Duration::hours(h)))
            .earliest()
    })?;
    (1..=5 * 60)
        .map(|m| before + chrono::Duration::minutes(m))
        .find(|t| t.naive_local() >= wall)
        .map(|t| t.timestamp_millis())
}

/// The day of an instant in `zone`, or in UTC without one.
pub fn local_date(at: UnixMillis, zone: Option<TimeZone>) -> NaiveDate {
    zone.map_or_else(|| date_of(at), |zone| zone.date_of(at))
}

impl TryFrom<String> for TimeZone {
    type Error = TimeZoneError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        TimeZone::parse(&value)
    }
}

impl From<TimeZone> for String {
    fn from(zone: TimeZone) -> String {
        zone.as_str().to_owned()
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> UnixMillis {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("valid")
            .timestamp_millis()
    }

    fn hm(h: u32, m: u32) -> chrono::NaiveTime {
        chrono::NaiveTime::from_hms_opt(h, m, 0).expect("valid")
    }

    #[test]
    fn the_next_wall_time_is_today_or_tomorrow_in_the_zone() {
        let lisbon = Some(TimeZone::parse("Europe/Lisbon").expect("zone"));
        let sao_paulo = Some(TimeZone::parse("America/Sao_Paulo").expect("zone"));
        // 21:00 in Lisbon in summer (UTC+1): 07:00 comes tomorrow, 22:00 today.
        let now = at("2026-07-01T20:00:00Z");
        assert_eq!(local_time(now, lisbon), hm(21, 0));
        assert_eq!(
            next_wall_time(now, lisbon, hm(7, 0)),
            at("2026-07-02T06:00:00Z")
        );
        assert_eq!(
            next_wall_time(now, lisbon, hm(22, 0)),
            at("2026-07-01T21:00:00Z")
        );
        // The same instant is 17:00 in Sao Paulo (UTC-3).
        assert_eq!(
            next_wall_time(now, sao_paulo, hm(7, 0)),
            at("2026-07-02T10:00:00Z")
        );
        assert_eq!(
            next_wall_time(now, None, hm(7, 0)),
            at("2026-07-02T07:00:00Z")
        );
        // Exactly at the wall time: the next one is a day later.
        assert_eq!(
            next_wall_time(at("2026-07-02T06:00:00Z"), lisbon, hm(7, 0)),
            at("2026-07-03T06:00:00Z")
        );
    }

    #[test]
    fn a_wall_time_skipped_by_daylight_saving_falls_at_the_end_of_the_jump() {
        // Lisbon skips 01:00-02:00 on 2026-03-29: 01:30 becomes 02:00 WEST (01:00 UTC).
        let lisbon = Some(TimeZone::parse("Europe/Lisbon").expect("zone"));
        let next = next_wall_time(at("2026-03-28T23:30:00Z"), lisbon, hm(1, 30));
        assert_eq!(next, at("2026-03-29T01:00:00Z"));
    }

    #[test]
    fn a_wall_time_that_occurs_twice_counts_at_each_occurrence() {
        // New York repeats 01:00-02:00 on 2026-11-01: 01:30 EDT is 05:30 UTC, 01:30 EST
        // 06:30 UTC.
        let new_york = Some(TimeZone::parse("America/New_York").expect("zone"));
        assert_eq!(
            next_wall_time(at("2026-11-01T05:00:00Z"), new_york, hm(1, 30)),
            at("2026-11-01T05:30:00Z")
        );
        // 01:10 EST, the second pass: the first 01:30 is gone, the second is 20 minutes off.
        assert_eq!(
            next_wall_time(at("2026-11-01T06:10:00Z"), new_york, hm(1, 30)),
            at("2026-11-01T06:30:00Z")
        );
    }

    #[test]
    fn iana_names_parse_and_anything_else_does_not() {
        for name in ["Europe/Lisbon", "America/Sao_Paulo", "Asia/Kolkata", "UTC"] {
            assert_eq!(TimeZone::parse(name).expect(name).as_str(), name);
        }
        for bad in [
            "",
            "Mars/Olympus",
            "+02:00",
            "europe lisbon",
            &"A".repeat(100),
        ] {
            assert!(TimeZone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_late_evening_in_sao_paulo_is_the_next_day_in_utc() {
        // 2026-03-01T01:30Z is still 28 February in Sao Paulo (UTC-3).
        let at = 1_772_328_600_000;
        let zone = TimeZone::parse("America/Sao_Paulo").expect("zone");
        assert_eq!(local_date(at, None).to_string(), "2026-03-01");
        assert_eq!(local_date(at, Some(zone)).to_string(), "2026-02-28");
    }
}
