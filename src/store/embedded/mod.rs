//! The embedded store: one redb file, `fitpulse.redb`, in the data directory.
//!
//! Why redb: a pure-Rust, ACID, copy-on-write B-tree in a single file. Every commit is
//! crash-safe on its own (no write-ahead log to replay, no background compaction threads),
//! readers never block the writer, and its single-writer model turns uniqueness rules
//! (emails, idempotency keys, one like per user) into a plain read-then-write inside one
//! transaction. fjall, an LSM tree, would ingest faster, but brings background threads and
//! tuning that a one-node default store does not need.
//!
//! redb is synchronous, so every call runs on tokio's blocking pool.

mod account_tokens;
mod audit;
mod community;
mod content;
mod drops;
mod entitlements;
mod erasure;
mod erasure_scan;
mod feed;
mod grouped;
mod idempotency;
mod identities;
mod likes;
mod live;
mod marks;
mod messages;
mod outbox;
mod plans;
mod push;
mod refresh_tokens;
mod replays;
mod revocations;
mod saves;
mod subscriptions;
mod users;
mod workouts;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use fitpulse_actors::ports::store::{HealthCheck, StoreError};
use redb::{Database, ReadTransaction, TableDefinition, WriteTransaction};

use super::timed::OpMetrics;
use crate::metrics::Metrics;

/// The backend's name in metrics and logs.
pub const BACKEND: &str = "embedded";
const FILE_NAME: &str = "fitpulse.redb";

/// Separates the parts of a composite key; no id we accept contains it.
const KEY_SEPARATOR: char = '\u{1f}';

