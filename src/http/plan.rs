//! My plan and shopping list: `PUT /v1/me/plan` (choose a template and start date),
//! `GET /v1/me/plan?week=N`, `PUT/DELETE /v1/me/plan/items/{id}/done`,
//! `PUT/DELETE /v1/me/plan/items/{id}/swap`, `GET /v1/me/shopping-list?week=N`, checking
//! lines off, and extra items. Reads and changes go through the user's session, which holds
//! the plan: changes apply one at a time, are stored, and reach every device of the user
//! as `plan.updated` or `plan.shopping_list_updated` (the rules are in
//! `crate::content::plans`; the routes parse, call it and render).

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ApiError, Contracts, ErrorCode};
use crate::auth::AuthUser;
use crate::content::plan::{self, PlanError, PlanOp};
use crate::content::plan_views::{PlanWeekView as PlanWeek, ShoppingListView as ShoppingList};
use crate::content::plans::{Plans, PlansError};
use crate::content::vocabulary::Unit;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/me/plan").get(get_plan).put(choose))
        .service(
            web::resource("/v1/me/plan/items/{item_id}/done")
                .put(mark_done)
                .delete(mark_undone),
        )
        .service(
            web::resource("/v1/me/plan/items/{item_id}/swap")
                .put(swap)
                .delete(unswap),
        )
        .service(web::resource("/v1/me/shopping-list").get(shopping_list))
        .service(
            web::resource("/v1/me/shopping-list/items/{line_id}/checked")
                .put(check_line)
                .delete(uncheck_line),
        )
        .service(web::resource("/v1/me/shopping-list/extras").post(add_extra))
        .service(web::resource("/v1/me/shopping-list/extras/{id}").delete(remove_extra))
        .service(
            web::resource("/v1/me/shopping-list/extras/{id}/checked")
                .put(check_extra)
                .delete(uncheck_extra),
        );
}

pub fn contracts(c: &mut Contracts) {
    let who = "a user";
    let edit_errors: &[u16] = &[400, 403, 404, 409];
    c.get("/v1/me/plan")
        .ok::<PlanWeek>()
        .bearer(who)
        .errors(&[400, 403, 404]);
    c.put("/v1/me/plan")
        .body::<ChooseBody>()
        .ok::<PlanWeek>()
        .bearer(who)
        .errors(&[403, 404, 503]);
    for method in ["put", "delete"] {
        c.method(method, "/v1/me/plan/items/{item_id}/done")
            .ok::<DoneState>()
            .bearer(who)
            .errors(edit_errors);
        c.method(method, "/v1/me/shopping-list/items/{line_id}/checked")
            .ok::<LineState>()
            .bearer(who)
            .errors(edit_errors);
        c.method(method, "/v1/me/shopping-list/extras/{id}/checked")
            .ok::<ExtraState>()
            .bearer(who)
            .errors(edit_errors);
    }
    c.put("/v1/me/plan/items/{item_id}/swap")
        .body::<SwapBody>()
        .ok::<SwapState>()
        .bearer(who)
        .errors(edit_errors);
    c.delete("/v1/me/plan/items/{item_id}/swap")
        .ok::<SwapState>()
        .bearer(who)
        .errors(edit_errors);
    c.get("/v1/me/shopping-list")
        .ok::<ShoppingList>()
        .bearer(who)
        .errors(&[400, 403, 404]);
    c.post("/v1/me/shopping-list/extras")
        .body::<ExtraBody>()
        .created::<Option<ExtraView>>()
        .bearer(who)
        .errors(edit_errors);
    c.delete("/v1/me/shopping-list/extras/{id}")
        .empty(204)
        .bearer(who)
        .errors(edit_errors);
}

#[derive(Serialize, JsonSchema)]
struct DoneState {
    item_id: String,
    done: bool,
}

