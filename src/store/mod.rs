//! Store backends behind the ports of `fitpulse_actors::ports::store`.
//!
//! - `embedded`: a redb file under the data directory, the default; nothing else to run.
//! - `scylla`: ScyllaDB or Apache Cassandra through the scylla driver, schema from `cql/`.
//!
//! Both pass the one conformance suite in `tests/api/store`. [`Stores`] bundles the ports
//! of the configured backend; every call is timed into `fitpulse_store_op_duration_seconds`.

mod bests;
pub mod embedded;
mod samples;
pub mod scylla;
mod timed;

use std::sync::Arc;

use fitpulse_actors::ports::accounts::{AccountDataStore, AccountTokenStore, IdentityStore};
use fitpulse_actors::ports::audit::AuditStore;
use fitpulse_actors::ports::commerce::{OutboxStore, SubscriptionStore};
use fitpulse_actors::ports::community::CommunityStore;
use fitpulse_actors::ports::drops::DropStore;
use fitpulse_actors::ports::messages::MessageStore;
use fitpulse_actors::ports::push::PushStore;
use fitpulse_actors::ports::replays::ReplayStore;
use fitpulse_actors::ports::store::{
    ContentStore, EntitlementStore, FeedStore, HealthCheck, IdempotencyStore, LikeStore,
    LiveClassStore, PlanStore, RefreshTokenStore, RevocationStore, SaveStore, SettingStore,
    UserStore,
};
use fitpulse_actors::ports::workouts::WorkoutStore;

use crate::config::{Settings, StoreKind};
use crate::metrics::Metrics;

/// The ports of one backend, each shared by every handler and actor that needs it.
#[derive(Clone)]
pub struct Stores {
    pub backend: &'static str,
    pub health: Arc<dyn HealthCheck>,
    pub users: Arc<dyn UserStore>,
    pub account_tokens: Arc<dyn AccountTokenStore>,
    pub identities: Arc<dyn IdentityStore>,
    pub audit: Arc<dyn AuditStore>,
    pub account_data: Arc<dyn AccountDataStore>,
    pub likes: Arc<dyn LikeStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub refresh_tokens: Arc<dyn RefreshTokenStore>,
    pub revocations: Arc<dyn RevocationStore>,
    pub entitlements: Arc<dyn EntitlementStore>,
    pub feed: Arc<dyn FeedStore>,
    pub plans: Arc<dyn PlanStore>,
    pub live: Arc<dyn LiveClassStore>,
    pub saves: Arc<dyn SaveStore>,
    pub content: Arc<dyn ContentStore>,
    pub settings: Arc<dyn SettingStore>,
    pub subscriptions: Arc<dyn SubscriptionStore>,
    pub outbox: Arc<dyn OutboxStore>,
    pub drops: Arc<dyn DropStore>,
    pub messages: Arc<dyn MessageStore>,
    pub community: Arc<dyn CommunityStore>,
    pub push: Arc<dyn PushStore>,
    pub workouts: Arc<dyn WorkoutStore>,
    pub replays: Arc<dyn ReplayStore>,
}

impl Stores {
    fn from_backend<B>(backend: &'static str, store: Arc<B>) -> Stores
    where
        B: HealthCheck
            + UserStore
            + AccountTokenStore
            + IdentityStore
            + AuditStore
            + AccountDataStore
            + LikeStore
            + IdempotencyStore
            + RefreshTokenStore
            + RevocationStore
            + EntitlementStore
            + FeedStore
            + PlanStore
            + LiveClassStore
            + SaveStore
            + ContentStore
            + SettingStore
            + SubscriptionStore
            + OutboxStore
            + DropStore
            + MessageStore
            + CommunityStore
            + PushStore
            + WorkoutStore
            + ReplayStore
            + 'static,
    {
        Stores {
            backend,
            health: store.clone(),
            users: store.clone(),
            account_tokens: store.clone(),
            identities: store.clone(),
            audit: store.clone(),
            account_data: store.clone(),
            likes: store.clone(),
            idempotency: store.clone(),
            refresh_tokens: store.clone(),
            revocations: store.clone(),
            entitlements: store.clone(),
            feed: store.clone(),
            plans: store.clone(),
            live: store.clone(),
            saves: store.clone(),
            content: store.clone(),
            settings: store.clone(),
            subscriptions: store.clone(),
            outbox: store.clone(),
            drops: store.clone(),
            messages: store.clone(),
            community: store.clone(),
            push: store.clone(),
            workouts: store.clone(),
            replays: store,
        }
    }
}

/// Why the configured store could not be opened at start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Embedded(#[from] embedded::OpenError),
    #[error(transparent)]
    Scylla(#[from] scylla::ConnectError),
}

/// Opens the backend named by `store.kind`. For scylla the schema must already be
/// migrated (`fitpulse migrate`); the server refuses to start otherwise.
pub async fn open(settings: &Settings, metrics: &Metrics) -> Result<Stores, OpenError> {
    Ok(match settings.store.kind {
        StoreKind::Embedded => Stores::from_backend(
            embedded::BACKEND,
            Arc::new(embedded::EmbeddedStore::open(&settings.data_dir, metrics).await?),
        ),
        StoreKind::Scylla => Stores::from_backend(
            scylla::BACKEND,
            Arc::new(scylla::ScyllaStore::connect(&settings.store.scylla, metrics).await?),
        ),
    })
}

/// A `device_page` cursor the store did not hand out: a caller bug or a tampered value,
/// never a reason to start the scan over.
#[derive(Debug, thiserror::Error)]
#[error("the device page cursor {0:?} is not one the store handed out")]
pub(crate) struct MalformedCursor(pub(crate) String);

/// A JSON document (class results) without the objects that name `user` in one of their
/// strings; a document that does not parse becomes an empty list.
pub(crate) fn scrubbed(doc: &str, user: &str) -> String {
    fn names(value: &serde_json::Value, user: &str) -> bool {
        value
            .as_object()
            .is_some_and(|fields| fields.values().any(|v| v.as_str() == Some(user)))
    }
    fn scrub(value: &mut serde_json::Value, user: &str) {
        match value {
            serde_json::Value::Array(items) => {
                items.retain(|item| !names(item, user));
                items.iter_mut().for_each(|item| scrub(item, user));
            }
            serde_json::Value::Object(fields) => fields.values_mut().for_each(|v| scrub(v, user)),
            _ => {}
        }
    }
    match serde_json::from_str::<serde_json::Value>(doc) {
        Ok(mut value) => {
            scrub(&mut value, user);
            value.to_string()
        }
        Err(_) => "[]".to_owned(),
    }
}
