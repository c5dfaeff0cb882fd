//! Drops across restarts of the real binary, on both store backends: a node stopped by
//! SIGTERM hands its unsold units back, a node killed outright loses them only until its
//! lease expires, and in the end exactly the stock is sold, never more.

use std::time::Duration;

use fitpulse::auth::tokens::{AccessTokens, Principal};
use fitpulse::config::Settings;
use fitpulse_actors::domain::{Role, UserId, now_millis};
use fitpulse_actors::events::rfc3339;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::binary::{Served, serve_with};
use crate::helpers::WAIT;

const STOCK: u32 = 100;

/// The server's configuration for a backend: nothing for the embedded store; the suite's
/// keyspace on the test CQL server for scylla (`None` when there is none).
fn backend_env(scylla: bool) -> Option<Vec<(String, String)>> {
    if !scylla {
        return Some(Vec::new());
    }
    let nodes = crate::store::support::cql_contact_point()?;
    let keyspace = crate::store::support::suite_keyspace(&nodes);
    Some(vec![
        ("FITPULSE__STORE__KIND".into(), "scylla".into()),
        ("FITPULSE__STORE__SCYLLA__NODES".into(), nodes),
        ("FITPULSE__STORE__SCYLLA__KEYSPACE".into(), keyspace.into()),
        (
            "FITPULSE__STORE__SCYLLA__REQUEST_TIMEOUT_MS".into(),
            "20000".into(),
        ),
    ])
}

/// One run of the server, with a client minting tokens from its data directory's key.
struct Node {
    child: tokio::process::Child,
    port: u16,
    client: awc::Client,
    tokens: AccessTokens,
}

impl Node {
    async fn start(data: &std::path::Path, env: &[(String, String)]) -> Node {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (child, port, mut lines): Served = serve_with(data, &env).await;
        // The log is read to its end, so a chatty server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let tokens =
            AccessTokens::from_settings(&Settings::default().auth, data).expect("the server's key");
        Node {
            child,
            port,
            client: awc::Client::builder().timeout(WAIT).finish(),
            tokens,
        }
    }

    fn token(&self, roles: &[Role]) -> String {
        self.tokens
            .issue_for(
                &Principal::User(UserId::random()),
                &roles.iter().copied().collect(),
                &Default::default(),
                600,
            )
            .token
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>, key: &str) -> (u16, Value) {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, format!("http://127.0.0.1:{}{path}", self.port))
            .bearer_auth(self.token(&[Role::Member, Role::Admin]));
        if !key.is_empty() {
            request = request.insert_header(("idempotency-key", key));
        }
        let mut answer = match body {
            Some(body) => request.send_json(&body).await,
            None => request.send().await,
        }
        .expect("answered");
        let body = answer.body().limit(1 << 20).await.expect("body");
        let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (answer.status().as_u16(), value)
    }

    async fn create_drop(&self) -> String {
        let body = json!({
            "title": "Restart hoodie", "stock": STOCK, "price_cents": 5900, "currency": "EUR",
            "starts_at": rfc3339(now_millis() - 1_000), "per_user_limit": 1,
            "reservation_ttl_seconds": 600,
        });
        let (status, created) = self.call("POST", "/v1/admin/drops", Some(body), "").await;
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().expect("id").to_owned()
    }

    /// `buyers` distinct buyers, one unit each: answers (reserved, sold out).
    async fn buy(&self, drop: &str, buyers: usize) -> (usize, usize) {
        let attempts = (0..buyers).map(|_| async move {
            let key = UserId::random().to_string();
            let path = format!("/v1/drops/{drop}/orders");
            self.call("POST", &path, Some(json!({ "quantity": 1 })), &key)
                .await
        });
        let answers: Vec<(u16, Value)> = futures_util::stream::iter(attempts)
            .buffer_unordered(16)
            .collect()
            .await;
        let reserved = answers.iter().filter(|(s, _)| *s == 201).count();
        let sold_out = answers
            .iter()
            .filter(|(s, b)| *s == 409 && b["error"]["code"] == "sold_out")
            .count();
        assert_eq!(reserved + sold_out, buyers, "other answers: {answers:?}");
        (reserved, sold_out)
    }

    /// The admin's books, checked to add up.
    async fn books(&self, drop: &str) -> Value {
        let (status, books) = self
            .call("GET", &format!("/v1/admin/drops/{drop}"), None, "")
            .await;
        assert_eq!(status, 200, "{books}");
        let units = |k: &str| books[k].as_u64().unwrap_or_else(|| panic!("{k}: {books}"));
        assert_eq!(
            units("sold") + units("reserved") + units("remaining") + units("leased_unsold"),
            u64::from(STOCK),
            "the books add up: {books}"
        );
        books
    }

    async fn public_state(&self, drop: &str) -> Value {
        let (status, view) = self
            .call("GET", &format!("/v1/drops/{drop}"), None, "")
            .await;
        assert_eq!(status, 200, "{view}");
        view
    }

    async fn sigterm(mut self) {
        let pid = self.child.id().expect("running") as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid with a valid signal number.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("exited within the grace period")
            .expect("waited");
        assert_eq!(status.code(), Some(0));
    }

    async fn kill(mut self) {
        self.child.kill().await.expect("killed");
    }
}

