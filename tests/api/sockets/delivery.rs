//! Delivery: every device of a user gets each event once, in order, with the protocol's
//! envelope; pushes validate their input; shutdown closes sockets with 1001.

use fitpulse_actors::domain::{Role, UserId};
use serde_json::json;

use super::metric;
use crate::helpers::{assert_error, spawn_app, spawn_app_with};

#[actix_web::test]
async fn two_devices_of_one_user_both_receive_an_event() {
    let app = spawn_app().await;
    let (user, token) = app.member();
    let (mut phone, ready) = app.connect_ready(&token, None).await;
    assert_eq!(ready["data"]["user_id"], user.to_string());
    assert_eq!(ready["data"]["last_seq"], 0);
    let (mut watch, _) = app.connect_ready(&token, None).await;

    let seq = app
        .push(user, "custom.note", json!({"text": "new 2-week plan"}))
        .await;
    assert_eq!(seq, 1);
    for socket in [&mut phone, &mut watch] {
        let event = socket.event("custom.note").await;
        assert_eq!(event["seq"], 1);
        assert_eq!(event["data"]["text"], "new 2-week plan");
        assert!(event["at"].as_str().expect("at").ends_with('Z'));
    }
    let text = app.metrics().await;
    assert_eq!(metric(&text, "fitpulse_ws_connections "), 2.0);
    assert_eq!(metric(&text, "fitpulse_sessions_active "), 1.0);
    assert!(metric(&text, r#"fitpulse_ws_messages_sent_total{type="custom"}"#) >= 2.0);
}

#[actix_web::test]
async fn events_arrive_in_order_and_other_users_see_none_of_them() {
    let app = spawn_app().await;
    let (user, token) = app.member();
    let (bystander, other_token) = app.member();
    let (mut socket, _) = app.connect_ready(&token, None).await;
    let (mut other, _) = app.connect_ready(&other_token, None).await;
    for n in 1..=5 {
        app.push(user, "custom.note", json!({ "n": n })).await;
    }
    for n in 1..=5u64 {
        let event = socket.event("custom.note").await;
        assert_eq!(
            (event["seq"].as_u64(), event["data"]["n"].as_u64()),
            (Some(n), Some(n))
        );
    }
    // The other user's first event is seq 1 of their own feed.
    app.push(bystander, "custom.note", json!({ "n": "mine" }))
        .await;
    let event = other.event("custom.note").await;
    assert_eq!(
        (event["seq"].as_u64(), event["data"]["n"].as_str()),
        (Some(1), Some("mine"))
    );
}

#[actix_web::test]
async fn pushing_an_event_needs_an_admin_and_a_valid_custom_event() {
    let app = spawn_app().await;
    let (user, member_token) = app.member();
    let admin = app.mint(UserId::random(), &[Role::Member, Role::Admin], 600);
    let path = format!("/v1/admin/users/{user}/events");
    let body = json!({"type": "custom.note", "data": {}});

    let anonymous = app.call("POST", &path, Some(body.clone()), None).await;
    assert_eq!(anonymous.status, 401);
    let member = app
        .call("POST", &path, Some(body.clone()), Some(&member_token))
        .await;
    assert_eq!(member.status, 403);
    assert_error(&member.text, "forbidden");

    for (bad, field) in [
        (json!({"type": "live.cue", "data": {}}), "type"),
        (json!({"type": "custom", "data": {}}), "type"),
        (json!({"type": "custom.note", "data": [1, 2]}), "data"),
        (
            json!({"type": "custom.note", "data": {"blob": "x".repeat(20_000)}}),
            "data",
        ),
    ] {
        let response = app.call("POST", &path, Some(bad), Some(&admin)).await;
        assert_eq!(response.status, 400, "{}", response.text);
        assert_eq!(response.json()["error"]["details"]["field"], field);
    }
    let bad_id = app
        .call(
            "POST",
            "/v1/admin/users/42/events",
            Some(body.clone()),
            Some(&admin),
        )
        .await;
    assert_eq!(bad_id.status, 400);
    assert_error(&bad_id.text, "invalid_path");
    let extra = app
        .call(
            "POST",
            &path,
            Some(json!({"type": "custom.note", "to": "all"})),
            Some(&admin),
        )
        .await;
    assert_eq!(extra.status, 400);
    assert_error(&extra.text, "invalid_body");
}

#[actix_web::test]
async fn an_offline_user_gets_a_pushed_event_when_they_connect() {
    let app = spawn_app().await;
    let (user, token) = app.member();
    let seq = app
        .push(user, "custom.welcome", json!({"title": "hi"}))
        .await;
    let (mut socket, ready) = app.connect_ready(&token, Some(0)).await;
    assert_eq!(ready["data"]["last_seq"], seq);
    let event = socket.event("custom.welcome").await;
    assert_eq!(event["seq"], seq);
}

#[actix_web::test]
async fn a_user_over_the_socket_limit_loses_the_oldest_socket_with_4010() {
    let app = spawn_app_with(|s| s.ws.max_sockets_per_user = 2).await;
    let (_, token) = app.member();
    let (mut first, _) = app.connect_ready(&token, None).await;
    let (_second, _) = app.connect_ready(&token, None).await;
    let (_third, _) = app.connect_ready(&token, None).await;
    let (code, _) = first.closed().await;
    assert_eq!(code, Some(4010));
}

#[actix_web::test]
async fn a_graceful_shutdown_closes_sockets_with_1001() {
    let app = spawn_app().await;
    let (_, token) = app.member();
    let (mut socket, _) = app.connect_ready(&token, None).await;
    app.lifecycle.request_shutdown();
    let (code, reason) = socket.closed().await;
    assert_eq!(code, Some(1001), "{reason}");
    tokio::time::timeout(crate::helpers::WAIT, app.server)
        .await
        .expect("stopped in time")
        .expect("no panic")
        .expect("clean stop");
}

#[actix_web::test]
async fn admins_see_the_sessions_and_sockets_this_node_holds() {
    let app = spawn_app().await;
    let admin = app.admin();
    let none = app
        .call("GET", "/v1/admin/sessions", None, Some(&admin))
        .await;
    assert_eq!(none.status, 200, "{}", none.text);
    assert_eq!(
        none.json(),
        json!({"scope": "node", "sessions": 0, "sockets": 0})
    );

    let (_, token) = app.member();
    let (_phone, _) = app.connect_ready(&token, None).await;
    let (_watch, _) = app.connect_ready(&token, None).await;
    let (_, other) = app.member();
    let (_tablet, _) = app.connect_ready(&other, None).await;
    let held = app
        .call("GET", "/v1/admin/sessions", None, Some(&admin))
        .await;
    assert_eq!(
        held.json(),
        json!({"scope": "node", "sessions": 2, "sockets": 3})
    );

    let member = app
        .call("GET", "/v1/admin/sessions", None, Some(&token))
        .await;
    assert_eq!(member.status, 403);
    assert_error(&member.text, "forbidden");
    let anonymous = app.call("GET", "/v1/admin/sessions", None, None).await;
    assert_eq!(anonymous.status, 401);
}
