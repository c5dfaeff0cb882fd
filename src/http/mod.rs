//! The HTTP edge: one `configure` per area mounts its routes; `error` is the catalogue every
//! route answers errors from; `observe` wraps every request with id, span and metrics.

pub mod address_cap;
mod admin;
mod admin_users;
pub mod audit;
mod auth;
pub mod cache;
pub mod caller;
mod catalog;
mod client_config;
pub mod client_ip;
pub mod cluster;
mod commerce;
mod community;
mod console;
pub mod cors;
mod drops;
mod editor;
pub mod error;
mod idempotency;
mod live;
mod marks;
mod me;
mod messages;
mod oauth;
pub mod observe;
pub mod ops;
mod outbox;
mod plan;
pub mod views;
mod webhooks;

use actix_web::{HttpRequest, HttpResponse, web};

pub use error::{ApiError, ErrorCode};

/// Mounts every area's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    ops::configure(cfg);
    auth::configure(cfg);
    oauth::configure(cfg);
    me::configure(cfg);
    admin::configure(cfg);
    admin_users::configure(cfg);
    cluster::configure(cfg);
    outbox::configure(cfg);
    live::configure(cfg);
    catalog::configure(cfg);
    marks::configure(cfg);
    plan::configure(cfg);
    editor::configure(cfg);
    client_config::configure(cfg);
    commerce::configure(cfg);
    webhooks::configure(cfg);
    drops::configure(cfg);
    messages::configure(cfg);
    community::configure(cfg);
    console::configure(cfg);
}

/// Extractor limits and error mapping shared by every route.
pub fn extractor_config(cfg: &mut web::ServiceConfig, max_body_bytes: usize) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(max_body_bytes)
            .error_handler(error::json_error),
    )
    .app_data(web::PayloadConfig::new(max_body_bytes))
    .app_data(web::QueryConfig::default().error_handler(error::query_error))
    .app_data(web::PathConfig::default().error_handler(error::path_error));
}

/// Answer for paths no route matches.
pub async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(ErrorCode::NotFound).with_message(format!("no route for {}", req.path())))
}
