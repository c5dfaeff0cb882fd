//! Operations routes: liveness, readiness and the Prometheus exposition.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;
use crate::store::Stores;

/// Routes are mounted as resources so other methods answer 405, not 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").get(healthz))
        .service(web::resource("/readyz").get(readyz))
        .service(web::resource("/metrics").get(metrics));
}

/// The process is alive and its HTTP workers answer.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready to take traffic: not draining and the store answers.
async fn readyz(lifecycle: web::Data<Lifecycle>, stores: web::Data<Stores>) -> HttpResponse {
    let draining = lifecycle.is_draining();
    let store = match stores.health.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness: the store does not answer");
            format!("unavailable: {err}")
        }
    };
    let ready = !draining && store == "ok";
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": { "draining": draining, "store": store },
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(metrics.render())
}
