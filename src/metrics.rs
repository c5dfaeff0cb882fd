//! Every Prometheus metric fitpulse exports, in one registry served at `GET /metrics`.
//! Names carry the `fitpulse_` prefix, counters end in `_total`, durations in `_seconds`;
//! labels stay small (route templates, never user ids). The families of one area live
//! beside it and register here: `business` (subscriptions, classes, drop units), the
//! cluster's (`bus::metrics`), push (`push::metrics`) and the dependencies' probe
//! (`dependencies::gauge`).

mod business;

pub use business::{BusinessMetrics, DropUnits};

use fitpulse_actors::ports::messages::MessageEvent;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets from half a millisecond to ten seconds, dense where our targets sit.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// `type` labels of frames sent besides the event families: unknown families, replies and
/// connection notices.
const SENT_OTHERS: [&str; 4] = ["other", "reply", "session", "token"];
/// `code` labels of server closes.
const CLOSE_CODES: [&str; 11] = [
    "1001", "1002", "1007", "1009", "1011", "4001", "4003", "4008", "4009", "4010", "timeout",
];

/// `kind_family` labels of outbox deliveries: the part of an item kind before its first dot.
const OUTBOX_FAMILIES: [&str; 3] = ["email", "webhook", "other"];

/// How one outbox attempt ended, the `result` label of `fitpulse_outbox_deliveries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryResult {
    Delivered,
    /// Failed, another attempt is scheduled.
    Retried,
    /// Failed for good (out of attempts, or a permanent error).
    Dead,
}

impl DeliveryResult {
    pub const ALL: [DeliveryResult; 3] = [
        DeliveryResult::Delivered,
        DeliveryResult::Retried,
        DeliveryResult::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryResult::Delivered => "delivered",
            DeliveryResult::Retried => "retried",
            DeliveryResult::Dead => "dead",
        }
    }
}

/// The `provider` label of `fitpulse_webhooks_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookProvider {
    AppStore,
    GooglePlay,
    Payments,
}

impl WebhookProvider {
    pub const ALL: [WebhookProvider; 3] = [
        WebhookProvider::AppStore,
        WebhookProvider::GooglePlay,
        WebhookProvider::Payments,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookProvider::AppStore => "appstore",
            WebhookProvider::GooglePlay => "googleplay",
            WebhookProvider::Payments => "payments",
        }
    }
}

/// The `result` label of `fitpulse_webhooks_total`: what became of one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookResult {
    /// Verified and queued for processing.
    Accepted,
    /// Seen before (same event id); answered without queueing again.
    Duplicate,
    /// Failed verification or validation (signature, JSON, stale timestamp).
    Rejected,
    /// Valid but of a type fitpulse does not act on.
    Ignored,
    /// Processed from the queue: the state change is stored.
    Processed,
    /// An attempt at processing failed (it is retried, or dead-lettered).
    Failed,
}

impl WebhookResult {
    pub const ALL: [WebhookResult; 6] = [
        WebhookResult::Accepted,
        WebhookResult::Duplicate,
        WebhookResult::Rejected,
        WebhookResult::Ignored,
        WebhookResult::Processed,
        WebhookResult::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookResult::Accepted => "accepted",
            WebhookResult::Duplicate => "duplicate",
            WebhookResult::Rejected => "rejected",
            WebhookResult::Ignored => "ignored",
            WebhookResult::Processed => "processed",
            WebhookResult::Failed => "failed",
        }
    }
}

/// The `result` label of `fitpulse_drop_orders_total`: what became of one order attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropOrderResult {
    Reserved,
    SoldOut,
    LimitReached,
    NotStarted,
    NotAdmitted,
    Paid,
    Expired,
}

impl DropOrderResult {
    pub const ALL: [DropOrderResult; 7] = [
        DropOrderResult::Reserved,
        DropOrderResult::SoldOut,
        DropOrderResult::LimitReached,
        DropOrderResult::NotStarted,
        DropOrderResult::NotAdmitted,
        DropOrderResult::Paid,
        DropOrderResult::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropOrderResult::Reserved => "reserved",
            DropOrderResult::SoldOut => "sold_out",
            DropOrderResult::LimitReached => "limit_reached",
            DropOrderResult::NotStarted => "not_started",
            DropOrderResult::NotAdmitted => "not_admitted",
            DropOrderResult::Paid => "paid",
            DropOrderResult::Expired => "expired",
        }
    }
}

