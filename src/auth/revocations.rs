//! Users whose access tokens stop working before they expire (deleted accounts). Access
//! tokens are checked by signature alone, so every node keeps in memory, for one token
//! lifetime, which users were revoked and when; tokens issued at or before that are refused.
//!
//! A revocation is durable: it is stored before it is remembered (`RevocationStore`), every
//! node loads the unexpired ones when it starts and reads new ones from the store every
//! `auth.revocation_poll_ms`, and in a cluster it is also announced on
//! `fitpulse.auth.revoked` (`<user> <millis>`) so the other nodes act on it at once. A node
//! that missed the announcement, or restarted since, still refuses the token within one poll.
//!
//! The store and the bus see a pseudonym of the user (a v5 uuid of the user id), never the
//! id itself, so an erased account leaves no row naming it while its tokens stay refused.
//!
//! Times are Unix milliseconds: user tokens carry their issue time to the millisecond
//! (`iat_ms`), so a sign-in right after a revocation (a password reset) is not caught by it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use fitpulse_actors::domain::{UnixMillis, UserId, now_millis};
use fitpulse_actors::ports::bus::{Bus, BusError};
use fitpulse_actors::ports::store::{Revocation, RevocationStore, StoreError};

use crate::bus::announce::Announcer;

const SUBJECT: &str = "fitpulse.auth.revoked";
/// The namespace of revocation pseudonyms.
const PSEUDONYMS: uuid::Uuid = uuid::Uuid::from_u128(0x6f1c_2b7e_9d4a_4f0e_8a53_1c2d_3e4f_5a6b);

/// What revocations are kept under for `user`.
fn pseudonym(user: UserId) -> UserId {
    UserId::from_uuid(uuid::Uuid::new_v5(&PSEUDONYMS, user.as_uuid().as_bytes()))
}
/// A poll reads back this far before the previous one, for revocations written by nodes
/// whose clocks run behind or whose writes were in flight.
const POLL_OVERLAP_MS: i64 = 30_000;

pub struct RevokedUsers {
    /// User -> revocation time in Unix milliseconds.
    revoked: Mutex<HashMap<UserId, i64>>,
    /// How long an entry matters: the access-token lifetime plus clock leeway.
    remember_seconds: i64,
    store: Arc<dyn RevocationStore>,
    /// In a cluster: how revocations are announced to the other nodes.
    cluster: OnceLock<Announcer>,
}

impl RevokedUsers {
    pub fn new(access_ttl_seconds: u64, store: Arc<dyn RevocationStore>) -> Self {
        RevokedUsers {
            revoked: Mutex::new(HashMap::new()),
            remember_seconds: access_ttl_seconds as i64 + 60,
            store,
            cluster: OnceLock::new(),
        }
    }

    /// Stores the revocation, then applies it here and, in a cluster, on every other node.
    /// Nothing is remembered if the store refuses, so the caller can retry.
    pub async fn revoke(&self, user: UserId) -> Result<(), StoreError> {
        let user = pseudonym(user);
        let at = now_millis();
        let keep_until = at + self.remember_seconds * 1000;
        self.store
            .revoke_tokens(Revocation { user, at }, keep_until)
            .await?;
        self.remember(user, at);
        if let Some(announcer) = self.cluster.get() {
            announcer.announce(&format!("{user} {at}"));
        }
        Ok(())
    }

    /// Loads the revocations still in force from the store; called once at start.
    pub async fn load(&self) -> Result<usize, StoreError> {
        let now = now_millis();
        let found = self
            .store
            .revocations_since(now - self.remember_seconds * 1000, now)
            .await?;
        let count = found.len();
        for revocation in found {
            self.remember_stored(revocation);
        }
        Ok(count)
    }

