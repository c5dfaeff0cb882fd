//! Refresh tokens: opaque `<id>.<secret>` strings. The store keeps only a SHA-256 of the
//! secret. Each exchange marks the token used and issues the next one in the same family.
//!
//! Presenting a used token again within `auth.refresh_reuse_interval_seconds` of its
//! exchange answers the same successor: two parts of one app (a tab and a widget, REST and
//! the socket) that refresh at once both stay signed in. The successor's secret is kept
//! sealed with the used token's secret, so only a holder of that secret can open it, and
//! only inside the interval. Later, a used token means it leaked, and the whole family is
//! revoked.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::clock::SharedClock;
use fitpulse_actors::ports::store::{
    RefreshRotation, RefreshTokenRecord, RefreshTokenState, RefreshTokenStore, StoreError,
};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("the refresh token is not valid")]
    Invalid,
    #[error("the refresh token has expired")]
    Expired,
    #[error("the refresh token was revoked")]
    Revoked,
    #[error("the refresh token was already used; every token of its login is now revoked")]
    Reused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The parts of a presented token.
struct Presented {
    id: Uuid,
    secret: String,
}

fn parse(token: &str) -> Option<Presented> {
    let (id, secret) = token.split_once('.')?;
    (secret.len() == 43).then_some(())?;
    Some(Presented {
        id: Uuid::parse_str(id).ok()?,
        secret: secret.to_owned(),
    })
}

fn secret_hash(secret: &str) -> String {
    crate::digest::sha256_hex(secret.as_bytes())
}

/// Whether a presented secret is the one the record keeps the hash of (constant time).
fn secret_matches(presented: &Presented, record: &RefreshTokenRecord) -> bool {
    secret_hash(&presented.secret)
        .as_bytes()
        .ct_eq(record.secret_hash.as_bytes())
        .into()
}

/// A token as the client holds it.
fn token_string(id: Uuid, secret: &str) -> String {
    format!("{id}.{secret}")
}

/// The one-time pad that seals a successor's secret: an HMAC of the successor's id keyed
/// with the used token's secret, so each pad is used once and needs that secret.
fn pad(used_secret: &str, successor: Uuid) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(used_secret.as_bytes()).expect("any key");
    mac.update(successor.as_bytes());
    mac.finalize().into_bytes().into()
}

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

fn seal(used_secret: &str, successor: Uuid, secret: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(xor(secret, &pad(used_secret, successor)))
}

fn unseal(used_secret: &str, rotation: &RefreshRotation) -> Option<String> {
    let sealed: [u8; 32] = URL_SAFE_NO_PAD
        .decode(&rotation.sealed_secret)
        .ok()?
        .try_into()
        .ok()?;
    Some(URL_SAFE_NO_PAD.encode(xor(&sealed, &pad(used_secret, rotation.successor))))
}

/// What an exchange answers: whose token it was, and the token that succeeds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchanged {
    pub user: UserId,
    pub next: String,
}

pub struct RefreshTokens {
    store: Arc<dyn RefreshTokenStore>,
    ttl_seconds: u64,
    reuse_interval_ms: i64,
    clock: SharedClock,
}

impl RefreshTokens {
    pub fn new(
        store: Arc<dyn RefreshTokenStore>,
        ttl_seconds: u64,
        reuse_interval_seconds: u64,
        clock: SharedClock,
    ) -> Self {
        RefreshTokens {
            store,
            ttl_seconds,
            reuse_interval_ms: reuse_interval_seconds as i64 * 1000,
            clock,
        }
    }

    /// A new token's record and its secret.
    fn mint(&self, user: UserId, family: Uuid) -> (RefreshTokenRecord, [u8; 32]) {
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let record = RefreshTokenRecord {
            id: Uuid::new_v4(),
            family,
            user,
            secret_hash: secret_hash(&URL_SAFE_NO_PAD.encode(secret)),
            expires_at: self.clock.now() + (self.ttl_seconds as i64) * 1000,
        };
        (record, secret)
    }

    /// Issues a token for `user` in a new family (a new login).
    pub async fn issue(&self, user: UserId) -> Result<String, StoreError> {
        let (record, secret) = self.mint(user, Uuid::new_v4());
        self.store.insert_refresh_token(&record).await?;
        Ok(token_string(record.id, &URL_SAFE_NO_PAD.encode(secret)))
    }

