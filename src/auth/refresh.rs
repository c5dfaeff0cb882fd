//! Refresh tokens: opaque `<id>.<secret>` strings. The store keeps only a SHA-256 of the
//! secret. Each exchange marks the token used and issues the next one in the same family;
//! presenting a used token again means it leaked, so the whole family is revoked.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fitpulse_actors::domain::{UserId, now_millis};
use fitpulse_actors::ports::store::{RefreshTokenRecord, RefreshTokenStore, StoreError};
use rand::RngCore;
use sha2::{Digest, Sha256};
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
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub struct RefreshTokens {
    store: Arc<dyn RefreshTokenStore>,
    ttl_seconds: u64,
}

impl RefreshTokens {
    pub fn new(store: Arc<dyn RefreshTokenStore>, ttl_seconds: u64) -> Self {
        RefreshTokens { store, ttl_seconds }
    }

    /// Issues a token for `user`, in `family` when rotating, else in a new family.
    pub async fn issue(&self, user: UserId, family: Option<Uuid>) -> Result<String, StoreError> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let secret = URL_SAFE_NO_PAD.encode(bytes);
        let record = RefreshTokenRecord {
            id: Uuid::new_v4(),
            family: family.unwrap_or_else(Uuid::new_v4),
            user,
            secret_hash: secret_hash(&secret),
            expires_at: now_millis() + (self.ttl_seconds as i64) * 1000,
        };
        self.store.insert_refresh_token(&record).await?;
        Ok(format!("{}.{secret}", record.id))
    }

    /// Checks a presented token without using it up.
    async fn check(&self, token: &str) -> Result<RefreshTokenRecord, RefreshError> {
        let presented = parse(token).ok_or(RefreshError::Invalid)?;
        let state = self
            .store
            .refresh_token(presented.id)
            .await?
            .ok_or(RefreshError::Invalid)?;
        let matches: bool = secret_hash(&presented.secret)
            .as_bytes()
            .ct_eq(state.record.secret_hash.as_bytes())
            .into();
        if !matches {
            return Err(RefreshError::Invalid);
        }
        if state.family_revoked {
            return Err(RefreshError::Revoked);
        }
        if state.used {
            self.store.revoke_token_family(state.record.family).await?;
            return Err(RefreshError::Reused);
        }
        if state.record.expires_at <= now_millis() {
            return Err(RefreshError::Expired);
        }
        Ok(state.record)
    }

    /// Uses up a valid token, returning its user and family for the next token. Of several
    /// concurrent exchanges of one token, one wins and the others count as reuse.
    pub async fn exchange(&self, token: &str) -> Result<(UserId, Uuid), RefreshError> {
        let record = self.check(token).await?;
        if !self.store.use_refresh_token(&record).await? {
            self.store.revoke_token_family(record.family).await?;
            return Err(RefreshError::Reused);
        }
        Ok((record.user, record.family))
    }

    /// Revokes the family of a valid token (logout); an unknown token is ignored.
    pub async fn revoke(&self, token: &str) -> Result<(), StoreError> {
        let Some(presented) = parse(token) else {
            return Ok(());
        };
        if let Some(state) = self.store.refresh_token(presented.id).await? {
            let matches: bool = secret_hash(&presented.secret)
                .as_bytes()
                .ct_eq(state.record.secret_hash.as_bytes())
                .into();
            if matches {
                self.store.revoke_token_family(state.record.family).await?;
            }
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
