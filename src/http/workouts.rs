//! Workout routes: `GET /v1/me/workouts` (the caller's history, newest first, a page at a
//! time with an opaque `cursor`; `limit` 1-100, default 20) and `GET /v1/me/records` (the
//! caller's personal records). Parses, calls [`Workouts`], renders.

use actix_web::{HttpResponse, web};
use fitpulse_actors::domain::time::rfc3339;
use fitpulse_actors::ports::workouts::{PersonalRecord, WorkoutRecord};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::views::Page;
use super::{ApiError, Contracts};
use crate::auth::AuthUser;
use crate::workouts::{HistoryCursor, HistoryLimit, Workouts, WorkoutsError};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/me/workouts").get(history))
        .service(web::resource("/v1/me/records").get(records));
}

pub fn contracts(c: &mut Contracts) {
    let member = "a user";
    c.get("/v1/me/workouts")
        .ok::<Page<WorkoutView>>()
        .bearer(member)
        .errors(&[400, 403]);
    c.get("/v1/me/records")
        .ok::<Page<RecordView>>()
        .bearer(member)
        .errors(&[403]);
}

impl From<WorkoutsError> for ApiError {
    fn from(err: WorkoutsError) -> Self {
        match err {
            WorkoutsError::Store(err) => err.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    cursor: Option<String>,
    limit: Option<usize>,
}

async fn history(
    caller: AuthUser,
    query: web::Query<HistoryQuery>,
    workouts: web::Data<Workouts>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let limit =
        HistoryLimit::parse(query.limit).map_err(|e| ApiError::invalid_query("limit", e))?;
    let cursor = query
        .cursor
        .as_deref()
        .map(HistoryCursor::parse)
        .transpose()
        .map_err(|e| ApiError::invalid_query("cursor", e))?;
    let page = workouts.history(user, cursor, limit).await?;
    Ok(HttpResponse::Ok().json(Page {
        items: page.items.iter().map(WorkoutView::from).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    }))
}

async fn records(
    caller: AuthUser,
    workouts: web::Data<Workouts>,
) -> Result<HttpResponse, ApiError> {
    let records = workouts.records(caller.user_id()?).await?;
    Ok(HttpResponse::Ok().json(Page::all(records.iter().map(RecordView::from).collect())))
}

/// One finished workout: a live class or an on-demand replay.
#[derive(Serialize, JsonSchema)]
struct WorkoutView<'a> {
    id: String,
    /// `live` or `replay`.
    kind: &'static str,
    class_id: Option<String>,
    /// The catalog workout the class followed, when it had one.
    workout_id: Option<&'a str>,
    title: &'a str,
    started_at: String,
    finished_at: String,
    /// Cumulative work in kilojoules.
    output: Option<f64>,
    reps: Option<u32>,
    /// Place on the board at the end, and of how many.
    rank: Option<u32>,
    of: Option<u32>,
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
struct RecordView<'a> {
    workout_id: &'a str,
    /// Kilojoules.
    best_output: Option<f64>,
    best_output_at: Option<String>,
    most_reps: Option<u32>,
    most_reps_at: Option<String>,
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
