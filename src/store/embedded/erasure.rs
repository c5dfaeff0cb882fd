//! Erasing an account from the embedded store, in one write transaction: every table is
//! named here, by how it holds the user (a key that starts or ends with the id, a row that
//! mentions it), so [`TABLES`] is also what a walk over the file checks against.
//!
//! What accounting needs stays under a pseudonym: subscriptions, their purchase links,
//! orders; groups the user made, classes they coached, reports they filed and the audit
//! log keep their rows with the id replaced. Everything else about the user goes. The
//! tables without a per-user index are scanned whole (posts, orders, tokens, other
//! members' feeds) in a read transaction first (`erasure_scan`), so the write transaction
//! holds the store's one writer only while it changes the rows found.

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::accounts::AccountDataStore;
use fitpulse_actors::ports::store::StoreError;
use redb::{ReadableTable, TableDefinition, TableHandle, WriteTransaction};
use serde_json::Value;

use super::erasure_scan::{Found, contains, field, find};
use super::*;

/// Every table of the store, grouped by how it holds a user's rows; [`erase`] handles
/// each, and the walk reports any table not named here.
const TABLES: [&str; 62] = [
    // keyed by the user first, or by the user alone
    "users",
    "refresh_families_by_user",
    "entitlements",
    "feed_events",
    "feed_state",
    "plans",
    "likes",
    "saves",
    "message_states",
    "checkins",
    "following",
    "followers",
    "blocks",
    "blocked_by",
    "groups_by_user",
    "identities_by_user",
    "account_exports",
    "push_devices",
    "notification_settings",
    "push_counts",
    "workouts",
    "workouts_by_time",
    "personal_records",
    "timeline_classes_by_user",
    "replays_by_user",
    // keyed by something then the user (a full scan)
    "live_reminders",
    "drop_quotas",
    "group_members",
    // keyed by something then the user, found through the user's index
    "class_timelines",
    "replays",
    // rows that name the user go (a full scan)
    "users_by_email",
    "users_by_device",
    "refresh_tokens",
    "refresh_families",
    "live_results",
    "idempotency_keys",
    "outbox_items",
    "posts",
    "account_tokens",
    "identities",
    "push_tokens",
    // rows that name the user stay, with the pseudonym in its place
    "live_classes",
    "subscriptions",
    "purchase_links",
    "orders",
    "community_groups",
    "reports",
    "audit_log",
    // never name a user
    "token_revocations",
    "live_classes_by_time",
    "like_counts",
    "content_items",
    "settings",
    "outbox_due",
    "outbox_dead",
    "drops",
    "drop_leases",
    "orders_by_drop",
    "feature_messages",
    "message_stats",
    "group_posts",
    "post_comments",
];

/// The tables whose rows naming the user stay, with the pseudonym in its place (what
/// accounting and moderation need); `erasure_scan` searches them.
pub(super) const KEPT_UNDER_PSEUDONYM: [TableDefinition<'static, &'static str, &'static [u8]>; 7] = [
    SUBSCRIPTIONS,
    PURCHASE_LINKS,
    ORDERS,
    COMMUNITY_GROUPS,
    LIVE_CLASSES,
    REPORTS,
    AUDIT_LOG,
];

/// Keys of `table` in the range of `prefix<sep>`.
fn keys_with_prefix<V: redb::Value + 'static>(
    txn: &WriteTransaction,
    table: TableDefinition<&str, V>,
    prefix: &str,
) -> Result<Vec<String>, StoreError> {
    let table = txn.open_table(table).map_err(backend)?;
    let (start, end) = prefix_range(prefix);
    table
        .range(start.as_str()..end.as_str())
        .map_err(backend)?
        .map(|row| Ok(row.map_err(backend)?.0.value().to_owned()))
        .collect()
}

