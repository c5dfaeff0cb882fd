//! Hostile input a stranger can send, each refused at a bounded cost and changing nothing:
//! login floods against the password hasher, revoked tokens after a restart, padded
//! emails against the login limit, descriptor hoarding from one address, ping floods,
//! text that lies about itself, admission tokens used as API tokens, follows that outlive
//! a block, message states for someone else's message, JSON sent as another type.

use std::time::Duration;

use fitpulse_actors::domain::{Role, UserId, now_millis};
use fitpulse_actors::events::rfc3339;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    PASSWORD, TestApp, WAIT, assert_error, spawn_app, spawn_app_with, unique_email,
};
use crate::sockets::metric;

#[actix_web::test]
async fn password_checks_beyond_the_hashing_pool_are_refused_with_retry_after() {
    // One hasher and no queue: of concurrent logins, those that find it busy are refused.
    let app = spawn_app_with(|s| {
        s.auth.hash_concurrency = 1;
        s.auth.hash_wait_ms = 0;
    })
    .await;
    let logins = (0..12).map(|_| {
        let email = unique_email();
        let app = &app;
        async move { app.login_with(&email, "not the password").await }
    });
    let answers: Vec<_> = futures_util::stream::iter(logins)
        .buffer_unordered(12)
        .collect()
        .await;
    let (mut refused, mut wrong) = (0, 0);
    for answer in &answers {
        match answer.status {
            429 => {
                assert_error(&answer.text, "rate_limited");
                assert_eq!(answer.header("retry-after"), Some("1"), "{}", answer.text);
                refused += 1;
            }
            400 => {
                assert_eq!(answer.json()["error"], "invalid_grant", "{}", answer.text);
                wrong += 1;
            }
            other => panic!("unexpected {other}: {}", answer.text),
        }
    }
    assert!(refused >= 1, "nobody found the one hasher busy");
    assert!(wrong >= 1, "nobody was checked at all");
    let (status, _, _) = app.get("/healthz").await;
    assert_eq!(status, 200);
}

/// Registers an account; answers its access token.
async fn registered(app: &TestApp) -> (UserId, String) {
    let tokens = app.register(&unique_email()).await;
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let me = app.call("GET", "/v1/me", None, Some(&access)).await.json();
    let id = me["id"].as_str().expect("id").parse().expect("a user id");
    (id, access)
}

#[actix_web::test]
async fn padded_spellings_of_an_email_share_its_login_budget() {
    let app = spawn_app().await;
    let email = unique_email();
    app.register(&email).await;
    let padded = [
        format!(" {email}"),
        format!("{email}\u{a0}"),
        format!("\u{2003}{email}"),
        email.to_uppercase(),
    ];
    // The account allows 10 attempts a minute, whatever the spelling.
    for n in 0..10 {
        let attempt = app
            .login_with(&padded[n % padded.len()], "wrong password")
            .await;
        assert_eq!(attempt.status, 400, "attempt {n}: {}", attempt.text);
    }
    for spelling in padded.iter().chain([&email]) {
        let refused = app.login_with(spelling, PASSWORD).await;
        assert_eq!(refused.status, 429, "{spelling:?}: {}", refused.text);
    }
    // Another account from the same address is not affected.
    let other = unique_email();
    app.register(&other).await;
    assert_eq!(app.login(&other).await.status, 200);
}

/// Sends one raw HTTP/1.1 request from `source` (a loopback address) and answers the
/// status line and the connection it used (kept open).
async fn raw_get(app: &TestApp, source: &str, path: &str) -> (String, tokio::net::TcpStream) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{source}:0").parse().expect("address"))
        .expect("bound");
    let mut stream = socket
        .connect(format!("127.0.0.1:{}", app.port).parse().expect("address"))
        .await
        .expect("connected");
    let head = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("sent");
    let mut buffer = vec![0u8; 4096];
    let read = tokio::time::timeout(WAIT, stream.read(&mut buffer))
        .await
        .expect("an answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buffer[..read]).into_owned();
    (text.lines().next().unwrap_or_default().to_owned(), stream)
}

