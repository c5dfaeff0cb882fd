//! A feature message to sockets on one node whose sessions other nodes hold crosses the
//! bus in a few messages per node (each holder thread's frames for that node together),
//! not one per socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use fitpulse::bus::ClusterMetrics;
use fitpulse::bus::nats::NatsBus;
use fitpulse_actors::domain::{Role, UserId};
use fitpulse_actors::ports::bus::Bus;
use futures_util::StreamExt;
use serde_json::json;

use super::{Cluster, Transport};
use crate::helpers::WAIT;
use crate::messages::{message, send_message};

const MEMBERS: usize = 60;

#[actix_web::test]
async fn a_feature_message_reaches_another_nodes_sockets_in_a_few_bus_messages() {
    let Some(cluster) = Cluster::start(Transport::Nats).await else {
        return;
    };
    let url = cluster.nats.as_ref().expect("on NATS").url();
    let metrics = ClusterMetrics::new(&prometheus::Registry::new());
    let observer = NatsBus::connect(&url, "observer", 1024, metrics)
        .await
        .expect("connects");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !observer.connected() {
        assert!(tokio::time::Instant::now() < deadline, "never connected");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // The subjects frames for sockets travel on (not the holders' request subjects, which a
    // silent subscriber would make look answered).
    let users = observer
        .subscribe("fitpulse.user.*")
        .await
        .expect("subscribed");
    let nodes = observer
        .subscribe("fitpulse.node.*.sockets")
        .await
        .expect("subscribed");
    let mut everything = futures_util::stream::select(users, nodes);
    // Both subscriptions are registered at the server once a probe came through each.
    let probes = [
        ("fitpulse.user.probe", Bytes::from_static(b"probe on users")),
        (
            "fitpulse.node.probe.sockets",
            Bytes::from_static(b"probe on nodes"),
        ),
    ];
    let (mut on_users, mut on_nodes) = (false, false);
    for _ in 0..100 {
        if on_users && on_nodes {
            break;
        }
        for (subject, probe) in &probes {
            observer.publish(subject, probe.clone()).expect("sent");
        }
        let short = std::time::Duration::from_millis(50);
        while let Ok(Some(message)) = tokio::time::timeout(short, everything.next()).await {
            on_users |= message.payload == probes[0].1;
            on_nodes |= message.payload == probes[1].1;
        }
    }
    let open = on_users && on_nodes;
    assert!(open, "the observer never heard the bus");

    let mut sockets = Vec::new();
    for _ in 0..MEMBERS {
        let token = cluster.mint(UserId::random(), &[Role::Member]);
        sockets.push(cluster.node(1).connect_ready(&token, None).await.0);
    }
    let title = format!("Batched {}", UserId::random());
    let carrying = Arc::new(AtomicUsize::new(0));
    let counter = {
        let (carrying, needle) = (carrying.clone(), title.clone().into_bytes());
        tokio::spawn(async move {
            while let Some(message) = everything.next().await {
                if message.payload.windows(needle.len()).any(|w| w == needle) {
                    carrying.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    send_message(cluster.node(0), message(&title, 0, json!({}))).await;
    for socket in &mut sockets {
        assert_eq!(
            socket.event("message.feature").await["data"]["title"],
            title
        );
    }
    // The frames of the sessions held on nodes 0 and 2 (about two in three) came over the
    // bus; the observer hears them as the sockets' node does.
    let deadline = tokio::time::Instant::now() + WAIT;
    while carrying.load(Ordering::Relaxed) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no frame crossed the bus"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    counter.abort();
    let messages = carrying.load(Ordering::Relaxed);
    assert!(
        messages <= MEMBERS / 6,
        "{messages} bus messages carried the frames for about {} remote sockets",
        MEMBERS * 2 / 3
    );
}
