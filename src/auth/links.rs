//! Account links: password reset and email verification. Each sends an email through the
//! outbox with a one-time link token; the store keeps only the token's SHA-256.
//!
//! - A reset request answers the same whether or not the address has an account (the
//!   route answers 202 either way); the link works once, for 30 minutes, and setting the
//!   new password ends every login of the account: refresh tokens are revoked and access
//!   tokens issued until then are refused.
//! - A verification link is sent on registration, on upgrade and on an email change, and
//!   works once, for 48 hours, and only while the account still has that address.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fitpulse_actors::domain::{Email, Password, UserId};
use fitpulse_actors::ports::accounts::{AccountToken, AccountTokenPurpose};
use fitpulse_actors::ports::store::{StoreError, UserRecord};
use rand::RngCore;

use super::accounts::{AccountError, Accounts};
use crate::email::Template;

/// How long a reset link works.
pub const RESET_MINUTES: i64 = 30;
/// How long a verification link works.
pub const VERIFY_HOURS: i64 = 48;
/// Longest token accepted from a caller; ours are 43 characters.
const MAX_TOKEN_LEN: usize = 128;

fn token_hash(token: &str) -> String {
    crate::digest::sha256_hex(token.as_bytes())
}

impl Accounts {
    /// Stores a new link token for `user` at `email` and answers the token.
    async fn new_link(
        &self,
        purpose: AccountTokenPurpose,
        user: UserId,
        email: &Email,
        lifetime_ms: i64,
    ) -> Result<String, StoreError> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        self.account_tokens
            .insert_account_token(&AccountToken {
                hash: token_hash(&token),
                purpose,
                user,
                email: email.clone(),
                expires_at: self.clock.now() + lifetime_ms,
            })
            .await?;
        Ok(token)
    }

    /// Takes a presented link token of `purpose`: unknown, used, expired or another
    /// purpose's tokens are all the same [`AccountError::InvalidLink`].
    async fn take_link(
        &self,
        purpose: AccountTokenPurpose,
        token: &str,
    ) -> Result<AccountToken, AccountError> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(AccountError::InvalidLink);
        }
        let taken = self
            .account_tokens
            .take_account_token(&token_hash(token))
            .await?
            .ok_or(AccountError::InvalidLink)?;
        if taken.purpose != purpose || taken.expires_at <= self.clock.now() {
            return Err(AccountError::InvalidLink);
        }
        Ok(taken)
    }

    /// Emails a reset link to the account with `email`, if there is one. Malformed and
    /// unknown addresses do nothing, and say so to no one.
    pub async fn request_password_reset(&self, email: &str) -> Result<(), AccountError> {
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        let Some(user) = self.users.user_by_email(&email).await? else {
            tracing::info!("password reset requested for an address without an account");
            return Ok(());
        };
        let token = self
            .new_link(
                AccountTokenPurpose::PasswordReset,
                user.id,
                &email,
                RESET_MINUTES * 60_000,
            )
            .await?;
        let item = crate::email::email_item(
            Template::PasswordReset,
            &email,
            serde_json::json!({
                "display_name": user.display_name.as_str(),
                "link": format!("{}/reset-password?token={token}", self.link_base_url),
                "minutes": RESET_MINUTES,
            }),
            self.clock.now(),
        );
        self.outbox.enqueue(&item).await?;
        tracing::info!(user_id = %user.id, "password reset link sent");
        Ok(())
    }

    /// Sets a new password with a reset link, and ends every login of the account.
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        password: Password,
    ) -> Result<UserId, AccountError> {
        let taken = self
            .take_link(AccountTokenPurpose::PasswordReset, token)
            .await?;
        let user = self
            .users
            .user_by_id(taken.user)
            .await?
            .filter(|user| user.email.as_ref() == Some(&taken.email))
            .ok_or(AccountError::InvalidLink)?;
        let hash = self.passwords.hash(password).await?;
        if !self.users.set_password(user.id, &hash).await? {
            return Err(AccountError::AccountGone);
        }
        // Refresh tokens first: a refresh that wins its race with this still checks its
        // family after signing, and an access token signed before this point is refused.
        self.refresh.revoke_user(user.id).await?;
        self.revoked.revoke(user.id).await?;
        tracing::info!(user_id = %user.id, "password reset; every login ended");
        Ok(user.id)
    }

    /// Emails a verification link for the account's current address. The account exists
    /// already, so a failure is logged rather than failing the flow that asked for it.
    pub(super) async fn queue_verification(&self, user: &UserRecord) {
        if let Err(err) = self.send_verification(user).await {
            tracing::warn!(user_id = %user.id, error = %err, "cannot queue a verification email");
        }
    }

    async fn send_verification(&self, user: &UserRecord) -> Result<(), AccountError> {
        let Some(email) = &user.email else {
            return Err(AccountError::NoEmail);
        };
        let token = self
            .new_link(
                AccountTokenPurpose::VerifyEmail,
                user.id,
                email,
                VERIFY_HOURS * 3_600_000,
            )
            .await?;
        let item = crate::email::email_item(
            Template::VerifyEmail,
            email,
            serde_json::json!({
                "display_name": user.display_name.as_str(),
                "link": format!("{}/verify-email?token={token}", self.link_base_url),
            }),
            self.clock.now(),
        );
        self.outbox.enqueue(&item).await?;
        Ok(())
    }

    /// Sends another verification link to the caller's unverified address.
    pub async fn resend_verification(&self, user: UserId) -> Result<(), AccountError> {
        let user = self
            .users
            .user_by_id(user)
            .await?
            .ok_or(AccountError::AccountGone)?;
        if user.email_verified {
            return Err(AccountError::AlreadyVerified);
        }
        self.send_verification(&user).await
    }

    /// Marks the address of a verification link verified, if the account still has it.
    pub async fn verify_email(&self, token: &str) -> Result<UserId, AccountError> {
        let taken = self
            .take_link(AccountTokenPurpose::VerifyEmail, token)
            .await?;
        if !self.users.verify_email(taken.user, &taken.email).await? {
            return Err(AccountError::InvalidLink);
        }
        tracing::info!(user_id = %taken.user, "email verified");
        Ok(taken.user)
    }

    /// Moves an account with an email to a new address, unverified until its link is used.
    pub async fn change_email(
        &self,
        user: UserId,
        email: Email,
    ) -> Result<UserRecord, AccountError> {
        match self.users.change_email(user, &email).await {
            Ok(true) => {}
            Ok(false) => return Err(AccountError::NoEmail),
            Err(StoreError::Conflict { what: "email" }) => return Err(AccountError::EmailTaken),
            Err(err) => return Err(err.into()),
        }
        let changed = self
            .users
            .user_by_id(user)
            .await?
            .ok_or(AccountError::AccountGone)?;
        if !changed.email_verified {
            self.queue_verification(&changed).await;
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_stored_as_its_sha256() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
