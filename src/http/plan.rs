//! My plan and shopping list: `PUT /v1/me/plan` (choose a template and start date),
//! `GET /v1/me/plan?week=N`, `PUT/DELETE /v1/me/plan/items/{id}/done`,
//! `PUT/DELETE /v1/me/plan/items/{id}/swap`, `GET /v1/me/shopping-list?week=N`, checking
//! lines off, and extra items. Reads and changes go through the user's session, which holds
//! the plan: changes apply one at a time, are stored, and reach every device of the user
//! as `plan.updated` or `plan.shopping_list_updated`.

use actix_web::{HttpResponse, web};
use chrono::NaiveDate;
use fitpulse_actors::domain::{Units, UserId, now_millis};
use fitpulse_actors::hub::Hub;
use serde::Deserialize;
use serde_json::{Value, json};

use super::catalog::premium_access;
use super::{ApiError, ErrorCode};
use crate::auth::AuthUser;
use crate::content::Content;
use crate::content::plan::{self, PlanError, PlanOp, UserPlan, date_of};
use crate::content::plan_commands::{self, PlanCommand};
use crate::content::shopping;
use crate::content::vocabulary::Unit;
use crate::store::Stores;

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

fn today() -> NaiveDate {
    date_of(now_millis())
}

/// Runs `op` in the user's session; `premium` says whether the caller may pick premium
/// templates and recipes (only choosing and swapping look at it).
async fn edit(
    hub: &Hub,
    caller: &AuthUser,
    premium: bool,
    op: PlanOp,
) -> Result<UserPlan, ApiError> {
    let user = caller.user_id()?;
    let command = PlanCommand { op, premium };
    let doc = hub
        .edit_plan(user, command.to_json())
        .await?
        .map_err(|rejected| plan_commands::rejection(&rejected))?;
    plan::parse(Some(&doc))?.ok_or_else(|| ApiError::internal(PlanError::Corrupt))
}