/// Stock 100, one order, SIGTERM, restart, 150 buyers: the other 99 units sell.
async fn a_graceful_stop_hands_unsold_units_back(scylla: bool) {
    let Some(env) = backend_env(scylla) else {
        return;
    };
    let data = tempfile::tempdir().expect("temp dir");
    let node = Node::start(data.path(), &env).await;
    let drop = node.create_drop().await;
    assert_eq!(node.buy(&drop, 1).await, (1, 0));
    let books = node.books(&drop).await;
    assert!(
        books["leased_unsold"].as_u64() > Some(0),
        "the node holds a lease of more than it sold: {books}"
    );
    node.sigterm().await;

    let node = Node::start(data.path(), &env).await;
    let books = node.books(&drop).await;
    assert_eq!(
        (
            &books["reserved"],
            &books["remaining"],
            &books["leased_unsold"]
        ),
        (&json!(1), &json!(STOCK - 1), &json!(0)),
        "every unsold unit is back in the pool: {books}"
    );
    assert_eq!(node.buy(&drop, 150).await, (99, 51));
    let books = node.books(&drop).await;
    assert_eq!(books["reserved"], STOCK, "{books}");
    assert_eq!(node.public_state(&drop).await["state"], "sold_out");
    node.sigterm().await;
}

/// Stock 100, one order, kill -9, restart: the dead node's units are out of the pool
/// until its lease expires, then they sell too: exactly 100 in the end.
async fn a_killed_nodes_units_sell_after_its_lease_expires(scylla: bool) {
    let Some(mut env) = backend_env(scylla) else {
        return;
    };
    env.push(("FITPULSE__DROPS__LEASE_SECONDS".into(), "2".into()));
    let data = tempfile::tempdir().expect("temp dir");
    let node = Node::start(data.path(), &env).await;
    let drop = node.create_drop().await;
    assert_eq!(node.buy(&drop, 1).await, (1, 0));
    let stranded = node.books(&drop).await["leased_unsold"]
        .as_u64()
        .expect("leased_unsold");
    assert!(stranded > 0, "the node holds unsold units");
    node.kill().await;

    let node = Node::start(data.path(), &env).await;
    let mut reserved = 1;
    let deadline = tokio::time::Instant::now() + WAIT;
    // Bounded by the deadline; each round buys what is for sale now.
    while reserved < STOCK as usize {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{reserved} sold; books: {}",
            node.books(&drop).await
        );
        reserved += node.buy(&drop, 120).await.0;
        assert!(reserved <= STOCK as usize, "oversold: {reserved}");
        if reserved < STOCK as usize {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let books = node.books(&drop).await;
    assert_eq!(
        (
            &books["reserved"],
            &books["remaining"],
            &books["leased_unsold"]
        ),
        (&json!(STOCK), &json!(0), &json!(0)),
        "{books}"
    );
    assert_eq!(
        node.buy(&drop, 20).await,
        (0, 20),
        "never more than the stock"
    );
    assert_eq!(node.public_state(&drop).await["state"], "sold_out");
    node.kill().await;
}

#[actix_web::test]
async fn a_graceful_stop_hands_unsold_units_back_on_the_embedded_store() {
    a_graceful_stop_hands_unsold_units_back(false).await;
}

#[actix_web::test]
async fn a_graceful_stop_hands_unsold_units_back_on_the_scylla_store() {
    a_graceful_stop_hands_unsold_units_back(true).await;
}

#[actix_web::test]
async fn a_killed_nodes_units_sell_after_its_lease_expires_on_the_embedded_store() {
    a_killed_nodes_units_sell_after_its_lease_expires(false).await;
}

#[actix_web::test]
async fn a_killed_nodes_units_sell_after_its_lease_expires_on_the_scylla_store() {
    a_killed_nodes_units_sell_after_its_lease_expires(true).await;
}
