//! `GET /v1/admin/cluster` (admin): this node's identity, the bus, and every node it sees
//! with its load (sessions held, sockets, classes held) and whether it is draining.

use actix_web::{HttpResponse, web};
use fitpulse_actors::cluster::{Cluster, NodeInfo, NodeLoad, NodeView};
use fitpulse_actors::domain::Role;
use fitpulse_actors::hub::Hub;
use fitpulse_actors::live::Live;
use serde_json::json;

use super::ApiError;
use crate::auth::AuthUser;
use crate::lifecycle::Lifecycle;
use crate::metrics::Metrics;

/// This node as the cluster route shows it.
pub struct ClusterState {
    pub cluster: Cluster,
    /// `local` or `nats`.
    pub bus: &'static str,
    pub started_at: i64,
}

impl ClusterState {
    /// Whether the bus is connected (always, for the local bus).
    pub fn bus_connected(&self) -> bool {
        self.cluster.bus().connected()
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/admin/cluster").get(cluster));
}

async fn cluster(
    caller: AuthUser,
    state: web::Data<ClusterState>,
    hub: web::Data<Hub>,
    live: web::Data<Live>,
    metrics: web::Data<Metrics>,
    lifecycle: web::Data<Lifecycle>,
) -> Result<HttpResponse, ApiError> {
    caller.require_role(Role::Admin)?;
    let cluster = &state.cluster;
    let me = cluster.membership().me();
    // This node's own figures are read now; the others' are their last heartbeat's.
    let mut nodes: Vec<NodeView> = cluster
        .membership()
        .nodes()
        .into_iter()
        .filter(|n| !n.this_node)
        .collect();
    nodes.insert(
        0,
        NodeView {
            info: NodeInfo {
                draining: me.draining || lifecycle.is_draining(),
                load: NodeLoad {
                    sessions: hub.session_count().await,
                    sockets: metrics.ws_connections.get().max(0) as usize,
                    classes: live.running_count().await,
                },
                ..me
            },
            last_seen_ms: 0,
            this_node: true,
        },
    );
    Ok(HttpResponse::Ok().json(json!({
        "node_id": cluster.node_id(),
        "bus": { "kind": state.bus, "connected": state.bus_connected() },
        "nodes": nodes,
    })))
}
