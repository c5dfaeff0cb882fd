//! Times one store operation into the store metrics and counts its failures, so the
//! backends record every call the same way with one line each.

use std::future::Future;
use std::time::Instant;

use fitpulse_actors::ports::store::StoreError;
use prometheus::{Histogram, IntCounter};
use tracing::Instrument;

/// The metric handles of one backend, resolved per operation name on first use.
#[derive(Clone)]
pub struct OpMetrics {
    backend: &'static str,
    metrics: crate::metrics::Metrics,
}

impl OpMetrics {
    /// Feed appends nobody waits for, waiting for their turn now.
    pub fn appends_waiting(&self) -> &prometheus::IntGauge {
        &self.metrics.store_appends_waiting
    }

    pub fn new(backend: &'static str, metrics: &crate::metrics::Metrics) -> Self {
        // The error series exists from the start, so alerts on its rate work at once.
        metrics
            .store_errors_total
            .with_label_values(&[backend, "ping"]);
        OpMetrics {
            backend,
            metrics: metrics.clone(),
        }
    }

    fn handles(&self, op: &'static str) -> (Histogram, IntCounter) {
        (
            self.metrics
                .store_op_duration_seconds
                .with_label_values(&[self.backend, op]),
            self.metrics
                .store_errors_total
                .with_label_values(&[self.backend, op]),
        )
    }

    /// Runs `fut`, recording its duration under `op` and counting it if it fails.
    pub async fn time<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let (duration, errors) = self.handles(op);
        let span = tracing::debug_span!(
            "store",
            otel.name = op,
            otel.kind = "client",
            db.system = self.backend,
            db.operation = op,
        );
        let started = Instant::now();
        let result = fut.instrument(span).await;
        duration.observe(started.elapsed().as_secs_f64());
        if let Err(err) = &result {
            // Conflicts are answers, not failures of the store.
            if !matches!(err, StoreError::Conflict { .. }) {
                errors.inc();
                tracing::warn!(backend = self.backend, op, error = %err, cause = ?std::error::Error::source(err), "store operation failed");
            }
        }
        result
    }
}
