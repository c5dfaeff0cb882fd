//! Account routes: register, anonymous device accounts, upgrade, logout, and the JWKS.

use actix_web::{HttpRequest, HttpResponse, web};
use fitpulse_actors::domain::{DeviceId, DisplayName, Email, Locale, Password, Role, Units};
use schemars::JsonSchema;
use serde::Deserialize;

use super::client_ip::client_ip;
use super::views::{IdentityView, Page, TokenView, identity_view, token_response};
use super::{ApiError, Contracts, ErrorCode};
use crate::auth::accounts::{AccountError, NewAccount};
use crate::auth::id_tokens::{IdTokenError, SocialProviders};
use crate::auth::jwks::JwksError;
use crate::auth::keys::Jwks;
use crate::auth::passwords::HashError;
use crate::auth::rate_limit::LoginLimiter;
use crate::auth::social::SocialOutcome;
use crate::auth::{Accounts, Auth, AuthUser};
use fitpulse_actors::ports::accounts::SocialProvider;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/auth/register").post(register))
        .service(web::resource("/v1/auth/anonymous").post(anonymous))
        .service(web::resource("/v1/auth/upgrade").post(upgrade))
        .service(web::resource("/v1/auth/logout").post(logout))
        .service(web::resource("/v1/auth/password-reset").post(request_password_reset))
        .service(web::resource("/v1/auth/password-reset/confirm").post(confirm_password_reset))
        .service(web::resource("/v1/auth/verify-email").post(verify_email))
        .service(web::resource("/v1/auth/verify-email/resend").post(resend_verification))
        .service(web::resource("/v1/auth/social/{provider}").post(social_sign_in))
        .service(web::resource("/v1/me/identities").get(identities))
        .service(web::resource("/v1/me/identities/{provider}").delete(unlink))
        .service(web::resource("/.well-known/jwks.json").get(jwks));
}