/// The `change` label of `fitpulse_entitlement_changes_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntitlementChange {
    Granted,
    Renewed,
    Grace,
    OnHold,
    Cancelled,
    Expired,
    Refunded,
    Revoked,
}

impl EntitlementChange {
    pub const ALL: [EntitlementChange; 8] = [
        EntitlementChange::Granted,
        EntitlementChange::Renewed,
        EntitlementChange::Grace,
        EntitlementChange::OnHold,
        EntitlementChange::Cancelled,
        EntitlementChange::Expired,
        EntitlementChange::Refunded,
        EntitlementChange::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EntitlementChange::Granted => "granted",
            EntitlementChange::Renewed => "renewed",
            EntitlementChange::Grace => "grace",
            EntitlementChange::OnHold => "on_hold",
            EntitlementChange::Cancelled => "cancelled",
            EntitlementChange::Expired => "expired",
            EntitlementChange::Refunded => "refunded",
            EntitlementChange::Revoked => "revoked",
        }
    }
}

/// The registry and handles to every metric; cheap to clone (handles are shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests_total: IntCounterVec,
    pub http_request_duration_seconds: HistogramVec,
    pub http_requests_in_flight: IntGauge,
    pub store_op_duration_seconds: HistogramVec,
    pub store_errors_total: IntCounterVec,
    /// Feed appends nobody waits for, waiting for their turn (scylla).
    pub store_appends_waiting: IntGauge,
    pub ws_connections: IntGauge,
    pub sessions_active: IntGauge,
    pub ws_messages_sent_total: IntCounterVec,
    pub ws_messages_received_total: IntCounterVec,
    pub ws_closed_total: IntCounterVec,
    pub ws_slow_consumer_total: IntCounter,
    pub event_delivery_seconds: Histogram,
    pub live_classes_active: IntGauge,
    pub live_participants: IntGauge,
    live_metrics_rejected_total: IntCounterVec,
    pub broadcast_duration_seconds: Histogram,
    pub outbox_pending: IntGauge,
    pub outbox_dead_total: IntCounter,
    outbox_deliveries_total: IntCounterVec,
    webhooks_total: IntCounterVec,
    entitlement_changes_total: IntCounterVec,
    drop_orders_total: IntCounterVec,
    drop_stock_remaining: IntGaugeVec,
    message_events_total: IntCounterVec,
    drop_stock_units: IntGaugeVec,
    /// Connections and sockets refused because their address already had its share.
    pub connections_refused_total: IntCounterVec,
    pub cluster: crate::bus::ClusterMetrics,
    pub push: crate::push::PushMetrics,
    pub business: BusinessMetrics,
    pub dependencies: crate::dependencies::DependencyGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests_total = IntCounterVec::new(
            Opts::new("fitpulse_http_requests_total", "HTTP requests answered"),
            &["route", "method", "status"],
        )
        .expect("valid metric definition");
        let http_request_duration_seconds = HistogramVec::new(
            HistogramOpts::new(
                "fitpulse_http_request_duration_seconds",
                "Time from request head to response head",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "method"],
        )
        .expect("valid metric definition");
        let http_requests_in_flight = IntGauge::new(
            "fitpulse_http_requests_in_flight",
            "HTTP requests being handled now",
        )
        .expect("valid metric definition");
        let store_op_duration_seconds = HistogramVec::new(
            HistogramOpts::new(
                "fitpulse_store_op_duration_seconds",
                "Duration of store operations",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["backend", "op"],
        )
        .expect("valid metric definition");
        let store_errors_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_store_errors_total",
                "Store operations that failed",
            ),
            &["backend", "op"],
        )
        .expect("valid metric definition");
        let store_appends_waiting = IntGauge::new(
            "fitpulse_store_appends_waiting",
            "Feed appends nobody waits for, waiting for room among store.scylla.background_appends_in_flight",
        )
        .expect("valid metric definition");
        let ws_connections = IntGauge::new("fitpulse_ws_connections", "Open WebSocket connections")
            .expect("valid metric definition");
        let sessions_active =
            IntGauge::new("fitpulse_sessions_active", "User sessions held in memory")
                .expect("valid metric definition");
        let ws_messages_sent_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_ws_messages_sent_total",
                "Frames written to sockets, by event family",
            ),
            &["type"],
        )
        .expect("valid metric definition");
        let ws_messages_received_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_ws_messages_received_total",
                "Client frames received, by type",
            ),
            &["type"],
        )
        .expect("valid metric definition");
        let ws_closed_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_ws_closed_total",
                "Sockets closed by the server, by close code",
            ),
            &["code"],
        )
        .expect("valid metric definition");
        let ws_slow_consumer_total = IntCounter::new(
            "fitpulse_ws_slow_consumer_total",
            "Sockets closed because their outbound queue was full",
        )
        .expect("valid metric definition");
        let event_delivery_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "fitpulse_event_delivery_seconds",
                "Time from an event's creation to its frame being written to a socket",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("valid metric definition");
        let live_classes_active = IntGauge::new(
            "fitpulse_live_classes_active",
            "Live classes running on this node",
        )
        .expect("valid metric definition");
        let live_participants = IntGauge::new(
            "fitpulse_live_participants",
            "Participants present in live classes on this node",
        )
        .expect("valid metric definition");
        let live_metrics_rejected_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_live_metrics_rejected_total",
                "Live metric samples dropped as implausible, by reason",
            ),
            &["reason"],
        )
        .expect("valid metric definition");
        // Every reason has a series from the start, so a rate over it is never missing.
        for reason in fitpulse_actors::live::plausibility::Implausible::ALL {
            live_metrics_rejected_total.with_label_values(&[reason.as_str()]);
        }
        let broadcast_duration_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "fitpulse_broadcast_duration_seconds",
                "Time to hand one class frame to every local participant",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("valid metric definition");
        let outbox_pending = IntGauge::new(
            "fitpulse_outbox_pending",
            "Outbox items waiting for delivery (all nodes; refreshed every few seconds)",
        )
        .expect("valid metric definition");
        let outbox_dead_total = IntCounter::new(
            "fitpulse_outbox_dead_total",
            "Outbox items that went dead (out of attempts or failed for good) on this node",
        )
        .expect("valid metric definition");
        let outbox_deliveries_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_outbox_deliveries_total",
                "Outbox delivery attempts, by kind family and result",
            ),
            &["kind_family", "result"],
        )
        .expect("valid metric definition");
        let webhooks_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_webhooks_total",
                "Store and payment notifications, by provider and what became of them",
            ),
            &["provider", "result"],
        )
        .expect("valid metric definition");
        let entitlement_changes_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_entitlement_changes_total",
                "Subscription changes applied to entitlements, by change",
            ),
            &["change"],
        )
        .expect("valid metric definition");
        let drop_orders_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_drop_orders_total",
                "Product-drop order attempts and order changes, by result",
            ),
            &["result"],
        )
        .expect("valid metric definition");
        let drop_stock_remaining = IntGaugeVec::new(
            Opts::new(
                "fitpulse_drop_stock_remaining",
                "Units of a drop still for sale, as this node sees them",
            ),
            &["drop"],
        )
        .expect("valid metric definition");
        // By event only: a message id as a label would grow without bound.
        let message_events_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_message_events_total",
                "Feature-message deliveries (once per user) and first reads, clicks and dismissals on this node",
            ),
            &["event"],
        )
        .expect("valid metric definition");
        let drop_stock_units = IntGaugeVec::new(
            Opts::new(
                "fitpulse_drop_stock_units",
                "Units a drop was put on sale with, for its sell-through",
            ),
            &["drop"],
        )
        .expect("valid metric definition");
        let connections_refused_total = IntCounterVec::new(
            Opts::new(
                "fitpulse_connections_refused_total",
                "Connections and sockets refused by the per-address cap, by kind",
            ),
            &["kind"],
        )
        .expect("valid metric definition");
        for kind in ["connection", "socket"] {
            connections_refused_total.with_label_values(&[kind]);
        }
        let build_info = IntGaugeVec::new(
            Opts::new(
                "fitpulse_build_info",
                "Always 1; labels name the running build",
            ),
            &["version"],
        )
        .expect("valid metric definition");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);

        // Known label values start at zero, so `rate()` and alerts see them from the first
        // scrape instead of after the first occurrence.
        for family in fitpulse_actors::device::EVENT_FAMILIES
            .into_iter()
            .chain(SENT_OTHERS)
        {
            ws_messages_sent_total.with_label_values(&[family]);
        }
        let received = crate::ws::frames::FRAME_TYPES.iter();
        for frame in received.chain(&crate::ws::frames::REJECTED_LABELS) {
            ws_messages_received_total.with_label_values(&[frame]);
        }
        for code in CLOSE_CODES {
            ws_closed_total.with_label_values(&[code]);
        }
        for family in OUTBOX_FAMILIES {
            for result in DeliveryResult::ALL {
                outbox_deliveries_total.with_label_values(&[family, result.as_str()]);
            }
        }
        for provider in WebhookProvider::ALL {
            for result in WebhookResult::ALL {
                webhooks_total.with_label_values(&[provider.as_str(), result.as_str()]);
            }
        }
        for change in EntitlementChange::ALL {
            entitlement_changes_total.with_label_values(&[change.as_str()]);
        }
        for result in DropOrderResult::ALL {
            drop_orders_total.with_label_values(&[result.as_str()]);
        }
        for event in MessageEvent::ALL {
            message_events_total.with_label_values(&[event.as_str()]);
        }

        let cluster = crate::bus::ClusterMetrics::new(&registry);
        let push = crate::push::PushMetrics::new(&registry);
        let business = BusinessMetrics::new(&registry);
        let dependencies = crate::dependencies::DependencyGauge::new(&registry);
        // Registration fails only on duplicate names, which this fixed list does not have.
        let register = |c: Box<dyn prometheus::core::Collector>| {
            registry.register(c).expect("metric names are unique")
        };
        register(Box::new(http_requests_total.clone()));
        register(Box::new(http_request_duration_seconds.clone()));
        register(Box::new(http_requests_in_flight.clone()));
        register(Box::new(store_op_duration_seconds.clone()));
        register(Box::new(store_errors_total.clone()));
        register(Box::new(store_appends_waiting.clone()));
        register(Box::new(ws_connections.clone()));
        register(Box::new(sessions_active.clone()));
        register(Box::new(ws_messages_sent_total.clone()));
        register(Box::new(ws_messages_received_total.clone()));
        register(Box::new(ws_closed_total.clone()));
        register(Box::new(ws_slow_consumer_total.clone()));
        register(Box::new(event_delivery_seconds.clone()));
        register(Box::new(live_classes_active.clone()));
        register(Box::new(live_participants.clone()));
        register(Box::new(live_metrics_rejected_total.clone()));
        register(Box::new(broadcast_duration_seconds.clone()));
        register(Box::new(outbox_pending.clone()));
        register(Box::new(outbox_dead_total.clone()));
        register(Box::new(outbox_deliveries_total.clone()));
        register(Box::new(webhooks_total.clone()));
        register(Box::new(entitlement_changes_total.clone()));
        register(Box::new(drop_orders_total.clone()));
        register(Box::new(drop_stock_remaining.clone()));
        register(Box::new(message_events_total.clone()));
        register(Box::new(drop_stock_units.clone()));
        register(Box::new(connections_refused_total.clone()));
        register(Box::new(build_info));
        register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));

        Metrics {
            registry,
            http_requests_total,
            http_request_duration_seconds,
            http_requests_in_flight,
            store_op_duration_seconds,
            store_errors_total,
            store_appends_waiting,
            ws_connections,
            sessions_active,
            ws_messages_sent_total,
            ws_messages_received_total,
            ws_closed_total,
            ws_slow_consumer_total,
            event_delivery_seconds,
            live_classes_active,
            live_participants,
            live_metrics_rejected_total,
            broadcast_duration_seconds,
            outbox_pending,
            outbox_dead_total,
            outbox_deliveries_total,
            webhooks_total,
            entitlement_changes_total,
            drop_orders_total,
            drop_stock_remaining,
            message_events_total,
            drop_stock_units,
            connections_refused_total,
            cluster,
            push,
            business,
            dependencies,
        }
    }

    /// Counts one outbox attempt of an item of `kind` (`email.send` counts as `email`).
    pub fn outbox_delivery(&self, kind: &str, result: DeliveryResult) {
        let family = kind.split('.').next().unwrap_or_default();
        let family = OUTBOX_FAMILIES
            .into_iter()
            .find(|f| *f == family)
            .unwrap_or("other");
        self.outbox_deliveries_total
            .with_label_values(&[family, result.as_str()])
            .inc();
        if result == DeliveryResult::Dead {
            self.outbox_dead_total.inc();
        }
    }

    /// Counts one notification from `provider` and what became of it.
    pub fn webhook(&self, provider: WebhookProvider, result: WebhookResult) {
        self.webhooks_total
            .with_label_values(&[provider.as_str(), result.as_str()])
            .inc();
    }

    /// Counts one subscription change applied to a user's entitlements.
    pub fn entitlement_changed(&self, change: EntitlementChange) {
        self.entitlement_changes_total
            .with_label_values(&[change.as_str()])
            .inc();
    }

    /// Counts one drop order attempt or order change.
    pub fn drop_order(&self, result: DropOrderResult) {
        self.drop_orders_total
            .with_label_values(&[result.as_str()])
            .inc();
    }

    /// Sets the units of `drop` still for sale, out of the `stock` it was put on sale with.
    pub fn drop_stock(&self, drop: &str, remaining: u32, stock: u32) {
        self.drop_stock_remaining
            .with_label_values(&[drop])
            .set(i64::from(remaining));
        self.drop_stock_units
            .with_label_values(&[drop])
            .set(i64::from(stock));
    }

    /// Removes the stock and unit series of a drop that ended.
    pub fn forget_drop(&self, drop: &str) {
        let _ = self.drop_stock_remaining.remove_label_values(&[drop]);
        let _ = self.drop_stock_units.remove_label_values(&[drop]);
        self.business.forget_drop(drop);
    }

    /// Counts one feature-message event.
    pub fn message_event(&self, event: MessageEvent) {
        self.message_events_total
            .with_label_values(&[event.as_str()])
            .inc();
    }

    /// The registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec only fails on malformed metric families, which we never build.
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding succeeds");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

