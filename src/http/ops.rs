//! Operations routes: liveness, readiness, the Prometheus exposition and the OpenAPI
//! document of every route (`openapi.json` beside this file; a test keeps it and the
//! routes in step).

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::cache::{CachePolicy, respond_hashed};
use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use crate::store::Stores;

/// Routes are mounted as resources so other methods answer 405, not 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").get(healthz))
        .service(web::resource("/readyz").get(readyz))
        .service(web::resource("/metrics").get(metrics))
        .service(web::resource("/v1/openapi.json").get(openapi));
}

/// The process is alive and its HTTP workers answer.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready to take traffic: not draining, the store answers and the bus is connected (a
/// node cut off from the bus still serves what it holds, but cannot reach the rest).
async fn readyz(
    lifecycle: web::Data<Lifecycle>,
    stores: web::Data<Stores>,
    cluster: web::Data<super::cluster::ClusterState>,
) -> HttpResponse {
    let draining = lifecycle.is_draining();
    let store = match stores.health.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness: the store does not answer");
            format!("unavailable: {err}")
        }
    };
    let bus = if cluster.bus_connected() {
        "ok"
    } else {
        "disconnected"
    };
    let ready = !draining && store == "ok" && bus == "ok";
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": { "draining": draining, "store": store, "bus": bus },
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// Where this node serves `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct MetricsPlacement {
    /// On the main listener; false when `http.metrics_bind` gives it a listener of its own.
    pub on_main_listener: bool,
}

async fn metrics(
    metrics: web::Data<Metrics>,
    placement: Option<web::Data<MetricsPlacement>>,
) -> Result<HttpResponse, super::ApiError> {
    if placement.is_some_and(|p| !p.on_main_listener) {
        return Err(
            super::ApiError::new(super::ErrorCode::NotFound).with_message("no route for /metrics")
        );
    }
    Ok(exposition(&metrics))
}

fn exposition(metrics: &Metrics) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}

/// The routes of the metrics listener (`http.metrics_bind`): `/metrics`, and 404 for the
/// rest.
pub fn metrics_listener(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics")
            .get(|metrics: web::Data<Metrics>| async move { exposition(&metrics) }),
    )
    .default_service(web::to(super::not_found));
}

const OPENAPI: &str = include_str!("openapi.json");

async fn openapi(req: HttpRequest) -> HttpResponse {
    let policy = CachePolicy {
        max_age_seconds: 300,
        public: true,
        vary_authorization: false,
    };
    respond_hashed(&req, policy, OPENAPI.to_owned())
}
