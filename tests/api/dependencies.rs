//! The dependency probe against a real SMTP relay (aiosmtpd) and the fake push providers:
//! the gauge and the details of `/readyz` follow a relay going away and coming back within
//! the probe interval, and a provider failing its pushes; the node stays ready throughout,
//! since only the store and the bus decide readiness.

use std::time::Duration;

use fitpulse_actors::domain::{Role, UserId};
use fitpulse_fakes::Fault;
use serde_json::Value;

use crate::helpers::{TestApp, WAIT, spawn_app_with};
use crate::push::world::{PushWorld, fcm_token, register};
use crate::smtp::{SmtpServer, aiosmtpd_installed, free_port};

const SMTP_UP: &str = r#"fitpulse_dependency_up{dependency="smtp"}"#;

/// `/readyz` once `smtp` reads `status`, with the gauge agreeing (bounded wait).
async fn once_smtp_is(app: &TestApp, status: &str) -> (u16, Value) {
    let gauge = if status == "up" { 1.0 } else { 0.0 };
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (code, _, body) = app.get("/readyz").await;
        let body: Value = serde_json::from_str(&body).expect("json");
        let exported = crate::sockets::metric(&app.metrics().await, &format!("{SMTP_UP} "));
        let checked = !body["dependencies"]["smtp"]["last_checked"].is_null();
        if body["dependencies"]["smtp"]["status"] == status && checked && exported == gauge {
            return (code, body);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "smtp never became {status}: {body}, gauge {exported}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn an_smtp_relay_going_away_shows_within_the_probe_interval_and_the_node_stays_ready() {
    if !aiosmtpd_installed() {
        return;
    }
    let port = free_port();
    let maildir = tempfile::tempdir().expect("maildir");
    let mut smtp = SmtpServer::start(port, maildir.path()).await;
    let app = spawn_app_with(move |s| {
        s.email.smtp.host = Some("127.0.0.1".into());
        s.email.smtp.port = port;
        s.ops.dependency_probe_seconds = 1;
    })
    .await;

    let (code, body) = once_smtp_is(&app, "up").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["store"], "ok", "the existing fields stay");
    assert_eq!(body["dependencies"]["store"]["status"], "up");
    assert_eq!(body["dependencies"]["bus"]["status"], "up");
    assert!(
        body["dependencies"]["smtp"]["last_error"].is_null(),
        "{body}"
    );
    assert!(
        body["dependencies"].get("apns").is_none() && body["dependencies"].get("fcm").is_none(),
        "push is not configured, so not watched: {body}"
    );
    let metrics = app.metrics().await;
    assert!(
        !metrics.contains(r#"dependency="apns""#),
        "only configured ones export"
    );

    smtp.stop();
    let (code, body) = once_smtp_is(&app, "down").await;
    assert_eq!(code, 200, "a relay down leaves the node ready: {body}");
    assert_eq!(body["status"], "ready");
    let error = body["dependencies"]["smtp"]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(!error.is_empty(), "the reason is shown: {body}");
    assert_eq!(body["dependencies"]["store"]["status"], "up");

    let _smtp = SmtpServer::start(port, maildir.path()).await;
    let (code, body) = once_smtp_is(&app, "up").await;
    assert_eq!(code, 200);
    assert!(
        body["dependencies"]["smtp"]["last_error"].is_null(),
        "{body}"
    );
}

/// `/readyz` once `dependency` reads `status` (bounded wait).
async fn once(app: &TestApp, dependency: &str, status: &str) -> (u16, Value) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (code, _, body) = app.get("/readyz").await;
        let body: Value = serde_json::from_str(&body).expect("json");
        if body["dependencies"][dependency]["status"] == status {
            return (code, body);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{dependency} never became {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
async fn a_push_provider_failing_its_pushes_is_down_until_it_answers_and_the_node_stays_ready() {
    let world = PushWorld::start();
    let configure = world.configure();
    let app = spawn_app_with(move |s| {
        configure(s);
        s.ops.dependency_probe_seconds = 1;
    })
    .await;
    let (code, body) = once(&app, "fcm", "up").await;
    assert_eq!(code, 200);
    assert!(
        body["dependencies"]["fcm"]["last_checked"].is_null(),
        "nothing pushed yet, nothing checked: {body}"
    );
    assert_eq!(body["dependencies"]["apns"]["status"], "up");

    let account = app.register(&crate::helpers::unique_email()).await;
    let token = account["access_token"].as_str().expect("token").to_owned();
    let id = app.call("GET", "/v1/me", None, Some(&token)).await.json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let pixel = fcm_token();
    register(&app, &token, "pixel", "android", &pixel, None).await;
    let admin = app.mint(UserId::random(), &[Role::Admin], 600);
    let test_push = || async {
        let path = format!("/v1/admin/users/{id}/push");
        let answer = app.call("POST", &path, None, Some(&admin)).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json()["devices"][0]["result"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };

    world
        .fcm
        .fail_next(&pixel, 3, Fault::Unavailable { retry_after: None });
    for _ in 0..3 {
        assert_eq!(test_push().await, "retry");
    }
    let (code, body) = once(&app, "fcm", "down").await;
    assert_eq!(
        code, 200,
        "a push provider down leaves the node ready: {body}"
    );
    assert_eq!(body["status"], "ready");
    assert!(
        !body["dependencies"]["fcm"]["last_checked"].is_null(),
        "{body}"
    );
    assert!(
        crate::sockets::metric(
            &app.metrics().await,
            r#"fitpulse_dependency_up{dependency="fcm"} "#
        ) == 0.0
    );
    assert_eq!(body["dependencies"]["apns"]["status"], "up", "judged apart");

    assert_eq!(test_push().await, "sent");
    let (_, body) = once(&app, "fcm", "up").await;
    assert!(
        body["dependencies"]["fcm"]["last_error"].is_null(),
        "{body}"
    );
}
