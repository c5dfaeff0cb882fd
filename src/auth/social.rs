//! Sign in with Apple and Google, once the ID token is verified ([`super::id_tokens`]):
//! the account linked to the provider's subject signs in; else an account whose verified
//! email the provider also vouches for gets the link; else a new account is made. An
//! account whose email was never verified is not linked by email: whoever registered it
//! may not be the owner of the address, and linking would hand them the owner's sign-in.

use fitpulse_actors::domain::{DisplayName, Email, Locale, Role, Units, UserId, now_millis};
use fitpulse_actors::ports::accounts::{Identity, SocialProvider};
use fitpulse_actors::ports::store::{StoreError, UserRecord};

use super::accounts::{AccountError, Accounts, TokenPair};
use super::id_tokens::IdClaims;

/// How long a racing sign-in waits for the winner's account: 40 x 50 ms.
const LINKED_WAIT_ROUNDS: usize = 40;
const LINKED_WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(50);
/// The display name of a new account whose provider gave none.
const DEFAULT_NAME: &str = "Member";

/// How a social sign-in went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocialOutcome {
    /// The subject was linked already.
    SignedIn,
    /// Linked to the account with the same verified email.
    Linked,
    /// A new account.
    Created,
}

impl Accounts {
    /// Signs in the holder of a verified ID token (see the module doc).
    pub async fn social_sign_in(
        &self,
        provider: SocialProvider,
        claims: IdClaims,
        display_name: Option<DisplayName>,
    ) -> Result<(UserRecord, TokenPair, SocialOutcome), AccountError> {
        if let Some(linked) = self.identities.identity(provider, &claims.subject).await? {
            return self.sign_in_linked(linked).await;
        }
        let email = claims.email.as_deref().and_then(|e| Email::parse(e).ok());
        let existing = match &email {
            Some(email) => self.users.user_by_email(email).await?,
            None => None,
        };
        let (user, outcome) = match existing {
            Some(user) if claims.email_verified && user.email_verified => {
                let linked = self.identities.identities_of(user.id).await?;
                if linked.iter().any(|i| i.provider == provider) {
                    return Err(AccountError::ProviderLinked);
                }
                (user, SocialOutcome::Linked)
            }
            Some(_) => return Err(AccountError::EmailTaken),
            None => {
                let user = UserRecord {
                    id: UserId::random(),
                    email: email.clone(),
                    display_name: display_name
                        .or_else(|| {
                            claims
                                .name
                                .as_deref()
                                .and_then(|n| DisplayName::parse(n).ok())
                        })
                        .unwrap_or_else(|| DisplayName::parse(DEFAULT_NAME).expect("valid name")),
                    password_hash: None,
                    roles: [Role::Member].into(),
                    locale: Locale::default(),
                    units: Units::default(),
                    device_id: None,
                    created_at: now_millis(),
                    email_verified: email.is_some() && claims.email_verified,
                    timezone: None,
                };
                (user, SocialOutcome::Created)
            }
        };
        // The subject is claimed first: of two first sign-ins racing, one links and
        // creates, the other signs in what the first made.
        let identity = Identity {
            provider,
            subject: claims.subject,
            user: user.id,
            email,
            linked_at: self.clock.now(),
        };
        match self.identities.link_identity(&identity).await {
            Ok(()) => {}
            Err(StoreError::Conflict { what: "identity" }) => {
                let linked = self
                    .identities
                    .identity(provider, &identity.subject)
                    .await?
                    .ok_or(AccountError::AccountGone)?;
                return self.sign_in_linked(linked).await;
            }
            Err(err) => return Err(err.into()),
        }
        if outcome == SocialOutcome::Created {
            match self.users.create_user(&user).await {
                Ok(()) => {}
                Err(err) => {
                    // Registered by someone else meanwhile (or the store failed): the link
                    // goes, so the next attempt starts over.
                    self.identities.unlink_identity(user.id, provider).await?;
                    return Err(match err {
                        StoreError::Conflict { what: "email" } => AccountError::EmailTaken,
                        err => err.into(),
                    });
                }
            }
            self.queue_welcome(&user).await;
        }
        tracing::info!(user_id = %user.id, provider = provider.as_str(), ?outcome, "social sign-in");
        let tokens = self.sign_in(&user).await?;
        Ok((user, tokens, outcome))
    }

    /// Signs in the account `linked` names, waiting (boundedly) for the sign-in that made
    /// the link to finish creating it.
    async fn sign_in_linked(
        &self,
        linked: Identity,
    ) -> Result<(UserRecord, TokenPair, SocialOutcome), AccountError> {
        for _ in 0..LINKED_WAIT_ROUNDS {
            if let Some(user) = self.users.user_by_id(linked.user).await? {
                let tokens = self.sign_in(&user).await?;
                return Ok((user, tokens, SocialOutcome::SignedIn));
            }
            tokio::time::sleep(LINKED_WAIT_STEP).await;
        }
        // A link whose account never came (its sign-in failed half-way) goes, so the next
        // sign-in starts over.
        if self.users.user_by_id(linked.user).await?.is_none() {
            self.identities
                .unlink_identity(linked.user, linked.provider)
                .await?;
        }
        Err(AccountError::AccountGone)
    }

    /// The user's linked identities.
    pub async fn identities(&self, user: UserId) -> Result<Vec<Identity>, AccountError> {
        Ok(self.identities.identities_of(user).await?)
    }

    /// Removes the link to `provider`, unless it is the last way to sign in.
    pub async fn unlink(
        &self,
        user: UserId,
        provider: SocialProvider,
    ) -> Result<bool, AccountError> {
        let record = self
            .users
            .user_by_id(user)
            .await?
            .ok_or(AccountError::AccountGone)?;
        let identities = self.identities.identities_of(user).await?;
        if !identities.iter().any(|i| i.provider == provider) {
            return Ok(false);
        }
        if record.password_hash.is_none() && identities.len() == 1 {
            return Err(AccountError::LastSignIn);
        }
        Ok(self.identities.unlink_identity(user, provider).await?)
    }
}
