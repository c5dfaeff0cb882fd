//! Workout routes: `GET /v1/me/workouts` (the caller's history, newest first, a page at a
//! time with an opaque `cursor`; `limit` 1-100, default 20) and `GET /v1/me/records` (the
//! caller's personal records). Parses, calls [`Workouts`], renders.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::views::{Page, RecordView, WorkoutView};
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
