//! Access-token revocations in the scylla store: one partition per hour of revocation, so
//! reading "since T" touches a handful of small partitions; each row lives one access-token
//! lifetime (`USING TTL`), so the table never grows beyond that.

use async_trait::async_trait;
use fitpulse_actors::domain::{UnixMillis, UserId, now_millis};
use fitpulse_actors::ports::store::{Revocation, RevocationStore, StoreError};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use super::{ConnectError, ScyllaStore, prepare};

const HOUR_MS: i64 = 60 * 60 * 1000;
/// A read reaches back at most this many hours (an access token lives a day at most).
const MAX_HOURS: i64 = 48;

pub(super) struct Statements {
    insert: PreparedStatement,
    since: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            insert: prepare(
                session,
                "INSERT INTO token_revocations (hour, at, user_id, keep_until) \
                 VALUES (?, ?, ?, ?) USING TTL ?",
            )
            .await?,
            since: prepare(
                session,
                "SELECT at, user_id, keep_until FROM token_revocations WHERE hour = ? AND at >= ?",
            )
            .await?,
        })
    }
}

#[async_trait]
impl RevocationStore for ScyllaStore {
    async fn revoke_tokens(
        &self,
        revocation: Revocation,
        keep_until: UnixMillis,
    ) -> Result<(), StoreError> {
        self.ops
            .time("revoke_tokens", async {
                // The row lives until `keep_until` counted from now, when it is written.
                let left_ms = keep_until - now_millis();
                if left_ms <= 0 {
                    return Ok(());
                }
                let ttl = (left_ms / 1000 + 1).min(i64::from(i32::MAX)) as i32;
                let values = (
                    revocation.at.div_euclid(HOUR_MS),
                    CqlTimestamp(revocation.at),
                    revocation.user.as_uuid(),
                    CqlTimestamp(keep_until),
                    ttl,
                );
                self.exec(&self.revocation_statements.insert, values).await
            })
            .await
    }

    async fn revocations_since(
        &self,
        since: UnixMillis,
        now: UnixMillis,
    ) -> Result<Vec<Revocation>, StoreError> {
        self.ops
            .time("revocations_since", async {
                let last = now.div_euclid(HOUR_MS);
                let first = since.div_euclid(HOUR_MS).max(last - MAX_HOURS);
                let mut found = Vec::new();
                for hour in first..=last {
                    let rows: Vec<(CqlTimestamp, uuid::Uuid, Option<CqlTimestamp>)> = self
                        .rows(
                            &self.revocation_statements.since,
                            (hour, CqlTimestamp(since)),
                        )
                        .await?;
                    found.extend(
                        rows.into_iter()
                            .filter(|(_, _, until)| until.is_none_or(|u| u.0 > now))
                            .map(|(at, user, _)| Revocation {
                                user: UserId::from_uuid(user),
                                at: at.0,
                            }),
                    );
                }
                Ok(found)
            })
            .await
    }
}
