//! JSON views shared by several areas: users, token answers, timestamps, entitlements,
//! subscriptions, sign-in identities, push devices, workouts and personal records (also
//! the shapes of a member's data export).

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{HttpResponse, HttpResponseBuilder};
use fitpulse_actors::domain::{Role, UnixMillis};
use fitpulse_actors::ports::accounts::Identity;
use fitpulse_actors::ports::commerce::SubscriptionRecord;
use fitpulse_actors::ports::push::PushDevice;
use fitpulse_actors::ports::store::{Entitlement, UserRecord};
use fitpulse_actors::ports::workouts::{PersonalRecord, WorkoutRecord};
use schemars::JsonSchema;
use serde::Serialize;

use crate::auth::accounts::TokenPair;
use crate::commerce::state::SubscriptionState;

pub use fitpulse_actors::domain::time::{parse_rfc3339 as parse_time, rfc3339};

/// A user account as its owner (and an admin) sees it.
#[derive(Serialize, JsonSchema)]
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
#[derive(Serialize, JsonSchema)]
pub struct TokenView<'a> {
    pub access_token: &'a str,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token stays valid.
    pub expires_in: u64,
    pub scope: &'a str,
    /// Present when the grant issues one (not for client credentials).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<&'a str>,
    /// Present when a user signed in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserView<'a>>,
}

impl<'a> TokenView<'a> {
    pub fn new(pair: &'a TokenPair, user: Option<&'a UserRecord>) -> Self {
        TokenView {
            access_token: &pair.access.token,
            token_type: "Bearer",
            expires_in: pair.access.expires_in,
            scope: &pair.access.scope,
            refresh_token: pair.refresh.as_deref(),
            user: user.map(UserView::from),
        }
    }
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
    no_store(builder).json(TokenView::new(pair, user))
}

/// A list answer: `{"items": [...], "next_cursor": ...}`; `next_cursor` is null on the
/// last page.
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "PageOf{T}")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A list that is never paged.
    pub fn all(items: Vec<T>) -> Self {
        Page {
            items,
            next_cursor: None,
        }
    }

    /// The same page with each item turned into another view.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// An entitlement and whether it is active at `now`.
#[derive(Serialize, JsonSchema)]
pub struct EntitlementView<'a> {
    pub name: &'a str,
    pub active: bool,
    pub expires_at: Option<String>,
    /// What granted it: a product purchase, a promotion, an operator.
    pub source: &'a str,
}

pub fn entitlement_view(e: &Entitlement, now: UnixMillis) -> EntitlementView<'_> {
    EntitlementView {
        name: &e.name,
        active: e.is_active_at(now),
        expires_at: e.expires_at.map(rfc3339),
        source: &e.source,
    }
}

/// A subscription and whether it grants access at `now`.
#[derive(Serialize, JsonSchema)]
pub struct SubscriptionView<'a> {
    pub id: &'a str,
    pub product_id: &'a str,
    /// `active`, `in_grace`, `on_hold`, `paused`, `cancelled`, `expired`, ...
    pub state: &'a str,
    pub expires_at: Option<String>,
    pub auto_renew: bool,
    pub active: bool,
    pub changed_at: String,
}

pub fn subscription_view(s: &SubscriptionRecord, now: UnixMillis) -> SubscriptionView<'_> {
    let active = SubscriptionState::parse(&s.state).is_some_and(|st| st.grants_access())
        && s.expires_at.is_none_or(|e| e > now);
    SubscriptionView {
        id: &s.id,
        product_id: &s.product_id,
        state: &s.state,
        expires_at: s.expires_at.map(rfc3339),
        auto_renew: s.auto_renew,
        active,
        changed_at: rfc3339(s.changed_at),
    }
}

/// A sign-in identity (Apple, Google) linked to the account.
#[derive(Serialize, JsonSchema)]
pub struct IdentityView<'a> {
    /// `apple` or `google`.
    pub provider: &'static str,
    pub email: Option<&'a str>,
    pub linked_at: String,
}

pub fn identity_view(i: &Identity) -> IdentityView<'_> {
    IdentityView {
        provider: i.provider.as_str(),
        email: i.email.as_ref().map(|e| e.as_str()),
        linked_at: rfc3339(i.linked_at),
    }
}

/// Schema-only names for JSON objects whose shape is defined outside the HTTP edge (a
/// content document, the client configuration): any object, named so clients see where it
/// is used.
macro_rules! object_schema {
    ($(#[doc = $doc:literal])* $name:ident) => {
        $(#[doc = $doc])*
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)] // Only its schema is used.
        pub struct $name(serde_json::Map<String, serde_json::Value>);
    };
}
pub(crate) use object_schema;

/// A registered device as its owner sees it (the token is the app's own).
#[derive(Serialize, JsonSchema)]
pub struct DeviceView {
    pub device_id: String,
    /// `ios` or `android`.
    pub platform: &'static str,
    pub push_token: String,
    pub app_version: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub updated_at: String,
}

pub fn device_view(device: PushDevice) -> DeviceView {
    DeviceView {
        platform: device.platform.as_str(),
        updated_at: rfc3339(device.updated_at),
        device_id: device.device_id,
        push_token: device.push_token,
        app_version: device.app_version,
        locale: device.locale,
        timezone: device.timezone,
    }
}

/// One finished workout: a live class or an on-demand replay.
#[derive(Serialize, JsonSchema)]
pub struct WorkoutView<'a> {
    pub id: String,
    /// `live` or `replay`.
    pub kind: &'static str,
    pub class_id: Option<String>,
    /// The catalog workout the class followed, when it had one.
    pub workout_id: Option<&'a str>,
    pub title: &'a str,
    pub started_at: String,
    pub finished_at: String,
    /// Cumulative work in kilojoules.
    pub output: Option<f64>,
    pub reps: Option<u32>,
    /// Place on the board at the end, and of how many.
    pub rank: Option<u32>,
    pub of: Option<u32>,
}

impl<'a> From<&'a WorkoutRecord> for WorkoutView<'a> {
    fn from(w: &'a WorkoutRecord) -> Self {
        WorkoutView {
            id: w.id.to_string(),
            kind: w.kind.as_str(),
            class_id: w.class_id.map(|c| c.to_string()),
            workout_id: w.workout_id.as_deref(),
            title: &w.title,
            started_at: rfc3339(w.started_at),
            finished_at: rfc3339(w.finished_at),
            output: w.output,
            reps: w.reps,
            rank: w.rank,
            of: w.of,
        }
    }
}

/// The caller's bests on one catalog workout, each with when it was set.
#[derive(Serialize, JsonSchema)]
pub struct RecordView<'a> {
    pub workout_id: &'a str,
    /// Kilojoules.
    pub best_output: Option<f64>,
    pub best_output_at: Option<String>,
    pub most_reps: Option<u32>,
    pub most_reps_at: Option<String>,
}

impl<'a> From<&'a PersonalRecord> for RecordView<'a> {
    fn from(r: &'a PersonalRecord) -> Self {
        RecordView {
            workout_id: &r.workout_id,
            best_output: r.best_output,
            best_output_at: r.best_output_at.map(rfc3339),
            most_reps: r.most_reps,
            most_reps_at: r.most_reps_at.map(rfc3339),
        }
    }
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