/// The recipe now in the slot; `null` when back to the plan's own.
#[derive(Serialize, JsonSchema)]
struct SwapState {
    item_id: String,
    recipe_id: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct LineState {
    id: String,
    week: usize,
    checked: bool,
}

#[derive(Serialize, JsonSchema)]
struct ExtraState {
    id: String,
    checked: bool,
}

/// Something the member added to the shopping list by hand.
#[derive(Serialize, JsonSchema)]
struct ExtraView<'a> {
    id: &'a str,
    name: &'a str,
    quantity: f64,
    unit: &'static str,
    checked: bool,
}

impl From<PlanError> for ApiError {
    fn from(err: PlanError) -> Self {
        let message = err.to_string();
        let code = match &err {
            PlanError::NoPlan => ErrorCode::NoPlan,
            PlanError::UnknownTemplate(_)
            | PlanError::UnknownRecipe(_)
            | PlanError::UnknownEntry(_)
            | PlanError::UnknownLine(_) => ErrorCode::NotFound,
            PlanError::NotAMeal => ErrorCode::InvalidField,
            PlanError::PremiumRequired => ErrorCode::PremiumRequired,
            PlanError::WeekOutOfRange { .. } => ErrorCode::InvalidQuery,
            PlanError::TooManyExtras => ErrorCode::Conflict,
            PlanError::Corrupt => return ApiError::internal(err),
        };
        ApiError::new(code).with_message(message)
    }
}

impl From<PlansError> for ApiError {
    fn from(err: PlansError) -> Self {
        match err {
            PlansError::Plan(err) => err.into(),
            PlansError::Session(err) => err.into(),
            PlansError::Store(err) => err.into(),
            PlansError::StartOutOfRange => {
                ApiError::invalid_field("start_date", "within a year of today")
            }
        }
    }
}

type Service = web::Data<Plans>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WeekQuery {
    week: Option<usize>,
}

async fn get_plan(
    caller: AuthUser,
    query: web::Query<WeekQuery>,
    plans: Service,
) -> Result<HttpResponse, ApiError> {
    let week = plans
        .week(caller.user_id()?, caller.timezone, query.week)
        .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(week))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ChooseBody {
    template_id: String,
    /// `YYYY-MM-DD`; today when absent.
    start_date: Option<String>,
}

async fn choose(
    caller: AuthUser,
    body: web::Json<ChooseBody>,
    plans: Service,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let start_date = body
        .start_date
        .as_deref()
        .map(|raw| {
            NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map_err(|_| ApiError::invalid_field("start_date", "a date like 2026-11-23"))
        })
        .transpose()?;
    let week = plans
        .choose(
            caller.user_id()?,
            caller.timezone,
            caller.premium(),
            body.template_id,
            start_date,
        )
        .await?;
    Ok(HttpResponse::Ok().json(week))
}

async fn set_done(
    caller: AuthUser,
    item_id: String,
    done: bool,
    plans: &Plans,
) -> Result<HttpResponse, ApiError> {
    let op = PlanOp::Done {
        entry_id: item_id.clone(),
        done,
    };
    plans.edit(caller.user_id()?, caller.premium(), op).await?;
    Ok(HttpResponse::Ok().json(DoneState { item_id, done }))
}

async fn mark_done(
    caller: AuthUser,
    path: web::Path<String>,
    plans: Service,
) -> Result<HttpResponse, ApiError> {
    set_done(caller, path.into_inner(), true, &plans).await
}