#[actix_web::test]
async fn one_address_cannot_hold_more_than_its_share_of_connections() {
    let app = spawn_app_with(|s| s.http.max_connections_per_ip = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let (status, stream) = raw_get(&app, "127.0.0.2", "/v1/products").await;
        assert!(status.contains(" 200 "), "{status}");
        held.push(stream);
    }
    let (refused, _fourth) = raw_get(&app, "127.0.0.2", "/v1/products").await;
    assert!(refused.contains(" 429 "), "{refused}");
    // Probes and metrics answer whatever the address holds.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let (status, _) = raw_get(&app, "127.0.0.2", path).await;
        assert!(status.contains(" 200 "), "{path}: {status}");
    }
    // Other addresses keep their own share.
    let (status, _other) = raw_get(&app, "127.0.0.3", "/v1/products").await;
    assert!(status.contains(" 200 "), "{status}");
    // A closed connection gives its place back.
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (status, stream) = raw_get(&app, "127.0.0.2", "/v1/products").await;
        if status.contains(" 200 ") {
            held.push(stream);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        metric(
            &app.metrics().await,
            r#"fitpulse_connections_refused_total{kind="connection"}"#
        ) >= 1.0
    );
}

#[actix_web::test]
async fn behind_a_trusted_proxy_sockets_are_capped_per_forwarded_address() {
    let app = spawn_app_with(|s| {
        s.http.trust_forwarded_for = true;
        s.http.max_connections_per_ip = 2;
    })
    .await;
    let (_, token) = app.member();
    let mut sockets = Vec::new();
    for _ in 0..2 {
        let mut socket = app.connect_forwarded(&token, "203.0.113.7").await;
        assert_eq!(socket.json().await["type"], "session.ready");
        sockets.push(socket);
    }
    let mut third = app.connect_forwarded(&token, "203.0.113.7").await;
    let (code, reason) = third.closed().await;
    assert_eq!(code, Some(4008), "{reason}");
    let mut elsewhere = app.connect_forwarded(&token, "198.51.100.9").await;
    assert_eq!(elsewhere.json().await["type"], "session.ready");
    assert_eq!(
        metric(
            &app.metrics().await,
            r#"fitpulse_connections_refused_total{kind="socket"}"#
        ),
        1.0
    );
}

#[actix_web::test]
async fn a_ping_flood_counts_against_the_frame_rate_and_closes_4008() {
    let app = spawn_app_with(|s| {
        s.ws.messages_per_second = 1;
        s.ws.message_burst = 5;
    })
    .await;
    let (_, token) = app.member();
    let (mut socket, _) = app.connect_ready(&token, None).await;
    for _ in 0..50 {
        socket.send_ping().await;
    }
    let (code, reason) = socket.closed().await;
    assert_eq!(code, Some(4008), "{reason}");
}

/// Texts that lie about themselves: each must be refused naming its field.
const LYING: [&str; 5] = [
    "\u{200B}\u{200C}\u{200D}",
    "abc\u{202E}gnp.exe",
    "nul\u{0}byte",
    "\u{1b}[31mred\u{1b}[0m",
    "x\u{2066}y",
];

