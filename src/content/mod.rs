//! Content: the catalog (recipes, workouts, plan templates, posts) with its in-memory read
//! model, list queries and demo seed; users' plans and shopping lists; and the client
//! configuration. The HTTP routes over it live in `crate::http::{catalog, plan, ...}`.

pub mod catalog;
pub mod client_config;
pub mod events;
pub mod items;
pub mod plan;
pub mod plan_commands;
pub mod plan_views;
pub mod plans;
pub mod query;
pub mod search;
pub mod seed;
pub mod shopping;
pub mod sync;
pub mod units;
pub mod views;
pub mod vocabulary;
pub mod workout_blocks;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

pub use catalog::{Catalog, CatalogError, Entry};
pub use client_config::ClientConfig;

use crate::config::ContentSettings;
use crate::store::Stores;

/// The content services a node serves from memory.
pub struct Content {
    pub catalog: Catalog,
    client_config: RwLock<Arc<ClientConfig>>,
    client_config_version: AtomicU64,
    pub settings: ContentSettings,
    /// In a cluster: how catalog changes reach the other nodes (see `sync`).
    sync: std::sync::OnceLock<crate::bus::announce::Announcer>,
}

impl Content {
    /// Loads the catalog (seeding the demo catalog into an empty store when configured)
    /// and the client configuration.
    pub async fn load(stores: &Stores, settings: ContentSettings) -> Result<Content, CatalogError> {
        let catalog = Catalog::load(stores.content.clone(), stores.likes.clone()).await?;
        if catalog.is_empty() && settings.seed_demo {
            let items = seed::demo_catalog();
            tracing::info!(
                items = items.len(),
                "seeding the demo catalog into an empty store"
            );
            catalog.put_all(items).await?;
        }
        let client_config = match stores.settings.setting(client_config::SETTING).await? {
            Some(doc) => serde_json::from_str(&doc).map_err(|source| CatalogError::Corrupt {
                item: client_config::SETTING.into(),
                source,
            })?,
            None => ClientConfig::default(),
        };
        Ok(Content {
            catalog,
            client_config: RwLock::new(Arc::new(client_config)),
            client_config_version: AtomicU64::new(1),
            settings,
            sync: std::sync::OnceLock::new(),
        })
    }

    pub fn client_config(&self) -> (Arc<ClientConfig>, u64) {
        let config = self
            .client_config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        (config, self.client_config_version.load(Ordering::Acquire))
    }

    /// Serves a new client configuration (after it was stored).
    pub fn replace_client_config(&self, config: ClientConfig) {
        *self
            .client_config
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        self.client_config_version.fetch_add(1, Ordering::AcqRel);
    }
}