async fn mark_undone(
    caller: AuthUser,
    path: web::Path<String>,
    plans: Service,
) -> Result<HttpResponse, ApiError> {
    set_done(caller, path.into_inner(), false, &plans).await
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SwapBody {
    recipe_id: String,
}

async fn swap(
    caller: AuthUser,
    path: web::Path<String>,
    body: web::Json<SwapBody>,
    plans: Service,
) -> Result<HttpResponse, ApiError> {
    let item_id = path.into_inner();
    let recipe_id = body.into_inner().recipe_id;
    plans
        .swap(
            caller.user_id()?,
            caller.premium(),
            item_id.clone(),
            Some(recipe_id.clone()),
        )
        .await?;
    Ok(HttpResponse::Ok().json(SwapState {
        item_id,
        recipe_id: Some(recipe_id),
    }))
}

async fn unswap(
    caller: AuthUser,
    path: web::Path<String>,
    plans: Service,
) -> Result<HttpResponse, ApiError> {
    let item_id = path.into_inner();
    plans
        .swap(caller.user_id()?, caller.premium(), item_id.clone(), None)
        .await?;
    Ok(HttpResponse::Ok().json(SwapState {
        item_id,
        recipe_id: None,
    }))
}

async fn shopping_list(
    caller: AuthUser,
    query: web::Query<WeekQuery>,
    plans: Service,
) -> Result<HttpResponse, ApiError> {
    let list = plans
        .shopping_list(caller.user_id()?, caller.timezone, query.week)
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

async fn set_line(
    caller: AuthUser,
    line_id: String,
    week: Option<usize>,
    checked: bool,
    plans: &Plans,
) -> Result<HttpResponse, ApiError> {
    let week = plans
        .check_line(
            caller.user_id()?,
            caller.timezone,
            caller.premium(),
            line_id.clone(),
            week,
            checked,
        )
        .await?;
    Ok(HttpResponse::Ok().json(LineState {
        id: line_id,
        week,
        checked,
    }))
}

async fn check_line(
    caller: AuthUser,
    path: web::Path<String>,
    query: web::Query<WeekQuery>,
    plans: Service,
) -> Result<HttpResponse, ApiError> {
    set_line(caller, path.into_inner(), query.week, true, &plans).await
}

async fn uncheck_line(
    caller: AuthUser,
    path: web::Path<String>,
    query: web::Query<WeekQuery>,
    plans: Service,
) -> Result<HttpResponse, ApiError> {
    set_line(caller, path.into_inner(), query.week, false, &plans).await
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExtraBody {
    name: String,
    quantity: f64,
    unit: String,
}

async fn add_extra(
    caller: AuthUser,
    body: web::Json<ExtraBody>,
    plans: Service,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = body.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ApiError::invalid_field("name", "1-80 characters"));
    }
    if !body.quantity.is_finite() || body.quantity <= 0.0 || body.quantity > 100_000.0 {
        return Err(ApiError::invalid_field("quantity", "a positive amount"));
    }
    let unit = Unit::parse(&body.unit)
        .ok_or_else(|| ApiError::invalid_field("unit", format!("one of: {}", Unit::names())))?;
    let op = PlanOp::AddExtra {
        name,
        quantity: body.quantity,
        unit,
    };
    let plan = plans.edit(caller.user_id()?, caller.premium(), op).await?;
    Ok(HttpResponse::Created().json(plan.extras.last().map(extra_view)))
}

fn extra_view(extra: &plan::Extra) -> ExtraView<'_> {
    ExtraView {
        id: &extra.id,
        name: &extra.name,
        quantity: extra.quantity,
        unit: extra.unit.as_str(),
        checked: extra.checked,
    }
}

async fn remove_extra(
    caller: AuthUser,
    path: web::Path<String>,
    plans: Service,
) -> Result<HttpResponse, ApiError> {
    let op = PlanOp::RemoveExtra {
        id: path.into_inner(),
    };
    plans.edit(caller.user_id()?, caller.premium(), op).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_extra(
    caller: AuthUser,
    id: String,
    checked: bool,
    plans: &Plans,
) -> Result<HttpResponse, ApiError> {
    let op = PlanOp::CheckExtra {
        id: id.clone(),
        checked,
    };
    plans.edit(caller.user_id()?, caller.premium(), op).await?;
    Ok(HttpResponse::Ok().json(ExtraState { id, checked }))
}

async fn check_extra(
    caller: AuthUser,
    path: web::Path<String>,
    plans: Service,
) -> Result<HttpResponse, ApiError> {
    set_extra(caller, path.into_inner(), true, &plans).await
}

async fn uncheck_extra(
    caller: AuthUser,
    path: web::Path<String>,
    plans: Service,
) -> Result<HttpResponse, ApiError> {
    set_extra(caller, path.into_inner(), false, &plans).await
}
