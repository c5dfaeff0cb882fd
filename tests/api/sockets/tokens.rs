//! Tokens on sockets: a missing, invalid or expired token closes 4001; a service client's
//! 4003; an expiring token is announced and can be refreshed in place.

use fitpulse_actors::domain::{Role, UserId};
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

#[actix_web::test]
async fn an_expired_token_closes_4001() {
    let app = spawn_app().await;
    let token = app.mint(UserId::random(), &[Role::Member], -120);
    let mut socket = app.connect(&token, None).await;
    let (code, reason) = socket.closed().await;
    assert_eq!(code, Some(4001));
    assert!(reason.contains("expired"), "{reason}");
}

#[actix_web::test]
async fn a_missing_or_forged_token_closes_4001() {
    let app = spawn_app().await;
    let (_, framed) = app
        .client
        .ws(app.url("/v1/ws"))
        .connect()
        .await
        .expect("handshake");
    let mut socket = super::Socket::new(framed);
    assert_eq!(socket.closed().await.0, Some(4001));
    let mut socket = app.connect("not.a.token", None).await;
    assert_eq!(socket.closed().await.0, Some(4001));
}

#[actix_web::test]
async fn a_browser_may_send_the_token_in_the_query() {
    let app = spawn_app().await;
    let (user, token) = app.member();
    let (_, framed) = app
        .client
        .ws(app.url(&format!("/v1/ws?access_token={token}")))
        .connect()
        .await
        .expect("handshake");
    let mut socket = super::Socket::new(framed);
    let ready = socket.json().await;
    assert_eq!(ready["data"]["user_id"], user.to_string());
}

#[actix_web::test]
async fn an_expiring_token_is_announced_and_a_refresh_keeps_the_socket_open() {
    let app = spawn_app_with(|s| s.auth.access_ttl_seconds = 10).await;
    let user = UserId::random();
    // Both sockets' tokens expire in 3 s; the warning comes 2 s before that.
    let short = app.mint(user, &[Role::Member], 3);
    let (mut refreshed, _) = app.connect_ready(&short, None).await;
    let (mut neglected, _) = app.connect_ready(&short, None).await;
    let warning = refreshed.event("token.expiring").await;
    assert!(
        warning["data"]["in_seconds"].as_i64().expect("seconds") <= 3,
        "{warning}"
    );

    let fresh = app.mint(user, &[Role::Member], 600);
    let reply = refreshed
        .request(1, "auth.refresh", json!({ "access_token": fresh }))
        .await;
    assert_eq!(reply["ok"], true, "{reply}");
    let someone_else = app.mint(UserId::random(), &[Role::Member], 600);
    let refused = refreshed
        .request(2, "auth.refresh", json!({ "access_token": someone_else }))
        .await;
    assert_eq!(refused["error"]["code"], "forbidden");

    let (code, reason) = neglected.closed().await;
    assert_eq!(code, Some(4001), "{reason}");
    // Past the old expiry, the refreshed socket still answers.
    let pong = refreshed.request(3, "ping", json!({})).await;
    assert_eq!(pong["ok"], true);
}