const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
const USERS_BY_EMAIL: TableDefinition<&str, &str> = TableDefinition::new("users_by_email");
const USERS_BY_DEVICE: TableDefinition<&str, &str> = TableDefinition::new("users_by_device");
const REFRESH_TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("refresh_tokens");
const REFRESH_FAMILIES: TableDefinition<&str, &[u8]> = TableDefinition::new("refresh_families");
/// Keys `user<sep>family`, so a user's families are one range scan.
const USER_FAMILIES: TableDefinition<&str, ()> = TableDefinition::new("refresh_families_by_user");
/// Keys `at<sep>user` with the time zero-padded; values the time the entry may go.
const REVOCATIONS: TableDefinition<&str, i64> = TableDefinition::new("token_revocations");
/// Keys `user<sep>name`.
const ENTITLEMENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("entitlements");
/// Keys `user<sep>seq` with the seq zero-padded, so a user's events sort by seq.
const FEED_EVENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("feed_events");
const FEED_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("feed_state");
const PLANS: TableDefinition<&str, &str> = TableDefinition::new("plans");
const LIVE_CLASSES: TableDefinition<&str, &[u8]> = TableDefinition::new("live_classes");
/// Keys `scheduled_at<sep>id` with the time zero-padded, so a range scan lists a window.
const LIVE_BY_TIME: TableDefinition<&str, &str> = TableDefinition::new("live_classes_by_time");
const LIVE_RESULTS: TableDefinition<&str, &str> = TableDefinition::new("live_results");
/// Keys `class<sep>user`.
const LIVE_REMINDERS: TableDefinition<&str, ()> = TableDefinition::new("live_reminders");
const LIKES: TableDefinition<&str, i64> = TableDefinition::new("likes");
const LIKE_COUNTS: TableDefinition<&str, u64> = TableDefinition::new("like_counts");
const IDEMPOTENCY: TableDefinition<&str, &[u8]> = TableDefinition::new("idempotency_keys");
/// Keys `user<sep>kind<sep>id`, values the time of the save.
const SAVES: TableDefinition<&str, i64> = TableDefinition::new("saves");
/// Keys `kind<sep>id`.
const CONTENT: TableDefinition<&str, &[u8]> = TableDefinition::new("content_items");
const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");
/// Keys `user<sep>subscription id`.
const SUBSCRIPTIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("subscriptions");
const PURCHASE_LINKS: TableDefinition<&str, &[u8]> = TableDefinition::new("purchase_links");
const OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("outbox_items");
/// Keys `next_at<sep>id` of pending items, the time zero-padded.
const OUTBOX_DUE: TableDefinition<&str, ()> = TableDefinition::new("outbox_due");
const OUTBOX_DEAD: TableDefinition<&str, ()> = TableDefinition::new("outbox_dead");
const DROPS: TableDefinition<&str, &[u8]> = TableDefinition::new("drops");
/// Keys `drop<sep>user`, values units taken.
/// A drop's leases: (drop, lease) -> the lease.
const DROP_LEASES: TableDefinition<&str, &[u8]> = TableDefinition::new("drop_leases");
const DROP_QUOTAS: TableDefinition<&str, u32> = TableDefinition::new("drop_quotas");
const ORDERS: TableDefinition<&str, &[u8]> = TableDefinition::new("orders");
/// Keys `drop<sep>order`.
const DROP_ORDERS: TableDefinition<&str, ()> = TableDefinition::new("orders_by_drop");
const FEATURE_MESSAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("feature_messages");
/// Keys `user<sep>message`.
const MESSAGE_STATES: TableDefinition<&str, &[u8]> = TableDefinition::new("message_states");
/// Message id -> its counts (deliveries, reads, clicks, dismissals).
const MESSAGE_STATS: TableDefinition<&str, &[u8]> = TableDefinition::new("message_stats");
/// Keys `user<sep>day`, the day sorting newest first.
const CHECKINS: TableDefinition<&str, &[u8]> = TableDefinition::new("checkins");
/// Keys `follower<sep>followee`; `FOLLOWERS` holds the same pairs the other way round.
const FOLLOWING: TableDefinition<&str, ()> = TableDefinition::new("following");
/// Keys `followee<sep>follower`.
const FOLLOWERS: TableDefinition<&str, ()> = TableDefinition::new("followers");
/// Keys `user<sep>blocked user`.
const BLOCKS: TableDefinition<&str, ()> = TableDefinition::new("blocks");
/// Keys `blocked user<sep>user`: the same pairs the other way round.
const BLOCKED_BY: TableDefinition<&str, ()> = TableDefinition::new("blocked_by");
const COMMUNITY_GROUPS: TableDefinition<&str, &[u8]> = TableDefinition::new("community_groups");
/// Keys `group<sep>user`.
const GROUP_MEMBERS: TableDefinition<&str, ()> = TableDefinition::new("group_members");
/// Keys `user<sep>group`: the groups of a user.
const GROUPS_BY_USER: TableDefinition<&str, ()> = TableDefinition::new("groups_by_user");
/// Posts and comments by id.
const POSTS: TableDefinition<&str, &[u8]> = TableDefinition::new("posts");
/// Keys `group<sep>created_at<sep>post`, the time sorting newest first.
const GROUP_POSTS: TableDefinition<&str, ()> = TableDefinition::new("group_posts");
/// Keys `post<sep>created_at<sep>comment`, the time sorting oldest first.
const POST_COMMENTS: TableDefinition<&str, ()> = TableDefinition::new("post_comments");
/// Keys `created_at<sep>report`, the time sorting newest first.
const REPORTS: TableDefinition<&str, &[u8]> = TableDefinition::new("reports");
/// Token hash -> one-time account token (reset and verification links) and whether taken.
const ACCOUNT_TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("account_tokens");
/// User -> their data export (requested, ready, the document).
const EXPORTS: TableDefinition<&str, &[u8]> = TableDefinition::new("account_exports");
/// Audit entry id (a v7 uuid, sorting in time order) -> the entry.
const AUDIT_LOG: TableDefinition<&str, &[u8]> = TableDefinition::new("audit_log");
/// `provider<sep>subject` -> the identity (its user, email, when linked).
const IDENTITIES: TableDefinition<&str, &[u8]> = TableDefinition::new("identities");
/// `user<sep>provider` -> the identity's key in `IDENTITIES`.
const USER_IDENTITIES: TableDefinition<&str, &str> = TableDefinition::new("identities_by_user");
/// Keys `user<sep>device id`, values the device (platform, token, app details, when).
const PUSH_DEVICES: TableDefinition<&str, &[u8]> = TableDefinition::new("push_devices");
/// Push token -> `user<sep>device id` of the one device that holds it.
const PUSH_TOKENS: TableDefinition<&str, &str> = TableDefinition::new("push_tokens");
/// User -> their notification settings (a JSON document).
const NOTIFICATION_SETTINGS: TableDefinition<&str, &str> =
    TableDefinition::new("notification_settings");
