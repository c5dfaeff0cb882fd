//! Accounts and tokens.
//!
//! - [`keys`]: Ed25519 signing keys, their `kid`s and the JWKS.
//! - [`tokens`]: signing and verifying access tokens (JWT, EdDSA only).
//! - [`refresh`]: opaque rotating refresh tokens with reuse detection.
//! - [`passwords`]: argon2id hashing on a bounded pool of its own.
//! - [`accounts`]: the flows (register, anonymous, upgrade, grants, logout, delete).
//! - [`caller`]: [`AuthUser`], the authenticated caller of a request or socket.
//! - [`rate_limit`], [`revocations`], [`clients`]: what the flows and the edge check.

pub mod accounts;
pub mod caller;
pub mod clients;
pub mod keys;
pub mod passwords;
pub mod rate_limit;
pub mod refresh;
pub mod revocations;
pub mod tokens;

use std::path::Path;
use std::sync::Arc;

pub use accounts::Accounts;
pub use caller::{AuthUser, MaybeAuthUser};

use crate::config::AuthSettings;
use crate::store::Stores;

/// What the request extractor needs: the verifier and the revoked users.
pub struct Auth {
    pub access: Arc<tokens::AccessTokens>,
    pub revoked: Arc<revocations::RevokedUsers>,
}

/// Everything authentication needs at run time, built once at start.
pub struct AuthParts {
    pub auth: Auth,
    pub accounts: Accounts,
    pub limiter: rate_limit::LoginLimiter,
}

impl AuthParts {
    pub fn build(
        settings: &AuthSettings,
        data_dir: &Path,
        stores: &Stores,
        clock: &fitpulse_actors::ports::clock::SharedClock,
    ) -> Result<Self, keys::KeyError> {
        let keys = Arc::new(keys::SigningKeys::load(
            &settings.signing_key_files,
            data_dir,
        )?);
        let access = Arc::new(tokens::AccessTokens::new(keys, settings));
        let revoked = Arc::new(revocations::RevokedUsers::new(
            settings.access_ttl_seconds,
            stores.revocations.clone(),
        ));
        let accounts = Accounts::new(accounts::AccountDeps {
            users: stores.users.clone(),
            entitlements: stores.entitlements.clone(),
            refresh: refresh::RefreshTokens::new(
                stores.refresh_tokens.clone(),
                settings.refresh_ttl_seconds,
            ),
            access: access.clone(),
            revoked: revoked.clone(),
            clients: clients::Clients::new(&settings.clients),
            outbox: stores.outbox.clone(),
            clock: clock.clone(),
            passwords: Arc::new(passwords::Passwords::new(
                settings.hash_threads(),
                std::time::Duration::from_millis(settings.hash_wait_ms),
            )),
        });
        Ok(AuthParts {
            auth: Auth { access, revoked },
            accounts,
            limiter: rate_limit::LoginLimiter::new(
                settings.attempts_per_minute_per_ip,
                settings.attempts_per_minute_per_account,
            ),
        })
    }
}
