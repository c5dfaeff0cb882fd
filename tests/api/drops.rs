//! Product drops end to end, on both store backends: thousands of concurrent buyers for a
//! few units get exactly as many reservations as there are units and `sold_out` otherwise;
//! per-user limits hold; unpaid reservations expire and their units sell again; a repeated
//! `Idempotency-Key` answers the same order; the waiting room admits buyers at its rate;
//! the payment webhook confirms an order; admins list the drops of the coming month; bad
//! input changes nothing.

use std::time::Duration;

use fitpulse::config::Secret;
use fitpulse_actors::domain::now_millis;
use fitpulse_actors::events::rfc3339;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_error, scylla_app, spawn_app, spawn_app_on_manual_clock, spawn_app_with,
};

pub(crate) async fn create_drop(
    app: &TestApp,
    stock: u32,
    limit: u32,
    ttl: u32,
    starts_in_ms: i64,
    rate: Option<u32>,
) -> String {
    let body = json!({
        "title": "Launch hoodie", "stock": stock, "price_cents": 5900, "currency": "EUR",
        "starts_at": rfc3339(app.now() + starts_in_ms), "per_user_limit": limit,
        "reservation_ttl_seconds": ttl, "admission_per_second": rate,
    });
    let created = app
        .call("POST", "/v1/admin/drops", Some(body), Some(&app.admin()))
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    created.json()["id"].as_str().expect("id").to_owned()
}

pub(crate) async fn order(
    app: &TestApp,
    drop: &str,
    token: &str,
    key: &str,
    quantity: u32,
) -> crate::helpers::Response {
    app.call_with_headers(
        "POST",
        &format!("/v1/drops/{drop}/orders"),
        Some(json!({ "quantity": quantity })),
        Some(token),
        &[("idempotency-key", key)],
    )
    .await
}

/// 2,000 buyers at once for 100 units: exactly 100 reservations, 1,900 `sold_out`.
async fn no_oversell(app: &TestApp) {
    let drop = create_drop(app, 100, 1, 300, -1_000, None).await;
    let buyers: Vec<String> = (0..2_000).map(|_| app.member().1).collect();
    let attempts = buyers.iter().enumerate().map(|(n, token)| {
        order(
            app,
            &drop,
            token,
            Box::leak(format!("k-{n}").into_boxed_str()),
            1,
        )
    });
    let (mut reserved, mut sold_out, mut other) = (0, 0, Vec::new());
    // 200 in flight at a time: concurrent enough to race for the last units, bounded so
    // a slow shared machine does not time requests out.
    use futures_util::StreamExt;
    let answers: Vec<_> = futures_util::stream::iter(attempts)
        .buffer_unordered(200)
        .collect()
        .await;
    for response in answers {
        match response.status {
            201 => reserved += 1,
            409 if response.text.contains("sold_out") => sold_out += 1,
            _ => other.push(format!("{} {}", response.status, response.text)),
        }
    }
    assert!(
        other.is_empty(),
        "unexpected answers: {:?}",
        &other[..other.len().min(5)]
    );
    assert_eq!((reserved, sold_out), (100, 1_900));
    let view = app.drop_books(&drop).await;
    assert_eq!(
        (view["reserved"].clone(), view["remaining"].clone()),
        (json!(100), json!(0)),
        "{view}"
    );
    let public = app
        .call("GET", &format!("/v1/drops/{drop}"), None, None)
        .await
        .json();
    assert_eq!(public["state"], "sold_out");
}

#[actix_web::test]
async fn two_thousand_buyers_for_a_hundred_units_never_oversell_on_the_embedded_store() {
    let app = spawn_app().await;
    no_oversell(&app).await;
}

#[actix_web::test]
async fn two_thousand_buyers_for_a_hundred_units_never_oversell_on_the_scylla_store() {
    let Some(app) = scylla_app(|_| {}).await else {
        return;
    };
    no_oversell(&app).await;
}

