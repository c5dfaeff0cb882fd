//! Access-token revocations in the embedded store: keys `at<sep>user` with the time
//! zero-padded, so "since" is one range scan; values say how long each is kept. Expired
//! entries are pruned from the front of the table on every write.

use async_trait::async_trait;
use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::ports::store::{Revocation, RevocationStore, StoreError};
use redb::ReadableTable;

use super::{EmbeddedStore, REVOCATIONS, backend, key};

/// Expired entries removed per write at most, so one write never scans a backlog.
const PRUNE_PER_WRITE: usize = 256;

fn time_key(at: UnixMillis) -> String {
    format!("{:020}", at.max(0))
}

#[async_trait]
impl RevocationStore for EmbeddedStore {
    async fn revoke_tokens(
        &self,
        revocation: Revocation,
        keep_until: UnixMillis,
    ) -> Result<(), StoreError> {
        let row = key(&[&time_key(revocation.at), &revocation.user.to_string()]);
        self.write("revoke_tokens", move |txn| {
            let mut table = txn.open_table(REVOCATIONS).map_err(backend)?;
            let expired: Vec<String> = table
                .iter()
                .map_err(backend)?
                .take(PRUNE_PER_WRITE)
                .filter_map(Result::ok)
                .take_while(|(_, until)| until.value() < revocation.at)
                .map(|(k, _)| k.value().to_owned())
                .collect();
            for old in expired {
                table.remove(old.as_str()).map_err(backend)?;
            }
            table.insert(row.as_str(), keep_until).map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn revocations_since(
        &self,
        since: UnixMillis,
        now: UnixMillis,
    ) -> Result<Vec<Revocation>, StoreError> {
        self.read("revocations_since", move |txn| {
            let table = txn.open_table(REVOCATIONS).map_err(backend)?;
            let mut found = Vec::new();
            for entry in table.range(time_key(since).as_str()..).map_err(backend)? {
                let (k, until) = entry.map_err(backend)?;
                if until.value() <= now {
                    continue;
                }
                let corrupt = || StoreError::backend(std::io::Error::other("revocation key"));
                let (at, user) = k
                    .value()
                    .split_once(super::KEY_SEPARATOR)
                    .ok_or_else(corrupt)?;
                found.push(Revocation {
                    user: user.parse::<UserId>().map_err(|_| corrupt())?,
                    at: at.parse().map_err(|_| corrupt())?,
                });
            }
            Ok(found)
        })
        .await
    }
}
