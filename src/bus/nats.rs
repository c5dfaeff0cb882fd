//! The NATS bus (async-nats). Publishes go through a bounded queue drained by one task,
//! so actors never wait on the network; when the queue is full (NATS down or slow) the
//! message is dropped and counted, and receivers find the gap by sequence. The client
//! reconnects forever; each reconnect is signalled so the cluster can resync.
//!
//! Heartbeats go over a second connection of their own (`publish_control`): on the first
//! they would wait behind tens of thousands of queued frames when a broadcast goes out,
//! and the other nodes would take a busy node for gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::client::RequestErrorKind;
use async_nats::connection::State;
use bytes::Bytes;
use fitpulse_actors::ports::bus::{Bus, BusError, BusMessage, BusSubscription};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::ClusterMetrics;

/// Reconnects this close together are one (the two connections after a server restart).
const RECONNECTS_COALESCE: Duration = Duration::from_secs(1);

pub struct NatsBus {
    client: async_nats::Client,
    /// Heartbeats only: nothing else waits on it.
    control: async_nats::Client,
    queue: mpsc::Sender<(String, Bytes)>,
    /// Reconnects of either connection (first connections not counted).
    reconnects: watch::Receiver<u64>,
    /// The reconnect count the last `reconnected` call returned at.
    reconnects_seen: AtomicU64,
    metrics: ClusterMetrics,
}

impl NatsBus {
    /// Connects in the background: the node starts even while NATS is down (it is not
    /// ready until connected) and keeps trying.
    pub async fn connect(
        url: &str,
        node: &str,
        buffer: usize,
        metrics: ClusterMetrics,
    ) -> Result<NatsBus, BusError> {
        let (reconnected, reconnects) = watch::channel(0u64);
        metrics.bus_connected.set(0);
        let client = options(
            format!("fitpulse-{node}"),
            reconnected.clone(),
            Some(metrics.clone()),
        )
        .connect(url)
        .await
        .map_err(|err| BusError::Failed(err.to_string()))?;
        let control = options(format!("fitpulse-{node}-control"), reconnected, None)
            .connect(url)
            .await
            .map_err(|err| BusError::Failed(err.to_string()))?;
        let (queue, mut outgoing) = mpsc::channel::<(String, Bytes)>(buffer);
        let sender = client.clone();
        tokio::spawn(async move {
            while let Some((subject, payload)) = outgoing.recv().await {
                if let Err(err) = sender.publish(subject, payload).await {
                    tracing::warn!(error = %err, "publishing to NATS failed");
                }
            }
        });
        Ok(NatsBus {
            client,
            control,
            queue,
            reconnects,
            reconnects_seen: AtomicU64::new(0),
            metrics,
        })
    }
}

#[async_trait::async_trait]
impl Bus for NatsBus {
    fn max_payload(&self) -> usize {
        // 0 until the server said (not connected yet): no limit of ours then.
        match self.client.max_payload() {
            0 => usize::MAX,
            max => max,
        }
    }

    fn publish(&self, subject: &str, payload: Bytes) -> Result<(), BusError> {
        self.queue
            .try_send((subject.to_owned(), payload))
            .map_err(|_| {
                self.metrics.bus_dropped_total.inc();
                BusError::QueueFull
            })
    }