/// Keys `user<sep>day<sep>kind`, values how many pushes of that kind the user got that day.
const PUSH_COUNTS: TableDefinition<&str, u32> = TableDefinition::new("push_counts");
/// Keys `user<sep>workout id`, values the workout record.
const WORKOUTS: TableDefinition<&str, &[u8]> = TableDefinition::new("workouts");
/// Keys `user<sep>finished_at<sep>workout id`, the time sorting newest first: the history.
const WORKOUTS_BY_TIME: TableDefinition<&str, ()> = TableDefinition::new("workouts_by_time");
/// Keys `user<sep>catalog workout id`, values the user's bests on it.
const PERSONAL_RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("personal_records");
/// Keys `class<sep>taker<sep>recorded_at`, values a timeline (see `replays`).
const CLASS_TIMELINES: TableDefinition<&str, &[u8]> = TableDefinition::new("class_timelines");
/// Keys `user<sep>class`: the classes where the user has a timeline, so erasure finds them.
const TIMELINE_CLASSES: TableDefinition<&str, ()> =
    TableDefinition::new("timeline_classes_by_user");
/// Replay id -> the replay.
const REPLAYS: TableDefinition<&str, &[u8]> = TableDefinition::new("replays");
/// Keys `user<sep>replay id`: the replays of a user, so erasure finds them.
const REPLAYS_BY_USER: TableDefinition<&str, ()> = TableDefinition::new("replays_by_user");

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {path}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the embedded store at {path} (is another fitpulse using it?)")]
    Open {
        path: PathBuf,
        #[source]
        source: redb::Error,
    },
}

pub struct EmbeddedStore {
    db: Arc<Database>,
    ops: OpMetrics,
    /// Likes and unlikes, committed in groups.
    likes: Arc<grouped::GroupCommit<likes::LikeOp, bool>>,
    /// Sessions' feed appends, committed in groups (a broadcast appends to every session).
    feed_appends: Arc<grouped::GroupCommit<feed::FeedAppend, ()>>,
    /// Plan documents stored after each edit, committed in groups.
    plan_puts: Arc<grouped::GroupCommit<plans::PlanPut, ()>>,
}

