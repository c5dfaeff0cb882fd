//! Users whose access tokens stop working before they expire (deleted accounts). Access
//! tokens are checked by signature alone, so each node remembers, for one token lifetime,
//! which users were revoked and when; tokens issued before that are refused. In a cluster a
//! revocation is announced on `fitpulse.auth.revoked` and every node remembers it too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use fitpulse_actors::domain::{UserId, now_millis};
use fitpulse_actors::ports::bus::{Bus, BusError};

use crate::bus::announce::Announcer;

const SUBJECT: &str = "fitpulse.auth.revoked";

pub struct RevokedUsers {
    /// User -> revocation time in Unix seconds.
    revoked: Mutex<HashMap<UserId, i64>>,
    /// How long an entry matters: the access-token lifetime plus clock leeway.
    remember_seconds: i64,
    /// In a cluster: how revocations are announced to the other nodes.
    cluster: OnceLock<Announcer>,
}

impl RevokedUsers {
    pub fn new(access_ttl_seconds: u64) -> Self {
        RevokedUsers {
            revoked: Mutex::new(HashMap::new()),
            remember_seconds: access_ttl_seconds as i64 + 60,
            cluster: OnceLock::new(),
        }
    }

    /// Revokes here and, in a cluster, on every other node.
    pub fn revoke(&self, user: UserId) {
        self.remember(user);
        if let Some(announcer) = self.cluster.get() {
            announcer.announce(&user.to_string());
        }
    }

    /// Remembers the revocations other nodes announce from now on.
    pub async fn join_cluster(
        self: &Arc<Self>,
        bus: Arc<dyn Bus>,
        node: &str,
    ) -> Result<(), BusError> {
        let this = self.clone();
        let announcer = Announcer::listen(bus, node, SUBJECT, move |body| {
            match body.parse::<UserId>() {
                Ok(user) => this.remember(user),
                Err(_) => tracing::warn!(body, "malformed revocation"),
            }
        })
        .await?;
        let _ = self.cluster.set(announcer);
        Ok(())
    }

    fn remember(&self, user: UserId) {
        let now = now_millis() / 1000;
        let mut revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        revoked.retain(|_, at| now - *at <= self.remember_seconds);
        revoked.insert(user, now);
    }

    /// True if a token for `user` issued at `issued_at` (Unix seconds) was revoked.
    pub fn is_revoked(&self, user: UserId, issued_at: i64) -> bool {
        let revoked = self.revoked.lock().unwrap_or_else(|p| p.into_inner());
        revoked.get(&user).is_some_and(|&at| issued_at <= at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_issued_before_a_revocation_are_refused_and_later_ones_pass() {
        let revoked = RevokedUsers::new(900);
        let (user, other) = (UserId::random(), UserId::random());
        let now = now_millis() / 1000;
        revoked.revoke(user);
        assert!(revoked.is_revoked(user, now - 10));
        assert!(!revoked.is_revoked(user, now + 10));
        assert!(!revoked.is_revoked(other, now - 10));
    }
}