impl fitpulse_actors::ports::observer::SessionObserver for Metrics {
    fn session_started(&self) {
        self.sessions_active.inc();
    }

    fn session_stopped(&self) {
        self.sessions_active.dec();
    }

    fn slow_consumer(&self) {
        self.ws_slow_consumer_total.inc();
    }
}

impl fitpulse_actors::ports::observer::LiveObserver for Metrics {
    fn class_started(&self) {
        self.live_classes_active.inc();
    }

    fn class_stopped(&self) {
        self.live_classes_active.dec();
    }

    fn participants_changed(&self, delta: i64) {
        self.live_participants.add(delta);
    }

    fn broadcast(&self, duration: std::time::Duration) {
        self.broadcast_duration_seconds
            .observe(duration.as_secs_f64());
    }

    fn member_attended(&self) {
        self.business.member_attended();
    }

    fn members_completed(&self, members: u64) {
        self.business.members_completed(members);
    }

    fn metric_rejected(&self, reason: &'static str) {
        self.live_metrics_rejected_total
            .with_label_values(&[reason])
            .inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_build_info_with_the_crate_version() {
        let text = Metrics::new().render();
        let expected = format!(
            "fitpulse_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.contains(&expected), "{text}");
    }

    #[test]
    fn process_metrics_are_exported() {
        let text = Metrics::new().render();
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
    }

    #[test]
    fn commerce_series_exist_at_zero_before_anything_happens() {
        let text = Metrics::new().render();
        for series in [
            "fitpulse_outbox_pending 0",
            "fitpulse_outbox_dead_total 0",
            "fitpulse_outbox_deliveries_total{kind_family=\"webhook\",result=\"dead\"} 0",
            "fitpulse_webhooks_total{provider=\"googleplay\",result=\"rejected\"} 0",
            "fitpulse_entitlement_changes_total{change=\"on_hold\"} 0",
        ] {
            assert!(text.contains(series), "{series} missing in {text}");
        }
    }

    #[test]
    fn every_message_event_series_exists_at_zero_before_anything_happens() {
        let text = Metrics::new().render();
        for event in ["delivered", "read", "clicked", "dismissed"] {
            let series = format!("fitpulse_message_events_total{{event=\"{event}\"}} 0");
            assert!(text.contains(&series), "{series} missing in {text}");
        }
    }

    #[test]
    fn an_unknown_outbox_kind_counts_as_other_and_dead_counts_twice_over() {
        let metrics = Metrics::new();
        metrics.outbox_delivery("sms.send", DeliveryResult::Dead);
        metrics.outbox_delivery("email.send", DeliveryResult::Delivered);
        let text = metrics.render();
        assert!(
            text.contains(
                "fitpulse_outbox_deliveries_total{kind_family=\"other\",result=\"dead\"} 1"
            )
        );
        assert!(text.contains(
            "fitpulse_outbox_deliveries_total{kind_family=\"email\",result=\"delivered\"} 1"
        ));
        assert!(text.contains("fitpulse_outbox_dead_total 1"));
    }

    #[test]
    fn two_registries_do_not_share_counts() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.http_requests_total
            .with_label_values(&["/healthz", "GET", "200"])
            .inc();
        assert!(a.render().contains(
            "fitpulse_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ));
        assert!(!b.render().contains("fitpulse_http_requests_total{"));
    }
}