    /// Reads a presented token and checks its secret.
    async fn load(&self, presented: &Presented) -> Result<RefreshTokenState, RefreshError> {
        let state = self
            .store
            .refresh_token(presented.id)
            .await?
            .ok_or(RefreshError::Invalid)?;
        if !secret_matches(presented, &state.record) {
            return Err(RefreshError::Invalid);
        }
        if state.family_revoked {
            return Err(RefreshError::Revoked);
        }
        Ok(state)
    }

    /// The answer to a used token: its successor again inside the reuse interval, else the
    /// family is revoked.
    async fn used(
        &self,
        presented: &Presented,
        state: &RefreshTokenState,
    ) -> Result<Exchanged, RefreshError> {
        let within = state.rotation.as_ref().filter(|rotation| {
            self.clock.now().saturating_sub(rotation.at) <= self.reuse_interval_ms
        });
        if let Some(rotation) = within
            && let Some(secret) = unseal(&presented.secret, rotation)
        {
            return Ok(Exchanged {
                user: state.record.user,
                next: token_string(rotation.successor, &secret),
            });
        }
        self.store.revoke_token_family(state.record.family).await?;
        Err(RefreshError::Reused)
    }

    /// Uses up a valid token and answers its successor in the same family. Of several
    /// concurrent exchanges of one token one wins, and the others, like any repeat within
    /// the reuse interval, get the winner's successor.
    pub async fn exchange(&self, token: &str) -> Result<Exchanged, RefreshError> {
        let presented = parse(token).ok_or(RefreshError::Invalid)?;
        let state = self.load(&presented).await?;
        if state.used {
            return self.used(&presented, &state).await;
        }
        if state.record.expires_at <= self.clock.now() {
            return Err(RefreshError::Expired);
        }
        // The successor is stored before the token is marked used, so a successor that
        // anyone was told about always exists; a loser's successor is never handed out.
        let (next, secret) = self.mint(state.record.user, state.record.family);
        self.store.insert_refresh_token(&next).await?;
        let rotation = RefreshRotation {
            successor: next.id,
            sealed_secret: seal(&presented.secret, next.id, &secret),
            at: self.clock.now(),
        };
        if self
            .store
            .use_refresh_token(&state.record, &rotation)
            .await?
        {
            return Ok(Exchanged {
                user: state.record.user,
                next: token_string(next.id, &URL_SAFE_NO_PAD.encode(secret)),
            });
        }
        // Another exchange won the race: answer its successor.
        let state = self.load(&presented).await?;
        self.used(&presented, &state).await
    }

    /// Whether the family of an issued token is still live: checked after an answer is
    /// signed, so a refresh racing a "revoke every login" cannot slip through it.
    pub async fn live(&self, token: &str) -> Result<bool, StoreError> {
        let Some(presented) = parse(token) else {
            return Ok(false);
        };
        Ok(self
            .store
            .refresh_token(presented.id)
            .await?
            .is_some_and(|state| !state.family_revoked))
    }

    /// Revokes the family of a valid token (logout); an unknown token is ignored.
    pub async fn revoke(&self, token: &str) -> Result<(), StoreError> {
        let Some(presented) = parse(token) else {
            return Ok(());
        };
        if let Some(state) = self.store.refresh_token(presented.id).await?
            && secret_matches(&presented, &state.record)
        {
            self.store.revoke_token_family(state.record.family).await?;
        }
        Ok(())
    }

    pub async fn revoke_user(&self, user: UserId) -> Result<(), StoreError> {
        self.store.revoke_user_tokens(user).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_with_the_used_tokens_secret() {
        let successor = Uuid::new_v4();
        let secret = [7u8; 32];
        let rotation = RefreshRotation {
            successor,
            sealed_secret: seal("used-secret", successor, &secret),
            at: 0,
        };
        assert_eq!(
            unseal("used-secret", &rotation),
            Some(URL_SAFE_NO_PAD.encode(secret))
        );
        assert_ne!(
            unseal("another-secret", &rotation),
            Some(URL_SAFE_NO_PAD.encode(secret))
        );
        assert_ne!(rotation.sealed_secret, URL_SAFE_NO_PAD.encode(secret));
    }

    #[test]
    fn a_token_is_an_id_and_a_43_character_secret() {
        let token = format!("{}.{}", Uuid::new_v4(), URL_SAFE_NO_PAD.encode([9u8; 32]));
        assert!(parse(&token).is_some());
        for bad in [
            "",
            "x.y",
            "not-a-uuid.AAAA",
            &format!("{}.short", Uuid::new_v4()),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }
}