/// Removes every key of `table` starting with `prefix<sep>`; answers the removed keys.
pub(super) fn remove_prefix<V: redb::Value + 'static>(
    txn: &WriteTransaction,
    table: TableDefinition<&str, V>,
    prefix: &str,
) -> Result<Vec<String>, StoreError> {
    let keys = keys_with_prefix(txn, table, prefix)?;
    let mut open = txn.open_table(table).map_err(backend)?;
    for key in &keys {
        open.remove(key.as_str()).map_err(backend)?;
    }
    Ok(keys)
}

/// Removes the keys of `table` found for the erasure that end with `<sep>suffix`.
fn remove_suffix<V: redb::Value + 'static>(
    txn: &WriteTransaction,
    table: TableDefinition<&str, V>,
    suffix: &str,
    found: &Found,
) -> Result<(), StoreError> {
    let ending = format!("{KEY_SEPARATOR}{suffix}");
    let mut open = txn.open_table(table).map_err(backend)?;
    for key in found.of(table).iter().filter(|k| k.ends_with(&ending)) {
        open.remove(key.as_str()).map_err(backend)?;
    }
    Ok(())
}

/// The rows of a byte-valued table, among those found for the erasure, whose key or
/// value contains `needle` (checked again: they were found in an earlier transaction).
fn rows_mentioning(
    txn: &WriteTransaction,
    table: TableDefinition<&str, &[u8]>,
    needle: &str,
    found: &Found,
) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    let open = txn.open_table(table).map_err(backend)?;
    let mut rows = Vec::new();
    for key in found.of(table) {
        let Some(value) = open.get(key.as_str()).map_err(backend)? else {
            continue;
        };
        let value = value.value();
        if key.contains(needle) || contains(value, needle.as_bytes()) {
            rows.push((key.clone(), value.to_vec()));
        }
    }
    Ok(rows)
}

fn replace_bytes(value: &[u8], from: &str, to: &str) -> Vec<u8> {
    String::from_utf8_lossy(value)
        .replace(from, to)
        .into_bytes()
}

/// Removes the rows of a byte-valued table that mention `needle`; answers their keys.
fn remove_mentions(
    txn: &WriteTransaction,
    table: TableDefinition<&str, &[u8]>,
    needle: &str,
    found: &Found,
) -> Result<Vec<String>, StoreError> {
    let rows = rows_mentioning(txn, table, needle, found)?;
    let mut open = txn.open_table(table).map_err(backend)?;
    for (key, _) in &rows {
        open.remove(key.as_str()).map_err(backend)?;
    }
    Ok(rows.into_iter().map(|(k, _)| k).collect())
}

/// Rewrites the rows of a byte-valued table that mention `user` with `pseudonym` in its
/// place, in the key and the value.
fn pseudonymize(
    txn: &WriteTransaction,
    table: TableDefinition<&str, &[u8]>,
    user: &str,
    pseudonym: &str,
    found: &Found,
) -> Result<(), StoreError> {
    let rows = rows_mentioning(txn, table, user, found)?;
    let mut open = txn.open_table(table).map_err(backend)?;
    for (key, value) in rows {
        open.remove(key.as_str()).map_err(backend)?;
        let (key, value) = (
            key.replace(user, pseudonym),
            replace_bytes(&value, user, pseudonym),
        );
        open.insert(key.as_str(), value.as_slice())
            .map_err(backend)?;
    }
    Ok(())
}

/// The second part of a two-part key.
fn second(key: &str) -> &str {
    key.split(KEY_SEPARATOR).nth(1).unwrap_or_default()
}