async fn current(hub: &Hub, user: UserId) -> Result<UserPlan, ApiError> {
    let doc = hub.plan(user).await?;
    Ok(plan::parse(doc.as_deref())?.ok_or(PlanError::NoPlan)?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WeekQuery {
    week: Option<usize>,
}

async fn get_plan(
    caller: AuthUser,
    query: web::Query<WeekQuery>,
    hub: web::Data<Hub>,
    content: web::Data<Content>,
) -> Result<HttpResponse, ApiError> {
    let plan = current(&hub, caller.user_id()?).await?;
    let week = plan::render_week(&plan, query.week, &content.catalog, today())?;
    Ok(HttpResponse::Ok().json(week))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChooseBody {
    template_id: String,
    /// `YYYY-MM-DD`; today when absent.
    start_date: Option<String>,
}

async fn choose(
    caller: AuthUser,
    body: web::Json<ChooseBody>,
    hub: web::Data<Hub>,
    content: web::Data<Content>,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let today = today();
    let start_date = match &body.start_date {
        None => today,
        Some(raw) => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map_err(|_| ApiError::invalid_field("start_date", "a date like 2026-11-23"))?,
    };
    if (start_date - today).num_days().abs() > 366 {
        return Err(ApiError::invalid_field(
            "start_date",
            "within a year of today",
        ));
    }
    let op = PlanOp::Choose {
        template_id: body.template_id,
        start_date,
    };
    let premium = premium_access(Some(&caller), &stores).await?;
    let plan = edit(&hub, &caller, premium, op).await?;
    let week = plan::render_week(&plan, None, &content.catalog, today)?;
    Ok(HttpResponse::Ok().json(week))
}

async fn set_done(
    caller: AuthUser,
    item_id: String,
    done: bool,
    hub: &Hub,
) -> Result<HttpResponse, ApiError> {
    let op = PlanOp::Done {
        entry_id: item_id.clone(),
        done,
    };
    edit(hub, &caller, caller.premium(), op).await?;
    Ok(HttpResponse::Ok().json(json!({ "item_id": item_id, "done": done })))
}

async fn mark_done(
    caller: AuthUser,
    path: web::Path<String>,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, ApiError> {
    set_done(caller, path.into_inner(), true, &hub).await
}

async fn mark_undone(
    caller: AuthUser,
    path: web::Path<String>,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, ApiError> {
    set_done(caller, path.into_inner(), false, &hub).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SwapBody {
    recipe_id: String,
}

async fn swap(
    caller: AuthUser,
    path: web::Path<String>,
    body: web::Json<SwapBody>,
    hub: web::Data<Hub>,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    let item_id = path.into_inner();
    let recipe_id = body.into_inner().recipe_id;
    let op = PlanOp::Swap {
        entry_id: item_id.clone(),
        recipe_id: Some(recipe_id.clone()),
    };
    let premium = premium_access(Some(&caller), &stores).await?;
    edit(&hub, &caller, premium, op).await?;
    Ok(HttpResponse::Ok().json(json!({ "item_id": item_id, "recipe_id": recipe_id })))
}

async fn unswap(
    caller: AuthUser,
    path: web::Path<String>,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, ApiError> {
    let item_id = path.into_inner();
    let op = PlanOp::Swap {
        entry_id: item_id.clone(),
        recipe_id: None,
    };
    edit(&hub, &caller, caller.premium(), op).await?;
    Ok(HttpResponse::Ok().json(json!({ "item_id": item_id, "recipe_id": null })))
}

/// The caller's measurement system (metric for accounts without a stored profile).
async fn units_of(stores: &Stores, user: UserId) -> Result<Units, ApiError> {
    Ok(stores
        .users
        .user_by_id(user)
        .await?
        .map(|u| u.units)
        .unwrap_or_default())
}

fn week_or_current(
    plan: &UserPlan,
    week: Option<usize>,
    content: &Content,
) -> Result<usize, ApiError> {
    match week {
        Some(week) => Ok(week),
        None => {
            let weeks = plan::template(&content.catalog, &plan.template_id)?
                .weeks
                .len();
            Ok(plan::current_week(plan, weeks, today()))
        }
    }
}

async fn shopping_list(
    caller: AuthUser,
    query: web::Query<WeekQuery>,
    hub: web::Data<Hub>,
    stores: web::Data<Stores>,
    content: web::Data<Content>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let plan = current(&hub, user).await?;
    let week = week_or_current(&plan, query.week, &content)?;
    let list = shopping::list(&plan, week, &content.catalog)?;
    let units = units_of(&stores, user).await?;
    Ok(HttpResponse::Ok().json(shopping::render(&plan, &list, units)))
}

async fn set_line(
    caller: AuthUser,
    line_id: String,
    week: Option<usize>,
    checked: bool,
    hub: &Hub,
    content: &web::Data<Content>,
) -> Result<HttpResponse, ApiError> {
    let plan = current(hub, caller.user_id()?).await?;
    let week = week_or_current(&plan, week, content)?;
    let op = PlanOp::Check {
        week,
        line_id: line_id.clone(),
        checked,
    };
    edit(hub, &caller, caller.premium(), op).await?;
    Ok(HttpResponse::Ok().json(json!({ "id": line_id, "week": week, "checked": checked })))
}

async fn check_line(
    caller: AuthUser,
    path: web::Path<String>,
    query: web::Query<WeekQuery>,
    hub: web::Data<Hub>,
    content: web::Data<Content>,
) -> Result<HttpResponse, ApiError> {
    set_line(caller, path.into_inner(), query.week, true, &hub, &content).await
}

async fn uncheck_line(
    caller: AuthUser,
    path: web::Path<String>,
    query: web::Query<WeekQuery>,
    hub: web::Data<Hub>,
    content: web::Data<Content>,
) -> Result<HttpResponse, ApiError> {
    set_line(caller, path.into_inner(), query.week, false, &hub, &content).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtraBody {
    name: String,
    quantity: f64,
    unit: String,
}

async fn add_extra(
    caller: AuthUser,
    body: web::Json<ExtraBody>,
    hub: web::Data<Hub>,
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
    let plan = edit(&hub, &caller, caller.premium(), op).await?;
    let added = plan.extras.last().map(extra_view).unwrap_or(Value::Null);
    Ok(HttpResponse::Created().json(added))
}

fn extra_view(extra: &plan::Extra) -> Value {
    json!({
        "id": extra.id, "name": extra.name, "quantity": extra.quantity,
        "unit": extra.unit.as_str(), "checked": extra.checked,
    })
}

async fn remove_extra(
    caller: AuthUser,
    path: web::Path<String>,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, ApiError> {
    let op = PlanOp::RemoveExtra {
        id: path.into_inner(),
    };
    edit(&hub, &caller, caller.premium(), op).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_extra(
    caller: AuthUser,
    id: String,
    checked: bool,
    hub: &Hub,
) -> Result<HttpResponse, ApiError> {
    let op = PlanOp::CheckExtra {
        id: id.clone(),
        checked,
    };
    edit(hub, &caller, caller.premium(), op).await?;
    Ok(HttpResponse::Ok().json(json!({ "id": id, "checked": checked })))
}

async fn check_extra(
    caller: AuthUser,
    path: web::Path<String>,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, ApiError> {
    set_extra(caller, path.into_inner(), true, &hub).await
}

async fn uncheck_extra(
    caller: AuthUser,
    path: web::Path<String>,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, ApiError> {
    set_extra(caller, path.into_inner(), false, &hub).await
}
