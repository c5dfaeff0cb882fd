//! Cross-origin access: only the configured origins get CORS headers, preflights are
//! answered for the API's methods and headers, the headers a client needs are exposed, no
//! credentials mode; other origins (and the default, no origins) get no CORS headers but
//! are never refused, so same-origin pages and servers work as before.

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

const ALLOWED: &str = "https://app.example.com";

async fn with_origin(
    app: &TestApp,
    method: &str,
    path: &str,
    origin: &str,
    extra: &[(&str, &str)],
) -> crate::helpers::Response {
    let mut headers = vec![("origin", origin)];
    headers.extend_from_slice(extra);
    app.call_with_headers(method, path, None, None, &headers)
        .await
}

#[actix_web::test]
async fn a_listed_origin_gets_cors_headers_and_its_preflights_answered() {
    let app = spawn_app_with(|s| {
        s.http.cors.allowed_origins = vec![ALLOWED.into(), "http://127.0.0.1:5173".into()];
    })
    .await;
    let read = with_origin(&app, "GET", "/v1/recipes?limit=1", ALLOWED, &[]).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.header("access-control-allow-origin"), Some(ALLOWED));
    let exposed = read
        .header("access-control-expose-headers")
        .unwrap_or_default()
        .to_lowercase();
    for name in ["etag", "retry-after", "x-request-id"] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
    assert_eq!(read.header("access-control-allow-credentials"), None);
    assert!(
        read.header("vary")
            .is_some_and(|v| v.to_lowercase().contains("origin"))
    );

    let preflight = with_origin(
        &app,
        "OPTIONS",
        "/v1/me",
        ALLOWED,
        &[
            ("access-control-request-method", "PATCH"),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ],
    )
    .await;
    assert_eq!(preflight.status, 200, "{}", preflight.text);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some(ALLOWED)
    );
    assert!(
        preflight
            .header("access-control-allow-methods")
            .is_some_and(|m| m.contains("PATCH"))
    );
    let allowed_headers = preflight
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    assert_eq!(preflight.header("access-control-max-age"), Some("600"));

    // Another origin is served without CORS headers: the browser keeps the answer from it.
    let other = with_origin(
        &app,
        "GET",
        "/v1/recipes?limit=1",
        "https://evil.example",
        &[],
    )
    .await;
    assert_eq!(other.status, 200, "{}", other.text);
    assert_eq!(other.header("access-control-allow-origin"), None);
    let refused = with_origin(
        &app,
        "OPTIONS",
        "/v1/me",
        "https://evil.example",
        &[("access-control-request-method", "PATCH")],
    )
    .await;
    assert_eq!(
        refused.header("access-control-allow-origin"),
        None,
        "{}",
        refused.text
    );
}

#[actix_web::test]
async fn without_listed_origins_no_response_carries_cors_headers() {
    let app = spawn_app().await;
    let read = with_origin(&app, "GET", "/v1/recipes?limit=1", ALLOWED, &[]).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.header("access-control-allow-origin"), None);
    // A same-origin POST carries an Origin too, and is served.
    let login = with_origin(&app, "POST", "/v1/auth/anonymous", &app.address, &[]).await;
    assert_ne!(login.status, 403, "{}", login.text);
}
