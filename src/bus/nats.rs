//! The NATS bus (async-nats). Publishes go through a bounded queue drained by one task,
//! so actors never wait on the network; when the queue is full (NATS down or slow) the
//! message is dropped and counted, and receivers find the gap by sequence. The client
//! reconnects forever; each reconnect is signalled so the cluster can resync.
//!
//! Heartbeats go over a second connection of their own (`publish_control`): on the first
//! they would wait behind tens of thousands of queued frames when a broadcast goes out,
//! and the other nodes would take a busy node for gone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::client::RequestErrorKind;
use async_nats::connection::State;
use bytes::Bytes;
use fitpulse_actors::ports::bus::{Bus, BusError, BusMessage, BusSubscription};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::ClusterMetrics;

pub struct NatsBus {
    client: async_nats::Client,
    /// Heartbeats only: nothing else waits on it.
    control: async_nats::Client,
    queue: mpsc::Sender<(String, Bytes)>,
    reconnects: watch::Receiver<u64>,
    /// The connection count the last `reconnected` call returned at.
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
        let events = metrics.clone();
        let options = async_nats::ConnectOptions::new()
            .name(format!("fitpulse-{node}"))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((100 * attempts as u64).min(2000))
            })
            .event_callback(move |event| {
                let reconnected = reconnected.clone();
                let events = events.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            events.bus_connected.set(1);
                            reconnected.send_modify(|n| *n += 1);
                            tracing::info!("connected to NATS");
                        }
                        async_nats::Event::Disconnected => {
                            events.bus_connected.set(0);
                            tracing::warn!("disconnected from NATS; reconnecting");
                        }
                        other => tracing::debug!(event = %other, "NATS"),
                    }
                }
            });
        metrics.bus_connected.set(0);
        let client = options
            .connect(url)
            .await
            .map_err(|err| BusError::Failed(err.to_string()))?;
        let control = async_nats::ConnectOptions::new()
            .name(format!("fitpulse-{node}-control"))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((100 * attempts as u64).min(2000))
            })
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
            reconnects_seen: AtomicU64::new(1),
            metrics,
        })
    }
}

#[async_trait::async_trait]
impl Bus for NatsBus {
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
        let subscriber = self
            .client
            .subscribe(subject.to_owned())
            .await
            .map_err(|err| BusError::Failed(err.to_string()))?;
        Ok(Box::pin(subscriber.map(|message| BusMessage {
            trace: received_span(&message),
            payload: message.payload,
            reply: message.reply.map(|s| s.to_string()),
        })))
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
        let subscriber = self
            .control
            .subscribe(subject.to_owned())
            .await
            .map_err(|err| BusError::Failed(err.to_string()))?;
        Ok(Box::pin(subscriber.map(|message| BusMessage {
            trace: tracing::Span::none(),
            payload: message.payload,
            reply: None,
        })))
    }

    /// Both connections: without the control one, heartbeats neither leave nor arrive,
    /// and silence says nothing.
    fn connected(&self) -> bool {
        self.client.connection_state() == State::Connected
            && self.control.connection_state() == State::Connected
    }

    async fn reconnected(&self) {
        // Counted from what the previous call saw, so a reconnect that happens while the
        // caller handles the last one is not missed. The first connection is not one.
        let seen = self.reconnects_seen.load(Ordering::Acquire);
        let mut reconnects = self.reconnects.clone();
        if let Ok(now) = reconnects.wait_for(|n| *n > seen).await {
            self.reconnects_seen.store(*now, Ordering::Release);
        }
    }
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
