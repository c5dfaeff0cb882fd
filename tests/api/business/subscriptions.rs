//! Subscription transitions and the census, driven by signed web payment webhooks.

use fitpulse::config::Secret;
use fitpulse_actors::domain::{UserId, now_millis};
use serde_json::json;

use super::{series, wait_for_series};
use crate::helpers::{TestApp, spawn_app_with};

const SECRET: &str = "whsec_business_metrics";

fn transitions(product: &str, transition: &str) -> String {
    format!(
        r#"fitpulse_subscription_transitions_total{{product="{product}",transition="{transition}"}}"#
    )
}

fn entitlement_changes(change: &str) -> String {
    format!(r#"fitpulse_entitlement_changes_total{{change="{change}"}}"#)
}

fn held(product: &str, state: &str) -> String {
    format!(r#"fitpulse_subscriptions{{product="{product}",state="{state}"}}"#)
}

/// A signed payments webhook of `kind` about subscription `sub` of `user`, dated `created`
/// (Unix seconds); answers the endpoint's `status` field.
async fn webhook(
    app: &TestApp,
    id: &str,
    kind: &str,
    sub: &str,
    user: UserId,
    created: u64,
) -> String {
    let body = json!({
        "id": id, "type": kind, "created": created,
        "data": {
            "subscription_id": sub, "user_id": user.to_string(),
            "price_id": "price_premium_trial", "current_period_end": created + 30 * 86_400,
        },
    })
    .to_string();
    let now = (now_millis() / 1000) as u64;
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

const PROCESSED: &str = r#"fitpulse_webhooks_total{provider="payments",result="processed"}"#;

#[actix_web::test]
async fn a_trial_converts_then_is_refunded_and_each_transition_counts_once() {
    let app = spawn_app_with(|s| {
        s.commerce.payments_secret = Some(Secret::new(SECRET));
        s.outbox.poll_interval_ms = 50;
        s.metrics.business_refresh_seconds = 1;
    })
    .await;
    let (user, _) = app.member();
    let start = (now_millis() / 1000) as u64;

    assert_eq!(
        webhook(&app, "evt_t1", "subscription.created", "s1", user, start).await,
        "accepted"
    );
    wait_for_series(&app, PROCESSED, 1.0).await;
    assert_eq!(
        series(&app, &transitions("premium_trial", "trial_started")).await,
        1.0
    );
    assert_eq!(
        series(&app, &transitions("premium_trial", "purchased")).await,
        0.0
    );
    // The census counts it within its interval.
    wait_for_series(&app, &held("premium_trial", "active"), 1.0).await;

    // The first payment converts the trial; it is not also a renewal.
    webhook(
        &app,
        "evt_t2",
        "subscription.renewed",
        "s1",
        user,
        start + 7,
    )
    .await;
    wait_for_series(&app, PROCESSED, 2.0).await;
    assert_eq!(
        series(&app, &transitions("premium_trial", "converted")).await,
        1.0
    );
    assert_eq!(
        series(&app, &transitions("premium_trial", "renewed")).await,
        0.0
    );

    // The same body again is refused as a duplicate at the door; the same news under
    // another event id is processed (the positive control) and moves nothing.
    assert_eq!(
        webhook(
            &app,
            "evt_t2",
            "subscription.renewed",
            "s1",
            user,
            start + 7
        )
        .await,
        "duplicate"
    );
    webhook(
        &app,
        "evt_t2_again",
        "subscription.renewed",
        "s1",
        user,
        start + 7,
    )
    .await;
    wait_for_series(&app, PROCESSED, 3.0).await;
    assert_eq!(
        series(&app, &transitions("premium_trial", "converted")).await,
        1.0
    );
    assert_eq!(series(&app, &entitlement_changes("renewed")).await, 1.0);
    assert_eq!(
        series(&app, &transitions("premium_trial", "renewed")).await,
        0.0
    );
    assert_eq!(
        series(&app, &transitions("premium_trial", "trial_started")).await,
        1.0
    );

    webhook(&app, "evt_t3", "charge.refunded", "s1", user, start + 8).await;
    wait_for_series(&app, PROCESSED, 4.0).await;
    assert_eq!(
        series(&app, &transitions("premium_trial", "refunded")).await,
        1.0
    );
    webhook(
        &app,
        "evt_t3_again",
        "charge.refunded",
        "s1",
        user,
        start + 8,
    )
    .await;
    wait_for_series(&app, PROCESSED, 5.0).await;
    assert_eq!(
        series(&app, &transitions("premium_trial", "refunded")).await,
        1.0
    );
    assert_eq!(series(&app, &entitlement_changes("refunded")).await, 1.0);
    wait_for_series(&app, &held("premium_trial", "refunded"), 1.0).await;
    assert_eq!(series(&app, &held("premium_trial", "active")).await, 0.0);

    // Nothing else moved.
    let text = app.metrics().await;
    let mut moved: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("fitpulse_subscription_transitions_total{"))
        .filter(|l| !l.ends_with(" 0"))
        .collect();
    moved.sort_unstable();
    assert_eq!(
        moved,
        [
            r#"fitpulse_subscription_transitions_total{product="premium_trial",transition="converted"} 1"#,
            r#"fitpulse_subscription_transitions_total{product="premium_trial",transition="refunded"} 1"#,
            r#"fitpulse_subscription_transitions_total{product="premium_trial",transition="trial_started"} 1"#,
        ]
    );
}