impl EmbeddedStore {
    /// Opens (creating if needed) the store file under `data_dir` with every table present.
    pub async fn open(data_dir: &Path, metrics: &Metrics) -> Result<Self, OpenError> {
        std::fs::create_dir_all(data_dir).map_err(|source| OpenError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
        let path = data_dir.join(FILE_NAME);
        let db_path = path.clone();
        let opened = tokio::task::spawn_blocking(move || -> Result<Database, redb::Error> {
            let db = Database::create(&db_path)?;
            let txn = db.begin_write()?;
            txn.open_table(USERS)?;
            txn.open_table(USERS_BY_EMAIL)?;
            txn.open_table(USERS_BY_DEVICE)?;
            txn.open_table(ACCOUNT_TOKENS)?;
            txn.open_table(IDENTITIES)?;
            txn.open_table(AUDIT_LOG)?;
            txn.open_table(EXPORTS)?;
            txn.open_table(USER_IDENTITIES)?;
            txn.open_table(REFRESH_TOKENS)?;
            txn.open_table(REFRESH_FAMILIES)?;
            txn.open_table(USER_FAMILIES)?;
            txn.open_table(ENTITLEMENTS)?;
            txn.open_table(REVOCATIONS)?;
            txn.open_table(FEED_EVENTS)?;
            txn.open_table(FEED_STATE)?;
            txn.open_table(PLANS)?;
            txn.open_table(LIVE_CLASSES)?;
            txn.open_table(LIVE_BY_TIME)?;
            txn.open_table(LIVE_RESULTS)?;
            txn.open_table(LIVE_REMINDERS)?;
            txn.open_table(LIKES)?;
            txn.open_table(LIKE_COUNTS)?;
            txn.open_table(IDEMPOTENCY)?;
            txn.open_table(SAVES)?;
            txn.open_table(CONTENT)?;
            txn.open_table(SETTINGS)?;
            txn.open_table(SUBSCRIPTIONS)?;
            txn.open_table(PURCHASE_LINKS)?;
            txn.open_table(OUTBOX)?;
            txn.open_table(OUTBOX_DUE)?;
            txn.open_table(OUTBOX_DEAD)?;
            txn.open_table(DROPS)?;
            txn.open_table(DROP_LEASES)?;
            txn.open_table(DROP_QUOTAS)?;
            txn.open_table(ORDERS)?;
            txn.open_table(DROP_ORDERS)?;
            txn.open_table(FEATURE_MESSAGES)?;
            txn.open_table(MESSAGE_STATES)?;
            txn.open_table(MESSAGE_STATS)?;
            txn.open_table(CHECKINS)?;
            txn.open_table(FOLLOWING)?;
            txn.open_table(FOLLOWERS)?;
            txn.open_table(BLOCKS)?;
            community::fill_blocked_by(&txn)?;
            txn.open_table(COMMUNITY_GROUPS)?;
            txn.open_table(GROUP_MEMBERS)?;
            txn.open_table(GROUPS_BY_USER)?;
            txn.open_table(POSTS)?;
            txn.open_table(GROUP_POSTS)?;
            txn.open_table(POST_COMMENTS)?;
            txn.open_table(REPORTS)?;
            txn.open_table(PUSH_DEVICES)?;
            txn.open_table(PUSH_TOKENS)?;
            txn.open_table(NOTIFICATION_SETTINGS)?;
            txn.open_table(PUSH_COUNTS)?;
            txn.open_table(WORKOUTS)?;
            txn.open_table(WORKOUTS_BY_TIME)?;
            txn.open_table(PERSONAL_RECORDS)?;
            txn.open_table(CLASS_TIMELINES)?;
            txn.open_table(TIMELINE_CLASSES)?;
            txn.open_table(REPLAYS)?;
            txn.open_table(REPLAYS_BY_USER)?;
            txn.commit()?;
            Ok(db)
        })
        .await
        .map_err(|join| OpenError::Open {
            path: path.clone(),
            source: redb::Error::Io(std::io::Error::other(join.to_string())),
        })?;
        let db = opened.map_err(|source| OpenError::Open { path, source })?;
        let db = Arc::new(db);
        Ok(EmbeddedStore {
            likes: grouped::GroupCommit::new(db.clone(), likes::apply),
            feed_appends: grouped::GroupCommit::new(db.clone(), feed::append),
            plan_puts: grouped::GroupCommit::new(db.clone(), plans::put),
            db,
            ops: OpMetrics::new(BACKEND, metrics),
        })
    }

    /// Runs `f` in one write transaction on the blocking pool; commits if `f` succeeds and
    /// aborts (changes nothing) if it fails.
    async fn write<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        self.ops
            .time(op, async move {
                tokio::task::spawn_blocking(move || {
                    let txn = db.begin_write().map_err(backend)?;
                    let value = f(&txn)?;
                    txn.commit().map_err(backend)?;
                    Ok(value)
                })
                .await
                .map_err(StoreError::backend)?
            })
            .await
    }

    /// Runs `f` against a consistent snapshot on the blocking pool.
    async fn read<T, F>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&ReadTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        self.ops
            .time(op, async move {
                tokio::task::spawn_blocking(move || {
                    use redb::ReadableDatabase;
                    let txn = db.begin_read().map_err(backend)?;
                    f(&txn)
                })
                .await
                .map_err(StoreError::backend)?
            })
            .await
    }
}

/// Maps any redb error into the port's error.
fn backend(err: impl Into<redb::Error>) -> StoreError {
    StoreError::backend(err.into())
}

/// Serializes a record for a table value.
fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(StoreError::backend)
}

/// Deserializes a table value.
fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(StoreError::backend)
}

/// The range of composite keys that start with `prefix` followed by the separator.
fn prefix_range(prefix: &str) -> (String, String) {
    let start = format!("{prefix}{KEY_SEPARATOR}");
    let end = format!(
        "{prefix}{}",
        char::from_u32(KEY_SEPARATOR as u32 + 1).unwrap_or('~')
    );
    (start, end)
}

/// A fixed-width key part that sorts like `value` (the sign bit flipped so negatives come
/// first).
pub(super) fn ascending(value: i64) -> String {
    format!("{:020}", (value as u64) ^ (1 << 63))
}

/// A fixed-width key part that sorts opposite to `value`, so a forward scan is newest first
/// and equal times still follow their ids upwards (as the scylla clustering order does).
pub(super) fn descending(value: i64) -> String {
    format!("{:020}", !((value as u64) ^ (1 << 63)))
}

/// A composite key from its parts.
fn key(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(KEY_SEPARATOR);
        }
        out.push_str(part);
    }
    out
}

#[async_trait]
impl HealthCheck for EmbeddedStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read("ping", |txn| {
            txn.open_table(USERS).map_err(backend)?;
            Ok(())
        })
        .await
    }
}
