//! The second hardening list: metrics and unannounced drops kept from strangers, blocks
//! that are checked, capped and paged, like counts that never drift from their rows,
//! parser refusals, and registration probing limited like logins.

use std::time::Duration;

use fitpulse_actors::domain::{ItemRef, Role, UserId, now_millis};
use fitpulse_actors::events::rfc3339;
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    PASSWORD, TestApp, WAIT, scylla_app, spawn_app, spawn_app_with, unique_email,
};

/// Creates a drop (as an admin); answers its id.
async fn drop_with(app: &TestApp, starts_in_ms: i64, announce_in_ms: Option<i64>) -> String {
    let body = json!({
        "title": "Secret collab", "stock": 10, "price_cents": 9900, "currency": "EUR",
        "starts_at": rfc3339(now_millis() + starts_in_ms), "per_user_limit": 1,
        "reservation_ttl_seconds": 300, "admission_per_second": 5,
        "announce_at": announce_in_ms.map(|ms| rfc3339(now_millis() + ms)),
    });
    let created = app
        .call("POST", "/v1/admin/drops", Some(body), Some(&app.admin()))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.json()["id"].as_str().expect("id").to_owned()
}

#[actix_web::test]
async fn an_unannounced_drop_is_no_drop_to_anyone_but_admins_and_no_metric_names_it() {
    let app = spawn_app().await;
    let secret = drop_with(&app, 7_200_000, Some(3_600_000)).await;
    let public = drop_with(&app, 7_200_000, None).await;
    let (_, member) = app.member();
    for token in [None, Some(member.as_str())] {
        for (method, path) in [
            ("GET", format!("/v1/drops/{secret}")),
            ("POST", format!("/v1/drops/{secret}/queue")),
            ("GET", format!("/v1/drops/{secret}/queue")),
        ] {
            let refused = app.call(method, &path, None, token).await;
            if token.is_some() || method == "GET" && !path.ends_with("queue") {
                assert_eq!(refused.status, 404, "{method} {path}: {}", refused.text);
            }
        }
        let order = app
            .call_with_headers(
                "POST",
                &format!("/v1/drops/{secret}/orders"),
                Some(json!({ "quantity": 1 })),
                token,
                &[("idempotency-key", "k")],
            )
            .await;
        assert!(matches!(order.status, 401 | 404), "{}", order.text);
    }
    // The announced drop is public (the positive control), the other one only to admins.
    assert_eq!(
        app.call("GET", &format!("/v1/drops/{public}"), None, None)
            .await
            .status,
        200
    );
    let admin = app
        .call(
            "GET",
            &format!("/v1/drops/{secret}"),
            None,
            Some(&app.admin()),
        )
        .await;
    assert_eq!(admin.status, 200, "{}", admin.text);
    // The stock gauge names the announced drop once it is served, never the secret one.
    let deadline = tokio::time::Instant::now() + WAIT;
    let metrics = loop {
        let metrics = app.metrics().await;
        if metrics.contains(&format!("drop=\"{public}\"")) {
            break metrics;
        }
        assert!(tokio::time::Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!metrics.contains(&secret), "{metrics}");
    // An announcement time after the start is refused.
    let backwards = app
        .call(
            "POST",
            "/v1/admin/drops",
            Some(json!({
                "title": "x", "stock": 1, "price_cents": 1, "currency": "EUR",
                "starts_at": rfc3339(now_millis() + 1_000), "per_user_limit": 1,
                "reservation_ttl_seconds": 60, "announce_at": rfc3339(now_millis() + 60_000),
            })),
            Some(&app.admin()),
        )
        .await;
    assert_eq!(backwards.json()["error"]["details"]["field"], "announce_at");
}

#[actix_web::test]
async fn a_drop_that_ended_leaves_the_metrics() {
    let app = spawn_app().await;
    // Started almost a day ago: it ends two seconds from now.
    let ending = drop_with(&app, 2_000 - 24 * 60 * 60 * 1000, None).await;
    assert_eq!(
        app.call("GET", &format!("/v1/drops/{ending}"), None, None)
            .await
            .status,
        200
    );
    let series = format!("drop=\"{ending}\"");
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = false;
    loop {
        let present = app.metrics().await.contains(&series);
        seen |= present;
        if seen && !present {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "seen: {seen}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn blocks_need_an_existing_user_are_capped_and_list_a_page_at_a_time() {
    let app = spawn_app().await;
    let (me, token) = app.member_account().await;
    let nobody = UserId::random();
    for path in [
        format!("/v1/me/blocks/{nobody}"),
        format!("/v1/me/following/{nobody}"),
    ] {
        let refused = app.call("PUT", &path, None, Some(&token)).await;
        assert_eq!(refused.status, 404, "{path}: {}", refused.text);
    }
    // 1,000 stored users blocked, straight through the store (the route's rules are what
    // is tested next).
    let mut blocked = Vec::new();
    for _ in 0..1_000 {
        let (other, _) = app.member_account().await;
        app.stores.community.block(me, other).await.expect("block");
        blocked.push(other);
    }
    let (one_more, _) = app.member_account().await;
    let refused = app
        .call(
            "PUT",
            &format!("/v1/me/blocks/{one_more}"),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert_eq!(refused.json()["error"]["code"], "limit_reached");
    // Blocking someone already blocked still answers (the cap is on new blocks).
    let again = app
        .call(
            "PUT",
            &format!("/v1/me/blocks/{}", blocked[0]),
            None,
            Some(&token),
        )
        .await;
    assert_eq!(again.status, 200, "{}", again.text);
    // Paged, 200 at most per page, every block exactly once.
    let mut listed = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let path = match &cursor {
            Some(c) => format!("/v1/me/blocks?limit=200&cursor={c}"),
            None => "/v1/me/blocks?limit=200".to_owned(),
        };
        let page = app.call("GET", &path, None, Some(&token)).await.json();
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 200);
        listed.extend(
            items
                .iter()
                .map(|i| i["user_id"].as_str().expect("id").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(listed.len(), 1_000);
    listed.sort();
    listed.dedup();
    assert_eq!(listed.len(), 1_000, "no block listed twice");
    let too_big = app
        .call("GET", "/v1/me/blocks?limit=201", None, Some(&token))
        .await;
    assert_eq!(too_big.status, 400);
}

/// 200 concurrent likes and unlikes of one recipe by one user: the count every answer
/// shows ends equal to the rows the store holds.
async fn toggles_keep_the_count_equal_to_the_rows(app: &TestApp) {
    let recipe = "classic-banana-pancakes";
    let item = ItemRef::parse("recipe", recipe).expect("item");
    let before = app.stores.likes.like_count(&item).await.expect("count");
    let (user, token) = app.member();
    let path = format!("/v1/me/likes/recipe/{recipe}");
    let toggles = (0..200).map(|n| {
        let (path, token) = (path.clone(), token.clone());
        async move {
            let method = if n % 2 == 0 { "PUT" } else { "DELETE" };
            app.call(method, &path, None, Some(&token)).await.status
        }
    });
    let statuses: Vec<u16> = futures_util::stream::iter(toggles)
        .buffer_unordered(50)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let rows = u64::from(app.stores.likes.has_liked(user, &item).await.expect("row"));
    let stored = app.stores.likes.like_count(&item).await.expect("count");
    assert_eq!(stored, before + rows, "the stored count follows the rows");
    // The recipe is premium: read it as someone who may.
    let reader = app.mint_with_scopes(UserId::random(), &[Role::Member], &["content:premium"], 600);
    let shown = app
        .call("GET", &format!("/v1/recipes/{recipe}"), None, Some(&reader))
        .await
        .json()["likes"]
        .as_u64()
        .expect("likes");
    assert_eq!(shown, stored, "the count shown is the stored one");
}

#[actix_web::test]
async fn concurrent_like_toggles_end_with_the_count_of_the_rows_on_the_embedded_store() {
    let app = spawn_app().await;
    toggles_keep_the_count_equal_to_the_rows(&app).await;
}

#[actix_web::test]
async fn concurrent_like_toggles_end_with_the_count_of_the_rows_on_the_scylla_store() {
    let Some(app) = scylla_app(|_| {}).await else {
        return;
    };
    toggles_keep_the_count_equal_to_the_rows(&app).await;
}

/// Sends raw bytes and answers the status line and whatever body came.
async fn raw(app: &TestApp, request: &[u8]) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connected");
    stream.write_all(request).await.expect("sent");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.lines().next().unwrap_or_default().to_owned();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[actix_web::test]
async fn refusals_by_the_http_parser_have_their_status_and_no_body_as_the_readme_says() {
    let app = spawn_app().await;
    // More header lines than the parser keeps (96).
    let lines: String = (0..100).map(|n| format!("x-h{n}: v\r\n")).collect();
    let huge_header = format!("GET /healthz HTTP/1.1\r\nhost: x\r\n{lines}\r\n");
    let (status, body) = raw(&app, huge_header.as_bytes()).await;
    assert!(status.contains(" 431 "), "{status}");
    assert_eq!(body, "");
    let (status, body) = raw(
        &app,
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nbad header: y\r\n\r\n",
    )
    .await;
    assert!(status.contains(" 400 "), "{status}");
    assert_eq!(body, "");
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains("431"),
        "the README names the parser's refusals"
    );
}

#[actix_web::test]
async fn registrations_probing_an_email_are_limited_per_email_and_per_address() {
    let app = spawn_app_with(|s| s.auth.attempts_per_minute_per_ip = 1_000).await;
    let taken = unique_email();
    app.register(&taken).await;
    let again = |email: String| {
        let app = &app;
        async move {
            app.call(
                "POST",
                "/v1/auth/register",
                Some(json!({ "email": email, "password": PASSWORD, "display_name": "Probe" })),
                None,
            )
            .await
        }
    };
    // The registration was the first of ten a minute for this email.
    for _ in 0..9 {
        let answer = again(taken.clone()).await;
        assert_eq!(answer.status, 409, "{}", answer.text);
        assert!(
            answer.text.contains("reset the password"),
            "{}",
            answer.text
        );
    }
    let limited = again(taken.to_uppercase()).await;
    assert_eq!(limited.status, 429, "{}", limited.text);
    // Another email is not affected (the positive control).
    assert_eq!(again(unique_email()).await.status, 201);
    // Per address: the default limit of 30 a minute holds for registrations too.
    let strict = spawn_app().await;
    let statuses: Vec<u16> = futures_util::future::join_all((0..31).map(|_| {
        let strict = &strict;
        async move {
            strict
                .call(
                    "POST",
                    "/v1/auth/register",
                    Some(json!({ "email": unique_email(), "password": PASSWORD, "display_name": "P" })),
                    None,
                )
                .await
                .status
        }
    }))
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        1,
        "{statuses:?}"
    );
}
