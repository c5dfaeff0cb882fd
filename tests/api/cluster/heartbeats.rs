//! A node's heartbeat does not wait behind its bulk traffic on NATS: with tens of
//! thousands of frames queued (a broadcast going out), the other nodes still hear it at
//! once and do not take the busy node for gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use fitpulse::bus::ClusterMetrics;
use fitpulse::bus::nats::NatsBus;
use fitpulse_actors::ports::bus::Bus;
use futures_util::StreamExt;

use super::NatsServer;
use crate::helpers::WAIT;

const BULK: usize = 20_000;

#[actix_web::test]
async fn a_heartbeat_overtakes_the_frames_queued_before_it() {
    let Some(server) = NatsServer::start().await else {
        return;
    };
    let metrics = || ClusterMetrics::new(&prometheus::Registry::new());
    let busy = NatsBus::connect(&server.url(), "busy", 2 * BULK, metrics())
        .await
        .expect("connects");
    let listener = NatsBus::connect(&server.url(), "listener", 1024, metrics())
        .await
        .expect("connects");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !(busy.connected() && listener.connected()) {
        assert!(tokio::time::Instant::now() < deadline, "never connected");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut frames = listener.subscribe("test.frames").await.expect("subscribed");
    let mut heartbeats = listener
        .subscribe_control("test.heartbeat")
        .await
        .expect("subscribed");
    // Both subscriptions are registered at the server once a probe on each came through.
    let probe = Bytes::from_static(b"probe");
    let short = std::time::Duration::from_millis(50);
    let (mut frames_open, mut heartbeats_open) = (false, false);
    for _ in 0..200 {
        if frames_open && heartbeats_open {
            break;
        }
        busy.publish("test.frames", probe.clone()).expect("queued");
        busy.publish_control("test.heartbeat", probe.clone())
            .expect("sent");
        frames_open |= tokio::time::timeout(short, frames.next()).await.is_ok();
        heartbeats_open |= tokio::time::timeout(short, heartbeats.next()).await.is_ok();
    }
    assert!(
        frames_open && heartbeats_open,
        "the subscriptions never took"
    );

    let received = Arc::new(AtomicUsize::new(0));
    let counting = {
        let received = received.clone();
        tokio::spawn(async move {
            while let Some(message) = frames.next().await {
                if message.payload.len() == 1024
                    && received.fetch_add(1, Ordering::Relaxed) + 1 == BULK
                {
                    return;
                }
            }
        })
    };

    let frame = Bytes::from(vec![b'x'; 1024]);
    for _ in 0..BULK {
        busy.publish("test.frames", frame.clone()).expect("queued");
    }
    busy.publish_control("test.heartbeat", Bytes::from_static(b"alive"))
        .expect("sent");
    let alive = async {
        while let Some(heard) = heartbeats.next().await {
            if heard.payload == Bytes::from_static(b"alive") {
                return;
            }
        }
    };
    tokio::time::timeout(WAIT, alive)
        .await
        .expect("the heartbeat arrives");
    let before_it = received.load(Ordering::Relaxed);
    // Every frame arrives too (the frames were sent, and sent first).
    tokio::time::timeout(WAIT * 3, counting)
        .await
        .expect("every frame arrives")
        .expect("no panic");
    assert!(
        before_it < BULK,
        "the heartbeat came after all {BULK} frames queued before it"
    );
}
