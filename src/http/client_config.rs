//! Client configuration: `GET /v1/config?platform=ios&app_version=1.9.3` (public,
//! cacheable) answers feature flags, the supported versions with `force_update`, and the
//! platform's settings; admins read and replace the whole document at
//! `GET/PUT /v1/admin/config`.

use crate::content::client_config::AppConfig;
use actix_web::{HttpRequest, HttpResponse, web};
use fitpulse_actors::domain::Role;
use serde::Deserialize;

use super::cache::{CachePolicy, respond_hashed};
use super::{ApiError, Contracts, ErrorCode};
use crate::auth::AuthUser;
use crate::content::Content;
use crate::content::client_config::{self, ClientConfig, Platform, Version};
use crate::store::Stores;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/config").get(for_client))
        .service(web::resource("/v1/admin/config").get(show).put(replace));
}

pub fn contracts(c: &mut Contracts) {
    c.get("/v1/config").ok::<AppConfig>().errors(&[400, 404]);
    c.get("/v1/admin/config")
        .ok::<ClientConfig>()
        .bearer("admin role")
        .errors(&[403]);
    c.put("/v1/admin/config")
        .body::<ClientConfig>()
        .ok::<ClientConfig>()
        .bearer("admin role")
        .errors(&[403]);
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientQuery {
    platform: Option<String>,
    app_version: Option<String>,
}

async fn for_client(
    req: HttpRequest,
    query: web::Query<ClientQuery>,
    content: web::Data<Content>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let platform = query
        .platform
        .as_deref()
        .ok_or_else(|| ApiError::invalid_query("platform", "required: ios, android or web"))
        .and_then(|p| {
            Platform::parse(p)
                .ok_or_else(|| ApiError::invalid_query("platform", "one of: ios, android, web"))
        })?;
    let version = query
        .app_version
        .as_deref()
        .ok_or_else(|| ApiError::invalid_query("app_version", "required, like 1.9.3"))
        .and_then(|v| {
            Version::parse(v)
                .ok_or_else(|| ApiError::invalid_query("app_version", "a version like 1.9.3"))
        })?;
    let (config, _) = content.client_config();
    let answer = config
        .for_client(platform, version)
        .map_err(|e| ApiError::new(ErrorCode::NotFound).with_message(e.to_string()))?;
    let policy = CachePolicy {
        max_age_seconds: content.settings.max_age_seconds,
        public: true,
        vary_authorization: false,
    };
    // A struct of strings, numbers and maps always serializes.
    let body = serde_json::to_string(&answer).expect("an app configuration serializes");
    Ok(respond_hashed(&req, policy, body))
}

async fn show(caller: AuthUser, content: web::Data<Content>) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let (config, _) = content.client_config();
    Ok(HttpResponse::Ok().json(&*config))
}

async fn replace(
    caller: AuthUser,
    body: web::Json<ClientConfig>,
    stores: web::Data<Stores>,
    content: web::Data<Content>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let config = body.into_inner();
    config
        .validate()
        .map_err(|e| ApiError::new(ErrorCode::InvalidBody).with_message(e.to_string()))?;
    let doc = serde_json::to_string(&config).expect("a client config serializes");
    stores
        .settings
        .put_setting(client_config::SETTING, &doc)
        .await?;
    content.replace_client_config(config.clone());
    Ok(HttpResponse::Ok().json(config))
}
