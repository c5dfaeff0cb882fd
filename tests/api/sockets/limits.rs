//! Limits: malformed and unknown frames get error replies and the socket stays open;
//! oversize frames close 1009, floods 4008, and a client that stops reading 4009 while
//! the others keep receiving.

use serde_json::json;

use super::metric;
use crate::helpers::{spawn_app, spawn_app_with};

#[actix_web::test]
async fn a_malformed_frame_gets_an_error_reply_and_the_socket_stays_open() {
    let app = spawn_app().await;
    let (_, token) = app.member();
    let (mut socket, _) = app.connect_ready(&token, None).await;
    socket.send_text("{not json").await;
    let reply = socket.json().await;
    assert_eq!(reply["reply_to"], serde_json::Value::Null);
    assert_eq!(reply["error"]["code"], "malformed_frame");
    let pong = socket.request(1, "ping", json!({})).await;
    assert_eq!(pong["ok"], true);
    assert!(pong["data"]["server_time"].is_string());
}

#[actix_web::test]
async fn unknown_types_and_bad_data_get_error_replies_naming_the_frame() {
    let app = spawn_app().await;
    let (_, token) = app.member();
    let (mut socket, _) = app.connect_ready(&token, None).await;
    assert_eq!(
        socket.request(3, "teleport", json!({})).await["error"]["code"],
        "unknown_type"
    );
    let bad = socket
        .request(4, "feed.ack", json!({ "seq": "three" }))
        .await;
    assert_eq!(bad["error"]["code"], "invalid_frame");
    socket
        .send_text(r#"{"id":5,"type":"ping","data":{},"extra":true}"#)
        .await;
    assert_eq!(socket.reply(5).await["error"]["code"], "invalid_frame");
    assert_eq!(socket.request(6, "ping", json!({})).await["ok"], true);
    let text = app.metrics().await;
    assert_eq!(
        metric(
            &text,
            r#"fitpulse_ws_messages_received_total{type="unknown"}"#
        ),
        1.0
    );
}

#[actix_web::test]
async fn an_oversize_frame_closes_the_socket_with_1009() {
    let app = spawn_app_with(|s| s.ws.max_frame_bytes = 4096).await;
    let (_, token) = app.member();
    let (mut socket, _) = app.connect_ready(&token, None).await;
    let big = json!({"id": 1, "type": "ping", "data": {"pad": "x".repeat(5000)}});
    socket.send(big).await;
    let (code, _) = socket.closed().await;
    assert_eq!(code, Some(1009));
}

#[actix_web::test]
async fn a_message_flood_closes_the_socket_with_4008() {
    let app = spawn_app_with(|s| {
        s.ws.messages_per_second = 1;
        s.ws.message_burst = 5;
    })
    .await;
    let (_, token) = app.member();
    let (mut socket, _) = app.connect_ready(&token, None).await;
    for id in 0..20 {
        socket.send(json!({"id": id, "type": "ping"})).await;
    }
    let (code, reason) = socket.closed().await;
    assert_eq!(code, Some(4008), "{reason}");
    assert_eq!(
        metric(
            &app.metrics().await,
            r#"fitpulse_ws_closed_total{code="4008"}"#
        ),
        1.0
    );
}

#[actix_web::test]
async fn a_client_that_stops_reading_is_closed_4009_while_others_keep_receiving() {
    let app = spawn_app_with(|s| s.ws.outbound_queue = 32).await;
    let (user, token) = app.member();
    let (mut stalled, _) = app.connect_ready(&token, None).await;

    // Enough data to fill the stalled socket's kernel buffers, then its queue.
    const EVENTS: u64 = 1200;
    let padding = "x".repeat(15 * 1024);

    // The reading client is a separate program: its own thread and runtime.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let url = app.url("/v1/ws");
    let reader_token = token.clone();
    let reader = std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let (_, framed) = awc::Client::new()
                .ws(url)
                .bearer_auth(reader_token)
                .max_frame_size(1 << 20)
                .connect()
                .await
                .expect("reader handshake");
            let mut reader = super::Socket::new(framed);
            reader.event("session.ready").await;
            ready_tx.send(()).expect("signal ready");
            let mut last = 0;
            while last < EVENTS {
                let event = reader.event("custom.bulk").await;
                let seq = event["seq"].as_u64().expect("seq");
                assert_eq!(seq, last + 1, "the reading client misses nothing");
                last = seq;
            }
            last
        })
    });
    ready_rx
        .recv_timeout(crate::helpers::WAIT)
        .expect("the reader connected");

    for chunk in (1..=EVENTS).collect::<Vec<_>>().chunks(4) {
        let pushes = chunk
            .iter()
            .map(|n| app.push(user, "custom.bulk", json!({ "n": n, "pad": padding })));
        futures_util::future::join_all(pushes).await;
    }
    let received = tokio::task::spawn_blocking(move || reader.join().expect("reader thread"))
        .await
        .expect("join");
    assert_eq!(received, EVENTS);

    let (code, reason) = stalled.closed().await;
    assert_eq!(code, Some(4009), "{reason}");
    assert!(metric(&app.metrics().await, "fitpulse_ws_slow_consumer_total ") >= 1.0);
}
