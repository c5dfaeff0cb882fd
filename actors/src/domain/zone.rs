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
