//! Error bodies: every failure answers the catalogue's JSON shape with the right status.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{WAIT, assert_error, spawn_app, spawn_app_with};

async fn post_raw(app: &crate::helpers::TestApp, content_type: &str, body: &str) -> (u16, String) {
    let mut response = app
        .client
        .post(app.url("/test/echo"))
        .insert_header(("content-type", content_type))
        .send_body(body.to_owned())
        .await
        .expect("sent");
    let bytes = response.body().limit(1 << 20).await.expect("body");
    (
        response.status().as_u16(),
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[actix_web::test]
async fn an_unknown_route_answers_404_not_found() {
    let app = spawn_app().await;
    let (status, headers, body) = app.get("/v1/does-not-exist").await;
    assert_eq!(status, 404);
    assert_eq!(
        headers.get("content-type").expect("typed"),
        "application/json"
    );
    assert_error(&body, "not_found");
}

#[actix_web::test]
async fn a_wrong_method_answers_405_in_the_error_shape() {
    let app = spawn_app().await;
    let (status, _, body) = app.get("/test/echo").await;
    assert_eq!(status, 405);
    assert_error(&body, "method_not_allowed");
}

#[actix_web::test]
async fn malformed_json_answers_400_malformed_json() {
    let app = spawn_app().await;
    let (status, body) = post_raw(&app, "application/json", r#"{"text": "unterminated"#).await;
    assert_eq!(status, 400);
    assert_error(&body, "malformed_json");
}

#[actix_web::test]
async fn well_formed_json_of_the_wrong_shape_answers_400_invalid_body() {
    let app = spawn_app().await;
    for body in [
        r#"{"text": "hi", "extra": 1}"#,
        r#"{"text": 5}"#,
        r#"{}"#,
        "[]",
    ] {
        let (status, answer) = post_raw(&app, "application/json", body).await;
        assert_eq!(status, 400, "{body}");
        assert_error(&answer, "invalid_body");
    }
}

#[actix_web::test]
async fn a_body_that_is_not_json_answers_415() {
    let app = spawn_app().await;
    let (status, body) = post_raw(&app, "text/plain", r#"{"text":"hi"}"#).await;
    assert_eq!(status, 415);
    assert_error(&body, "unsupported_media_type");
}

#[actix_web::test]
async fn a_valid_body_is_accepted() {
    let app = spawn_app().await;
    let (status, body) = post_raw(&app, "application/json", r#"{"text":"hi"}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(crate::helpers::json(&body)["text"], "hi");
}

#[actix_web::test]
async fn an_oversize_body_with_a_declared_length_answers_413() {
    let app = spawn_app_with(|s| s.http.max_body_bytes = 1024).await;
    let big = format!(r#"{{"text":"{}"}}"#, "x".repeat(4096));
    let (status, body) = post_raw(&app, "application/json", &big).await;
    assert_eq!(status, 413);
    assert_error(&body, "payload_too_large");
    let details = crate::helpers::json(&body)["error"]["details"].clone();
    assert_eq!(details["limit_bytes"], 1024, "{body}");
}

#[actix_web::test]
async fn an_oversize_chunked_body_answers_413_once_it_passes_the_limit() {
    let app = spawn_app_with(|s| s.http.max_body_bytes = 1024).await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let head = "POST /test/echo HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
                transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    stream.write_all(head.as_bytes()).await.expect("head");
    let chunk = "x".repeat(512);
    // Far more than the limit, in bounded steps; the server may stop reading early.
    for _ in 0..8 {
        let frame = format!("{:x}\r\n{chunk}\r\n", chunk.len());
        if stream.write_all(frame.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .ok();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains(r#""code":"payload_too_large""#), "{text}");
}
