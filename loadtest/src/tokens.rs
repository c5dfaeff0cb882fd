//! Access tokens for simulated users, signed with the server's own key: read from its
//! data directory (`<dir>/keys/jwt-signing-key.pem`) or given as a PEM file.

use fitpulse::auth::keys::KeyError;
use fitpulse::auth::tokens::{AccessTokens, Principal};
use fitpulse::config::Settings;
use fitpulse_actors::domain::{Role, UserId};
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct KeyArgs {
    /// The server's data directory (its generated signing key is read from there).
    #[arg(long, default_value = "./data")]
    pub data_dir: PathBuf,
    /// A PKCS#8 PEM Ed25519 key the server trusts (instead of --data-dir).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// `iss` and `aud` the server expects.
    #[arg(long, default_value = "fitpulse")]
    pub issuer: String,
    #[arg(long, default_value = "fitpulse-api")]
    pub audience: String,
}

pub struct Minter {
    tokens: AccessTokens,
}

impl Minter {
    pub fn new(args: &KeyArgs) -> Result<Minter, KeyError> {
        let mut settings = Settings::default().auth;
        settings.signing_key_files = args.key.iter().cloned().collect();
        settings.issuer = args.issuer.clone();
        settings.audience = args.audience.clone();
        Ok(Minter {
            tokens: AccessTokens::from_settings(&settings, &args.data_dir)?,
        })
    }

    /// A member's token for `user`, valid `ttl_seconds`.
    pub fn member(&self, user: UserId, ttl_seconds: i64) -> String {
        self.tokens
            .issue_for(
                &Principal::User(user),
                &[Role::Member].into(),
                &BTreeSet::new(),
                ttl_seconds,
            )
            .token
    }

    /// A member's token for `user` with extra `scopes`, e.g. `content:premium`.
    pub fn member_with_scopes(&self, user: UserId, scopes: &[&str], ttl_seconds: i64) -> String {
        let scopes: BTreeSet<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        self.tokens
            .issue_for(
                &Principal::User(user),
                &[Role::Member].into(),
                &scopes,
                ttl_seconds,
            )
            .token
    }

    /// A token for `user` with `roles`.
    pub fn with_roles(&self, user: UserId, roles: &[Role], ttl_seconds: i64) -> String {
        let roles: BTreeSet<Role> = roles.iter().copied().collect();
        self.tokens
            .issue_for(
                &Principal::User(user),
                &roles,
                &BTreeSet::new(),
                ttl_seconds,
            )
            .token
    }
}
