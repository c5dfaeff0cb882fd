//! `fitpulse admin ...`: operator commands that work on the configured store and keys
//! without the HTTP server.

use std::collections::BTreeSet;

use fitpulse_actors::domain::{DisplayName, Email, Password, Role, UserId};

use crate::auth::accounts::{AccountError, NewAccount, create_account};
use crate::auth::keys::KeyError;
use crate::auth::passwords::Passwords;
use crate::auth::tokens::{AccessTokens, Principal};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::store;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] store::OpenError),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Keys(#[from] KeyError),
}

fn invalid(what: &str, err: impl std::fmt::Display) -> AdminError {
    AdminError::Invalid(format!("{what}: {err}"))
}

fn roles_for(role: &str) -> Result<BTreeSet<Role>, AdminError> {
    let role = Role::parse(role).ok_or_else(|| invalid("--role", "member, coach or admin"))?;
    Ok([Role::Member, role].into())
}

/// Creates an account and returns a line describing it.
pub async fn create_user(
    settings: &Settings,
    email: &str,
    password: &str,
    role: &str,
    display_name: Option<&str>,
) -> Result<String, AdminError> {
    let email = Email::parse(email).map_err(|e| invalid("--email", e))?;
    let password = Password::parse(password).map_err(|e| invalid("--password", e))?;
    let name = display_name.unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("staff"));
    let display_name = DisplayName::parse(
        &name
            .chars()
            .take(DisplayName::MAX_CHARS)
            .collect::<String>(),
    )
    .map_err(|e| invalid("--display-name", e))?;
    let stores = store::open(settings, &Metrics::new()).await?;
    let passwords = Passwords::new(1, std::time::Duration::from_secs(60));
    let user = create_account(
        stores.users.as_ref(),
        &passwords,
        NewAccount {
            email,
            password: Some(password),
            display_name,
            locale: None,
            units: None,
            roles: roles_for(role)?,
        },
    )
    .await?;
    let roles: Vec<&str> = user.roles.iter().map(|r| r.as_str()).collect();
    Ok(format!(
        "created user {} with roles {}",
        user.id,
        roles.join(",")
    ))
}

/// Signs an access token with the configured (or generated) key.
pub fn mint_token(
    settings: &Settings,
    user: &str,
    role: &str,
    ttl: &str,
    extra_scopes: &[String],
) -> Result<String, AdminError> {
    let user: UserId = user.parse().map_err(|e| invalid("--user", e))?;
    let ttl = humantime::parse_duration(ttl).map_err(|e| invalid("--ttl", e))?;
    let tokens = AccessTokens::from_settings(&settings.auth, &settings.data_dir)?;
    let mut scopes: BTreeSet<String> = [crate::auth::accounts::BASE_SCOPE.to_owned()].into();
    scopes.extend(extra_scopes.iter().cloned());
    let issued = tokens.issue_for(
        &Principal::User(user),
        &roles_for(role)?,
        &scopes,
        i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
    );
    Ok(issued.token)
}
