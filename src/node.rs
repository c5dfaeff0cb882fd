//! This node's identity and, with `bus.kind = "nats"`, its membership of the cluster:
//! connects the bus, binds the hub and the live registry to it, starts answering other
//! nodes, and keeps feature messages, the catalog and token revocations in step with
//! theirs. With the local bus the node is a cluster of one and nothing is shared.

use std::sync::Arc;
use std::time::Duration;

use fitpulse_actors::cluster::{Cluster, ClusterConfig};
use fitpulse_actors::domain::now_millis;
use fitpulse_actors::hub::Hub;
use fitpulse_actors::live::Live;
use fitpulse_actors::ports::bus::BusError;

use crate::auth::revocations::RevokedUsers;
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

/// The parts of a node that other nodes reach or keep in step with.
pub struct NodeParts<'a> {
    pub hub: &'a Hub,
    pub live: &'a Live,
    pub messages: &'a Arc<Messages>,
    pub content: &'a Arc<Content>,
    pub revoked: &'a Arc<RevokedUsers>,
}

/// Joins the cluster when the bus is NATS; answers what the cluster route shows.
pub async fn join(
    settings: &BusSettings,
    http: String,
    metrics: &Metrics,
    parts: NodeParts<'_>,
) -> Result<ClusterState, BusError> {
    let node_id = node_id(settings);
    let started_at = now_millis();
    let cluster = match settings.kind {
        BusKind::Local => None,
        BusKind::Nats => {
            let bus = NatsBus::connect(
                &settings.nats.url,
                &node_id,
                settings.publish_buffer,
                metrics.cluster.clone(),
            )
            .await?;
            let config = ClusterConfig {
                node_id: node_id.clone(),
                http: http.clone(),
                heartbeat: Duration::from_millis(settings.heartbeat_ms),
                node_timeout: Duration::from_millis(settings.node_timeout_ms),
                request_timeout: Duration::from_millis(settings.request_timeout_ms),
                retry_for: Duration::from_millis(settings.retry_ms),
            };
            let cluster = Cluster::new(
                Arc::new(bus),
                config,
                started_at,
                Arc::new(metrics.cluster.clone()),
            );
            cluster.bind(parts.hub, parts.live);
            cluster.start().await?;
            parts
                .messages
                .join_cluster(cluster.bus().clone(), &node_id)
                .await?;
            parts
                .content
                .join_cluster(cluster.bus().clone(), &node_id)
                .await?;
            parts
                .revoked
                .join_cluster(cluster.bus().clone(), &node_id)
                .await?;
            tracing::info!(node_id, url = %settings.nats.url, "joined the cluster");
            Some(cluster)
        }
    };
    Ok(ClusterState {
        cluster,
        bus: match settings.kind {
            BusKind::Local => "local",
            BusKind::Nats => "nats",
        },
        node_id,
        http,
        started_at,
    })
}
