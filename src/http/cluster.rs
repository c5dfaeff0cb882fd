//! `GET /v1/admin/cluster` (admin): this node's identity, the bus, and every node it sees
//! with its load (sessions held, sockets, classes held) and whether it is draining.

use actix_web::{HttpResponse, web};
use fitpulse_actors::cluster::{Cluster, NodeInfo, NodeLoad, NodeView};
use fitpulse_actors::domain::Role;
use fitpulse_actors::hub::Hub;
use fitpulse_actors::live::Live;
use schemars::JsonSchema;
use serde::Serialize;

use super::{ApiError, Contracts};
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

pub fn contracts(c: &mut Contracts) {
    c.get("/v1/admin/cluster")
        .ok::<ClusterView>()
        .bearer("admin role")
        .errors(&[403]);
}

/// The cluster as this node sees it; this node comes first.
#[derive(Serialize, JsonSchema)]
struct ClusterView<'a> {
    node_id: &'a str,
    bus: BusView,
    nodes: Vec<NodeStatus<'a>>,
}

#[derive(Serialize, JsonSchema)]
struct BusView {
    /// `memory` or `nats`.
    kind: &'static str,
    connected: bool,
}

/// One node: what it says in its heartbeats, and when this node last heard it.
#[derive(Serialize, JsonSchema)]
struct NodeStatus<'a> {
    id: &'a str,
    /// Where its HTTP listener is, for operators.
    http: &'a str,
    started_at: i64,
    draining: bool,
    load: LoadView,
    /// Milliseconds since its last heartbeat reached this node (0 for this node).
    last_seen_ms: u64,
    this_node: bool,
}

/// A node's load as it reports it.
#[derive(Serialize, JsonSchema)]
struct LoadView {
    sessions: usize,
    sockets: usize,
    classes: usize,
}

impl<'a> From<&'a NodeView> for NodeStatus<'a> {
    fn from(node: &'a NodeView) -> Self {
        let info = &node.info;
        NodeStatus {
            id: &info.id,
            http: &info.http,
            started_at: info.started_at,
            draining: info.draining,
            load: LoadView {
                sessions: info.load.sessions,
                sockets: info.load.sockets,
                classes: info.load.classes,
            },
            last_seen_ms: node.last_seen_ms,
            this_node: node.this_node,
        }
    }
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
    Ok(HttpResponse::Ok().json(ClusterView {
        node_id: cluster.node_id(),
        bus: BusView {
            kind: state.bus,
            connected: state.bus_connected(),
        },
        nodes: nodes.iter().map(NodeStatus::from).collect(),
    }))
}