    /// Reads new revocations from the store every `interval` while `self` is alive.
    pub fn poll_store(self: &Arc<Self>, interval: Duration) {
        let this: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut since: UnixMillis = now_millis() - POLL_OVERLAP_MS;
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(revoked) = this.upgrade() else {
                    return;
                };
                let now = now_millis();
                match revoked.store.revocations_since(since, now).await {
                    Ok(found) => {
                        for revocation in found {
                            revoked.remember_stored(revocation);
                        }
                        since = now - POLL_OVERLAP_MS;
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot read revocations"),
                }
            }
        });
    }

    /// Remembers the revocations other nodes announce from now on.
    pub async fn join_cluster(
        self: &Arc<Self>,
        bus: Arc<dyn Bus>,
        node: &str,
    ) -> Result<(), BusError> {
        let this = self.clone();
        let announcer = Announcer::listen(bus, node, SUBJECT, move |body| {
            // `<pseudonym> <millis>`; a bare user id (an older node) counts from now.
            match body.split_once(' ') {
                Some((user, at)) => match (user.parse::<UserId>(), at.parse::<i64>()) {
                    (Ok(user), Ok(at)) => this.remember(user, at),
                    _ => tracing::warn!(body, "malformed revocation"),
                },
                None => match body.parse::<UserId>() {
                    Ok(user) => this.remember(pseudonym(user), now_millis()),
                    Err(_) => tracing::warn!(body, "malformed revocation"),
                },
            }
        })
        .await?;
        let _ = self.cluster.set(announcer);
        Ok(())
    }

    /// Remembers a stored revocation. Rows written before revocations were kept under
    /// pseudonyms hold the user's own id; applying the pseudonym to it too covers both (a
    /// pseudonym of a pseudonym names nobody).
    fn remember_stored(&self, revocation: Revocation) {
        self.remember(revocation.user, revocation.at);
        self.remember(pseudonym(revocation.user), revocation.at);
    }

    /// Remembers that the tokens of the user behind `user` (a pseudonym) issued at or
    /// before `at` (Unix milliseconds) are void.
    fn remember(&self, user: UserId, at: i64) {
        let now = now_millis();
        let mut revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        revoked.retain(|_, at| now - *at <= self.remember_seconds * 1000);
        let entry = revoked.entry(user).or_insert(at);
        *entry = (*entry).max(at);
    }

    /// True if a token for `user` issued at `issued_at` (Unix milliseconds) was revoked.
    pub fn is_revoked(&self, user: UserId, issued_at: i64) -> bool {
        let revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        revoked
            .get(&pseudonym(user))
            .is_some_and(|&at| issued_at <= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that keeps revocations in a vector, for the rules above the store.
    #[derive(Default)]
    struct Kept(Mutex<Vec<(Revocation, UnixMillis)>>);

    #[async_trait::async_trait]
    impl RevocationStore for Kept {
        async fn revoke_tokens(
            &self,
            revocation: Revocation,
            keep_until: UnixMillis,
        ) -> Result<(), StoreError> {
            self.0.lock().unwrap().push((revocation, keep_until));
            Ok(())
        }

        async fn revocations_since(
            &self,
            since: UnixMillis,
            now: UnixMillis,
        ) -> Result<Vec<Revocation>, StoreError> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|(r, until)| r.at >= since && *until > now)
                .map(|(r, _)| *r)
                .collect())
        }
    }

    #[tokio::test]
    async fn tokens_issued_before_a_revocation_are_refused_and_later_ones_pass() {
        let revoked = RevokedUsers::new(900, Arc::new(Kept::default()));
        let (user, other) = (UserId::random(), UserId::random());
        let now = now_millis();
        revoked.revoke(user).await.expect("stored");
        assert!(revoked.is_revoked(user, now - 10));
        assert!(!revoked.is_revoked(user, now_millis() + 1));
        assert!(!revoked.is_revoked(other, now - 10));
    }

    #[tokio::test]
    async fn revocations_stored_under_the_users_own_id_still_apply() {
        let store = Arc::new(Kept::default());
        let user = UserId::random();
        let at = now_millis();
        store
            .revoke_tokens(Revocation { user, at }, at + 60_000)
            .await
            .expect("stored");
        let revoked = RevokedUsers::new(900, store);
        assert_eq!(revoked.load().await.expect("loaded"), 1);
        assert!(revoked.is_revoked(user, at - 1));
        assert!(!revoked.is_revoked(user, at + 1));
    }

    #[tokio::test]
    async fn a_node_that_starts_later_loads_the_revocation_from_the_store() {
        let store = Arc::new(Kept::default());
        let user = UserId::random();
        let before = now_millis() - 5_000;
        RevokedUsers::new(900, store.clone())
            .revoke(user)
            .await
            .expect("stored");
        let restarted = RevokedUsers::new(900, store);
        assert!(!restarted.is_revoked(user, before), "nothing loaded yet");
        assert_eq!(restarted.load().await.expect("loaded"), 1);
        assert!(restarted.is_revoked(user, before));
    }
}
