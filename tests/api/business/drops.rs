//! Drop units: reservations, a payment and an expiry move the unit counters of their drop
//! by their quantities, and a replayed order or payment moves nothing.

use std::time::Duration;

use fitpulse::config::Secret;
use fitpulse_actors::domain::now_millis;
use serde_json::json;

use super::{series, wait_for_series};
use crate::drops::{create_drop, order};
use crate::helpers::{TestApp, WAIT, spawn_app_on_manual_clock};

const SECRET: &str = "whsec_business_drops";

fn units(drop: &str, state: &str) -> String {
    format!(r#"fitpulse_drop_units_total{{drop="{drop}",state="{state}"}}"#)
}

/// Sends the payment provider's `order.paid` for `order`; answers the endpoint's status.
async fn pay(app: &TestApp, event: &str, order: &str) -> String {
    let now = (now_millis() / 1000) as u64;
    let body =
        json!({ "id": event, "type": "order.paid", "created": now, "data": { "order_id": order } })
            .to_string();
    let signature = fitpulse::commerce::payments::sign(SECRET, now, body.as_bytes());
    let answer = app
        .call_with_headers(
            "POST",
            "/v1/webhooks/payments",
            Some(serde_json::from_str(&body).expect("json")),
            None,
            &[("fitpulse-signature", &format!("t={now},v1={signature}"))],
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.json()["status"].as_str().expect("status").to_owned()
}

#[actix_web::test]
async fn reserved_sold_and_released_units_count_by_drop_exactly_once() {
    let app = spawn_app_on_manual_clock(|s| {
        s.commerce.payments_secret = Some(Secret::new(SECRET));
        s.outbox.poll_interval_ms = 50;
    })
    .await;
    let drop = create_drop(&app, 5, 2, 2, -1_000, None).await;
    // The drop's series start at zero once it is served.
    app.get(&format!("/v1/drops/{drop}")).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while !app.metrics().await.contains(&units(&drop, "released")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no unit series for {drop}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (_, ann) = app.member();
    let (_, bob) = app.member();
    let paid_for = order(&app, &drop, &ann, "ann-1", 2).await;
    assert_eq!(paid_for.status, 201, "{}", paid_for.text);
    let lapses = order(&app, &drop, &bob, "bob-1", 1).await;
    assert_eq!(lapses.status, 201, "{}", lapses.text);
    let replayed = order(&app, &drop, &ann, "ann-1", 2).await;
    assert_eq!(
        replayed.json()["id"],
        paid_for.json()["id"],
        "the same order"
    );
    assert_eq!(series(&app, &units(&drop, "reserved")).await, 3.0);

    let paid_id = paid_for.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(pay(&app, "evt_units_1", &paid_id).await, "accepted");
    wait_for_series(&app, &units(&drop, "sold"), 2.0).await;
    assert_eq!(pay(&app, "evt_units_1", &paid_id).await, "duplicate");

    // Past both reservations' two seconds: bob's lapses, ann's is paid. The drop's timers
    // reaching zero is the positive control that both were looked at.
    app.advance(Duration::from_secs(3));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let books = app.drop_books(&drop).await;
        if books["timers"] == 0 {
            assert_eq!(
                (books["sold"].clone(), books["expired"].clone()),
                (json!(2), json!(1))
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timers never ran: {books}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_for_series(&app, &units(&drop, "released"), 1.0).await;
    assert_eq!(series(&app, &units(&drop, "sold")).await, 2.0);
    assert_eq!(series(&app, &units(&drop, "reserved")).await, 3.0);
}
