//! This node's identity and its place in the cluster. Every node runs the same engine
//! (`fitpulse_actors::node`): with `bus.kind = "local"` it is a cluster of one on the
//! in-process bus, with `"nats"` one of many. Here the bus is connected, the cluster
//! membership made (before the hub and the live registry, which are handed it), the
//! engine served, and feature messages, the catalog and token revocations kept in step
//! with the other nodes' through announcements on the bus.

use std::sync::Arc;
use std::time::Duration;

use fitpulse_actors::cluster::{Cluster, ClusterConfig};
use fitpulse_actors::domain::now_millis;
use fitpulse_actors::hub::Hub;
use fitpulse_actors::live::Live;
use fitpulse_actors::node::Node;
use fitpulse_actors::ports::bus::{Bus, BusError};

use crate::auth::revocations::RevokedUsers;
use crate::bus::local::LocalBus;
use crate::bus::nats::NatsBus;
use crate::config::{BusKind, BusSettings};
use crate::content::Content;
use crate::http::cluster::ClusterState;
use crate::messages::Messages;
use crate::metrics::Metrics;

/// The configured node id, or `<host name>-<6 random hex digits>`.
pub fn node_id(settings: &BusSettings) -> String {
    if !settings.node_id.is_empty() {
        return settings.node_id.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    match host.is_empty() {
        true => format!("node-{suffix}"),
        false => format!("{host}-{suffix}"),
    }
}

/// The bus a node runs on: its own in-process bus (alone), one shared with other nodes in
/// this process (embedders and tests), or NATS.
#[derive(Clone, Default)]
pub enum BusChoice {
    /// As `bus.kind` says; `local` is a bus of this node's own.
    #[default]
    FromSettings,
    /// An in-process bus shared by several nodes of this process.
    Shared(LocalBus),
}

/// Connects the bus and makes this node's cluster membership (nothing is served yet).
pub async fn cluster(
    settings: &BusSettings,
    choice: BusChoice,
    http: String,
    metrics: &Metrics,
) -> Result<Cluster, BusError> {
    let node_id = node_id(settings);
    let (bus, alone): (Arc<dyn Bus>, bool) = match (choice, settings.kind) {
        (BusChoice::Shared(bus), _) => (Arc::new(bus), false),
        (BusChoice::FromSettings, BusKind::Local) => (Arc::new(LocalBus::new()), true),
        (BusChoice::FromSettings, BusKind::Nats) => {
            let bus = NatsBus::connect(
                &settings.nats.url,
                &node_id,
                settings.publish_buffer,
                metrics.cluster.clone(),
            )
            .await?;
            (Arc::new(bus), false)
        }
    };
    let config = ClusterConfig {
        node_id,
        http,
        heartbeat: Duration::from_millis(settings.heartbeat_ms),
        node_timeout: Duration::from_millis(settings.node_timeout_ms),
        request_timeout: Duration::from_millis(settings.request_timeout_ms),
        retry_for: Duration::from_millis(settings.retry_ms),
        alone,
    };
    Ok(Cluster::new(
        bus,
        config,
        now_millis(),
        Arc::new(metrics.cluster.clone()),
    ))
}

/// The parts of a node kept in step with the other nodes' through announcements.
pub struct InStep<'a> {
    pub messages: &'a Arc<Messages>,
    pub content: &'a Arc<Content>,
    pub revoked: &'a Arc<RevokedUsers>,
}

/// Serves the engine and joins the announcements; answers what the cluster route shows.
pub async fn serve(
    settings: &BusSettings,
    cluster: Cluster,
    hub: Hub,
    live: Live,
    in_step: InStep<'_>,
) -> Result<(Node, ClusterState), BusError> {
    let node = Node::serve(cluster, hub, live).await?;
    let (bus, node_id) = (
        node.cluster.bus().clone(),
        node.cluster.node_id().to_owned(),
    );
    in_step.messages.join_cluster(bus.clone(), &node_id).await?;
    in_step.content.join_cluster(bus.clone(), &node_id).await?;
    in_step.revoked.join_cluster(bus, &node_id).await?;
    tracing::info!(node_id, bus = ?settings.kind, "node serving");
    let state = ClusterState {
        cluster: node.cluster.clone(),
        bus: match settings.kind {
            BusKind::Local => "local",
            BusKind::Nats => "nats",
        },
        started_at: node.cluster.membership().me().started_at,
    };
    Ok((node, state))
}
