//! Time as the API shows it and as days are counted, on one date library (chrono):
//! instants are [`UnixMillis`], shown as RFC 3339 UTC with milliseconds; calendar days
//! are `NaiveDate`s, counted from the Unix epoch where a store keys by day.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use super::UnixMillis;

/// RFC 3339 UTC with milliseconds (`2026-01-24T10:00:00.000Z`), the one timestamp format
/// of the API and the socket protocol.
pub fn rfc3339(at: UnixMillis) -> String {
    DateTime::<Utc>::from_timestamp_millis(at.max(0))
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An RFC 3339 timestamp (`Z` or a `±HH:MM` offset) as Unix milliseconds.
pub fn parse_rfc3339(raw: &str) -> Option<UnixMillis> {
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|at| at.timestamp_millis())
}

/// The UTC calendar day of an instant.
pub fn date_of(at: UnixMillis) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(at)
        .map(|at| at.date_naive())
        .unwrap_or(NaiveDate::MIN)
}

/// Days since the Unix epoch of a date (how stores key by day).
pub fn day_number(date: NaiveDate) -> i32 {
    (date - DateTime::UNIX_EPOCH.date_naive()).num_days() as i32
}

/// The date of a day number.
pub fn date_of_day(day: i32) -> NaiveDate {
    DateTime::UNIX_EPOCH.date_naive() + chrono::Duration::days(i64::from(day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_show_as_utc_with_milliseconds_and_read_back() {
        let at = 1_769_248_800_123;
        assert_eq!(rfc3339(at), "2026-01-24T10:00:00.123Z");
        assert_eq!(parse_rfc3339("2026-01-24T10:00:00.123Z"), Some(at));
        assert_eq!(parse_rfc3339("2026-01-24T11:00:00.123+01:00"), Some(at));
        assert_eq!(parse_rfc3339("2026-01-24 10:00"), None);
        assert_eq!(
            rfc3339(-5),
            "1970-01-01T00:00:00.000Z",
            "never before the epoch"
        );
    }

    #[test]
    fn day_numbers_round_trip_through_dates() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 22).expect("date");
        assert_eq!(date_of_day(day_number(date)), date);
        assert_eq!(
            day_number(NaiveDate::from_ymd_opt(1970, 1, 2).expect("date")),
            1
        );
        assert_eq!(date_of(1_769_248_800_123).to_string(), "2026-01-24");
    }
}
