//! The business metrics move by exactly what happened: subscription transitions from real
//! signed webhooks (and not again for a replay), class attendance and completions from
//! real sockets, drop units from real orders, payments and expiries.

mod classes;
mod drops;
mod subscriptions;

use std::time::Duration;

use crate::helpers::{TestApp, WAIT};
use crate::sockets::metric;

/// The value of one series of `/metrics`, written as Prometheus writes it (labels in
/// alphabetical order); 0 when absent.
pub async fn series(app: &TestApp, series: &str) -> f64 {
    metric(&app.metrics().await, &format!("{series} "))
}

/// Waits (bounded) until `series` reads `value`.
pub async fn wait_for_series(app: &TestApp, series_name: &str, value: f64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = series(app, series_name).await;
        if now == value {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series_name} stayed at {now}, expected {value}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
