//! nats-server goes away and comes back: nodes report it in `/readyz`, what they hold keeps
//! working, and afterwards delivery across nodes resumes with nothing accepted lost.

use std::time::Duration;

use fitpulse_actors::domain::{Role, UserId};

use super::{Cluster, Device};
use crate::helpers::WAIT;

async fn ready(cluster: &Cluster, n: usize) -> bool {
    cluster.node(n).get("/readyz").await.0 == 200
}

/// Pushes through node `n`; answers whether the event was accepted.
async fn try_push(cluster: &Cluster, n: usize, user: UserId, text: &str) -> bool {
    cluster.try_push(n, user, text).await.is_some()
}

#[actix_web::test]
async fn delivery_resumes_after_nats_restarts_and_nothing_accepted_is_lost() {
    let Some(mut cluster) = Cluster::start(super::Transport::Nats).await else {
        return;
    };
    let user = UserId::random();
    let token = cluster.mint(user, &[Role::Member]);
    let mut phone = Device::connect(cluster.node(0), &token).await;
    let mut tablet = Device::connect(cluster.node(1), &token).await;
    let mut accepted = Vec::new();
    for n in 0..3 {
        let text = format!("before-{n}");
        assert!(try_push(&cluster, n, user, &text).await);
        accepted.push(text);
    }
    phone.read_notes(3, cluster.node(0)).await;
    tablet.read_notes(3, cluster.node(1)).await;

    cluster.nats.as_mut().expect("a nats-server").down().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while ready(&cluster, 0).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz never noticed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The node holding the user's session accepts; the others cannot reach it.
    let during = (0..3).map(|n| {
        try_push(
            &cluster,
            n,
            user,
            Box::leak(format!("during-{n}").into_boxed_str()),
        )
    });
    let outcomes = futures_util::future::join_all(during).await;
    assert_eq!(
        outcomes.iter().filter(|ok| **ok).count(),
        1,
        "exactly the holder accepts: {outcomes:?}"
    );
    accepted.extend(
        outcomes
            .iter()
            .enumerate()
            .filter(|(_, ok)| **ok)
            .map(|(n, _)| format!("during-{n}")),
    );

    cluster.nats.as_mut().expect("a nats-server").up().await;
    for n in 0..3 {
        while !ready(&cluster, n).await {
            assert!(
                tokio::time::Instant::now() < deadline + WAIT,
                "node {n} stays unready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    for n in 0..3 {
        let text = format!("after-{n}");
        let deadline = tokio::time::Instant::now() + WAIT;
        while !try_push(&cluster, n, user, &text).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {n} cannot deliver"
            );
        }
        accepted.push(text);
    }

    phone.read_notes(accepted.len(), cluster.node(0)).await;
    tablet.read_notes(accepted.len(), cluster.node(1)).await;
    assert_eq!(
        phone.notes, tablet.notes,
        "the same events in the same order"
    );
    let mut texts: Vec<String> = phone.notes.iter().map(|(_, t)| t.clone()).collect();
    texts.sort();
    accepted.sort();
    assert_eq!(
        texts, accepted,
        "every accepted event arrived, nothing else"
    );
}