    async fn request(
        &self,
        subject: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Bytes, BusError> {
        if !self.connected() {
            return Err(BusError::Disconnected);
        }
        let mut request = async_nats::Request::new()
            .payload(payload)
            .timeout(Some(timeout));
        if let Some(headers) = crate::telemetry::propagation::bus_headers() {
            request = request.headers(headers);
        }
        match self.client.send_request(subject.to_owned(), request).await {
            Ok(message) => Ok(message.payload),
            Err(err) => Err(match err.kind() {
                RequestErrorKind::NoResponders => BusError::NoResponders,
                RequestErrorKind::TimedOut => BusError::TimedOut,
                _ => BusError::Failed(err.to_string()),
            }),
        }
    }

    async fn subscribe(&self, subject: &str) -> Result<BusSubscription, BusError> {
        subscribe_on(&self.client, subject).await
    }

    fn publish_control(&self, subject: &str, payload: Bytes) -> Result<(), BusError> {
        let (control, subject) = (self.control.clone(), subject.to_owned());
        tokio::spawn(async move {
            if let Err(err) = control.publish(subject, payload).await {
                tracing::warn!(error = %err, "publishing a heartbeat to NATS failed");
            }
        });
        Ok(())
    }

    async fn subscribe_control(&self, subject: &str) -> Result<BusSubscription, BusError> {
        subscribe_on(&self.control, subject).await
    }

    /// Both connections: without the control one, heartbeats neither leave nor arrive,
    /// and silence says nothing.
    fn connected(&self) -> bool {
        self.client.connection_state() == State::Connected
            && self.control.connection_state() == State::Connected
    }

    async fn reconnected(&self) {
        // Counted from what the previous call saw, so a reconnect that happens while the
        // caller handles the last one is not missed. Either connection's counts: heartbeats
        // lost on the control one may have made the others take this node for gone.
        let seen = self.reconnects_seen.load(Ordering::Acquire);
        let mut reconnects = self.reconnects.clone();
        if reconnects.wait_for(|n| *n > seen).await.is_ok() {
            // Both connections come back together after a server restart: one resync.
            tokio::time::sleep(RECONNECTS_COALESCE).await;
            let now = *reconnects.borrow();
            self.reconnects_seen.store(now, Ordering::Release);
        }
    }
}

/// Subscribes to exactly `subject` on one of the two connections.
async fn subscribe_on(
    client: &async_nats::Client,
    subject: &str,
) -> Result<BusSubscription, BusError> {
    let subscriber = client
        .subscribe(subject.to_owned())
        .await
        .map_err(|err| BusError::Failed(err.to_string()))?;
    Ok(Box::pin(subscriber.map(|message| BusMessage {
        trace: received_span(&message),
        payload: message.payload,
        reply: message.reply.map(|s| s.to_string()),
    })))
}

/// A connection that retries forever and counts its reconnects (not its first connect)
/// in `reconnected`; the data connection (`metrics`) also sets `bus_connected`.
fn options(
    name: String,
    reconnected: watch::Sender<u64>,
    metrics: Option<ClusterMetrics>,
) -> async_nats::ConnectOptions {
    let connected_once = Arc::new(AtomicBool::new(false));
    async_nats::ConnectOptions::new()
        .name(name.clone())
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(|attempts| {
            Duration::from_millis((100 * attempts as u64).min(2000))
        })
        .event_callback(move |event| {
            let (reconnected, metrics, name) = (reconnected.clone(), metrics.clone(), name.clone());
            let connected_once = connected_once.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        if let Some(metrics) = &metrics {
                            metrics.bus_connected.set(1);
                        }
                        if connected_once.swap(true, Ordering::AcqRel) {
                            reconnected.send_modify(|n| *n += 1);
                        }
                        tracing::info!(connection = %name, "connected to NATS");
                    }
                    async_nats::Event::Disconnected => {
                        if let Some(metrics) = &metrics {
                            metrics.bus_connected.set(0);
                        }
                        tracing::warn!(connection = %name, "disconnected from NATS; reconnecting");
                    }
                    other => tracing::debug!(connection = %name, event = %other, "NATS"),
                }
            }
        })
}

/// The span of handling a message that carries a trace context; none for the rest
/// (heartbeats, untraced requests), so they cost no span.
fn received_span(message: &async_nats::Message) -> tracing::Span {
    let Some(headers) = message.headers.as_ref() else {
        return tracing::Span::none();
    };
    if !crate::telemetry::propagation::enabled() {
        return tracing::Span::none();
    }
    crate::telemetry::propagation::decide_for_bus(headers);
    let span = tracing::debug_span!(
        "bus.receive",
        otel.kind = "consumer",
        messaging.system = "nats",
        messaging.destination.name = %message.subject,
    );
    crate::telemetry::sampling::clear_next_root();
    crate::telemetry::propagation::follow_bus(&span, Some(headers));
    span
}
