//! `fitpulse migrate`: brings the configured store's schema up to date.

use crate::config::{Settings, StoreKind};
use crate::metrics::Metrics;
use crate::store::{embedded, scylla};

#[derive(Debug, thiserror::Error)]
pub enum MigrateCommandError {
    #[error(transparent)]
    Embedded(#[from] embedded::OpenError),
    #[error(transparent)]
    Connect(#[from] scylla::ConnectError),
    #[error(transparent)]
    Migrate(#[from] scylla::migrate::MigrateError),
}

/// Runs the migration and returns a one-line summary for the operator.
pub async fn run(settings: &Settings) -> Result<String, MigrateCommandError> {
    match settings.store.kind {
        StoreKind::Embedded => {
            // Opening the embedded store creates every table it needs.
            embedded::EmbeddedStore::open(&settings.data_dir, &Metrics::new()).await?;
            Ok(format!(
                "embedded store ready in {}; it has no separate schema to migrate",
                settings.data_dir.display()
            ))
        }
        StoreKind::Scylla => {
            let session = scylla::open_session(&settings.store.scylla).await?;
            let report = scylla::migrate::run(&session, &settings.store.scylla).await?;
            Ok(if report.applied.is_empty() {
                format!(
                    "keyspace `{}` is up to date ({} migrations already applied)",
                    settings.store.scylla.keyspace, report.already_applied
                )
            } else {
                format!(
                    "keyspace `{}`: applied {}",
                    settings.store.scylla.keyspace,
                    report.applied.join(", ")
                )
            })
        }
    }
}
