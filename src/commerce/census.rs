//! The census of subscriptions by product and state behind `fitpulse_subscriptions`.
//!
//! Counting is a scan of every stored subscription (see `SubscriptionStore::
//! subscription_counts`), so one node of the cluster counts, every
//! `metrics.business_refresh_seconds`: the owner of [`CENSUS_KEY`] by the same rendezvous
//! hashing that places sessions, which every node computes alike. The others export no
//! series, and a node that stops owning the key removes its own at its next round; for
//! the moment two nodes may both report (an owner change), dashboards read the gauge with
//! `max by (product, state)`. A single node always owns it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use fitpulse_actors::cluster::Cluster;
use fitpulse_actors::ports::commerce::SubscriptionStore;

use crate::metrics::BusinessMetrics;

/// The key whose owner counts.
pub const CENSUS_KEY: &str = "census:subscriptions";

pub struct SubscriptionCensus {
    store: Arc<dyn SubscriptionStore>,
    metrics: BusinessMetrics,
    cluster: Cluster,
}

impl SubscriptionCensus {
    /// Starts counting every `every`; it stops when the returned census is dropped.
    pub fn start(
        store: Arc<dyn SubscriptionStore>,
        metrics: BusinessMetrics,
        cluster: Cluster,
        every: Duration,
    ) -> Arc<SubscriptionCensus> {
        let census = Arc::new(SubscriptionCensus {
            store,
            metrics,
            cluster,
        });
        let this: Weak<SubscriptionCensus> = Arc::downgrade(&census);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(census) = this.upgrade() else {
                    return;
                };
                census.round().await;
            }
        });
        census
    }

    /// Whether this node counts now.
    fn counts_here(&self) -> bool {
        self.cluster.membership().owner(CENSUS_KEY).as_deref() == Some(self.cluster.node_id())
    }

    /// One round: count and export when this node owns the census, else export nothing.
    async fn round(&self) {
        if !self.counts_here() {
            self.metrics.clear_subscriptions();
            return;
        }
        match self.store.subscription_counts().await {
            Ok(counts) => {
                let unknown = self.metrics.set_subscriptions(&counts);
                if unknown > 0 {
                    tracing::warn!(
                        unknown,
                        "subscriptions of a product or state this server does not know are left out of fitpulse_subscriptions"
                    );
                }
            }
            // The last figures stay: a store hiccup is not a drop to zero.
            Err(err) => tracing::warn!(error = %err, "cannot count subscriptions"),
        }
    }
}
