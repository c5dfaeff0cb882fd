//! Account routes: register, anonymous device accounts, upgrade, logout, and the JWKS.

use actix_web::{HttpRequest, HttpResponse, web};
use fitpulse_actors::domain::{DeviceId, DisplayName, Email, Locale, Password, Role, Units};
use serde::Deserialize;

use super::client_ip::client_ip;
use super::views::token_response;
use super::{ApiError, ErrorCode};
use crate::auth::accounts::{AccountError, NewAccount};
use crate::auth::passwords::HashError;
use crate::auth::rate_limit::LoginLimiter;
use crate::auth::{Accounts, Auth, AuthUser};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/auth/register").post(register))
        .service(web::resource("/v1/auth/anonymous").post(anonymous))
        .service(web::resource("/v1/auth/upgrade").post(upgrade))
        .service(web::resource("/v1/auth/logout").post(logout))
        .service(web::resource("/.well-known/jwks.json").get(jwks));
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::EmailTaken => ErrorCode::EmailTaken.into(),
            AccountError::AlreadyUpgraded => ErrorCode::AlreadyUpgraded.into(),
            AccountError::InvalidCredentials | AccountError::InvalidClient => {
                ApiError::new(ErrorCode::Unauthorized).with_message(err.to_string())
            }
            AccountError::Refresh(e) => {
                ApiError::new(ErrorCode::InvalidToken).with_message(e.to_string())
            }
            AccountError::AccountGone => {
                ApiError::new(ErrorCode::NotFound).with_message(err.to_string())
            }
            AccountError::Store(e) => e.into(),
            AccountError::Hash(HashError::Busy {
                retry_after_seconds,
            }) => ApiError::rate_limited(retry_after_seconds),
            AccountError::Hash(e) => ApiError::internal(e),
        }
    }
}

/// Counts an attempt against the address (and account); 429 when over the limit.
pub fn limit(
    req: &HttpRequest,
    limiter: &LoginLimiter,
    account: Option<&str>,
) -> Result<(), ApiError> {
    limiter
        .check(client_ip(req), account)
        .map_err(|wait| ApiError::rate_limited(wait.seconds()))
}

/// Parses one field, naming it in the error.
fn field<T, E: std::fmt::Display>(name: &str, parsed: Result<T, E>) -> Result<T, ApiError> {
    parsed.map_err(|e| ApiError::invalid_field(name, e))
}

fn optional_units(raw: Option<&str>) -> Result<Option<Units>, ApiError> {
    raw.map(|u| {
        Units::parse(u).ok_or_else(|| ApiError::invalid_field("units", "`metric` or `imperial`"))
    })
    .transpose()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    email: String,
    password: String,
    display_name: String,
    locale: Option<String>,
    units: Option<String>,
}

async fn register(
    req: HttpRequest,
    body: web::Json<RegisterBody>,
    accounts: web::Data<Accounts>,
    limiter: web::Data<LoginLimiter>,
) -> Result<HttpResponse, ApiError> {
    limiter
        .check_registration(client_ip(&req), &body.email)
        .map_err(|wait| ApiError::rate_limited(wait.seconds()))?;
    let body = body.into_inner();
    let new = NewAccount {
        email: field("email", Email::parse(&body.email))?,
        password: field("password", Password::parse(&body.password))?,
        display_name: field("display_name", DisplayName::parse(&body.display_name))?,
        locale: body
            .locale
            .as_deref()
            .map(|l| field("locale", Locale::parse(l)))
            .transpose()?,
        units: optional_units(body.units.as_deref())?,
        roles: [Role::Member].into(),
    };
    let (user, tokens) = accounts.register(new).await?;
    tracing::info!(user_id = %user.id, "account registered");
    Ok(token_response(
        HttpResponse::Created(),
        &tokens,
        Some(&user),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnonymousBody {
    device_id: String,
}

async fn anonymous(
    req: HttpRequest,
    body: web::Json<AnonymousBody>,
    accounts: web::Data<Accounts>,
    limiter: web::Data<LoginLimiter>,
) -> Result<HttpResponse, ApiError> {
    limit(&req, &limiter, None)?;
    let device = field("device_id", DeviceId::parse(&body.device_id))?;
    let (user, tokens, created) = accounts.anonymous(device).await?;
    let status = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(token_response(status, &tokens, Some(&user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpgradeBody {
    email: String,
    password: String,
    display_name: Option<String>,
}

async fn upgrade(
    req: HttpRequest,
    caller: AuthUser,
    body: web::Json<UpgradeBody>,
    accounts: web::Data<Accounts>,
    limiter: web::Data<LoginLimiter>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    limit(&req, &limiter, Some(&body.email))?;
    let body = body.into_inner();
    let email = field("email", Email::parse(&body.email))?;
    let password = field("password", Password::parse(&body.password))?;
    let display_name = body
        .display_name
        .as_deref()
        .map(|n| field("display_name", DisplayName::parse(n)))
        .transpose()?;
    let (user, tokens) = accounts
        .upgrade(user, email, password, display_name)
        .await?;
    tracing::info!(user_id = %user.id, "anonymous account upgraded");
    Ok(token_response(HttpResponse::Ok(), &tokens, Some(&user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogoutBody {
    refresh_token: String,
}

/// Ends the login of the refresh token. Unknown tokens are accepted silently (RFC 7009),
/// so the answer does not reveal which tokens exist.
async fn logout(
    body: web::Json<LogoutBody>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    accounts.logout(&body.refresh_token).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn jwks(auth: web::Data<Auth>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "public, max-age=300"))
        .json(auth.access.keys().jwks())
}
