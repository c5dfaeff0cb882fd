//! `fitpulse_dependency_up{dependency}`: 1 while a dependency answers its probe, 0 while it
//! does not. Only the dependencies this node is configured with get a series.

use prometheus::{IntGaugeVec, Opts, Registry};

use super::Dependency;

#[derive(Clone)]
pub struct DependencyGauge {
    up: IntGaugeVec,
}

impl DependencyGauge {
    pub fn new(registry: &Registry) -> DependencyGauge {
        let up = IntGaugeVec::new(
            Opts::new(
                "fitpulse_dependency_up",
                "1 while a configured dependency (store, bus, smtp, apns, fcm) answers its \
                 probe, 0 while it does not",
            ),
            &["dependency"],
        )
        .expect("valid metric definition");
        registry
            .register(Box::new(up.clone()))
            .expect("metric names are unique");
        DependencyGauge { up }
    }

    pub fn set(&self, dependency: Dependency, up: bool) {
        self.up
            .with_label_values(&[dependency.as_str()])
            .set(i64::from(up));
    }
}