/// The email of the account `id`, if it has one.
fn email_of(
    users: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<String>, StoreError> {
    let row = users.get(id).map_err(backend)?;
    Ok(row.and_then(|r| field(r.value(), "email")))
}

fn erase(
    txn: &WriteTransaction,
    user: UserId,
    pseudonym: UserId,
    found: &Found,
) -> Result<(), StoreError> {
    let id = user.to_string();
    let alias = pseudonym.to_string();
    let email = email_of(&txn.open_table(USERS).map_err(backend)?, &id)?;

    // The account and its sign-ins.
    for claims in [USERS_BY_EMAIL, USERS_BY_DEVICE] {
        let mut table = txn.open_table(claims).map_err(backend)?;
        for key in found.of(claims) {
            let held = table
                .get(key.as_str())
                .map_err(backend)?
                .is_some_and(|owner| owner.value() == id);
            if held {
                table.remove(key.as_str()).map_err(backend)?;
            }
        }
    }
    for single in [USERS, FEED_STATE] {
        txn.open_table(single)
            .map_err(backend)?
            .remove(id.as_str())
            .map_err(backend)?;
    }
    txn.open_table(PLANS)
        .map_err(backend)?
        .remove(id.as_str())
        .map_err(backend)?;
    txn.open_table(EXPORTS)
        .map_err(backend)?
        .remove(id.as_str())
        .map_err(backend)?;
    for family in remove_prefix(txn, USER_FAMILIES, &id)? {
        txn.open_table(REFRESH_FAMILIES)
            .map_err(backend)?
            .remove(second(&family))
            .map_err(backend)?;
    }
    remove_mentions(txn, REFRESH_TOKENS, &id, found)?;
    remove_mentions(txn, REFRESH_FAMILIES, &id, found)?;
    remove_prefix(txn, USER_IDENTITIES, &id)?;
    remove_mentions(txn, IDENTITIES, &id, found)?;
    remove_mentions(txn, ACCOUNT_TOKENS, &id, found)?;

    // What the member made and marked.
    remove_prefix(txn, ENTITLEMENTS, &id)?;
    remove_prefix(txn, FEED_EVENTS, &id)?;
    // Other members' notifications about the user keep their place in those feeds, with
    // the pseudonym for the user.
    pseudonymize(txn, FEED_EVENTS, &id, &alias, found)?;
    remove_prefix(txn, SAVES, &id)?;
    remove_prefix(txn, MESSAGE_STATES, &id)?;
    remove_prefix(txn, CHECKINS, &id)?;
    erase_push(txn, &id, found)?;
    super::workouts::erase(txn, &id)?;
    super::replays::erase(txn, &id)?;
    for like in remove_prefix(txn, LIKES, &id)? {
        // `user<sep>kind<sep>id`: the item's count loses one.
        let item = like.split_once(KEY_SEPARATOR).map_or("", |(_, item)| item);
        let mut counts = txn.open_table(LIKE_COUNTS).map_err(backend)?;
        let current = counts.get(item).map_err(backend)?.map(|c| c.value());
        if let Some(count) = current {
            counts
                .insert(item, count.saturating_sub(1))
                .map_err(backend)?;
        }
    }
    for (own, mirror) in [
        (FOLLOWING, FOLLOWERS),
        (FOLLOWERS, FOLLOWING),
        (BLOCKS, BLOCKED_BY),
        (BLOCKED_BY, BLOCKS),
    ] {
        for pair in remove_prefix(txn, own, &id)? {
            let other = second(&pair);
            txn.open_table(mirror)
                .map_err(backend)?
                .remove(key(&[other, &id]).as_str())
                .map_err(backend)?;
        }
    }
    for membership in remove_prefix(txn, GROUPS_BY_USER, &id)? {
        txn.open_table(GROUP_MEMBERS)
            .map_err(backend)?
            .remove(key(&[second(&membership), &id]).as_str())
            .map_err(backend)?;
    }
    remove_suffix(txn, GROUP_MEMBERS, &id, found)?;
    remove_suffix(txn, LIVE_REMINDERS, &id, found)?;
    remove_suffix(txn, DROP_QUOTAS, &id, found)?;
    erase_posts(txn, &id, found)?;
    erase_results(txn, &id, found)?;
    remove_mentions(txn, IDEMPOTENCY, &id, found)?;
    erase_outbox(txn, &id, found)?;
    if let Some(email) = &email {
        erase_outbox(txn, email, found)?;
    }

    // What accounting and moderation keep, under the pseudonym.
    for table in KEPT_UNDER_PSEUDONYM {
        pseudonymize(txn, table, &id, &alias, found)?;
    }
    Ok(())
}

/// The user's posts and comments go with their listing rows, and the comments under the
/// user's posts with them (the thread is gone), found through each post's thread.
fn erase_posts(txn: &WriteTransaction, id: &str, found: &Found) -> Result<(), StoreError> {
    let mut posts = txn.open_table(POSTS).map_err(backend)?;
    // (post, its listing table, its listing key)
    let mut gone = Vec::new();
    for key in found.of(POSTS) {
        let Some(row) = posts.get(key.as_str()).map_err(backend)? else {
            continue;
        };
        let place = super::community::post_place(key, row.value())?;
        if place.author.to_string() == id {
            gone.push((key.clone(), place));
        }
    }
    let threads: Vec<String> = gone
        .iter()
        .filter(|(_, place)| place.parent.is_none())
        .map(|(post, _)| post.clone())
        .collect();
    let mut listings: Vec<(TableDefinition<&str, ()>, String)> = Vec::new();
    let comments = txn.open_table(POST_COMMENTS).map_err(backend)?;
    for post in &threads {
        let (start, end) = prefix_range(post);
        for row in comments
            .range(start.as_str()..end.as_str())
            .map_err(backend)?
        {
            let (k, _) = row.map_err(backend)?;
            let listing = k.value().to_owned();
            let comment = listing.rsplit(KEY_SEPARATOR).next().unwrap_or_default();
            posts.remove(comment).map_err(backend)?;
            listings.push((POST_COMMENTS, listing));
        }
    }
    for (post, place) in gone {
        posts.remove(post.as_str()).map_err(backend)?;
        listings.push((place.listing, place.listing_key));
    }
    drop((posts, comments));
    for (table, key) in listings {
        txn.open_table(table)
            .map_err(backend)?
            .remove(key.as_str())
            .map_err(backend)?;
    }
    Ok(())
}

/// The user's push devices, the token index entries that point at them (found by value,
/// so an entry left behind by anything still goes), settings and counts.
fn erase_push(txn: &WriteTransaction, id: &str, found: &Found) -> Result<(), StoreError> {
    remove_prefix(txn, PUSH_DEVICES, id)?;
    let owned = format!("{id}{KEY_SEPARATOR}");
    let mut tokens = txn.open_table(PUSH_TOKENS).map_err(backend)?;
    for token in found.of(PUSH_TOKENS) {
        let held = tokens
            .get(token.as_str())
            .map_err(backend)?
            .is_some_and(|device| device.value().starts_with(&owned));
        if held {
            tokens.remove(token.as_str()).map_err(backend)?;
        }
    }
    txn.open_table(NOTIFICATION_SETTINGS)
        .map_err(backend)?
        .remove(id)
        .map_err(backend)?;
    remove_prefix(txn, PUSH_COUNTS, id)?;
    Ok(())
}

/// Delivered outbox items that name the user (or their address) go; pending and dead ones
/// stay for the worker and the operators, whose indexes point at them.
fn erase_outbox(txn: &WriteTransaction, needle: &str, found: &Found) -> Result<(), StoreError> {
    let rows = rows_mentioning(txn, OUTBOX, needle, found)?;
    let mut open = txn.open_table(OUTBOX).map_err(backend)?;
    for (key, value) in rows {
        let done = serde_json::from_slice::<Value>(&value)
            .is_ok_and(|row| row["state"].as_str() == Some("done"));
        if done {
            open.remove(key.as_str()).map_err(backend)?;
        }
    }
    Ok(())
}

/// Class results keep the other participants; the user's entries go.
fn erase_results(txn: &WriteTransaction, id: &str, found: &Found) -> Result<(), StoreError> {
    let mut table = txn.open_table(LIVE_RESULTS).map_err(backend)?;
    let mut rows: Vec<(String, String)> = Vec::new();
    for class in found.of(LIVE_RESULTS) {
        if let Some(results) = table.get(class.as_str()).map_err(backend)?
            && results.value().contains(id)
        {
            rows.push((class.clone(), results.value().to_owned()));
        }
    }
    for (class, results) in rows {
        let kept = crate::store::scrubbed(&results, id);
        table
            .insert(class.as_str(), kept.as_str())
            .map_err(backend)?;
    }
    Ok(())
}

/// Ids (keys) of the rows of a byte-valued table whose JSON field `field` is `id`.
fn keys_where(
    txn: &redb::ReadTransaction,
    table: TableDefinition<&str, &[u8]>,
    field: &str,
    id: &str,
) -> Result<Vec<String>, StoreError> {
    let open = txn.open_table(table).map_err(backend)?;
    let mut found = Vec::new();
    for row in open.iter().map_err(backend)? {
        let (k, v) = row.map_err(backend)?;
        if !contains(v.value(), id.as_bytes()) {
            continue;
        }
        let value: Value = serde_json::from_slice(v.value()).map_err(StoreError::backend)?;
        if value[field].as_str() == Some(id) {
            found.push(k.value().to_owned());
        }
    }
    Ok(found)
}

#[async_trait]
impl AccountDataStore for EmbeddedStore {
    async fn authored(
        &self,
        user: UserId,
    ) -> Result<Vec<fitpulse_actors::ports::community::PostRecord>, StoreError> {
        let id = user.to_string();
        let ids = self
            .read("authored", move |txn| keys_where(txn, POSTS, "author", &id))
            .await?;
        let mut posts = Vec::new();
        for id in ids {
            let id = id.parse().map_err(StoreError::backend)?;
            posts.extend(fitpulse_actors::ports::community::CommunityStore::post(self, id).await?);
        }
        Ok(posts)
    }

    async fn orders_of(
        &self,
        user: UserId,
    ) -> Result<Vec<fitpulse_actors::ports::drops::OrderRecord>, StoreError> {
        let id = user.to_string();
        let ids = self
            .read("orders_of", move |txn| keys_where(txn, ORDERS, "user", &id))
            .await?;
        let mut orders = Vec::new();
        for id in ids {
            let id = id.parse().map_err(StoreError::backend)?;
            orders.extend(fitpulse_actors::ports::drops::DropStore::order(self, id).await?);
        }
        Ok(orders)
    }

    async fn put_export(
        &self,
        user: UserId,
        export: &fitpulse_actors::ports::accounts::ExportRecord,
    ) -> Result<(), StoreError> {
        let bytes = encode(export)?;
        self.write("put_export", move |txn| {
            txn.open_table(EXPORTS)
                .map_err(backend)?
                .insert(user.to_string().as_str(), bytes.as_slice())
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn finish_export(
        &self,
        user: UserId,
        export: &fitpulse_actors::ports::accounts::ExportRecord,
    ) -> Result<bool, StoreError> {
        let (bytes, requested_at) = (encode(export)?, export.requested_at);
        self.write("finish_export", move |txn| {
            let mut table = txn.open_table(EXPORTS).map_err(backend)?;
            let key = user.to_string();
            let current = table
                .get(key.as_str())
                .map_err(backend)?
                .map(|r| decode::<fitpulse_actors::ports::accounts::ExportRecord>(r.value()))
                .transpose()?;
            if current.is_none_or(|c| c.requested_at != requested_at) {
                return Ok(false);
            }
            table
                .insert(key.as_str(), bytes.as_slice())
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn export_of(
        &self,
        user: UserId,
    ) -> Result<Option<fitpulse_actors::ports::accounts::ExportRecord>, StoreError> {
        self.read("export_of", move |txn| {
            let table = txn.open_table(EXPORTS).map_err(backend)?;
            let row = table.get(user.to_string().as_str()).map_err(backend)?;
            row.map(|r| decode(r.value())).transpose()
        })
        .await
    }

    async fn erase_user(&self, user: UserId, pseudonym: UserId) -> Result<(), StoreError> {
        // The scans in a read transaction, the changes in a write transaction of their own.
        let found = self
            .read("erase_user_find", move |txn| {
                let id = user.to_string();
                let email = email_of(&txn.open_table(USERS).map_err(backend)?, &id)?;
                find(txn, &id, email.as_deref())
            })
            .await?;
        self.write("erase_user", move |txn| erase(txn, user, pseudonym, &found))
            .await
    }

    async fn rows_mentioning(&self, needle: &str) -> Result<Vec<String>, StoreError> {
        let needle = needle.to_owned();
        self.read("rows_mentioning", move |txn| {
            let known = TABLES;
            let mut found = Vec::new();
            for handle in txn.list_tables().map_err(backend)? {
                let name = handle.name().to_owned();
                if !known.contains(&name.as_str()) {
                    found.push(format!("{name}: a table the erasure does not know"));
                }
            }
            let mut check = |name: &str, key: &str, value: &str| {
                if key.contains(&needle) || value.contains(&needle) {
                    found.push(format!("{name}: {key:?}"));
                }
            };
            macro_rules! walk {
                ($table:expr, $show:expr) => {{
                    let table = txn.open_table($table).map_err(backend)?;
                    for row in table.iter().map_err(backend)? {
                        let (k, v) = row.map_err(backend)?;
                        #[allow(clippy::redundant_closure_call)]
                        let shown: String = ($show)(v.value());
                        check($table.name(), k.value(), &shown);
                    }
                }};
            }
            let bytes = |v: &[u8]| String::from_utf8_lossy(v).into_owned();
            let text = |v: &str| v.to_owned();
            let unit = |_: ()| String::new();
            let number = |v: i64| v.to_string();
            for table in [
                USERS,
                REFRESH_TOKENS,
                REFRESH_FAMILIES,
                ENTITLEMENTS,
                FEED_EVENTS,
                FEED_STATE,
                LIVE_CLASSES,
                IDEMPOTENCY,
                CONTENT,
                SETTINGS,
                SUBSCRIPTIONS,
                PURCHASE_LINKS,
                OUTBOX,
                DROPS,
                DROP_LEASES,
                ORDERS,
                FEATURE_MESSAGES,
                MESSAGE_STATES,
                MESSAGE_STATS,
                CHECKINS,
                COMMUNITY_GROUPS,
                POSTS,
                REPORTS,
                ACCOUNT_TOKENS,
                AUDIT_LOG,
                IDENTITIES,
                PUSH_DEVICES,
                WORKOUTS,
                PERSONAL_RECORDS,
                CLASS_TIMELINES,
                REPLAYS,
            ] {
                walk!(table, bytes);
            }
            for table in [
                USERS_BY_EMAIL,
                USERS_BY_DEVICE,
                PLANS,
                LIVE_BY_TIME,
                LIVE_RESULTS,
                USER_IDENTITIES,
                PUSH_TOKENS,
                NOTIFICATION_SETTINGS,
            ] {
                walk!(table, text);
            }
            for table in [
                USER_FAMILIES,
                LIVE_REMINDERS,
                OUTBOX_DUE,
                OUTBOX_DEAD,
                DROP_ORDERS,
                FOLLOWING,
                FOLLOWERS,
                BLOCKS,
                BLOCKED_BY,
                GROUP_MEMBERS,
                GROUPS_BY_USER,
                GROUP_POSTS,
                POST_COMMENTS,
                WORKOUTS_BY_TIME,
                TIMELINE_CLASSES,
                REPLAYS_BY_USER,
            ] {
                walk!(table, unit);
            }
            for table in [REVOCATIONS, LIKES, SAVES] {
                walk!(table, number);
            }
            walk!(LIKE_COUNTS, |v: u64| v.to_string());
            walk!(DROP_QUOTAS, |v: u32| v.to_string());
            walk!(PUSH_COUNTS, |v: u32| v.to_string());
            Ok(found)
        })
        .await
    }
}
