//! Accounts and tokens.
//!
//! - [`keys`]: Ed25519 signing keys, their `kid`s and the JWKS.
//! - [`tokens`]: signing and verifying access tokens (JWT, EdDSA only).
//! - [`verified_cache`]: access tokens verified a moment ago, remembered briefly.
//! - [`refresh`]: opaque rotating refresh tokens with reuse detection.
//! - [`passwords`]: argon2id hashing on a bounded pool of its own.
//! - [`accounts`]: the flows (register, anonymous, upgrade, grants, logout, delete).
//! - [`links`]: password reset and email verification by emailed one-time links.
//! - [`social`], [`id_tokens`], [`jwks`]: Sign in with Apple and Google.
//! - [`staff`]: staff accounts and roles through the admin API.
//! - [`caller`]: [`AuthUser`], the authenticated caller of a request or socket.
//! - [`rate_limit`], [`revocations`], [`clients`]: what the flows and the edge check.

pub mod accounts;
pub mod caller;
pub mod clients;
pub mod erasure;
pub mod export;
pub mod id_tokens;
pub mod jwks;
pub mod keys;
pub mod links;
pub mod passwords;
pub mod rate_limit;
pub mod refresh;
pub mod revocations;
pub mod social;
pub mod staff;
pub mod tokens;
pub mod verified_cache;

use std::path::Path;
use std::sync::Arc;

pub use accounts::Accounts;
pub use caller::{AuthUser, MaybeAuthUser};

use crate::config::AuthSettings;
use crate::store::Stores;

/// What the request extractor needs: the verifier and the revoked users, and the actions
/// that need a verified email.
pub struct Auth {
    pub access: Arc<tokens::AccessTokens>,
    pub revoked: Arc<revocations::RevokedUsers>,
    pub verified_for: std::collections::BTreeSet<caller::VerifiedAction>,
}

/// Everything authentication needs at run time, built once at start.
pub struct AuthParts {
    pub auth: Auth,
    pub accounts: Accounts,
    pub limiter: rate_limit::LoginLimiter,
    pub social: id_tokens::SocialProviders,
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
                settings.refresh_reuse_interval_seconds,
                clock.clone(),
            ),
            access: access.clone(),
            revoked: revoked.clone(),
            clients: clients::Clients::new(&settings.clients),
            outbox: stores.outbox.clone(),
            account_tokens: stores.account_tokens.clone(),
            identities: stores.identities.clone(),
            account_data: stores.account_data.clone(),
            link_base_url: settings.link_base_url.clone(),
            clock: clock.clone(),
            passwords: Arc::new(passwords::Passwords::new(
                settings.hash_threads(),
                std::time::Duration::from_millis(settings.hash_wait_ms),
            )),
        });
        Ok(AuthParts {
            auth: Auth {
                access,
                revoked,
                verified_for: settings
                    .require_verified_email_for
                    .iter()
                    .copied()
                    .collect(),
            },
            accounts,
            limiter: rate_limit::LoginLimiter::new(
                settings.attempts_per_minute_per_ip,
                settings.attempts_per_minute_per_account,
            )
            .with_resets_per_hour(settings.password_resets_per_hour_per_email),
            social: id_tokens::SocialProviders::new(&settings.apple, &settings.google, clock),
        })
    }
}
