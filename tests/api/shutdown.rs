//! Graceful shutdown: readiness turns false first, an in-flight request completes, then
//! the server stops and refuses new connections.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{WAIT, json, spawn_app_with};

/// Polls `check` up to 200 times, 25 ms apart, failing the test if it never holds.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("gave up waiting for: {what}");
}

fn in_flight(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("fitpulse_http_requests_in_flight "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[actix_web::test]
async fn an_in_flight_request_completes_during_a_graceful_shutdown() {
    // A drain delay long enough to observe readiness failing while the listener is open.
    let app = spawn_app_with(|s| s.shutdown.drain_delay_ms = 1_500).await;

    // A request whose body arrives in two halves, so it is in flight while we shut down.
    let body = r#"{"text":"finish me"}"#;
    let (first, second) = body.split_at(8);
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let head = format!(
        "POST /test/echo HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("first half");
    // The metrics request counts itself, so ours is in flight once the gauge reaches 2.
    eventually("the slow request is in flight", async || {
        in_flight(&app.metrics().await) >= 2
    })
    .await;

    app.lifecycle.request_shutdown();
    eventually("readiness turns false", async || {
        let (status, _, body) = app.get("/readyz").await;
        status == 503 && json(&body)["checks"]["draining"] == true
    })
    .await;
    // A socket opened now is sent elsewhere at once (1001), not kept until the end.
    let (_, member) = app.member();
    let mut late = app.connect(&member, None).await;
    assert_eq!(
        late.closed().await.0,
        Some(1001),
        "a draining node refuses new sockets"
    );

    stream
        .write_all(second.as_bytes())
        .await
        .expect("second half");
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .expect("read the answer");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(body), "{answer}");

    tokio::time::timeout(WAIT, app.server)
        .await
        .expect("the server stops within the grace period")
        .expect("the server task did not panic")
        .expect("the server stopped cleanly");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", app.port))
            .await
            .is_err(),
        "the listener is closed after shutdown"
    );
}