#[actix_web::test]
async fn text_with_control_bidi_or_nothing_visible_is_refused_naming_the_field() {
    // Refused writes count against the write budgets too; this test makes many.
    let app = spawn_app_with(|s| s.community.posts_per_minute = 100).await;
    for name in LYING {
        let refused = app
            .call(
                "POST",
                "/v1/auth/register",
                Some(
                    json!({ "email": unique_email(), "password": PASSWORD, "display_name": name }),
                ),
                None,
            )
            .await;
        assert_eq!(refused.status, 400, "{name:?}: {}", refused.text);
        assert_eq!(refused.json()["error"]["details"]["field"], "display_name");
    }
    let (_, access) = registered(&app).await;
    for name in LYING {
        let refused = app
            .call(
                "PATCH",
                "/v1/me",
                Some(json!({ "display_name": name })),
                Some(&access),
            )
            .await;
        assert_eq!(refused.status, 400, "{name:?}: {}", refused.text);
    }
    assert_eq!(
        app.call("GET", "/v1/me", None, Some(&access)).await.json()["display_name"],
        "Ada"
    );

    let (_, member) = app.member();
    for name in LYING {
        let refused = app
            .call(
                "POST",
                "/v1/groups",
                Some(json!({ "name": name })),
                Some(&member),
            )
            .await;
        assert_eq!(
            refused.json()["error"]["details"]["field"],
            "name",
            "{name:?}"
        );
        let note = app
            .call(
                "POST",
                "/v1/me/checkins",
                Some(json!({ "mood": "great", "satisfaction": 5, "note": name })),
                Some(&member),
            )
            .await;
        assert_eq!(note.json()["error"]["details"]["field"], "note", "{name:?}");
    }
    let group = app
        .call(
            "POST",
            "/v1/groups",
            Some(json!({ "name": "Runners" })),
            Some(&member),
        )
        .await;
    assert_eq!(group.status, 201, "{}", group.text);
    let group = group.json()["id"].as_str().expect("id").to_owned();
    let posts = format!("/v1/groups/{group}/posts");
    for text in LYING {
        let refused = app
            .call("POST", &posts, Some(json!({ "text": text })), Some(&member))
            .await;
        assert_eq!(refused.status, 400, "{text:?}: {}", refused.text);
        assert_eq!(refused.json()["error"]["details"]["field"], "text");
    }
    // A post may keep its line breaks, and is stored in NFC.
    let kept = app
        .call(
            "POST",
            &posts,
            Some(json!({ "text": "Day 1\nCafe\u{301} run" })),
            Some(&member),
        )
        .await;
    assert_eq!(kept.status, 201, "{}", kept.text);
    let listed = app.call("GET", &posts, None, Some(&member)).await.json();
    let texts: Vec<&str> = listed["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect();
    assert_eq!(texts, ["Day 1\nCaf\u{e9} run"], "nothing else was stored");
    let post = listed["items"][0]["id"].as_str().expect("id").to_owned();
    let refused = app
        .call(
            "POST",
            &format!("{posts}/{post}/comments"),
            Some(json!({ "text": "\u{1b}[2J" })),
            Some(&member),
        )
        .await;
    assert_eq!(refused.json()["error"]["details"]["field"], "text");
}

#[actix_web::test]
async fn cue_text_that_lies_is_refused_on_the_socket() {
    let app = spawn_app().await;
    let coach = app.mint(UserId::random(), &[Role::Member, Role::Coach], 600);
    let class = app
        .call(
            "POST",
            "/v1/live/classes",
            Some(
                json!({ "title": "Spin", "scheduled_at": rfc3339(now_millis() + 60_000),
                         "duration_minutes": 30, "premium": false }),
            ),
            Some(&coach),
        )
        .await;
    assert_eq!(class.status, 201, "{}", class.text);
    let class = class.json()["id"].as_str().expect("id").to_owned();
    let refused = app
        .call(
            "POST",
            "/v1/live/classes",
            Some(json!({ "title": "abc\u{202E}gnp.exe", "scheduled_at": rfc3339(now_millis() + 60_000),
                         "duration_minutes": 30, "premium": false })),
            Some(&coach),
        )
        .await;
    assert_eq!(refused.json()["error"]["details"]["field"], "title");
    let started = app
        .call(
            "POST",
            &format!("/v1/live/classes/{class}/start"),
            None,
            Some(&coach),
        )
        .await;
    assert_eq!(started.status, 200, "{}", started.text);
    let (mut socket, _) = app.connect_ready(&coach, None).await;
    for (id, text) in LYING.iter().enumerate() {
        let reply = socket
            .request(
                id as u64,
                "live.cue",
                json!({ "class_id": class, "text": text }),
            )
            .await;
        assert_eq!(reply["error"]["code"], "invalid_frame", "{text:?}: {reply}");
    }
    let sent = socket
        .request(
            99,
            "live.cue",
            json!({ "class_id": class, "text": "Sprint!" }),
        )
        .await;
    assert_eq!(sent["ok"], true, "{sent}");
}

#[actix_web::test]
async fn an_admission_token_admits_to_its_drop_and_is_refused_everywhere_else() {
    let app = spawn_app().await;
    let body = json!({
        "title": "Launch hoodie", "stock": 10, "price_cents": 5900, "currency": "EUR",
        "starts_at": rfc3339(now_millis() - 1_000), "per_user_limit": 1,
        "reservation_ttl_seconds": 300, "admission_per_second": 5,
    });
    let drop = app
        .call("POST", "/v1/admin/drops", Some(body), Some(&app.admin()))
        .await
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, buyer) = app.member();
    let queue = format!("/v1/drops/{drop}/queue");
    app.call("POST", &queue, None, Some(&buyer)).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let admission = loop {
        let standing = app.call("GET", &queue, None, Some(&buyer)).await.json();
        if let Some(token) = standing["admission_token"].as_str() {
            break token.to_owned();
        }
        assert!(tokio::time::Instant::now() < deadline, "never admitted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (method, path) in [
        ("GET", "/v1/me/likes"),
        ("GET", "/v1/me"),
        ("GET", "/v1/me/plan"),
    ] {
        let refused = app.call(method, path, None, Some(&admission)).await;
        assert_eq!(refused.status, 401, "{path}: {}", refused.text);
    }
    let ordered = app
        .call_with_headers(
            "POST",
            &format!("/v1/drops/{drop}/orders"),
            Some(json!({ "quantity": 1 })),
            Some(&buyer),
            &[
                ("idempotency-key", "a-1"),
                ("x-admission-token", &admission),
            ],
        )
        .await;
    assert_eq!(ordered.status, 201, "{}", ordered.text);
}

async fn listed(app: &TestApp, path: &str, token: &str) -> Vec<String> {
    app.call("GET", path, None, Some(token)).await.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["user_id"].as_str().expect("user_id").to_owned())
        .collect()
}

