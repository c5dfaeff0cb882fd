//! Access tokens verified a moment ago, remembered briefly so an app's next requests skip
//! the signature check (an Ed25519 verification and a JSON decode on every request).
//!
//! Only tokens that verified are remembered, under the SHA-256 of the whole token, so a
//! token that differs in one byte (another signature, a tampered claim) is a miss and is
//! verified from scratch. An entry is served until the earlier of `TTL` after it was
//! verified and the moment the token itself would be refused as expired, so the cache
//! never accepts what the verifier would refuse. Revocations are not the cache's business:
//! [`crate::auth::Auth::authenticate`] checks them on every request, cached or not.
//!
//! Bounded: each of `SHARDS` shards is a [`Generations`] map of at most `capacity /
//! SHARDS` entries. Strangers cannot fill it: only a token signed by our keys gets in.

use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::tokens::Verified;
use crate::generations::Generations;

/// How long a verified token is remembered at most.
pub const TTL_MS: i64 = 60_000;
/// Shards, so requests on many cores do not queue on one lock.
const SHARDS: usize = 16;

type TokenHash = [u8; 32];

struct Remembered {
    verified: Verified,
    /// Unix milliseconds after which this entry is not served.
    until_ms: i64,
}

pub struct VerifiedCache {
    /// Empty when the cache is off.
    shards: Box<[Mutex<Generations<TokenHash, Remembered>>]>,
}

impl VerifiedCache {
    /// A cache of about `capacity` tokens (0: off, every token verified every time).
    pub fn new(capacity: usize) -> VerifiedCache {
        let shards = if capacity == 0 { 0 } else { SHARDS };
        let per_generation = capacity.div_ceil(SHARDS * 2);
        VerifiedCache {
            shards: (0..shards)
                .map(|_| Mutex::new(Generations::new(per_generation)))
                .collect(),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.shards.is_empty()
    }

    fn shard(
        &self,
        token: &str,
    ) -> Option<(TokenHash, &Mutex<Generations<TokenHash, Remembered>>)> {
        if !self.enabled() {
            return None;
        }
        let hash: TokenHash = Sha256::digest(token.as_bytes()).into();
        let shard = &self.shards[hash[0] as usize % self.shards.len()];
        Some((hash, shard))
    }

    /// The remembered verification of `token`, if it is still good at `now_ms`.
    pub fn get(&self, token: &str, now_ms: i64) -> Option<Verified> {
        let (hash, shard) = self.shard(token)?;
        let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        let hit = shard.get(&hash)?;
        if now_ms < hit.until_ms {
            return Some(hit.verified.clone());
        }
        shard.remove(&hash);
        None
    }

    /// Remembers that `token` verified as `verified` at `now_ms`; `refused_after_ms` is
    /// the first moment the verifier would refuse it as expired.
    pub fn remember(&self, token: &str, verified: &Verified, now_ms: i64, refused_after_ms: i64) {
        let until_ms = now_ms.saturating_add(TTL_MS).min(refused_after_ms);
        if until_ms <= now_ms {
            return;
        }
        let Some((hash, shard)) = self.shard(token) else {
            return;
        };
        let entry = Remembered {
            verified: verified.clone(),
            until_ms,
        };
        shard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(hash, entry);
    }

    /// Entries held now, for tests of the bound.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::tokens::Principal;
    use fitpulse_actors::domain::UserId;

    fn verified(user: UserId) -> Verified {
        Verified {
            principal: Principal::User(user),
            roles: Default::default(),
            scopes: ["content:premium".to_owned()].into(),
            issued_at_ms: 1_000,
            expires_at: 2_000,
            email_verified: true,
            timezone: None,
        }
    }

    #[test]
    fn a_remembered_token_is_served_until_its_ttl() {
        let cache = VerifiedCache::new(100);
        let user = UserId::random();
        cache.remember("a.b.c", &verified(user), 10_000, i64::MAX);
        let hit = cache.get("a.b.c", 10_001).expect("remembered");
        assert_eq!(hit.principal, Principal::User(user));
        assert!(hit.scopes.contains("content:premium"));
        assert!(cache.get("a.b.c", 10_000 + TTL_MS - 1).is_some());
        assert!(cache.get("a.b.c", 10_000 + TTL_MS).is_none());
    }

    #[test]
    fn a_token_is_not_served_past_the_moment_the_verifier_would_refuse_it() {
        let cache = VerifiedCache::new(100);
        cache.remember("a.b.c", &verified(UserId::random()), 10_000, 12_000);
        assert!(cache.get("a.b.c", 11_999).is_some());
        assert!(cache.get("a.b.c", 12_000).is_none());
        // Already past it: not remembered at all.
        cache.remember("d.e.f", &verified(UserId::random()), 10_000, 10_000);
        assert!(cache.get("d.e.f", 10_000).is_none());
    }

    #[test]
    fn a_token_that_differs_in_one_byte_is_a_miss() {
        let cache = VerifiedCache::new(100);
        cache.remember("a.b.c", &verified(UserId::random()), 0, i64::MAX);
        assert!(cache.get("a.b.d", 1).is_none());
        assert!(cache.get("a.b.c ", 1).is_none());
        assert!(cache.get("a.b.c", 1).is_some());
    }

    #[test]
    fn the_cache_holds_at_most_about_its_capacity() {
        let cache = VerifiedCache::new(320);
        for i in 0..5_000 {
            cache.remember(
                &format!("token-{i}"),
                &verified(UserId::random()),
                0,
                i64::MAX,
            );
        }
        // Two generations of 10 per shard.
        assert!(cache.len() <= 320, "{} entries", cache.len());
        // The newest are still there.
        assert!(cache.get("token-4999", 1).is_some());
    }

    #[test]
    fn an_entry_read_from_the_previous_generation_survives_the_next_turn() {
        let cache = VerifiedCache::new(SHARDS * 2 * 4);
        cache.remember("kept", &verified(UserId::random()), 0, i64::MAX);
        let mut i = 0;
        // Fill until "kept" has moved to the previous generation of its shard, reading it
        // each round so it keeps moving up.
        for _ in 0..200 {
            cache.remember(
                &format!("other-{i}"),
                &verified(UserId::random()),
                0,
                i64::MAX,
            );
            i += 1;
            assert!(cache.get("kept", 1).is_some(), "lost after {i} others");
        }
    }

    #[test]
    fn a_cache_of_zero_remembers_nothing() {
        let cache = VerifiedCache::new(0);
        assert!(!cache.enabled());
        cache.remember("a.b.c", &verified(UserId::random()), 0, i64::MAX);
        assert!(cache.get("a.b.c", 1).is_none());
    }
}
