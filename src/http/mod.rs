//! The HTTP edge: one `configure` per area mounts its routes; `error` is the catalogue every
//! route answers errors from; `observe` wraps every request with id, span and metrics;
//! `contract` builds the OpenAPI document from each area's `contracts` and `views`.

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
pub mod contract;
pub mod cors;
mod devices;
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
mod workouts;

use actix_web::{HttpRequest, HttpResponse, web};

pub use contract::Contracts;
pub use error::{ApiError, ErrorCode};

/// Mounts every area's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    ops::configure(cfg);
    auth::configure(cfg);
    oauth::configure(cfg);
    me::configure(cfg);
    devices::configure(cfg);
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
    workouts::configure(cfg);
    console::configure(cfg);
}

/// Declares every area's operations for the OpenAPI document (see `contract`).
pub fn contracts(c: &mut Contracts) {
    ops::contracts(c);
    auth::contracts(c);
    oauth::contracts(c);
    me::contracts(c);
    devices::contracts(c);
    admin::contracts(c);
    admin_users::contracts(c);
    cluster::contracts(c);
    outbox::contracts(c);
    live::contracts(c);
    catalog::contracts(c);
    marks::contracts(c);
    plan::contracts(c);
    editor::contracts(c);
    client_config::contracts(c);
    commerce::contracts(c);
    webhooks::contracts(c);
    drops::contracts(c);
    messages::contracts(c);
    community::contracts(c);
    workouts::contracts(c);
    console::contracts(c);
    // The socket gateway lives in `crate::ws`: its upgrade and its AsyncAPI document are
    // REST operations; its frames are documented in that AsyncAPI document.
    c.get("/v1/ws")
        .empty(101)
        .bearer("a user; browsers may pass it as the `access_token` query parameter")
        .errors(&[400, 403, 503]);
    c.get("/v1/asyncapi.json").ok::<AsyncApiDocument>();
}

views::object_schema! {
    /// An AsyncAPI 3.0 document: the socket protocol, built by `crate::ws::asyncapi`.
    AsyncApiDocument
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
