//! The business metrics: subscription transitions by product and the subscriptions held by
//! product and state, live-class attendance and completions, and drop units by drop.
//!
//! Every label set is bounded: products and states come from the catalogue and the state
//! machine (compiled in), drops are few and created by staff (the same `drop` label as
//! `fitpulse_drop_stock_remaining`); no user or class id is ever a label.

use fitpulse_actors::ports::commerce::SubscriptionCount;
use prometheus::{IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry};

use crate::commerce::products::PRODUCTS;
use crate::commerce::state::SubscriptionState;
use crate::commerce::transitions::Transition;

/// What happened to some units of a drop, the `state` label of `fitpulse_drop_units_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropUnits {
    /// Taken by a reservation.
    Reserved,
    /// Paid for.
    Sold,
    /// Back on sale: their reservation lapsed unpaid.
    Released,
}

impl DropUnits {
    pub const ALL: [DropUnits; 3] = [DropUnits::Reserved, DropUnits::Sold, DropUnits::Released];

    pub fn as_str(self) -> &'static str {
        match self {
            DropUnits::Reserved => "reserved",
            DropUnits::Sold => "sold",
            DropUnits::Released => "released",
        }
    }
}

#[derive(Clone)]
pub struct BusinessMetrics {
    subscription_transitions_total: IntCounterVec,
    subscriptions: IntGaugeVec,
    live_attendance_total: IntCounter,
    live_completions_total: IntCounter,
    drop_units_total: IntCounterVec,
}

