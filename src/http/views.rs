//! JSON views shared by several areas: users, token answers, timestamps.

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, HttpResponseBuilder};
use fitpulse_actors::domain::{Role, UnixMillis};
use fitpulse_actors::ports::store::UserRecord;
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::accounts::TokenPair;

/// RFC 3339 UTC with milliseconds, the one timestamp format of the API.
pub fn rfc3339(at: UnixMillis) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at.max(0) as u64);
    humantime::format_rfc3339_millis(time).to_string()
}

/// An RFC 3339 timestamp (`Z` or a `±HH:MM` offset) as Unix milliseconds.
pub fn parse_time(raw: &str) -> Option<UnixMillis> {
    let (base, offset_minutes) = match raw.len().checked_sub(6).map(|i| raw.split_at(i)) {
        Some((base, offset))
            if (offset.starts_with('+') || offset.starts_with('-'))
                && offset.as_bytes()[3] == b':' =>
        {
            let hours: i64 = offset[1..3].parse().ok()?;
            let minutes: i64 = offset[4..6].parse().ok()?;
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            (format!("{base}Z"), sign * (hours * 60 + minutes))
        }
        _ => (raw.to_owned(), 0),
    };
    let at = humantime::parse_rfc3339(&base).ok()?;
    let millis = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64;
    Some(millis - offset_minutes * 60_000)
}

#[derive(Serialize)]
pub struct UserView<'a> {
    pub id: String,
    pub email: Option<&'a str>,
    pub display_name: &'a str,
    pub locale: &'a str,
    pub units: &'a str,
    pub roles: Vec<&'static str>,
    /// True for a device account that has no email yet.
    pub anonymous: bool,
    pub created_at: String,
}

impl<'a> From<&'a UserRecord> for UserView<'a> {
    fn from(user: &'a UserRecord) -> Self {
        UserView {
            id: user.id.to_string(),
            email: user.email.as_ref().map(|e| e.as_str()),
            display_name: user.display_name.as_str(),
            locale: user.locale.as_str(),
            units: user.units.as_str(),
            roles: user.roles.iter().map(|r: &Role| r.as_str()).collect(),
            anonymous: user.email.is_none(),
            created_at: rfc3339(user.created_at),
        }
    }
}

/// The OAuth 2 token answer (RFC 6749 §5.1), plus `user` when a user signed in.
pub fn token_body(pair: &TokenPair, user: Option<&UserRecord>) -> Value {
    let mut body = json!({
        "access_token": pair.access.token,
        "token_type": "Bearer",
        "expires_in": pair.access.expires_in,
        "scope": pair.access.scope,
    });
    if let Some(refresh) = &pair.refresh {
        body["refresh_token"] = json!(refresh);
    }
    if let Some(user) = user {
        body["user"] = json!(UserView::from(user));
    }
    body
}

/// Token answers must never be cached (RFC 6749 §5.1).
pub fn no_store(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder.insert_header(CacheControl(vec![CacheDirective::NoStore]));
    builder
}

/// Answers `body` as a token response with `status`.
pub fn token_response(
    builder: HttpResponseBuilder,
    pair: &TokenPair,
    user: Option<&UserRecord>,
) -> HttpResponse {
    no_store(builder).json(token_body(pair, user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc_3339_utc_with_milliseconds() {
        assert_eq!(rfc3339(1_769_248_800_123), "2026-01-24T10:00:00.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
