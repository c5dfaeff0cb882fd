//! Units and keys that come back, on both store backends and a clock the tests move:
//! reservations that expire reopen a sold-out drop (public `on_sale`, the right
//! `remaining`, `drop.stock` to watchers) and sell again; an `Idempotency-Key` whose
//! request claimed it and died is taken over by a retry once the claim's lease lapsed.

use std::time::Duration;

use fitpulse_actors::ports::store::{IdempotencyClaim, IdempotencyKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    TestApp, WAIT, assert_error, scylla_app_on_manual_clock, spawn_app_on_manual_clock,
};

/// A drop on sale from a second ago, limit one per buyer, with no waiting room.
async fn create_drop(app: &TestApp, stock: u32, ttl_seconds: u32) -> String {
    crate::drops::create_drop(app, stock, 1, ttl_seconds, -1_000, None).await
}

async fn order(app: &TestApp, drop: &str, token: &str, key: &str) -> crate::helpers::Response {
    crate::drops::order(app, drop, token, key, 1).await
}

/// Asks `check` every 100 ms until it answers a value, failing the test after [`WAIT`].
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn public_view(app: &TestApp, drop: &str, token: &str) -> Value {
    let view = app
        .call("GET", &format!("/v1/drops/{drop}"), None, Some(token))
        .await;
    assert_eq!(view.status, 200, "{}", view.text);
    view.json()
}

/// Stock 2, both reserved: sold out. The reservations lapse: on sale again with 2 left,
/// watchers told, and a buyer gets one.
async fn expired_reservations_reopen_the_sale(app: &TestApp) {
    let drop = create_drop(app, 2, 60).await;
    let (_, watcher) = app.member();
    let (mut socket, _) = app.connect_ready(&watcher, None).await;
    // Reading the drop signed in makes the reader a watcher of its stock.
    assert_eq!(public_view(app, &drop, &watcher).await["state"], "on_sale");
    let mut orders = Vec::new();
    for key in ["a", "b"] {
        let (_, buyer) = app.member();
        let made = order(app, &drop, &buyer, key).await;
        assert_eq!(made.status, 201, "{}", made.text);
        orders.push((buyer, made.json()["id"].as_str().expect("id").to_owned()));
    }
    let view = public_view(app, &drop, &watcher).await;
    assert_eq!(
        (&view["state"], &view["remaining"]),
        (&json!("sold_out"), &json!(0))
    );
    let (_, late) = app.member();
    assert_error(&order(app, &drop, &late, "c").await.text, "sold_out");
    let sold_out = socket.event("drop.sold_out").await;
    assert_eq!(sold_out["data"]["remaining"], 0);

    app.advance(Duration::from_secs(61));
    for (buyer, id) in &orders {
        eventually("the reservation expires", async || {
            let status = app
                .call("GET", &format!("/v1/orders/{id}"), None, Some(buyer))
                .await
                .json();
            (status["status"] == "expired").then_some(())
        })
        .await;
    }
    // An order reads `expired` a moment before its units are back (a second write).
    eventually("the public view shows both units on sale", async || {
        let view = public_view(app, &drop, &watcher).await;
        (view["state"] == "on_sale" && view["remaining"] == 2).then_some(())
    })
    .await;
    let told = socket
        .frames_until("drop.stock", |f| {
            f["type"] == "drop.stock" && f["data"]["remaining"] == 2
        })
        .await;
    assert!(
        told.iter()
            .all(|f| f["data"]["remaining"].as_u64() < Some(2)),
        "{told:?}"
    );
    let books = app.drop_books(&drop).await;
    assert_eq!(
        (&books["reserved"], &books["expired"]),
        (&json!(0), &json!(2))
    );
    let again = order(app, &drop, &late, "c-again").await;
    assert_eq!(again.status, 201, "{}", again.text);
}

#[actix_web::test]
async fn expired_reservations_reopen_the_sale_on_the_embedded_store() {
    expired_reservations_reopen_the_sale(&spawn_app_on_manual_clock(|_| {}).await).await;
}

#[actix_web::test]
async fn expired_reservations_reopen_the_sale_on_the_scylla_store() {
    let Some(app) = scylla_app_on_manual_clock(|_| {}).await else {
        return;
    };
    expired_reservations_reopen_the_sale(&app).await;
}

/// A request claimed its key and died before it answered (what a kill -9 between the
/// claim and the order leaves): its retries are refused as running until the claim's
/// lease lapses, then one takes it over and reserves.
async fn a_dead_requests_key_is_taken_over_after_the_claim_lease(app: &TestApp) {
    let drop = create_drop(app, 5, 600).await;
    let (user, token) = app.member();
    let key = IdempotencyKey {
        scope: format!("drop-orders:{user}:{drop}"),
        key: "k-1".into(),
    };
    let body = json!({ "quantity": 1 }).to_string();
    let fingerprint: String = Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let claimed = app
        .stores
        .idempotency
        .claim(&key, &fingerprint)
        .await
        .expect("claimed");
    assert_eq!(claimed, IdempotencyClaim::Fresh);

    let running = order(app, &drop, &token, "k-1").await;
    assert_eq!(running.status, 409, "{}", running.text);
    assert!(running.text.contains("still running"), "{}", running.text);

    app.advance(Duration::from_secs(
        app.settings.drops.claim_lease_seconds.into(),
    ));
    app.advance(Duration::from_secs(5));
    let taken_over = order(app, &drop, &token, "k-1").await;
    assert_eq!(taken_over.status, 201, "{}", taken_over.text);
    assert_eq!(taken_over.json()["status"], "reserved");
    let replay = order(app, &drop, &token, "k-1").await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.json()["id"], taken_over.json()["id"]);
}

#[actix_web::test]
async fn a_dead_requests_key_is_taken_over_after_the_claim_lease_on_the_embedded_store() {
    a_dead_requests_key_is_taken_over_after_the_claim_lease(
        &spawn_app_on_manual_clock(|_| {}).await,
    )
    .await;
}

#[actix_web::test]
async fn a_dead_requests_key_is_taken_over_after_the_claim_lease_on_the_scylla_store() {
    let Some(app) = scylla_app_on_manual_clock(|_| {}).await else {
        return;
    };
    a_dead_requests_key_is_taken_over_after_the_claim_lease(&app).await;
}
