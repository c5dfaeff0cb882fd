//! Operations routes: liveness, readiness, the Prometheus exposition and the OpenAPI
//! document of every route (built by `contract` from `openapi.json` beside this file and
//! each area's `contracts`; a test keeps it and the routes in step).

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use fitpulse_actors::domain::time::rfc3339;
use schemars::JsonSchema;
use serde::Serialize;

use super::Contracts;
use super::cache::{CachePolicy, respond_hashed};
use super::views::object_schema;
use crate::dependencies::Dependencies;
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

pub fn contracts(c: &mut Contracts) {
    c.get("/healthz").ok::<Health>();
    c.get("/readyz").ok::<Readiness>().json::<Readiness>(503);
    c.get("/metrics")
        .media(
            200,
            "text/plain; version=0.0.4",
            "The Prometheus text exposition",
        )
        .errors(&[404]);
    c.get("/v1/openapi.json").ok::<OpenApiDocument>();
}

/// `{"status": "ok"}`.
#[derive(Serialize, JsonSchema)]
struct Health {
    status: &'static str,
}

/// Whether the node takes traffic, and why not; and how each service it depends on
/// answered its last probe.
#[derive(Serialize, JsonSchema)]
struct Readiness {
    /// `ready` or `not_ready`.
    status: &'static str,
    /// What readiness is decided on.
    checks: ReadinessChecks,
    /// Every configured dependency by name (`store`, `bus`, and `smtp`, `apns`, `fcm` when
    /// configured), as the periodic probe last found it. Informational: a dependency other
    /// than the store and the bus being down leaves the node ready.
    dependencies: BTreeMap<&'static str, DependencyView>,
}

/// One dependency as the probe last found it.
#[derive(Serialize, JsonSchema)]
struct DependencyView {
    /// `up` or `down`.
    status: &'static str,
    /// When it was last checked (RFC 3339); null before its first check (a push provider
    /// is checked by the answers to real pushes, so null until the first push).
    last_checked: Option<String>,
    /// Why the last check failed, while it fails.
    last_error: Option<String>,
}

#[derive(Serialize, JsonSchema)]
struct ReadinessChecks {
    draining: bool,
    /// `ok` or `unavailable: <why>`.
    store: String,
    /// `ok` or `disconnected`.
    bus: &'static str,
}

object_schema! {
    /// An OpenAPI 3.1 document.
    OpenApiDocument
}

/// The process is alive and its HTTP workers answer.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Ready to take traffic: not draining, the store answers and the bus is connected (a
/// node cut off from the bus still serves what it holds, but cannot reach the rest).
async fn readyz(
    lifecycle: web::Data<Lifecycle>,
    stores: web::Data<Stores>,
    cluster: web::Data<super::cluster::ClusterState>,
    dependencies: web::Data<Dependencies>,
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
    let body = Readiness {
        status: if ready { "ready" } else { "not_ready" },
        checks: ReadinessChecks {
            draining,
            store,
            bus,
        },
        dependencies: dependencies
            .snapshot()
            .into_iter()
            .map(|(dependency, check)| {
                let view = DependencyView {
                    status: if check.up { "up" } else { "down" },
                    last_checked: check.checked_at.map(rfc3339),
                    last_error: check.error,
                };
                (dependency.as_str(), view)
            })
            .collect(),
    };
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

async fn openapi(req: HttpRequest) -> HttpResponse {
    let policy = CachePolicy {
        max_age_seconds: 300,
        public: true,
        vary_authorization: false,
    };
    respond_hashed(&req, policy, super::contract::document().to_owned())
}
