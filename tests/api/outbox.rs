//! The outbox end to end: emails reach a real SMTP server (aiosmtpd, started here on
//! loopback); with the server down they are retried with backoff until they go dead, show
//! in the admin dead-letter list, and the retry action delivers them once it is back. Also
//! the admin routes' answers to bad input, and the log sender when no SMTP host is set.

use std::time::Duration;

use fitpulse_actors::domain::{Role, UserId, now_millis};
use fitpulse_actors::ports::commerce::OutboxItem;
use serde_json::Value;

use crate::helpers::{TestApp, WAIT, assert_error, spawn_app_with, unique_email};
use crate::smtp::{SmtpServer, aiosmtpd_installed, free_port};

/// Polls `GET path` as admin until `pick` finds something in the answer.
async fn wait_for<T>(
    app: &TestApp,
    token: &str,
    path: &str,
    pick: impl Fn(&Value) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response = app.call("GET", path, None, Some(token)).await;
        assert_eq!(response.status, 200, "{}", response.text);
        if let Some(found) = pick(&response.json()) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path}: still {}",
            response.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `/metrics` has the line `series`.
async fn wait_for_metric(app: &TestApp, series: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !app.metrics().await.lines().any(|line| line == series) {
        assert!(tokio::time::Instant::now() < deadline, "never: {series}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The listed welcome email to `to`.
fn item_to(list: &Value, to: &str) -> Option<Value> {
    item_with(list, to, "welcome")
}

/// The listed email to `to` made from `template`.
fn item_with(list: &Value, to: &str, template: &str) -> Option<Value> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|item| item["payload"]["to"] == to && item["payload"]["template"] == template)
        .cloned()
}

#[actix_web::test]
async fn emails_reach_smtp_go_dead_while_it_is_down_and_the_retry_action_delivers_them() {
    if !aiosmtpd_installed() {
        return;
    }
    let mail = tempfile::tempdir().expect("temp dir");
    // Python's Maildir makes its cur/new/tmp only when it creates the folder itself.
    let maildir = mail.path().join("maildir");
    let port = free_port();
    let mut smtp = SmtpServer::start(port, &maildir).await;
    let app = spawn_app_with(|s| {
        s.email.from = "fitpulse <hello@fitpulse.test>".into();
        s.email.smtp.host = Some("127.0.0.1".into());
        s.email.smtp.port = port;
        s.email.smtp.timeout_ms = 2_000;
        s.outbox.poll_interval_ms = 50;
        s.outbox.backoff_base_ms = 50;
        s.outbox.backoff_max_ms = 200;
        s.outbox.max_attempts = 3;
        s.outbox.lease_ms = 5_000;
    })
    .await;
    let admin = app.admin();

    // Registering queues a welcome email (and a verification email); the worker delivers
    // them.
    let first = unique_email();
    app.register(&first).await;
    let message = smtp.message_to_with(&first, "Welcome").await;
    assert!(
        message.contains("Subject: Welcome to fitpulse, Ada"),
        "{message}"
    );
    assert!(
        message.contains("From: fitpulse <hello@fitpulse.test>"),
        "{message}"
    );
    assert!(message.contains("Hi Ada,"), "{message}");
    // Recorded as delivered before the server goes away, so it cannot count as a failure.
    wait_for_metric(
        &app,
        "fitpulse_outbox_deliveries_total{kind_family=\"email\",result=\"delivered\"} 2",
    )
    .await;

    // With the server down, the next ones fail every attempt and go dead.
    smtp.stop();
    let second = unique_email();
    app.register(&second).await;
    wait_for(&app, &admin, "/v1/admin/outbox?state=dead", |list| {
        item_with(list, &second, "verify_email")
    })
    .await;
    let dead = wait_for(&app, &admin, "/v1/admin/outbox?state=dead", |list| {
        item_to(list, &second)
    })
    .await;
    assert_eq!(dead["kind"], "email.send");
    assert_eq!(dead["state"], "dead");
    assert_eq!(dead["attempts"], 3);
    assert_eq!(dead["payload"]["template"], "welcome");
    assert!(
        dead["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("out of attempts")),
        "{dead}"
    );
    let id = dead["id"].as_str().expect("id").to_owned();
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("fitpulse_outbox_dead_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "fitpulse_outbox_deliveries_total{kind_family=\"email\",result=\"retried\"} 4"
        ),
        "{metrics}"
    );

    // Back up, an admin retries it and it arrives.
    let smtp = SmtpServer::start(port, &maildir).await;
    let retried = app
        .call(
            "POST",
            &format!("/v1/admin/outbox/{id}/retry"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_eq!(retried.json()["id"], id.as_str());
    assert_ne!(retried.json()["state"], "dead");
    let message = smtp.message_to_with(&second, "Welcome").await;
    assert!(
        message.contains("Subject: Welcome to fitpulse, Ada"),
        "{message}"
    );
    let done = wait_for(&app, &admin, &format!("/v1/admin/outbox/{id}"), |item| {
        (item["state"] == "done").then(|| item.clone())
    })
    .await;
    assert_eq!(done["last_error"], Value::Null);
    let listed = app
        .call("GET", "/v1/admin/outbox?state=dead", None, Some(&admin))
        .await;
    assert!(
        item_to(&listed.json(), &second).is_none(),
        "{}",
        listed.text
    );

    // A delivered item is not dead: retrying it again conflicts.
    let again = app
        .call(
            "POST",
            &format!("/v1/admin/outbox/{id}/retry"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_error(&again.text, "conflict");
    assert_eq!(again.json()["error"]["details"]["state"], "done");
    assert_eq!(smtp.messages().len(), 3, "each email arrived once");
}

#[actix_web::test]
async fn without_an_smtp_host_emails_go_to_the_log_and_unknown_kinds_go_dead_at_once() {
    let app = spawn_app_with(|s| s.outbox.poll_interval_ms = 50).await;
    let admin = app.admin();
    app.register(&unique_email()).await;
    // An anonymous account has no address to write to; upgrading it gives one.
    let anonymous = app
        .call(
            "POST",
            "/v1/auth/anonymous",
            Some(serde_json::json!({"device_id": uuid::Uuid::new_v4().to_string()})),
            None,
        )
        .await;
    assert_eq!(anonymous.status, 201, "{}", anonymous.text);
    let access = anonymous.json()["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let upgrade = app
        .call(
            "POST",
            "/v1/auth/upgrade",
            Some(
                serde_json::json!({"email": unique_email(), "password": crate::helpers::PASSWORD}),
            ),
            Some(&access),
        )
        .await;
    assert_eq!(upgrade.status, 200, "{}", upgrade.text);
    let item = OutboxItem::new(
        uuid::Uuid::new_v4(),
        "sms.send",
        r#"{"to":"+15550100"}"#.into(),
        now_millis(),
    );
    app.stores.outbox.enqueue(&item).await.expect("enqueued");

    let dead = wait_for(&app, &admin, "/v1/admin/outbox?state=dead", |list| {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|i| i["id"] == item.id.to_string())
            .cloned()
    })
    .await;
    assert_eq!(dead["attempts"], 1);
    assert_eq!(dead["payload"]["to"], "+15550100");
    assert!(
        dead["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("sms.send")),
        "{dead}"
    );
    assert!(
        dead["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    // The registration's and the upgrade's welcome and verification emails.
    wait_for_metric(
        &app,
        "fitpulse_outbox_deliveries_total{kind_family=\"email\",result=\"delivered\"} 4",
    )
    .await;
}

#[actix_web::test]
async fn the_admin_outbox_routes_refuse_bad_callers_and_bad_input_and_change_nothing() {
    let app = spawn_app_with(|_| {}).await;
    let admin = app.admin();
    let member = app.mint(UserId::random(), &[Role::Member], 600);
    // Due in an hour: pending, listed, untouched by the worker.
    let mut item = OutboxItem::new(
        uuid::Uuid::new_v4(),
        "email.send",
        "{}".into(),
        now_millis(),
    );
    item.next_at = now_millis() + 60 * 60 * 1000;
    app.stores.outbox.enqueue(&item).await.expect("enqueued");
    let id = item.id.to_string();

    for (method, path) in [
        ("GET", "/v1/admin/outbox?state=dead".to_owned()),
        ("GET", format!("/v1/admin/outbox/{id}")),
        ("POST", format!("/v1/admin/outbox/{id}/retry")),
    ] {
        let anonymous = app.call(method, &path, None, None).await;
        assert_eq!(anonymous.status, 401, "{path}: {}", anonymous.text);
        assert_error(&anonymous.text, "unauthorized");
        let forbidden = app.call(method, &path, None, Some(&member)).await;
        assert_eq!(forbidden.status, 403, "{path}: {}", forbidden.text);
        assert_error(&forbidden.text, "forbidden");
    }

    for query in [
        "",
        "?state=done",
        "?state=dead&limit=0",
        "?state=dead&limit=201",
        "?state=dead&limit=ten",
        "?state=dead&cursor=abc",
    ] {
        let response = app
            .call(
                "GET",
                &format!("/v1/admin/outbox{query}"),
                None,
                Some(&admin),
            )
            .await;
        assert_eq!(response.status, 400, "{query}: {}", response.text);
        assert_error(&response.text, "invalid_query");
    }

    for (method, path) in [
        ("GET", "/v1/admin/outbox/not-a-uuid"),
        ("POST", "/v1/admin/outbox/not-a-uuid/retry"),
    ] {
        let response = app.call(method, path, None, Some(&admin)).await;
        assert_eq!(response.status, 400, "{path}: {}", response.text);
        assert_error(&response.text, "invalid_path");
    }

    let unknown = uuid::Uuid::new_v4();
    for (method, path) in [
        ("GET", format!("/v1/admin/outbox/{unknown}")),
        ("POST", format!("/v1/admin/outbox/{unknown}/retry")),
    ] {
        let response = app.call(method, &path, None, Some(&admin)).await;
        assert_eq!(response.status, 404, "{path}: {}", response.text);
        assert_error(&response.text, "not_found");
    }

    let conflict = app
        .call(
            "POST",
            &format!("/v1/admin/outbox/{id}/retry"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(conflict.status, 409, "{}", conflict.text);
    assert_error(&conflict.text, "conflict");
    assert_eq!(conflict.json()["error"]["details"]["state"], "pending");

    let pending = app
        .call(
            "GET",
            "/v1/admin/outbox?state=pending&limit=10",
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(pending.status, 200, "{}", pending.text);
    let page = pending.json();
    assert_eq!(page["next_cursor"], Value::Null);
    let listed = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["id"] == id.as_str())
        .cloned()
        .expect("the pending item is listed");
    assert_eq!(listed["state"], "pending");
    assert_eq!(listed["attempts"], 0);

    let dead = app
        .call("GET", "/v1/admin/outbox?state=dead", None, Some(&admin))
        .await;
    assert_eq!(dead.status, 200, "{}", dead.text);
    assert_eq!(dead.json()["items"], serde_json::json!([]));

    let shown = app
        .call("GET", &format!("/v1/admin/outbox/{id}"), None, Some(&admin))
        .await;
    assert_eq!(shown.status, 200, "{}", shown.text);
    assert_eq!(shown.json()["state"], "pending", "nothing changed");
}
