//! The cluster's metrics: bus health, requests between nodes, frames lost on the bus.

use fitpulse_actors::ports::observer::ClusterObserver;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Outcomes of requests to other nodes (see `Cluster::route`).
const REQUEST_OUTCOMES: [&str; 3] = ["answered", "retried", "failed"];

#[derive(Clone)]
pub struct ClusterMetrics {
    pub bus_connected: IntGauge,
    pub bus_dropped_total: IntCounter,
    pub nodes: IntGauge,
    requests_total: IntCounterVec,
    gaps_total: IntCounter,
}

impl ClusterMetrics {
    pub fn new(registry: &Registry) -> Self {
        let bus_connected = IntGauge::new(
            "fitpulse_bus_connected",
            "1 while the node is connected to its bus (always 1 for the local bus)",
        )
        .expect("valid metric definition");
        let bus_dropped_total = IntCounter::new(
            "fitpulse_bus_dropped_total",
            "Messages for the bus dropped because its send queue was full",
        )
        .expect("valid metric definition");
        let nodes = IntGauge::new(
            "fitpulse_cluster_nodes",
            "Nodes this node sees, itself included",
        )
        .expect("valid metric definition");
        let requests_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_cluster_requests_total",
                "Requests to the node holding a session or class, by outcome",
            ),
            &["outcome"],
        )
        .expect("valid metric definition");
        for outcome in REQUEST_OUTCOMES {
            requests_total.with_label_values(&[outcome]);
        }
        let gaps_total = IntCounter::new(
            "fitpulse_cluster_gaps_total",
            "Sockets closed to resume because frames from another node were lost",
        )
        .expect("valid metric definition");
        bus_connected.set(1);
        nodes.set(1);
        for collector in [
            Box::new(bus_connected.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(bus_dropped_total.clone()),
            Box::new(nodes.clone()),
            Box::new(requests_total.clone()),
            Box::new(gaps_total.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        ClusterMetrics {
            bus_connected,
            bus_dropped_total,
            nodes,
            requests_total,
            gaps_total,
        }
    }
}

impl ClusterObserver for ClusterMetrics {
    fn request(&self, outcome: &'static str) {
        self.requests_total.with_label_values(&[outcome]).inc();
    }

    fn gap(&self) {
        self.gaps_total.inc();
    }
}