pub fn contracts(c: &mut Contracts) {
    c.post("/v1/auth/register")
        .body::<RegisterBody>()
        .created::<TokenView>()
        .errors(&[409, 429]);
    c.post("/v1/auth/anonymous")
        .body::<AnonymousBody>()
        .created::<TokenView>()
        .ok::<TokenView>()
        .errors(&[429]);
    c.post("/v1/auth/upgrade")
        .body::<UpgradeBody>()
        .ok::<TokenView>()
        .bearer("the anonymous account's user")
        .errors(&[403, 409, 429]);
    c.post("/v1/auth/logout").body::<LogoutBody>().empty(204);
    c.post("/v1/auth/password-reset")
        .body::<ResetRequestBody>()
        .empty(202)
        .errors(&[429]);
    c.post("/v1/auth/password-reset/confirm")
        .body::<ResetConfirmBody>()
        .empty(204)
        .errors(&[429]);
    c.post("/v1/auth/verify-email")
        .body::<VerifyBody>()
        .empty(204)
        .errors(&[409, 429]);
    c.post("/v1/auth/verify-email/resend")
        .empty(202)
        .bearer("a user")
        .errors(&[403, 404, 409, 429]);
    c.post("/v1/auth/social/{provider}")
        .body::<SocialBody>()
        .created::<TokenView>()
        .ok::<TokenView>()
        .errors(&[401, 409, 429, 503]);
    c.get("/v1/me/identities")
        .ok::<Page<IdentityView>>()
        .bearer("a user")
        .errors(&[403]);
    c.delete("/v1/me/identities/{provider}")
        .empty(204)
        .bearer("a user")
        .errors(&[400, 403, 404, 409]);
    c.get("/.well-known/jwks.json").ok::<Jwks>();
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> Self {
        match err {
            AccountError::EmailTaken => ErrorCode::EmailTaken.into(),
            AccountError::AlreadyUpgraded => ErrorCode::AlreadyUpgraded.into(),
            AccountError::InvalidCredentials | AccountError::InvalidClient => {
                ApiError::new(ErrorCode::Unauthorized).with_message(err.to_string())
            }
            AccountError::Refresh(crate::auth::refresh::RefreshError::Store(e)) => e.into(),
            AccountError::Refresh(e) => {
                ApiError::new(ErrorCode::InvalidToken).with_message(e.to_string())
            }
            AccountError::AccountGone => {
                ApiError::new(ErrorCode::NotFound).with_message(err.to_string())
            }
            AccountError::InvalidLink => ErrorCode::InvalidLink.into(),
            AccountError::AlreadyVerified => ErrorCode::AlreadyVerified.into(),
            AccountError::LastSignIn | AccountError::ProviderLinked => {
                ApiError::new(ErrorCode::Conflict).with_message(err.to_string())
            }
            AccountError::NoEmail => ApiError::new(ErrorCode::Conflict)
                .with_message("this account has no email; add one with POST /v1/auth/upgrade"),
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

#[derive(Deserialize, JsonSchema)]
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
        password: Some(field("password", Password::parse(&body.password))?),
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

#[derive(Deserialize, JsonSchema)]
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

#[derive(Deserialize, JsonSchema)]
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

#[derive(Deserialize, JsonSchema)]
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

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ResetRequestBody {
    email: String,
}

/// Emails a reset link when the address has an account. The answer is 202 either way, so
/// it tells no one which addresses have accounts; requests are limited per client address
/// and per email (each one sends an email).
async fn request_password_reset(
    req: HttpRequest,
    body: web::Json<ResetRequestBody>,
    accounts: web::Data<Accounts>,
    limiter: web::Data<LoginLimiter>,
) -> Result<HttpResponse, ApiError> {
    limiter
        .check_reset(client_ip(&req), &body.email)
        .map_err(|wait| ApiError::rate_limited(wait.seconds()))?;
    if body.email.len() > 320 {
        return Err(ApiError::invalid_field("email", "too long"));
    }
    accounts.request_password_reset(&body.email).await?;
    Ok(HttpResponse::Accepted().finish())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ResetConfirmBody {
    token: String,
    password: String,
}

/// Sets a new password with a reset link; every login of the account ends.
async fn confirm_password_reset(
    req: HttpRequest,
    body: web::Json<ResetConfirmBody>,
    accounts: web::Data<Accounts>,
    limiter: web::Data<LoginLimiter>,
) -> Result<HttpResponse, ApiError> {
    limit(&req, &limiter, None)?;
    let body = body.into_inner();
    let password = field("password", Password::parse(&body.password))?;
    accounts
        .confirm_password_reset(&body.token, password)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    token: String,
}

/// Verifies the address a verification link was sent to. Tokens issued before say
/// `email_verified: false` until refreshed.
async fn verify_email(
    req: HttpRequest,
    body: web::Json<VerifyBody>,
    accounts: web::Data<Accounts>,
    limiter: web::Data<LoginLimiter>,
) -> Result<HttpResponse, ApiError> {
    limit(&req, &limiter, None)?;
    accounts.verify_email(&body.token).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sends another verification link to the caller's unverified address.
async fn resend_verification(
    req: HttpRequest,
    caller: AuthUser,
    accounts: web::Data<Accounts>,
    limiter: web::Data<LoginLimiter>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user_id()?;
    limiter
        .check_reset(client_ip(&req), &user.to_string())
        .map_err(|wait| ApiError::rate_limited(wait.seconds()))?;
    accounts.resend_verification(user).await?;
    Ok(HttpResponse::Accepted().finish())
}

impl From<IdTokenError> for ApiError {
    fn from(err: IdTokenError) -> Self {
        match err {
            IdTokenError::NotConfigured(_) => {
                ApiError::new(ErrorCode::NotConfigured).with_message(err.to_string())
            }
            IdTokenError::Keys(JwksError::Unavailable(_)) => {
                ApiError::new(ErrorCode::Unavailable).with_message(err.to_string())
            }
            _ => ApiError::new(ErrorCode::InvalidToken).with_message(err.to_string()),
        }
    }
}

fn provider_path(raw: &str) -> Result<SocialProvider, ApiError> {
    SocialProvider::parse(raw).ok_or_else(|| {
        ApiError::new(ErrorCode::InvalidPath).with_message("the provider is `apple` or `google`")
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct SocialBody {
    id_token: String,
    nonce: Option<String>,
    /// Apple gives the name only to the app, on the first sign-in.
    display_name: Option<String>,
}

/// Sign in with Apple or Google: 201 for a new account, 200 otherwise.
async fn social_sign_in(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Json<SocialBody>,
    accounts: web::Data<Accounts>,
    social: web::Data<SocialProviders>,
    limiter: web::Data<LoginLimiter>,
) -> Result<HttpResponse, ApiError> {
    let provider = provider_path(&path)?;
    limit(&req, &limiter, None)?;
    let body = body.into_inner();
    let display_name = body
        .display_name
        .as_deref()
        .map(|n| field("display_name", DisplayName::parse(n)))
        .transpose()?;
    let claims = social
        .get(provider)?
        .verify(&body.id_token, body.nonce.as_deref())
        .await?;
    let (user, tokens, outcome) = accounts
        .social_sign_in(provider, claims, display_name)
        .await?;
    let status = if outcome == SocialOutcome::Created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(token_response(status, &tokens, Some(&user)))
}

async fn identities(
    caller: AuthUser,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let identities = accounts.identities(caller.user_id()?).await?;
    let items = identities.iter().map(identity_view).collect();
    Ok(HttpResponse::Ok().json(Page::all(items)))
}

/// Unlinks a provider; 409 when it is the account's last way to sign in.
async fn unlink(
    caller: AuthUser,
    path: web::Path<String>,
    accounts: web::Data<Accounts>,
) -> Result<HttpResponse, ApiError> {
    let provider = provider_path(&path)?;
    if !accounts.unlink(caller.user_id()?, provider).await? {
        return Err(ApiError::new(ErrorCode::NotFound)
            .with_message("no identity of that provider is linked"));
    }
    Ok(HttpResponse::NoContent().finish())
}
