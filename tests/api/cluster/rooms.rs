//! A drop's waiting room on three nodes: one queue and one admission rate for the whole
//! cluster, whichever node each buyer reaches, and a drained holder hands the queue over
//! with every place kept. The nodes share a manual clock, so admissions come exactly when
//! the test moves it.

use std::time::Duration;

use fitpulse_actors::domain::{Role, UserId, now_millis};
use fitpulse_actors::events::rfc3339;
use fitpulse_actors::ports::clock::{Clock, ManualClock};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::{Cluster, Transport, on_both_buses};
use crate::helpers::WAIT;

const BUYERS: usize = 300;
const RATE: u64 = 50;

/// Waits until node `n` reports `waiting` buyers; answers the books.
async fn until_waiting(cluster: &Cluster, n: usize, drop: &str, waiting: u64) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let books = cluster.drop_books(n, drop).await;
        if books["waiting"] == waiting {
            return books;
        }
        assert!(
            books["waiting"].as_u64().is_none_or(|w| w > waiting),
            "more admitted than the rate allows: {books}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "never {waiting} waiting: {books}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every buyer's standing, read through node `n`.
async fn standings(cluster: &Cluster, n: usize, drop: &str, buyers: &[String]) -> Vec<Value> {
    let reads = buyers.iter().map(|token| async move {
        let standing = cluster
            .node(n)
            .call("GET", &format!("/v1/drops/{drop}/queue"), None, Some(token))
            .await;
        assert_eq!(standing.status, 200, "{}", standing.text);
        standing.json()
    });
    futures_util::stream::iter(reads)
        .buffered(30)
        .collect()
        .await
}

async fn one_waiting_room_admits_at_its_rate_for_the_whole_cluster(transport: Transport) {
    let clock = ManualClock::starting_at(now_millis());
    let Some(cluster) = Cluster::start_on(transport, Some(clock.clone())).await else {
        return;
    };
    let starts_at = clock.now() + 10_000;
    let body = json!({
        "title": "Queue hoodie", "stock": 1000, "price_cents": 5900, "currency": "EUR",
        "starts_at": rfc3339(starts_at), "per_user_limit": 1,
        "reservation_ttl_seconds": 300, "admission_per_second": RATE,
    });
    let drop = cluster.create_drop(body).await;

    // Buyers join through all three nodes before the start.
    let buyers: Vec<String> = (0..BUYERS)
        .map(|_| cluster.mint(UserId::random(), &[Role::Member]))
        .collect();
    let cluster = &cluster;
    let joins = buyers.iter().enumerate().map(|(k, token)| {
        let drop = drop.clone();
        async move {
            let joined = cluster
                .node(k % 3)
                .call(
                    "POST",
                    &format!("/v1/drops/{drop}/queue"),
                    None,
                    Some(token),
                )
                .await;
            assert_eq!(joined.status, 200, "{}", joined.text);
            assert_eq!(joined.json()["ahead"], Value::Null, "drawn at the start");
        }
    });
    futures_util::stream::iter(joins)
        .buffer_unordered(30)
        .collect::<Vec<()>>()
        .await;
    // One queue, one holder, whichever node is asked.
    let mut holders = Vec::new();
    for n in 0..3 {
        let books = cluster.drop_books(n, &drop).await;
        assert_eq!(books["waiting"], BUYERS, "node {n}: {books}");
        holders.push(books["queue_node"].clone());
    }
    assert!(holders.iter().all(|h| *h == holders[0]), "{holders:?}");
    let holder = holders[0].as_str().expect("a node id").to_owned();
    let holder_index: usize = holder
        .strip_prefix("node")
        .and_then(|n| n.parse().ok())
        .expect("nodeN");

    // The start: the draw, and RATE admitted for the whole cluster at each second.
    clock.advance(Duration::from_millis(10_000));
    let mut waiting = BUYERS as u64 - RATE;
    until_waiting(cluster, 0, &drop, waiting).await;
    for _ in 0..2 {
        clock.advance(Duration::from_secs(1));
        waiting -= RATE;
        until_waiting(cluster, (holder_index + 1) % 3, &drop, waiting).await;
    }

    // The holder drains: another node takes the queue with every place kept.
    let other = (holder_index + 1) % 3;
    let before = standings(cluster, other, &drop, &buyers).await;
    let admitted = before.iter().filter(|s| s["admitted"] == true).count();
    assert_eq!(admitted as u64, BUYERS as u64 - waiting);
    cluster.node(holder_index).lifecycle.request_shutdown();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let books = cluster.drop_books(other, &drop).await;
        if books["queue_node"].as_str().is_some_and(|n| n != holder) {
            assert_eq!(books["waiting"], waiting, "{books}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never handed over: {books}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = standings(cluster, other, &drop, &buyers).await;
    for (k, (was, is)) in before.iter().zip(&after).enumerate() {
        assert_eq!(was, is, "buyer {k} kept their place");
    }
    // The new holder goes on at the rate.
    clock.advance(Duration::from_secs(1));
    until_waiting(cluster, other, &drop, waiting - RATE).await;
}

on_both_buses!(one_waiting_room_admits_at_its_rate_for_the_whole_cluster);
