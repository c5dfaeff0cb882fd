//! Three nodes behind one address, sharing the CQL store, on each of two transports: a
//! real nats-server started by the test on a loopback port, and one in-process bus shared
//! by the three nodes (the same cluster code without NATS). Every behaviour test runs on
//! both (see [`on_both_buses!`]): a user's devices on two nodes get every event in the
//! same order; a class with participants on every node gets every cue, and survives the
//! drain of the node holding it; a drop sold from all nodes never oversells; catalog
//! changes and revocations reach every node; a feature message's counts add up over the
//! nodes. Delivery resuming after nats-server restarts is NATS's own. Needs
//! `FITPULSE_TEST_CQL` and `FITPULSE_TEST_NATS_SERVER` (the nats-server binary;
//! `scripts/test` sets both).

mod broadcasts;
mod catalog;
mod catch_up;
mod class_counts;
mod classes;
mod drops;
mod events;
mod heartbeats;
mod messages;
mod outage;
mod revocation;
mod rooms;
mod route;

use std::time::Duration;

use fitpulse::bus::local::LocalBus;
use fitpulse::config::BusKind;
use fitpulse::node::BusChoice;
use fitpulse_actors::domain::{Role, UserId};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::helpers::{TestApp, WAIT, spawn_app_on, spawn_app_on_clock};
use crate::sockets::{Received, Socket};
use crate::store::support::{cql_contact_point, scylla_settings, suite_keyspace};

/// A nats-server on a loopback port, killed when dropped.
pub struct NatsServer {
    binary: String,
    pub port: u16,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts one, or answers `None` (with a note) when no binary is configured.
    pub async fn start() -> Option<NatsServer> {
        let binary = match std::env::var("FITPULSE_TEST_NATS_SERVER") {
            Ok(binary) if !binary.is_empty() => binary,
            _ if std::env::var("FITPULSE_TEST_REQUIRE_NATS").as_deref() == Ok("1") => {
                panic!("FITPULSE_TEST_REQUIRE_NATS=1 but FITPULSE_TEST_NATS_SERVER is not set")
            }
            _ => {
                crate::skips::skipped(
                    "no nats-server: set FITPULSE_TEST_NATS_SERVER (scripts/test does)",
                );
                return None;
            }
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = NatsServer {
            binary,
            port,
            child: None,
        };
        server.up().await;
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the process and waits until it accepts connections.
    pub async fn up(&mut self) {
        let child = Command::new(&self.binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .kill_on_drop(true)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server never listened"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process (as a crash would).
    pub async fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("nats-server killed");
        }
    }
}

/// What the nodes of a test cluster talk over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One in-process bus shared by the three nodes.
    Local,
    /// A nats-server on a loopback port.
    Nats,
}

impl Transport {
    /// The bus kind the nodes report.
    pub fn kind(self) -> &'static str {
        match self {
            Transport::Local => "local",
            Transport::Nats => "nats",
        }
    }
}

