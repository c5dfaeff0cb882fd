//! Liveness, readiness, metrics and request ids.

use crate::helpers::{json, spawn_app, spawn_app_with};

#[actix_web::test]
async fn healthz_answers_200() {
    let app = spawn_app().await;
    let (status, _, body) = app.get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(json(&body)["status"], "ok");
}

#[actix_web::test]
async fn readyz_answers_200_when_the_store_answers_and_nothing_drains() {
    let app = spawn_app().await;
    let (status, _, body) = app.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let body = json(&body);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["store"], "ok");
    assert_eq!(body["checks"]["draining"], false);
}

#[actix_web::test]
async fn metrics_count_requests_by_route_template_and_name_the_build() {
    let app = spawn_app().await;
    app.get("/healthz").await;
    app.get("/healthz").await;
    app.get("/no/such/path/123").await;
    let text = app.metrics().await;
    assert!(
        text.contains(
            r#"fitpulse_http_requests_total{method="GET",route="/healthz",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"fitpulse_http_requests_total{method="GET",route="unmatched",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(
        !text.contains("/no/such/path"),
        "raw paths must not become labels"
    );
    assert!(
        text.contains("fitpulse_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            r#"fitpulse_build_info{{version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert!(text.contains("process_resident_memory_bytes"), "{text}");
}

#[actix_web::test]
async fn every_response_carries_a_request_id_and_keeps_a_plain_inbound_one() {
    let app = spawn_app().await;
    let (_, headers, _) = app.get("/healthz").await;
    let generated = headers
        .get("x-request-id")
        .expect("a request id")
        .to_str()
        .expect("ascii");
    assert_eq!(generated.len(), 32, "{generated}");

    let response = app
        .client
        .get(app.url("/nope"))
        .insert_header(("x-request-id", "edge-abc-123"))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.headers().get("x-request-id").expect("echoed"),
        "edge-abc-123"
    );
}

#[actix_web::test]
async fn a_write_to_a_read_only_ops_route_answers_405() {
    let app = spawn_app().await;
    let mut response = app
        .client
        .post(app.url("/healthz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 405);
    let body = response.body().await.expect("body");
    crate::helpers::assert_error(&String::from_utf8_lossy(&body), "method_not_allowed");
}

#[actix_web::test]
async fn with_a_metrics_listener_metrics_are_served_there_and_not_on_the_public_port() {
    let app =
        spawn_app_with(|s| s.http.metrics_bind = Some("127.0.0.1:0".parse().expect("addr"))).await;
    let port = app.metrics_port.expect("a metrics listener");
    let mut private = app
        .client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("sent");
    assert_eq!(private.status().as_u16(), 200);
    let text = String::from_utf8_lossy(&private.body().await.expect("body")).into_owned();
    assert!(text.contains("fitpulse_build_info"), "{text}");
    let (status, _, body) = app.get("/metrics").await;
    assert_eq!(status, 404, "{body}");
    crate::helpers::assert_error(&body, "not_found");
    // Nothing else is served on the metrics listener.
    let (status, _, _) = app.get("/healthz").await;
    assert_eq!(status, 200);
    let other = app
        .client
        .get(format!("http://127.0.0.1:{port}/v1/products"))
        .send()
        .await
        .expect("sent");
    assert_eq!(other.status().as_u16(), 404);
}