/// Limits, expiry and idempotency, as every backend must keep them.
async fn limits_expiry_and_replays(app: &TestApp) {
    let drop = create_drop(app, 3, 2, 1, -1_000, None).await;
    let (_, alice) = app.member();
    let (_, bob) = app.member();
    let (_, carol) = app.member();

    let first = order(app, &drop, &alice, "a-1", 1).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.json()["status"], "reserved");
    let replay = order(app, &drop, &alice, "a-1", 1).await;
    assert_eq!(replay.status, 201);
    assert_eq!(
        replay.json()["id"],
        first.json()["id"],
        "the same key answers the same order"
    );
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    let reused = order(app, &drop, &alice, "a-1", 2).await;
    assert_eq!(reused.status, 422);
    assert_error(&reused.text, "idempotency_key_reused");
    let second = order(app, &drop, &alice, "a-2", 1).await;
    assert_eq!(second.status, 201, "{}", second.text);
    // The limit answers while units remain; once none do, `sold_out` answers first
    // (from memory, without a store read for the buyer's quota).
    let over = order(app, &drop, &alice, "a-3", 1).await;
    assert_eq!(over.status, 409, "{}", over.text);
    assert_error(&over.text, "limit_reached");
    let last = order(app, &drop, &carol, "c-1", 1).await;
    assert_eq!(last.status, 201, "{}", last.text);
    let gone = order(app, &drop, &bob, "b-1", 1).await;
    assert_error(&gone.text, "sold_out");

    // Unpaid reservations expire after a second and their units sell again.
    let (mut bobs_socket, _) = app.connect_ready(&bob, None).await;
    let id = first.json()["id"].as_str().expect("id").to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let status = app
            .call("GET", &format!("/v1/orders/{id}"), None, Some(&alice))
            .await
            .json();
        if status["status"] == "expired" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never expired: {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let bought = loop {
        let attempt = order(app, &drop, &bob, &format!("b-{}", now_millis()), 1).await;
        if attempt.status == 201 {
            break attempt;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stock never came back: {}",
            attempt.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(bought.json()["status"], "reserved");
    let event = bobs_socket.event("order.reserved").await;
    assert_eq!(event["data"]["id"], bought.json()["id"]);
}

#[actix_web::test]
async fn limits_expiry_and_idempotent_replays_hold_on_the_embedded_store() {
    limits_expiry_and_replays(&spawn_app().await).await;
}

#[actix_web::test]
async fn limits_expiry_and_idempotent_replays_hold_on_the_scylla_store() {
    let Some(app) = scylla_app(|_| {}).await else {
        return;
    };
    limits_expiry_and_replays(&app).await;
}

#[actix_web::test]
async fn the_waiting_room_draws_early_places_and_admits_at_its_rate() {
    let app = spawn_app().await;
    let drop = create_drop(&app, 10, 1, 300, 1_500, Some(1)).await;
    let (_, first) = app.member();
    let (_, second) = app.member();
    let early = order(&app, &drop, &first, "e-1", 1).await;
    assert_eq!(early.status, 409);
    assert_error(&early.text, "not_started");
    assert!(
        early.json()["error"]["details"]["seconds_to_start"]
            .as_i64()
            .is_some_and(|s| s >= 1)
    );

    let queue = format!("/v1/drops/{drop}/queue");
    let mut sockets = Vec::new();
    for buyer in [&first, &second] {
        sockets.push(app.connect_ready(buyer, None).await.0);
        let joined = app.call("POST", &queue, None, Some(buyer)).await;
        assert_eq!(joined.status, 200, "{}", joined.text);
        // Before the start nobody has a place: they are drawn at the opening.
        assert_eq!(
            (
                joined.json()["ahead"].clone(),
                joined.json()["admitted"].clone()
            ),
            (Value::Null, json!(false))
        );
    }

    // One a second: the first tick admits exactly one of the two, drawn at random.
    let standing = |token: String| {
        let (app, queue) = (&app, queue.clone());
        async move { app.call("GET", &queue, None, Some(&token)).await.json() }
    };
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    let (winner, loser, mut winners_socket) = loop {
        let (a, b) = (
            standing(first.clone()).await,
            standing(second.clone()).await,
        );
        if a["admitted"] == true || b["admitted"] == true {
            let mut sockets = sockets.into_iter();
            let (s1, s2) = (sockets.next().expect("one"), sockets.next().expect("two"));
            break if a["admitted"] == true {
                (first.clone(), second.clone(), s1)
            } else {
                (second.clone(), first.clone(), s2)
            };
        }
        assert!(tokio::time::Instant::now() < deadline, "nobody admitted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let admitted = winners_socket.event("drop.admitted").await;
    let token = admitted["data"]["admission_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let not_yet = standing(loser.clone()).await;
    assert!(
        not_yet["admission_token"].is_null() || not_yet["ahead"] == 0,
        "{not_yet}"
    );

    let without = order(&app, &drop, &winner, "w-1", 1).await;
    assert_error(&without.text, "not_admitted");
    let borrowed = app
        .call_with_headers(
            "POST",
            &format!("/v1/drops/{drop}/orders"),
            Some(json!({ "quantity": 1 })),
            Some(&loser),
            &[("idempotency-key", "w-2"), ("x-admission-token", &token)],
        )
        .await;
    assert_eq!(
        borrowed.status, 409,
        "another buyer's token admits nobody else"
    );
    let admitted_order = app
        .call_with_headers(
            "POST",
            &format!("/v1/drops/{drop}/orders"),
            Some(json!({ "quantity": 1 })),
            Some(&winner),
            &[("idempotency-key", "w-3"), ("x-admission-token", &token)],
        )
        .await;
    assert_eq!(admitted_order.status, 201, "{}", admitted_order.text);
}

#[actix_web::test]
async fn the_waiting_room_opens_its_pre_queue_window_before_the_start() {
    let app = spawn_app_on_manual_clock(|s| s.drops.pre_queue_seconds = 60).await;
    let drop = create_drop(&app, 10, 1, 300, 90_000, Some(5)).await;
    let (_, buyer) = app.member();
    let queue = format!("/v1/drops/{drop}/queue");
    let early = app.call("POST", &queue, None, Some(&buyer)).await;
    assert_eq!(early.status, 409, "{}", early.text);
    assert_error(&early.text, "not_started");
    assert_eq!(early.json()["error"]["details"]["seconds_to_queue"], 30);
    assert_eq!(early.json()["error"]["details"]["seconds_to_start"], 90);
    app.advance(Duration::from_secs(30));
    let joined = app.call("POST", &queue, None, Some(&buyer)).await;
    assert_eq!(joined.status, 200, "{}", joined.text);
    assert_eq!(joined.json()["ahead"], Value::Null);
}

#[actix_web::test]
async fn joining_a_queue_is_limited_per_user_and_per_address() {
    let app = spawn_app_with(|s| {
        s.drops.queue_joins_per_minute_per_user = 2;
        s.drops.queue_joins_per_minute_per_ip = 4;
    })
    .await;
    let drop = create_drop(&app, 10, 1, 300, 60_000, Some(5)).await;
    let queue = format!("/v1/drops/{drop}/queue");
    let (_, hammering) = app.member();
    for _ in 0..2 {
        let joined = app.call("POST", &queue, None, Some(&hammering)).await;
        assert_eq!(joined.status, 200, "{}", joined.text);
    }
    let refused = app.call("POST", &queue, None, Some(&hammering)).await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert_error(&refused.text, "rate_limited");
    assert!(refused.header("retry-after").is_some());
    // Another user from the same address still joins, until the address's budget is
    // spent (four joins, the refused one included).
    let (_, other) = app.member();
    let joined = app.call("POST", &queue, None, Some(&other)).await;
    assert_eq!(joined.status, 200, "{}", joined.text);
    let (_, third) = app.member();
    let refused = app.call("POST", &queue, None, Some(&third)).await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    // The refused joins changed nothing: two are queued.
    let books = app.drop_books(&drop).await;
    assert_eq!(books["waiting"], 2, "{books}");
}

#[actix_web::test]
async fn the_payment_webhook_confirms_an_order_and_a_paid_order_never_expires() {
    let app = spawn_app_on_manual_clock(|s| {
        s.commerce.payments_secret = Some(Secret::new("whsec_drops"));
        s.outbox.poll_interval_ms = 50;
    })
    .await;
    let drop = create_drop(&app, 5, 1, 2, -1_000, None).await;
    let (_, buyer) = app.member();
    let (mut socket, _) = app.connect_ready(&buyer, None).await;
    let reserved = order(&app, &drop, &buyer, "p-1", 1).await.json();
    let id = reserved["id"].as_str().expect("id").to_owned();

    let now = (now_millis() / 1000) as u64;
    let body = json!({ "id": "evt_order_1", "type": "order.paid", "created": now, "data": { "order_id": id } }).to_string();
    let signature = fitpulse::commerce::payments::sign("whsec_drops", now, body.as_bytes());
    let paid = app
        .call_with_headers(
            "POST",
            "/v1/webhooks/payments",
            Some(serde_json::from_str(&body).expect("json")),
            None,
            &[("fitpulse-signature", &format!("t={now},v1={signature}"))],
        )
        .await;
    assert_eq!(paid.status, 200, "{}", paid.text);
    let event = socket.event("order.paid").await;
    assert_eq!(event["data"]["id"], json!(id));

    // Past the reservation's two seconds: its timer runs (the positive control: the
    // drop's timers reach zero) and finds the order paid.
    app.advance(Duration::from_secs(3));
    let drop_view = || app.drop_books(&drop);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let view = loop {
        let view = drop_view().await;
        if view["timers"] == 0 {
            break view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the timer never ran: {view}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let order = app
        .call("GET", &format!("/v1/orders/{id}"), None, Some(&buyer))
        .await
        .json();
    assert_eq!(order["status"], "paid", "the expiry timer found it paid");
    assert_eq!(
        (
            view["sold"].clone(),
            view["reserved"].clone(),
            view["expired"].clone()
        ),
        (json!(1), json!(0), json!(0))
    );
}

#[actix_web::test]
async fn admins_list_the_drops_starting_from_a_week_ago_to_a_month_ahead_soonest_first() {
    let app = spawn_app().await;
    let day = 24 * 60 * 60 * 1000;
    let later = create_drop(&app, 10, 1, 60, 3 * day, None).await;
    let sooner = create_drop(&app, 20, 2, 60, -2 * day, Some(50)).await;
    create_drop(&app, 10, 1, 60, -8 * day, None).await;
    create_drop(&app, 10, 1, 60, 31 * day, None).await;

    let token = app.admin();
    let list = app.call("GET", "/v1/admin/drops", None, Some(&token)).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let body = list.json();
    let ids: Vec<&str> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [sooner.as_str(), later.as_str()]);
    assert_eq!(body["next_cursor"], Value::Null);
    let first = &body["items"][0];
    assert_eq!(
        (&first["title"], &first["stock"], &first["per_user_limit"]),
        (&json!("Launch hoodie"), &json!(20), &json!(2))
    );
    assert_eq!(first["admission_per_second"], 50);
    assert!(
        first["starts_at"]
            .as_str()
            .expect("starts_at")
            .ends_with('Z')
    );

    let (_, member) = app.member();
    let refused = app
        .call("GET", "/v1/admin/drops", None, Some(&member))
        .await;
    assert_eq!(refused.status, 403);
    assert_error(&refused.text, "forbidden");
    assert_eq!(
        app.call("GET", "/v1/admin/drops", None, None).await.status,
        401
    );
    let unknown = app
        .call("GET", "/v1/admin/drops?limit=5", None, Some(&token))
        .await;
    assert_eq!(unknown.status, 400);
    assert_error(&unknown.text, "invalid_query");
}

#[actix_web::test]
async fn bad_drop_input_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let token = app.admin();
    let valid = json!({
        "title": "Hoodie", "stock": 10, "price_cents": 100, "currency": "EUR",
        "starts_at": rfc3339(now_millis()), "per_user_limit": 1,
        "reservation_ttl_seconds": 60, "admission_per_second": null,
    });
    let mut cases: Vec<(Value, &str)> = Vec::new();
    for (field, value) in [
        ("stock", json!(0)),
        ("currency", json!("eur")),
        ("starts_at", json!("tomorrow")),
        ("per_user_limit", json!(11)),
        ("reservation_ttl_seconds", json!(0)),
        ("title", json!("")),
    ] {
        let mut body = valid.clone();
        body[field] = value;
        cases.push((body, "invalid_field"));
    }
    let mut extra = valid.clone();
    extra["colour"] = json!("red");
    cases.push((extra, "invalid_body"));
    for (body, code) in cases {
        let response = app
            .call("POST", "/v1/admin/drops", Some(body.clone()), Some(&token))
            .await;
        assert_eq!(response.status, 400, "{body}: {}", response.text);
        assert_error(&response.text, code);
    }
    let (_, member) = app.member();
    assert_eq!(
        app.call(
            "POST",
            "/v1/admin/drops",
            Some(valid.clone()),
            Some(&member)
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.call("POST", "/v1/admin/drops", Some(valid), None)
            .await
            .status,
        401
    );

    let drop = create_drop(&app, 3, 1, 60, -1_000, None).await;
    let missing_key = app
        .call(
            "POST",
            &format!("/v1/drops/{drop}/orders"),
            Some(json!({ "quantity": 1 })),
            Some(&member),
        )
        .await;
    assert_eq!(missing_key.status, 400);
    assert_error(&missing_key.text, "idempotency_key_required");
    for (body, status) in [
        (json!({ "quantity": 0 }), 400),
        (json!({ "quantity": 2 }), 400),
        (json!({ "qty": 1 }), 400),
    ] {
        let response = app
            .call_with_headers(
                "POST",
                &format!("/v1/drops/{drop}/orders"),
                Some(body.clone()),
                Some(&member),
                &[("idempotency-key", "bad")],
            )
            .await;
        assert_eq!(response.status, status, "{body}: {}", response.text);
    }
    let unauthorized = app
        .call(
            "POST",
            &format!("/v1/drops/{drop}/orders"),
            Some(json!({ "quantity": 1 })),
            None,
        )
        .await;
    assert_eq!(unauthorized.status, 401);
    assert_eq!(
        app.call(
            "GET",
            &format!("/v1/drops/{}", uuid::Uuid::new_v4()),
            None,
            None
        )
        .await
        .status,
        404
    );
    assert_eq!(
        app.call("GET", "/v1/drops/not-a-uuid", None, None)
            .await
            .status,
        400
    );
    let view = app.drop_books(&drop).await;
    assert_eq!(
        (view["reserved"].clone(), view["remaining"].clone()),
        (json!(0), json!(3)),
        "nothing changed"
    );

    let placed = order(&app, &drop, &member, "ok-1", 1).await.json();
    let (_, stranger) = app.member();
    let id = placed["id"].as_str().expect("id");
    assert_eq!(
        app.call("GET", &format!("/v1/orders/{id}"), None, Some(&stranger))
            .await
            .status,
        404
    );
    assert_eq!(
        app.call("GET", &format!("/v1/orders/{id}"), None, Some(&member))
            .await
            .status,
        200
    );
}