#[actix_web::test]
async fn a_block_ends_follows_both_ways_and_an_unblock_does_not_bring_them_back() {
    let app = spawn_app().await;
    let (a, a_token) = app.member_account().await;
    let (c, c_token) = app.member_account().await;
    let (d, d_token) = app.member_account().await;
    for (token, whom) in [(&c_token, a), (&a_token, c), (&d_token, a)] {
        let followed = app
            .call(
                "PUT",
                &format!("/v1/me/following/{whom}"),
                None,
                Some(token),
            )
            .await;
        assert_eq!(followed.status, 200, "{}", followed.text);
    }
    let blocked = app
        .call("PUT", &format!("/v1/me/blocks/{c}"), None, Some(&a_token))
        .await;
    assert_eq!(blocked.status, 200, "{}", blocked.text);
    assert_eq!(
        listed(&app, "/v1/me/followers", &a_token).await,
        [d.to_string()]
    );
    assert!(listed(&app, "/v1/me/following", &a_token).await.is_empty());
    assert!(listed(&app, "/v1/me/following", &c_token).await.is_empty());
    app.call(
        "DELETE",
        &format!("/v1/me/blocks/{c}"),
        None,
        Some(&a_token),
    )
    .await;
    assert_eq!(
        listed(&app, "/v1/me/followers", &a_token).await,
        [d.to_string()]
    );
    assert!(listed(&app, "/v1/me/following", &c_token).await.is_empty());
}

#[actix_web::test]
async fn only_a_users_own_messages_can_be_marked() {
    let app = spawn_app().await;
    let (a, a_token) = app.member();
    let (_, b_token) = app.member();
    let create = |segment: Value| {
        let app = &app;
        async move {
            let created = app
                .call(
                    "POST",
                    "/v1/admin/messages",
                    Some(json!({ "title": "New plan", "body": "Try it",
                                 "expires_at": rfc3339(now_millis() + 3_600_000), "segment": segment })),
                    Some(&app.admin()),
                )
                .await;
            assert_eq!(created.status, 201, "{}", created.text);
            created.json()["id"].as_str().expect("id").to_owned()
        }
    };
    let for_a = create(json!({ "user_ids": [a] })).await;
    let for_all = create(json!({})).await;
    for action in ["read", "click", "dismiss"] {
        let refused = app
            .call(
                "POST",
                &format!("/v1/me/messages/{for_a}/{action}"),
                None,
                Some(&b_token),
            )
            .await;
        assert_eq!(refused.status, 404, "{action}: {}", refused.text);
    }
    let read = app
        .call(
            "POST",
            &format!("/v1/me/messages/{for_all}/read"),
            None,
            Some(&b_token),
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
    let own = app
        .call(
            "POST",
            &format!("/v1/me/messages/{for_a}/read"),
            None,
            Some(&a_token),
        )
        .await;
    assert_eq!(own.status, 200, "{}", own.text);
}

#[actix_web::test]
async fn a_json_route_refuses_other_content_types_and_orders_nothing() {
    let app = spawn_app().await;
    let body = json!({
        "title": "Launch hoodie", "stock": 10, "price_cents": 5900, "currency": "EUR",
        "starts_at": rfc3339(now_millis() - 1_000), "per_user_limit": 2,
        "reservation_ttl_seconds": 300, "admission_per_second": null,
    });
    let drop = app
        .call("POST", "/v1/admin/drops", Some(body), Some(&app.admin()))
        .await
        .json()["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, buyer) = app.member();
    let orders = app.url(&format!("/v1/drops/{drop}/orders"));
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "text/json",
    ] {
        let refused = app
            .client
            .post(&orders)
            .bearer_auth(&buyer)
            .insert_header(("content-type", content_type))
            .insert_header(("idempotency-key", content_type))
            .send_body(r#"{"quantity":1}"#)
            .await
            .expect("sent");
        assert_eq!(refused.status().as_u16(), 415, "{content_type}");
    }
    let ordered = app
        .call_with_headers(
            "POST",
            &format!("/v1/drops/{drop}/orders"),
            Some(json!({ "quantity": 1 })),
            Some(&buyer),
            &[("idempotency-key", "json")],
        )
        .await;
    assert_eq!(ordered.status, 201, "{}", ordered.text);
    let view = app.drop_books(&drop).await;
    assert_eq!(view["reserved"], 1, "only the JSON order: {view}");
}
