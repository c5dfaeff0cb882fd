//! The signed-in user's own account: profile, deletion, entitlements.

use actix_web::{HttpRequest, HttpResponse, web};
use fitpulse_actors::domain::{DisplayName, Email, Locale, TimeZone, Units, now_millis};
use fitpulse_actors::ports::store::ProfileUpdate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client_ip::client_ip;
use super::views::{EntitlementView, Page, UserView, entitlement_view, rfc3339};
use super::{ApiError, Contracts, ErrorCode};
use crate::auth::erasure::Erasure;
use crate::auth::export::Exports;
use crate::auth::rate_limit::LoginLimiter;
use crate::auth::{Accounts, AuthUser};
use crate::store::Stores;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/me")
            .get(profile)
            .patch(update_profile)
            .delete(delete_account),
    )
    .service(web::resource("/v1/me/entitlements").get(entitlements))
    .service(
        web::resource("/v1/me/export")
            .post(request_export)
            .get(export_status),
    );
}

pub fn contracts(c: &mut Contracts) {
    let who = "a user";
    c.get("/v1/me")
        .ok::<UserView>()
        .bearer(who)
        .errors(&[403, 404]);
    c.patch("/v1/me")
        .body::<ProfileBody>()
        .ok::<UserView>()
        .bearer(who)
        .errors(&[403, 404, 409, 429]);
    c.delete("/v1/me")
        .empty(204)
        .bearer(who)
        .errors(&[403, 404]);
    c.get("/v1/me/entitlements")
        .ok::<Page<EntitlementView>>()
        .bearer(who)
        .errors(&[403]);
    c.post("/v1/me/export")
        .json::<ExportView>(202)
        .bearer(who)
        .errors(&[403, 429]);
    c.get("/v1/me/export")
        .ok::<ExportView>()
        .bearer(who)
        .errors(&[403, 404]);
}

fn gone() -> ApiError {
    ApiError::new(ErrorCode::NotFound).with_message("the account no longer exists")
}

async fn profile(caller: AuthUser, stores: web::Data<Stores>) -> Result<HttpResponse, ApiError> {
    let user = stores
        .users
        .user_by_id(caller.user_id()?)
        .await?
        .ok_or_else(gone)?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProfileBody {
    /// A new address: unverified until its emailed link is used.
    email: Option<String>,
    display_name: Option<String>,
    locale: Option<String>,
    units: Option<String>,
    /// An IANA zone; the member's days (streaks, plan days) are counted in it.
    timezone: Option<String>,
}

async fn update_profile(
    req: HttpRequest,
    caller: AuthUser,
    body: web::Json<ProfileBody>,
    stores: web::Data<Stores>,
    accounts: web::Data<Accounts>,
    limiter: web::Data<LoginLimiter>,
) -> Result<HttpResponse, ApiError> {
    let user_id = caller.user_id()?;
    let body = body.into_inner();
    let email = body
        .email
        .as_deref()
        .map(|e| Email::parse(e).map_err(|err| ApiError::invalid_field("email", err)))
        .transpose()?;
    let update = ProfileUpdate {
        display_name: body
            .display_name
            .as_deref()
            .map(|n| DisplayName::parse(n).map_err(|e| ApiError::invalid_field("display_name", e)))
            .transpose()?,
        locale: body
            .locale
            .as_deref()
            .map(|l| Locale::parse(l).map_err(|e| ApiError::invalid_field("locale", e)))
            .transpose()?,
        units: body
            .units
            .as_deref()
            .map(|u| {
                Units::parse(u)
                    .ok_or_else(|| ApiError::invalid_field("units", "`metric` or `imperial`"))
            })
            .transpose()?,
        timezone: body
            .timezone
            .as_deref()
            .map(|z| TimeZone::parse(z).map_err(|e| ApiError::invalid_field("timezone", e)))
            .transpose()?,
    };
    if update == ProfileUpdate::default() && email.is_none() {
        return Err(ApiError::new(ErrorCode::InvalidBody)
            .with_message("name at least one of email, display_name, locale, units, timezone"));
    }
    let mut user = None;
    if let Some(email) = email {
        // A change sends a verification email: limited like reset requests.
        limiter
            .check_reset(client_ip(&req), &user_id.to_string())
            .map_err(|wait| ApiError::rate_limited(wait.seconds()))?;
        user = Some(accounts.change_email(user_id, email).await?);
    }
    if update != ProfileUpdate::default() {
        user = stores.users.update_profile(user_id, &update).await?;
    }
    let user = user.ok_or_else(gone)?;
    Ok(HttpResponse::Ok().json(UserView::from(&user)))
}

/// Erases the account and everything about the user (see `auth::erasure`).
async fn delete_account(
    caller: AuthUser,
    accounts: web::Data<Accounts>,
    hub: web::Data<fitpulse_actors::hub::Hub>,
    content: web::Data<crate::content::Content>,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    let erasure = Erasure {
        accounts: &accounts,
        hub: &hub,
        content: &content,
        likes: stores.likes.as_ref(),
    };
    if !erasure.erase(user).await? {
        return Err(gone());
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn entitlements(
    caller: AuthUser,
    stores: web::Data<Stores>,
) -> Result<HttpResponse, ApiError> {
    let now = now_millis();
    let held = stores.entitlements.entitlements(caller.user_id()?).await?;
    let items = held.iter().map(|e| entitlement_view(e, now)).collect();
    Ok(HttpResponse::Ok().json(Page::all(items)))
}

/// A data export: pending, or ready with everything stored about the member.
#[derive(Serialize, JsonSchema)]
struct ExportView {
    /// `pending` or `ready`.
    state: &'static str,
    requested_at: String,
    ready_at: Option<String>,
    /// The export itself once ready; `null` while pending.
    #[schemars(with = "Option<serde_json::Map<String, Value>>")]
    document: Option<Value>,
}

fn export_view(export: &fitpulse_actors::ports::accounts::ExportRecord) -> ExportView {
    let document = export
        .document
        .as_deref()
        .and_then(|d| serde_json::from_str::<Value>(d).ok());
    ExportView {
        state: if export.ready_at.is_some() {
            "ready"
        } else {
            "pending"
        },
        requested_at: rfc3339(export.requested_at),
        ready_at: export.ready_at.map(rfc3339),
        document,
    }
}

/// Starts an export of everything stored about the caller (202); limited like the other
/// account emails, since each one reads the whole account.
async fn request_export(
    req: HttpRequest,
    caller: AuthUser,
    exports: web::Data<Exports>,
    limiter: web::Data<LoginLimiter>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    limiter
        .check_reset(client_ip(&req), &format!("export:{user}"))
        .map_err(|wait| ApiError::rate_limited(wait.seconds()))?;
    let export = exports.request(user).await?;
    Ok(HttpResponse::Accepted().json(export_view(&export)))
}

/// The caller's latest export: pending, or ready with the document.
async fn export_status(
    caller: AuthUser,
    exports: web::Data<Exports>,
) -> Result<HttpResponse, ApiError> {
    let export = exports.status(caller.user_id()?).await?.ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound).with_message("no export was asked for")
    })?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(export_view(&export)))
}