/// Runs each named test function (taking a [`Transport`]) once per transport, as
/// `cluster::<file>::local::<name>` and `cluster::<file>::nats::<name>`.
macro_rules! on_both_buses {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name(super::super::Transport::Local).await;
                }
            )*
        }
        mod nats {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::$name(super::super::Transport::Nats).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_buses;

/// Three nodes on one keyspace and one bus.
pub struct Cluster {
    /// The nats-server, on that transport.
    pub nats: Option<NatsServer>,
    pub nodes: Vec<TestApp>,
}

impl Cluster {
    /// `None` when the CQL server (or, for NATS, nats-server) is not configured.
    pub async fn start(transport: Transport) -> Option<Cluster> {
        Cluster::start_on(transport, None).await
    }

    /// Like [`Cluster::start`], the three nodes on one manual clock when given.
    pub async fn start_on(
        transport: Transport,
        clock: Option<std::sync::Arc<fitpulse_actors::ports::clock::ManualClock>>,
    ) -> Option<Cluster> {
        Cluster::start_with(transport, clock, |_| {}).await
    }

    /// Like [`Cluster::start_on`], with `extra` settings on every node.
    pub async fn start_with(
        transport: Transport,
        clock: Option<std::sync::Arc<fitpulse_actors::ports::clock::ManualClock>>,
        extra: impl Fn(&mut fitpulse::config::Settings) + Clone + 'static,
    ) -> Option<Cluster> {
        let cql = cql_contact_point()?;
        let nats = match transport {
            Transport::Nats => Some(NatsServer::start().await?),
            Transport::Local => None,
        };
        let shared = LocalBus::new();
        // Migrates on a thread of its own the first time (see `suite_keyspace`).
        let keyspace = suite_keyspace(&cql);
        let mut nodes: Vec<TestApp> = Vec::new();
        for n in 0..3 {
            // Every node signs and checks tokens with the first node's key.
            let keys = nodes.first().map(|first| first._data_dir.path().to_owned());
            let (cql, url) = (cql.clone(), nats.as_ref().map(NatsServer::url));
            let bus = match transport {
                Transport::Local => BusChoice::Shared(shared.clone()),
                Transport::Nats => BusChoice::FromSettings,
            };
            let extra = extra.clone();
            let customize = move |settings: &mut fitpulse::config::Settings| {
                extra(settings);
                let store = scylla_settings(&cql, keyspace).store;
                settings.store = store;
                if let Some(keys) = keys {
                    settings.data_dir = keys;
                }
                if let Some(url) = url {
                    settings.bus.kind = BusKind::Nats;
                    settings.bus.nats.url = url;
                }
                settings.bus.node_id = format!("node{n}");
                settings.bus.heartbeat_ms = 200;
                // Generous: the three nodes share the test's thread, which a loaded machine stalls.
                settings.bus.node_timeout_ms = 3_000;
                settings.bus.retry_ms = 8_000;
                settings.shutdown.drain_jitter_ms = 20;
                settings.shutdown.drain_batch = 2;
            };
            let node = match &clock {
                Some(clock) => spawn_app_on_clock(bus, clock.clone(), customize).await,
                None => spawn_app_on(bus, customize).await,
            };
            nodes.push(node);
        }
        let cluster = Cluster { nats, nodes };
        cluster.wait_for_nodes(3).await;
        Some(cluster)
    }

    pub fn node(&self, n: usize) -> &TestApp {
        &self.nodes[n]
    }

    pub fn mint(&self, user: UserId, roles: &[Role]) -> String {
        self.nodes[0].mint(user, roles, 600)
    }

    pub fn admin(&self) -> String {
        self.mint(UserId::random(), &[Role::Member, Role::Admin])
    }

    /// Creates a drop from `body` through node 0; answers its id.
    pub async fn create_drop(&self, body: Value) -> String {
        let created = self
            .node(0)
            .call("POST", "/v1/admin/drops", Some(body), Some(&self.admin()))
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
        created.json()["id"].as_str().expect("id").to_owned()
    }

    /// A drop's books as node `n` reads them (`GET /v1/admin/drops/{id}`).
    pub async fn drop_books(&self, n: usize, drop: &str) -> Value {
        let books = self
            .node(n)
            .call(
                "GET",
                &format!("/v1/admin/drops/{drop}"),
                None,
                Some(&self.admin()),
            )
            .await;
        assert_eq!(books.status, 200, "{}", books.text);
        books.json()
    }

    /// The cluster as node `n` sees it (`GET /v1/admin/cluster`).
    pub async fn view(&self, n: usize) -> Value {
        let response = self
            .node(n)
            .call("GET", "/v1/admin/cluster", None, Some(&self.admin()))
            .await;
        assert_eq!(response.status, 200, "{}", response.text);
        response.json()
    }

    /// Waits until every node sees `count` nodes.
    pub async fn wait_for_nodes(&self, count: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        for n in 0..self.nodes.len() {
            loop {
                let view = self.view(n).await;
                if view["nodes"].as_array().map(Vec::len) == Some(count) {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "node {n} sees {view}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// Pushes a custom event to `user` through node `n`; answers its seq, or `None` when
    /// the node answered 503 (the user's holder could not be reached).
    pub async fn try_push(&self, n: usize, user: UserId, text: &str) -> Option<u64> {
        let response = self
            .node(n)
            .call(
                "POST",
                &format!("/v1/admin/users/{user}/events"),
                Some(json!({ "type": "custom.note", "data": { "text": text } })),
                Some(&self.admin()),
            )
            .await;
        assert!(matches!(response.status, 202 | 503), "{}", response.text);
        (response.status == 202).then(|| response.json()["seq"].as_u64().expect("seq"))
    }

    /// Like [`Cluster::try_push`], where the event must be accepted.
    pub async fn push(&self, n: usize, user: UserId, text: &str) -> u64 {
        let seq = self.try_push(n, user, text).await;
        seq.unwrap_or_else(|| panic!("node {n} refused an event for {user}"))
    }

    /// What node `n` reports about its own load (`sessions`, `sockets`, `classes`).
    pub async fn load(&self, n: usize, what: &str) -> u64 {
        let view = self.view(n).await;
        let me = view["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|node| node["this_node"] == true)
            .cloned()
            .expect("this node");
        me["load"][what].as_u64().expect("a load figure")
    }
}

/// A device that keeps its feed: on a close it reconnects (to the node it is told) with
/// `since`, as apps do, and records every event once.
pub struct Device {
    pub socket: Socket,
    pub token: String,
    /// (seq, text) of every `custom.note` received, in order.
    pub notes: Vec<(u64, String)>,
    pub last_seq: u64,
    pub closes: Vec<u16>,
}

impl Device {
    pub async fn connect(node: &TestApp, token: &str) -> Device {
        let (socket, ready) = node.connect_ready(token, None).await;
        Device {
            socket,
            token: token.to_owned(),
            notes: Vec::new(),
            last_seq: ready["data"]["last_seq"].as_u64().expect("last_seq"),
            closes: Vec::new(),
        }
    }

    /// Reads until `count` notes arrived; on a close reconnects to `fallback` and resumes.
    pub async fn read_notes(&mut self, count: usize, fallback: &TestApp) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.notes.len() < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {:?}",
                self.notes
            );
            match self.socket.next().await {
                Received::Json(frame) => self.record(&frame),
                Received::Closed(code, _) => {
                    self.closes.push(code.unwrap_or(0));
                    self.resume(fallback).await;
                }
            }
        }
    }

    pub async fn resume(&mut self, node: &TestApp) {
        let (socket, ready) = node.connect_ready(&self.token, Some(self.last_seq)).await;
        assert_eq!(ready["data"]["since"], self.last_seq, "{ready}");
        self.socket = socket;
    }

    fn record(&mut self, frame: &Value) {
        let Some(seq) = frame["seq"].as_u64() else {
            return;
        };
        assert_eq!(seq, self.last_seq + 1, "a gap or repeat before {frame}");
        self.last_seq = seq;
        if frame["type"] == "custom.note" {
            let text = frame["data"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            self.notes.push((seq, text));
        }
    }
}
