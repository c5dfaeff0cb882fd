//! Check-in routes: `POST /v1/me/checkins` makes or edits today's check-in (201 for the
//! day's first, 200 for an edit), `GET /v1/me/checkins` lists the newest with the streak.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use fitpulse_actors::domain::time::date_of_day;
use fitpulse_actors::ports::community::CheckinRecord;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Data;
use crate::auth::AuthUser;
use crate::community::NewCheckin;
use crate::http::ApiError;
use crate::http::error::{bounded_text, long_text};
use crate::http::views::rfc3339;

const MAX_MOOD: usize = 24;
const MAX_NOTE: usize = 280;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckinBody {
    mood: String,
    satisfaction: u8,
    note: Option<String>,
    /// `YYYY-MM-DD`; only today can be checked in (and edited).
    date: Option<String>,
}

/// One day's check-in.
#[derive(Serialize, JsonSchema)]
pub(super) struct CheckinView<'a> {
    /// The member's day, `2026-11-22`.
    date: String,
    mood: &'a str,
    satisfaction: u8,
    note: Option<&'a str>,
    updated_at: String,
}

/// Recent check-ins, newest first, and the current streak.
#[derive(Serialize, JsonSchema)]
pub(super) struct CheckinPage<'a> {
    items: Vec<CheckinView<'a>>,
    streak_days: u32,
    next_cursor: Option<String>,
}

fn checkin_view(c: &CheckinRecord) -> CheckinView<'_> {
    CheckinView {
        date: date_of_day(c.day).to_string(),
        mood: &c.mood,
        satisfaction: c.satisfaction,
        note: c.note.as_deref(),
        updated_at: rfc3339(c.updated_at),
    }
}

pub(super) async fn check_in(
    caller: AuthUser,
    body: web::Json<CheckinBody>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let b = body.into_inner();
    let date = b
        .date
        .as_deref()
        .map(|raw| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map_err(|_| ApiError::invalid_field("date", "a date like 2026-11-22"))
        })
        .transpose()?;
    let checkin = NewCheckin {
        date,
        mood: bounded_text("mood", &b.mood, MAX_MOOD)?,
        satisfaction: b.satisfaction,
        note: b
            .note
            .as_deref()
            .map(|n| long_text("note", n, MAX_NOTE))
            .transpose()?,
    };
    let saved = community.check_in(user, caller.timezone, checkin).await?;
    let status = if saved.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(checkin_view(&saved.record)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitQuery {
    limit: Option<usize>,
}

pub(super) async fn checkins(
    caller: AuthUser,
    query: web::Query<LimitQuery>,
    community: Data,
) -> Result<HttpResponse, ApiError> {
    let history = community
        .checkins(caller.user_id()?, caller.timezone, query.limit)
        .await?;
    Ok(HttpResponse::Ok().json(CheckinPage {
        items: history.items.iter().map(checkin_view).collect(),
        streak_days: history.streak_days,
        next_cursor: None,
    }))
}