impl BusinessMetrics {
    pub fn new(registry: &Registry) -> BusinessMetrics {
        let subscription_transitions_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_subscription_transitions_total",
                "Stored subscription changes by product and what they mean (trial_started, \
                 purchased, converted, renewed, payment_failed, cancelled, expired, refunded, \
                 revoked); a notification seen again counts nothing",
            ),
            &["product", "transition"],
        )
        .expect("valid metric definition");
        let subscriptions = IntGaugeVec::new(
            Opts::new(
                "fitpulse_subscriptions",
                "Stored subscriptions by product and state, counted across the cluster by one \
                 node every metrics.business_refresh_seconds (other nodes export none)",
            ),
            &["product", "state"],
        )
        .expect("valid metric definition");
        let live_attendance_total = IntCounter::new(
            "fitpulse_live_attendance_total",
            "Members (coaches excluded) who joined a live class, once per member and class",
        )
        .expect("valid metric definition");
        let live_completions_total = IntCounter::new(
            "fitpulse_live_completions_total",
            "Members (coaches excluded) present when their live class ended and its results \
             were recorded",
        )
        .expect("valid metric definition");
        let drop_units_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_drop_units_total",
                "Units of a drop reserved, sold (paid) and released (their reservation lapsed)",
            ),
            &["drop", "state"],
        )
        .expect("valid metric definition");
        for product in PRODUCTS {
            for transition in Transition::ALL {
                subscription_transitions_total
                    .with_label_values(&[product.id, transition.as_str()]);
            }
            for state in SubscriptionState::ALL {
                subscriptions.with_label_values(&[product.id, state.as_str()]);
            }
        }
        for collector in [
            Box::new(subscription_transitions_total.clone())
                as Box<dyn prometheus::core::Collector>,
            Box::new(subscriptions.clone()),
            Box::new(live_attendance_total.clone()),
            Box::new(live_completions_total.clone()),
            Box::new(drop_units_total.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        BusinessMetrics {
            subscription_transitions_total,
            subscriptions,
            live_attendance_total,
            live_completions_total,
            drop_units_total,
        }
    }

    /// Counts one stored change of a subscription to `product` (an id of the catalogue).
    pub fn subscription_transition(&self, product: &str, transition: Transition) {
        self.subscription_transitions_total
            .with_label_values(&[product, transition.as_str()])
            .inc();
    }

    /// Sets the subscriptions gauge from a census: every product and state of the
    /// catalogue and the state machine gets its count, zero when the census found none.
    /// Rows of a product or state the server does not know are left out (the label set
    /// stays bounded); how many is answered so the caller can say so.
    pub fn set_subscriptions(&self, counts: &[SubscriptionCount]) -> u64 {
        let mut unknown = 0;
        let mut found = std::collections::HashMap::new();
        for row in counts {
            let known = PRODUCTS.iter().any(|p| p.id == row.product_id)
                && SubscriptionState::parse(&row.state).is_some();
            if known {
                found.insert((row.product_id.as_str(), row.state.as_str()), row.count);
            } else {
                unknown += row.count;
            }
        }
        for product in PRODUCTS {
            for state in SubscriptionState::ALL {
                let count = found
                    .get(&(product.id, state.as_str()))
                    .copied()
                    .unwrap_or(0);
                self.subscriptions
                    .with_label_values(&[product.id, state.as_str()])
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
        unknown
    }

    /// Removes the subscriptions gauge: another node counts now, and a stale figure here
    /// would outlive the truth.
    pub fn clear_subscriptions(&self) {
        self.subscriptions.reset();
    }

    pub fn member_attended(&self) {
        self.live_attendance_total.inc();
    }

    pub fn members_completed(&self, members: u64) {
        self.live_completions_total.inc_by(members);
    }

    /// Starts the unit series of `drop` at zero, so its sell-through reads from the start.
    pub fn watch_drop(&self, drop: &str) {
        for state in DropUnits::ALL {
            self.drop_units_total
                .with_label_values(&[drop, state.as_str()]);
        }
    }

    /// Removes the unit series of a drop that ended, so ended drops do not pile up.
    pub fn forget_drop(&self, drop: &str) {
        for state in DropUnits::ALL {
            let _ = self
                .drop_units_total
                .remove_label_values(&[drop, state.as_str()]);
        }
    }

    /// Counts `units` of `drop` that were reserved, sold or released.
    pub fn drop_units(&self, drop: &str, state: DropUnits, units: u32) {
        self.drop_units_total
            .with_label_values(&[drop, state.as_str()])
            .inc_by(u64::from(units));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(product: &str, state: &str, count: u64) -> SubscriptionCount {
        SubscriptionCount {
            product_id: product.into(),
            state: state.into(),
            count,
        }
    }

    #[test]
    fn every_product_and_state_is_exported_at_zero_from_the_start() {
        let registry = Registry::new();
        let _ = BusinessMetrics::new(&registry);
        let text = render(&registry);
        for series in [
            r#"fitpulse_subscriptions{product="premium_trial",state="active"} 0"#,
            r#"fitpulse_subscriptions{product="premium_yearly",state="revoked"} 0"#,
            r#"fitpulse_subscription_transitions_total{product="premium_trial",transition="converted"} 0"#,
            "fitpulse_live_attendance_total 0",
            "fitpulse_live_completions_total 0",
        ] {
            assert!(text.contains(series), "{series} missing in {text}");
        }
    }

    #[test]
    fn a_census_sets_what_it_found_zeroes_the_rest_and_leaves_out_unknown_labels() {
        let registry = Registry::new();
        let metrics = BusinessMetrics::new(&registry);
        metrics.set_subscriptions(&[count("premium_monthly", "cancelled", 9)]);
        let unknown = metrics.set_subscriptions(&[
            count("premium_monthly", "active", 3),
            count("retired_product", "active", 2),
            count("premium_monthly", "paused", 1),
        ]);
        assert_eq!(unknown, 3);
        let text = render(&registry);
        assert!(
            text.contains(r#"fitpulse_subscriptions{product="premium_monthly",state="active"} 3"#)
        );
        assert!(
            text.contains(
                r#"fitpulse_subscriptions{product="premium_monthly",state="cancelled"} 0"#
            ),
            "a state the census no longer finds goes back to zero"
        );
        assert!(!text.contains("retired_product") && !text.contains("paused"));
        metrics.clear_subscriptions();
        assert!(!render(&registry).contains("fitpulse_subscriptions{"));
    }

    #[test]
    fn drop_units_count_by_drop_and_state_from_zero() {
        let registry = Registry::new();
        let metrics = BusinessMetrics::new(&registry);
        metrics.watch_drop("d1");
        metrics.drop_units("d1", DropUnits::Reserved, 2);
        metrics.drop_units("d1", DropUnits::Sold, 2);
        let text = render(&registry);
        assert!(text.contains(r#"fitpulse_drop_units_total{drop="d1",state="reserved"} 2"#));
        assert!(text.contains(r#"fitpulse_drop_units_total{drop="d1",state="sold"} 2"#));
        assert!(text.contains(r#"fitpulse_drop_units_total{drop="d1",state="released"} 0"#));
    }

    fn render(registry: &Registry) -> String {
        use prometheus::Encoder;
        let mut buffer = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&registry.gather(), &mut buffer)
            .expect("encodes");
        String::from_utf8(buffer).expect("utf-8")
    }
}
