//! Opening each backend for a conformance test.

use std::sync::OnceLock;

use fitpulse::config::Settings;
use fitpulse::metrics::Metrics;
use fitpulse::store::{self, Stores};
use tempfile::TempDir;

pub struct Backend {
    pub stores: Stores,
    pub metrics: Metrics,
    _data_dir: Option<TempDir>,
}

/// A fresh embedded store in its own directory.
pub async fn embedded() -> Backend {
    crate::helpers::init_logs();
    let data_dir = tempfile::tempdir().expect("temp dir");
    let settings = Settings {
        data_dir: data_dir.path().to_owned(),
        ..Settings::default()
    };
    let metrics = Metrics::new();
    let stores = store::open(&settings, &metrics)
        .await
        .expect("embedded store opens");
    Backend {
        stores,
        metrics,
        _data_dir: Some(data_dir),
    }
}

/// The CQL contact point for the scylla runs, or `None` (with a note) when not configured.
pub fn cql_contact_point() -> Option<String> {
    match std::env::var("FITPULSE_TEST_CQL") {
        Ok(nodes) if !nodes.is_empty() => Some(nodes),
        _ if std::env::var("FITPULSE_TEST_REQUIRE_CQL").as_deref() == Ok("1") => {
            panic!("FITPULSE_TEST_REQUIRE_CQL=1 but FITPULSE_TEST_CQL is not set")
        }
        _ => {
            crate::skips::skipped("no CQL server: set FITPULSE_TEST_CQL (scripts/test does)");
            None
        }
    }
}

/// Scylla settings for `keyspace` on the test CQL server.
pub fn scylla_settings(nodes: &str, keyspace: &str) -> Settings {
    let mut settings = Settings::default();
    settings.store.kind = fitpulse::config::StoreKind::Scylla;
    settings.store.scylla.nodes = nodes.split(',').map(str::to_owned).collect();
    settings.store.scylla.keyspace = keyspace.to_owned();
    // A shared CI machine can be slow; the suite checks outcomes, not latency.
    settings.store.scylla.request_timeout_ms = 20_000;
    settings.store.scylla.connect_timeout_ms = 20_000;
    // Few background appends in flight, so the suite's many users appending behind at
    // once mostly wait their turn (the path a broadcast takes on a busy node).
    settings.store.scylla.background_appends_in_flight = 4;
    settings
}

/// One keyspace per test binary run, migrated once.
pub fn suite_keyspace(nodes: &str) -> &'static str {
    static KEYSPACE: OnceLock<String> = OnceLock::new();
    KEYSPACE.get_or_init(|| {
        let keyspace = format!("fitpulse_test_{}", std::process::id());
        let settings = scylla_settings(nodes, &keyspace);
        // Each test has its own runtime, and a driver session belongs to the runtime that
        // made it; the one-time migration gets a runtime of its own.
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .expect("runtime")
                .block_on(async {
                    let session = fitpulse::store::scylla::open_session(&settings.store.scylla)
                        .await
                        .expect("CQL server reachable");
                    fitpulse::store::scylla::migrate::run(&session, &settings.store.scylla)
                        .await
                        .expect("migrations apply");
                });
        })
        .join()
        .expect("migration thread");
        keyspace
    })
}

/// A scylla store on the suite's keyspace, or `None` when no CQL server is configured.
pub async fn scylla() -> Option<Backend> {
    crate::helpers::init_logs();
    let nodes = cql_contact_point()?;
    let keyspace = tokio::task::block_in_place(|| suite_keyspace(&nodes));
    let settings = scylla_settings(&nodes, keyspace);
    let metrics = Metrics::new();
    let stores = store::open(&settings, &metrics)
        .await
        .expect("scylla store opens");
    Some(Backend {
        stores,
        metrics,
        _data_dir: None,
    })
}
