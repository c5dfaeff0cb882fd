//! What is about money pushes too: a drop reservation about to lapse (not once it is paid),
//! and a failed subscription renewal (with the grace period, from the payment provider's
//! webhook, in the same commit as the subscription's new state).

use std::time::Duration;

use fitpulse::config::Secret;
use fitpulse::push::items;
use fitpulse_actors::domain::now_millis;
use fitpulse_fakes::apns_device_token;
use serde_json::json;

use super::world::{PushWorld, fcm_token, item_done, register};
use crate::drops::{create_drop, order};
use crate::helpers::{TestApp, spawn_app_on_manual_clock, spawn_app_with};

const SECRET: &str = "whsec_push_commerce";

async fn pay(app: &TestApp, event: &str, kind: &str, data: serde_json::Value) -> u16 {
    let now = (now_millis() / 1000) as u64;
    let body = json!({"id": event, "type": kind, "created": now, "data": data}).to_string();
    let signature = fitpulse::commerce::payments::sign(SECRET, now, body.as_bytes());
    app.call_with_headers(
        "POST",
        "/v1/webhooks/payments",
        Some(serde_json::from_str(&body).expect("json")),
        None,
        &[("fitpulse-signature", &format!("t={now},v1={signature}"))],
    )
    .await
    .status
}

#[actix_web::test]
async fn a_reservation_is_reminded_five_minutes_before_it_lapses_unless_paid() {
    let world = PushWorld::start();
    let configure = world.configure();
    let app = spawn_app_on_manual_clock(move |s| {
        configure(s);
        s.commerce.payments_secret = Some(Secret::new(SECRET));
    })
    .await;
    world.follow(app.clock.as_ref().expect("manual clock"));
    // Ten-minute reservations.
    let drop = create_drop(&app, 5, 1, 600, -1_000, None).await;
    let (_, slow) = app.member();
    let (_, quick) = app.member();
    let (slow_phone, quick_phone) = (apns_device_token(), fcm_token());
    register(&app, &slow, "phone", "ios", &slow_phone, Some("de-DE")).await;
    register(&app, &quick, "phone", "android", &quick_phone, None).await;
    let slow_order = order(&app, &drop, &slow, "s-1", 1).await;
    assert_eq!(slow_order.status, 201, "{}", slow_order.text);
    let quick_order = order(&app, &drop, &quick, "q-1", 1).await;
    let quick_id = quick_order.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(
        pay(
            &app,
            "evt_paid",
            "order.paid",
            json!({"order_id": quick_id})
        )
        .await,
        200
    );

    app.advance(Duration::from_secs(4 * 60 + 50));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(world.apns_to(&slow_phone).is_empty(), "warned too early");
    app.advance(Duration::from_secs(10));
    let push = world.apns_pushes(&slow_phone, 1).await.remove(0);
    assert_eq!(
        push.payload["aps"]["alert"]["title"],
        "Deine Reservierung läuft in 5 Minuten ab"
    );
    let slow_id = slow_order.json()["id"].as_str().expect("id").to_owned();
    assert_eq!(push.payload["order_id"], slow_id.as_str());
    item_done(&app, items::item_id(&["reservation", &quick_id])).await;
    assert_eq!(
        world.fcm.requests_for(&quick_phone),
        0,
        "a paid order was warned"
    );
}

#[actix_web::test]
async fn a_failed_renewal_pushes_with_its_grace_period() {
    let world = PushWorld::start();
    let configure = world.configure();
    let app = spawn_app_with(move |s| {
        configure(s);
        s.commerce.payments_secret = Some(Secret::new(SECRET));
    })
    .await;
    let (user, token) = app.member();
    let phone = apns_device_token();
    register(&app, &token, "phone", "ios", &phone, None).await;
    let now = now_millis() / 1000;
    let subscription = |extra: serde_json::Value| {
        let mut data = json!({
            "subscription_id": "sub_push", "user_id": user.to_string(),
            "price_id": "price_premium_yearly", "current_period_end": now + 86_400,
        });
        data.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        data
    };
    assert_eq!(
        pay(
            &app,
            "evt_created",
            "subscription.created",
            subscription(json!({}))
        )
        .await,
        200
    );
    assert_eq!(
        pay(
            &app,
            "evt_failed",
            "subscription.payment_failed",
            subscription(json!({"grace_until": now + 3 * 86_400}))
        )
        .await,
        200
    );
    let push = world.apns_pushes(&phone, 1).await.remove(0);
    assert_eq!(
        push.payload["aps"]["alert"]["title"],
        "Your payment didn't go through"
    );
    assert_eq!(
        push.payload["aps"]["alert"]["body"],
        "Update your payment method to keep Premium."
    );
    assert_eq!(push.header("apns-collapse-id"), Some("subscription"));
    // A member who started the subscription is not pushed for that: only failures.
    assert_eq!(world.apns_to(&phone).len(), 1);
}
