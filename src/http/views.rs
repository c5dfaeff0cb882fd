//! JSON views shared by several areas: users, token answers, timestamps, entitlements,
//! subscriptions and sign-in identities (also the shapes of a member's data export).

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, HttpResponseBuilder};
use fitpulse_actors::domain::{Role, UnixMillis};
use fitpulse_actors::ports::accounts::Identity;
use fitpulse_actors::ports::commerce::SubscriptionRecord;
use fitpulse_actors::ports::store::{Entitlement, UserRecord};
use serde::Serialize;
use serde_json::{Value, json};

use crate::auth::accounts::TokenPair;
use crate::commerce::state::SubscriptionState;

pub use fitpulse_actors::domain::time::{parse_rfc3339 as parse_time, rfc3339};

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
    /// The owner proved the email (a verification link); false without an email.
    pub email_verified: bool,
    /// IANA zone the member's days are counted in; `null` for UTC.
    pub timezone: Option<&'static str>,
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
            email_verified: user.email.is_some() && user.email_verified,
            timezone: user.timezone.map(|z| z.as_str()),
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

/// An entitlement and whether it is active at `now`.
pub fn entitlement_view(e: &Entitlement, now: UnixMillis) -> Value {
    json!({
        "name": e.name,
        "active": e.is_active_at(now),
        "expires_at": e.expires_at.map(rfc3339),
        "source": e.source,
    })
}

/// A subscription and whether it grants access at `now`.
pub fn subscription_view(s: &SubscriptionRecord, now: UnixMillis) -> Value {
    let active = SubscriptionState::parse(&s.state).is_some_and(|st| st.grants_access())
        && s.expires_at.is_none_or(|e| e > now);
    json!({
        "id": s.id, "product_id": s.product_id, "state": s.state,
        "expires_at": s.expires_at.map(rfc3339), "auto_renew": s.auto_renew,
        "active": active, "changed_at": rfc3339(s.changed_at),
    })
}

/// A sign-in identity (Apple, Google) linked to the account.
pub fn identity_view(i: &Identity) -> Value {
    json!({
        "provider": i.provider.as_str(),
        "email": i.email.as_ref().map(|e| e.as_str()),
        "linked_at": rfc3339(i.linked_at),
    })
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
