//! Traces across nodes, read back from a real trace backend: Jaeger (v2, in memory, built
//! by scripts/ensure-test-tools) receives OTLP/HTTP from two `fitpulse` processes on one
//! keyspace and one nats-server. A request with a `traceparent` sent to node 0 for a user
//! whose session node 1 holds must come back as one trace with spans from both nodes.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::binary::{fitpulse, serve_with};
use crate::cluster::NatsServer;
use crate::helpers::WAIT;
use crate::store::support::cql_contact_point;

/// A Jaeger all-in-one on loopback ports, killed when dropped.
struct Jaeger {
    otlp_port: u16,
    query_port: u16,
    _child: Child,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

impl Jaeger {
    /// Starts one, or answers `None` (with a note) when no binary is configured.
    async fn start() -> Option<Jaeger> {
        let binary = match std::env::var("FITPULSE_TEST_JAEGER") {
            Ok(binary) if !binary.is_empty() => PathBuf::from(binary),
            _ if std::env::var("FITPULSE_TEST_REQUIRE_JAEGER").as_deref() == Ok("1") => {
                panic!("FITPULSE_TEST_REQUIRE_JAEGER=1 but FITPULSE_TEST_JAEGER is not set")
            }
            _ => {
                crate::skips::skipped("no Jaeger: set FITPULSE_TEST_JAEGER (scripts/test does)");
                return None;
            }
        };
        let (otlp_port, query_port, query_grpc_port) = (free_port(), free_port(), free_port());
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("jaeger.yaml");
        std::fs::write(
            &config,
            format!(
                r#"service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    traces:
      level: none
    logs:
      level: error
extensions:
  jaeger_storage:
    backends:
      memory_store:
        memory:
          max_traces: 10000
  jaeger_query:
    storage:
      traces: memory_store
    http:
      endpoint: 127.0.0.1:{query_port}
    grpc:
      endpoint: 127.0.0.1:{query_grpc_port}
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{otlp_port}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memory_store
"#
            ),
        )
        .expect("config written");
        let child = Command::new(binary)
            .arg("--config")
            .arg(&config)
            .current_dir(dir.path())
            // Jaeger traces itself to a collector on 4317 unless told not to.
            .env("OTEL_SDK_DISABLED", "true")
            .env("OTEL_TRACES_EXPORTER", "none")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("jaeger started");
        let jaeger = Jaeger {
            otlp_port,
            query_port,
            _child: child,
            _dir: dir,
        };
        tokio::time::timeout(WAIT, async {
            loop {
                if get_json(jaeger.query_port, "/api/services").await.is_some() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .expect("jaeger answers in time");
        Some(jaeger)
    }

    /// The trace's spans with the `service.instance.id` of the process that sent each.
    async fn spans(&self, trace_id: &str) -> Vec<(String, Value)> {
        let Some(answer) = get_json(self.query_port, &format!("/api/traces/{trace_id}")).await
        else {
            return Vec::new();
        };
        let Some(trace) = answer["data"].get(0) else {
            return Vec::new();
        };
        let instance = |process: &str| {
            trace["processes"][process]["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|tag| tag["key"] == "service.instance.id")
                .and_then(|tag| tag["value"].as_str())
                .unwrap_or_default()
                .to_owned()
        };
        trace["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|span| {
                let process = span["processID"].as_str().unwrap_or_default();
                (instance(process), span.clone())
            })
            .collect()
    }
}

async fn get_json(port: u16, path: &str) -> Option<Value> {
    let mut answer = awc::Client::default()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .await
        .ok()?;
    if answer.status() != 200 {
        return None;
    }
    answer.json::<Value>().limit(16 << 20).await.ok()
}

async fn call(port: u16, method: &str, path: &str, token: &str, headers: &[(&str, &str)]) -> u16 {
    let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = awc::Client::default()
        .request(method, format!("http://127.0.0.1:{port}{path}"))
        .bearer_auth(token);
    for (name, value) in headers {
        request = request.insert_header((*name, *value));
    }
    request
        .send_json(&json!({ "type": "custom.note", "data": { "text": "traced" } }))
        .await
        .expect("answered")
        .status()
        .as_u16()
}

/// Sessions node `port` holds, from its own entry of the cluster view.
async fn sessions_on(port: u16, admin: &str) -> u64 {
    let mut answer = awc::Client::default()
        .get(format!("http://127.0.0.1:{port}/v1/admin/cluster"))
        .bearer_auth(admin)
        .send()
        .await
        .expect("answered");
    let view: Value = answer.json().await.expect("json");
    view["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|node| node["this_node"] == true)
        .and_then(|node| node["load"]["sessions"].as_u64())
        .expect("this node's sessions")
}

fn hex_id(bytes: usize) -> String {
    uuid::Uuid::new_v4().simple().to_string()[..bytes * 2].to_owned()
}

#[actix_web::test]
async fn a_trace_spans_the_node_that_took_the_request_and_the_node_holding_the_session() {
    let Some(cql) = cql_contact_point() else {
        return;
    };
    let Some(nats) = NatsServer::start().await else {
        return;
    };
    let Some(jaeger) = Jaeger::start().await else {
        return;
    };
    // A keyspace of its own: a server loads the whole catalog at start, and the suite's
    // keyspace holds the conformance tests' content, which is not a catalog.
    let keyspace = format!("fitpulse_trace_{}", std::process::id());
    // Both nodes sign and check tokens with the keys in one directory.
    let data = tempfile::tempdir().expect("temp dir");
    let nodes_list = format!(
        "[{}]",
        cql.split(',')
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let endpoint = format!("http://127.0.0.1:{}", jaeger.otlp_port);
    let env = |node: &'static str| {
        vec![
            ("FITPULSE__STORE__KIND", "scylla".to_owned()),
            ("FITPULSE__STORE__SCYLLA__NODES", nodes_list.clone()),
            ("FITPULSE__STORE__SCYLLA__KEYSPACE", keyspace.clone()),
            (
                "FITPULSE__STORE__SCYLLA__REQUEST_TIMEOUT_MS",
                "20000".into(),
            ),
            (
                "FITPULSE__STORE__SCYLLA__CONNECT_TIMEOUT_MS",
                "20000".into(),
            ),
            ("FITPULSE__BUS__KIND", "nats".into()),
            ("FITPULSE__BUS__NATS__URL", nats.url()),
            ("FITPULSE__BUS__NODE_ID", node.into()),
            ("FITPULSE__BUS__HEARTBEAT_MS", "200".into()),
            ("FITPULSE__TELEMETRY__OTLP__ENDPOINT", endpoint.clone()),
            ("FITPULSE__TELEMETRY__OTLP__SAMPLE_RATIO", "1".into()),
            // Export each batch within a tenth of a second rather than five.
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        ]
    };
    let spawn = |node: &'static str| {
        let env = env(node);
        let data = data.path().to_owned();
        async move {
            let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            serve_with(&data, &pairs).await
        }
    };
    let migrate_env = env("trace0");
    let migrated = tokio::time::timeout(
        Duration::from_secs(180),
        fitpulse()
            .envs(migrate_env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("FITPULSE__DATA_DIR", data.path())
            .arg("migrate")
            .output(),
    )
    .await
    .expect("migrated in time")
    .expect("ran");
    assert!(migrated.status.success(), "{migrated:?}");
    let (_node0, port0, mut logs0) = spawn("trace0").await;
    let (_node1, port1, mut logs1) = spawn("trace1").await;
    // Both logs are read to their end, so a chatty server never blocks on a full pipe;
    // node 0's request lines are kept for the check at the end.
    tokio::spawn(async move { while let Ok(Some(_)) = logs1.next_line().await {} });
    let (request_lines, mut request_lines_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = logs0.next_line().await {
            if line.contains("request completed") {
                let _ = request_lines.send(line);
            }
        }
    });

    let admin = fitpulse()
        .env("FITPULSE__DATA_DIR", data.path())
        .args(["admin", "mint-token", "--user"])
        .arg(uuid::Uuid::new_v4().to_string())
        .args(["--role", "admin", "--ttl", "10m"])
        .output()
        .await
        .expect("ran");
    assert!(admin.status.success(), "{admin:?}");
    let admin = String::from_utf8(admin.stdout).expect("utf-8");
    let admin = admin.trim();

    // Until each node has heard the other, a node holds whatever it is asked about.
    tokio::time::timeout(WAIT, async {
        loop {
            let view = awc::Client::default()
                .get(format!("http://127.0.0.1:{port0}/v1/admin/cluster"))
                .bearer_auth(admin)
                .send()
                .await
                .expect("answered")
                .json::<Value>()
                .await
                .expect("json");
            if view["nodes"].as_array().map(Vec::len) == Some(2) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the nodes hear each other");

    // A user whose session node 1 holds: each new user's owner is one of the two nodes.
    let mut user = None;
    for _ in 0..32 {
        let candidate = uuid::Uuid::new_v4();
        let before = sessions_on(port1, admin).await;
        let path = format!("/v1/admin/users/{candidate}/events");
        assert_eq!(call(port1, "POST", &path, admin, &[]).await, 202);
        if sessions_on(port1, admin).await > before {
            user = Some(candidate);
            break;
        }
    }
    let user = user.expect("one of 32 users is held by node 1");

    let (trace_id, parent_id) = (hex_id(16), hex_id(8));
    let traceparent = format!("00-{trace_id}-{parent_id}-01");
    let path = format!("/v1/admin/users/{user}/events");
    let status = call(
        port0,
        "POST",
        &path,
        admin,
        &[("traceparent", &traceparent)],
    )
    .await;
    assert_eq!(status, 202);

    // The trace in Jaeger: node 0's request span under the caller's span, and node 1's
    // spans under node 0's.
    let spans = tokio::time::timeout(WAIT, async {
        loop {
            let spans = jaeger.spans(&trace_id).await;
            let from = |node: &str| spans.iter().any(|(instance, _)| instance == node);
            if from("trace0") && from("trace1") {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("spans from both nodes under trace {trace_id}"));

    let named = |node: &str, name: &str| {
        spans
            .iter()
            .find(|(instance, span)| instance == node && span["operationName"] == name)
            .map(|(_, span)| span.clone())
            .unwrap_or_else(|| panic!("no {name} span from {node}: {spans:#?}"))
    };
    let parent_of = |span: &Value| -> String {
        span["references"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["refType"] == "CHILD_OF")
            .and_then(|r| r["spanID"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let request = named("trace0", "POST /v1/admin/users/{id}/events");
    assert_eq!(parent_of(&request), parent_id, "{request:#}");
    let received = named("trace1", "bus.receive");
    let node0_ids: Vec<&str> = spans
        .iter()
        .filter(|(instance, _)| instance == "trace0")
        .filter_map(|(_, span)| span["spanID"].as_str())
        .collect();
    assert!(
        node0_ids.contains(&parent_of(&received).as_str()),
        "node 1's receive span is a child of a node 0 span: {spans:#?}"
    );
    let executed = named("trace1", "session.execute");
    assert_eq!(parent_of(&executed), received["spanID"].as_str().unwrap());

    // A socket upgrade with a `traceparent` joins the caller's trace the same way.
    let member = fitpulse()
        .env("FITPULSE__DATA_DIR", data.path())
        .args(["admin", "mint-token", "--user"])
        .arg(user.to_string())
        .args(["--ttl", "10m"])
        .output()
        .await
        .expect("ran");
    assert!(member.status.success(), "{member:?}");
    let member = String::from_utf8(member.stdout).expect("utf-8");
    let (upgrade_trace, upgrade_parent) = (hex_id(16), hex_id(8));
    let (_, mut socket) = awc::Client::default()
        .ws(format!("http://127.0.0.1:{port0}/v1/ws"))
        .bearer_auth(member.trim())
        .set_header(
            "traceparent",
            format!("00-{upgrade_trace}-{upgrade_parent}-01"),
        )
        .connect()
        .await
        .expect("websocket handshake");
    let ready = tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut socket))
        .await
        .expect("a first frame in time");
    assert!(
        matches!(ready, Some(Ok(awc::ws::Frame::Text(_)))),
        "{ready:?}"
    );
    let upgrade = tokio::time::timeout(WAIT, async {
        loop {
            let spans = jaeger.spans(&upgrade_trace).await;
            if let Some((_, span)) = spans
                .into_iter()
                .find(|(node, span)| node == "trace0" && span["operationName"] == "GET /v1/ws")
            {
                return span;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the upgrade's span under its caller's trace");
    assert_eq!(parent_of(&upgrade), upgrade_parent, "{upgrade:#}");

    // Node 0's log line for the request names the trace.
    tokio::time::timeout(WAIT, async {
        while let Some(line) = request_lines_rx.recv().await {
            let Ok(entry) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if entry["message"] == "request completed" && entry["trace_id"] == trace_id.as_str() {
                assert!(entry["span_id"].as_str().is_some_and(|id| id.len() == 16));
                assert_eq!(entry["span"]["route"], "/v1/admin/users/{id}/events");
                return;
            }
        }
        panic!("node 0 exited before logging the request");
    })
    .await
    .expect("the request's log line names its trace");
}
