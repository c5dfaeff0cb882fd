//! The first half of an account erasure on the embedded store: finding, in a read
//! transaction, the rows that name the user in the tables only a whole-table scan can
//! search (sign-in claims, tokens, other members' feeds, the user's posts, results, the
//! outbox, what stays under a pseudonym). Those scans grow with every member's data, and the store has
//! one writer: done inside the erasure's write transaction they held every other write of
//! the node (a like, a feed append, an order) for as long as they took. The write
//! transaction then visits only the keys found here, checking each row again.
//!
//! A row that comes to name the user between the two transactions is not found. By then
//! the user's logins are revoked and their session has ended, so only work already in
//! flight for them could write one. (Comments under the user's posts do not name the
//! user; the write transaction finds them through each post's thread, so one added in
//! between goes too.)

use std::collections::HashMap;

use fitpulse_actors::ports::store::StoreError;
use redb::{ReadTransaction, ReadableTable, TableHandle};
use serde_json::Value;

use super::erasure::KEPT_UNDER_PSEUDONYM;
use super::*;

/// The keys found per table.
#[derive(Debug, Default)]
pub(super) struct Found {
    keys: HashMap<String, Vec<String>>,
}

impl Found {
    /// The keys found in `table` (none when it was not searched).
    pub(super) fn of(&self, table: impl TableHandle) -> &[String] {
        self.keys.get(table.name()).map_or(&[], Vec::as_slice)
    }

    fn add(&mut self, table: &str, key: &str) {
        self.keys
            .entry(table.to_owned())
            .or_default()
            .push(key.to_owned());
    }
}

/// Whether `haystack` holds `needle`.
pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Adds the keys of `$table` whose key, or value (as bytes through `$bytes`), contains one
/// of `$needles`.
macro_rules! search {
    ($txn:expr, $found:expr, $table:expr, $needles:expr, $bytes:expr) => {{
        let table = $txn.open_table($table).map_err(backend)?;
        for row in table.iter().map_err(backend)? {
            let (k, v) = row.map_err(backend)?;
            let key = k.value();
            #[allow(clippy::redundant_closure_call)]
            let value: Vec<u8> = ($bytes)(v.value());
            if $needles
                .iter()
                .any(|n: &&str| key.contains(*n) || contains(&value, n.as_bytes()))
            {
                $found.add($table.name(), key);
            }
        }
    }};
}

/// Finds what the erasure of the user `id` (with `email`, if any) changes outside the
/// user's own key ranges.
pub(super) fn find(
    txn: &ReadTransaction,
    id: &str,
    email: Option<&str>,
) -> Result<Found, StoreError> {
    let mut found = Found::default();
    let user = [id];
    let bytes = |v: &[u8]| v.to_vec();
    let text = |v: &str| v.as_bytes().to_vec();
    let none = |_: ()| Vec::new();
    let number = |_: u32| Vec::new();
    for table in [
        REFRESH_TOKENS,
        REFRESH_FAMILIES,
        IDENTITIES,
        ACCOUNT_TOKENS,
        FEED_EVENTS,
        IDEMPOTENCY,
        POSTS,
    ]
    .into_iter()
    .chain(KEPT_UNDER_PSEUDONYM)
    {
        search!(txn, found, table, user, bytes);
    }
    let outbox: Vec<&str> = std::iter::once(id).chain(email).collect();
    search!(txn, found, OUTBOX, outbox, bytes);
    for table in [USERS_BY_EMAIL, USERS_BY_DEVICE, PUSH_TOKENS, LIVE_RESULTS] {
        search!(txn, found, table, user, text);
    }
    for table in [GROUP_MEMBERS, LIVE_REMINDERS] {
        search!(txn, found, table, user, none);
    }
    search!(txn, found, DROP_QUOTAS, user, number);
    Ok(found)
}

/// A text field of a JSON row.
pub(super) fn field(row: &[u8], name: &str) -> Option<String> {
    serde_json::from_slice::<Value>(row)
        .ok()
        .and_then(|row| row[name].as_str().map(str::to_owned))
}
