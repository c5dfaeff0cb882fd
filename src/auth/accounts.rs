//! Account flows: registration, anonymous device accounts and their upgrade, the OAuth
//! grants (password, refresh token, client credentials), logout and deletion. Every flow
//! that signs someone in answers a [`TokenPair`] whose scopes come from the user's active
//! entitlements at that moment. Registering with an email (or upgrading to one) queues a
//! welcome email in the outbox.

use fitpulse_actors::ports::clock::SharedClock;
use std::collections::BTreeSet;
use std::sync::Arc;

use fitpulse_actors::domain::{
    DeviceId, DisplayName, Email, Locale, Password, Role, Units, UserId, now_millis,
};
use fitpulse_actors::ports::accounts::{AccountDataStore, AccountTokenStore, IdentityStore};
use fitpulse_actors::ports::commerce::OutboxStore;
use fitpulse_actors::ports::store::{
    EntitlementStore, ProfileUpdate, StoreError, UserRecord, UserStore,
};

use super::clients::Clients;
use super::passwords::{HashError, Passwords};
use super::refresh::{RefreshError, RefreshTokens};
use super::revocations::RevokedUsers;
use super::tokens::{AccessTokens, Issued, Principal};

/// The scope every signed-in user has; entitlements add `content:<name>`.
pub const BASE_SCOPE: &str = "profile";
/// The display name of a new anonymous account until the user picks one.
const GUEST_NAME: &str = "Guest";

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    #[error("invalid client credentials")]
    InvalidClient,
    #[error("this account already has an email")]
    AlreadyUpgraded,
    #[error("the account no longer exists")]
    AccountGone,
    #[error("the link is not valid, has expired or was already used")]
    InvalidLink,
    #[error("this email is already verified")]
    AlreadyVerified,
    #[error("this account has no email")]
    NoEmail,
    #[error("this is the account's last way to sign in; set a password or link another first")]
    LastSignIn,
    #[error("the account with this email is linked to another account of this provider")]
    ProviderLinked,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// What a sign-in answers.
#[derive(Debug, Clone)]
pub struct TokenPair {
    pub access: Issued,
    pub refresh: Option<String>,
    pub user_id: Option<UserId>,
}

/// A new email account.
pub struct NewAccount {
    pub email: Email,
    /// Without one (staff created by an admin), the account signs in once a reset link
    /// set it.
    pub password: Option<Password>,
    pub display_name: DisplayName,
    pub locale: Option<Locale>,
    pub units: Option<Units>,
    pub roles: BTreeSet<Role>,
}

/// Creates an email account; used by registration, staff creation and
/// `fitpulse admin create-user`.
pub async fn create_account(
    users: &dyn UserStore,
    passwords: &Passwords,
    new: NewAccount,
) -> Result<UserRecord, AccountError> {
    let password_hash = match new.password {
        Some(password) => Some(passwords.hash(password).await?),
        None => None,
    };
    let user = UserRecord {
        id: UserId::random(),
        email: Some(new.email),
        display_name: new.display_name,
        password_hash,
        roles: new.roles,
        locale: new.locale.unwrap_or_default(),
        units: new.units.unwrap_or_default(),
        device_id: None,
        created_at: now_millis(),
        email_verified: false,
        timezone: None,
    };
    match users.create_user(&user).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict { what: "email" }) => Err(AccountError::EmailTaken),
        Err(err) => Err(err.into()),
    }
}

pub struct Accounts {
    pub(super) users: Arc<dyn UserStore>,
    pub(super) entitlements: Arc<dyn EntitlementStore>,
    pub(super) refresh: RefreshTokens,
    pub(super) access: Arc<AccessTokens>,
    pub(super) revoked: Arc<RevokedUsers>,
    pub(super) clients: Clients,
    pub(super) outbox: Arc<dyn OutboxStore>,
    /// When queued emails fall due (the outbox runs on the node's clock).
    pub(super) clock: SharedClock,
    pub(super) passwords: Arc<Passwords>,
    pub(super) account_tokens: Arc<dyn AccountTokenStore>,
    pub(super) identities: Arc<dyn IdentityStore>,
    pub(super) account_data: Arc<dyn AccountDataStore>,
    /// Where the links in account emails point.
    pub(super) link_base_url: String,
}

/// What [`Accounts`] is built from.
pub struct AccountDeps {
    pub users: Arc<dyn UserStore>,
    pub entitlements: Arc<dyn EntitlementStore>,
    pub refresh: RefreshTokens,
    pub access: Arc<AccessTokens>,
    pub revoked: Arc<RevokedUsers>,
    pub clients: Clients,
    pub outbox: Arc<dyn OutboxStore>,
    pub clock: SharedClock,
    pub passwords: Arc<Passwords>,
    pub account_tokens: Arc<dyn AccountTokenStore>,
    pub identities: Arc<dyn IdentityStore>,
    pub account_data: Arc<dyn AccountDataStore>,
    pub link_base_url: String,
}

impl Accounts {
    pub fn new(deps: AccountDeps) -> Self {
        Accounts {
            users: deps.users,
            entitlements: deps.entitlements,
            refresh: deps.refresh,
            access: deps.access,
            revoked: deps.revoked,
            clients: deps.clients,
            outbox: deps.outbox,
            clock: deps.clock,
            passwords: deps.passwords,
            account_tokens: deps.account_tokens,
            identities: deps.identities,
            account_data: deps.account_data,
            link_base_url: deps.link_base_url,
        }
    }

    /// Registers a member and signs them in.
    pub async fn register(&self, new: NewAccount) -> Result<(UserRecord, TokenPair), AccountError> {
        let user = create_account(self.users.as_ref(), &self.passwords, new).await?;
        self.queue_welcome(&user).await;
        self.queue_verification(&user).await;
        let tokens = self.sign_in(&user).await?;
        Ok((user, tokens))
    }

    /// Signs in the anonymous account of `device`, creating it on first use. The bool is
    /// true when the account was created.
    pub async fn anonymous(
        &self,
        device: DeviceId,
    ) -> Result<(UserRecord, TokenPair, bool), AccountError> {
        if let Some(user) = self.users.user_by_device(&device).await? {
            let tokens = self.sign_in(&user).await?;
            return Ok((user, tokens, false));
        }
        let user = UserRecord {
            id: UserId::random(),
            email: None,
            // A constant, valid display name.
            display_name: DisplayName::parse(GUEST_NAME).expect("valid guest name"),
            password_hash: None,
            roles: [Role::Member].into(),
            locale: Locale::default(),
            units: Units::default(),
            device_id: Some(device.clone()),
            created_at: now_millis(),
            email_verified: false,
            timezone: None,
        };
        match self.users.create_user(&user).await {
            Ok(()) => {
                let tokens = self.sign_in(&user).await?;
                Ok((user, tokens, true))
            }
            // Two first launches raced; the other one created the account.
            Err(StoreError::Conflict { what: "device" }) => {
                let user = self
                    .users
                    .user_by_device(&device)
                    .await?
                    .ok_or(AccountError::AccountGone)?;
                let tokens = self.sign_in(&user).await?;
                Ok((user, tokens, false))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Gives an anonymous account an email and password, keeping its id and all its data.
    pub async fn upgrade(
        &self,
        user: UserId,
        email: Email,
        password: Password,
        display_name: Option<DisplayName>,
    ) -> Result<(UserRecord, TokenPair), AccountError> {
        let current = self
            .users
            .user_by_id(user)
            .await?
            .ok_or(AccountError::AccountGone)?;
        if current.email.is_some() {
            return Err(AccountError::AlreadyUpgraded);
        }
        let hash = self.passwords.hash(password).await?;
        match self.users.attach_email(user, &email, &hash).await {
            Ok(true) => {}
            Ok(false) => return Err(AccountError::AccountGone),
            Err(StoreError::Conflict { what: "email" }) => return Err(AccountError::EmailTaken),
            Err(err) => return Err(err.into()),
        }
        if display_name.is_some() {
            let update = ProfileUpdate {
                display_name,
                ..ProfileUpdate::default()
            };
            self.users.update_profile(user, &update).await?;
        }
        let upgraded = self
            .users
            .user_by_id(user)
            .await?
            .ok_or(AccountError::AccountGone)?;
        self.queue_welcome(&upgraded).await;
        self.queue_verification(&upgraded).await;
        let tokens = self.sign_in(&upgraded).await?;
        Ok((upgraded, tokens))
    }

    /// The `password` grant.
    pub async fn password_grant(
        &self,
        email: &str,
        password: &str,
    ) -> Result<TokenPair, AccountError> {
        // Malformed input verifies against nothing, in the same time as a wrong password.
        let email = Email::parse(email).ok();
        let password = Password::parse(password).ok();
        let user = match &email {
            Some(email) => self.users.user_by_email(email).await?,
            None => None,
        };
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let candidate = password.unwrap_or_else(|| {
            Password::parse("placeholder-never-matches").expect("valid placeholder")
        });
        let valid = self.passwords.verify(candidate, stored).await?;
        let Some(user) = user.filter(|_| valid && email.is_some()) else {
            return Err(AccountError::InvalidCredentials);
        };
        let tokens = self.sign_in(&user).await?;
        // A password reset may have finished while this login checked the old password:
        // its new login must not outlive the reset.
        let current = self.users.user_by_id(user.id).await?;
        if current.and_then(|u| u.password_hash) != user.password_hash {
            if let Some(refresh) = &tokens.refresh {
                self.refresh.revoke(refresh).await?;
            }
            return Err(AccountError::InvalidCredentials);
        }
        Ok(tokens)
    }

    /// The `refresh_token` grant: rotates the token within its family.
    pub async fn refresh_grant(&self, token: &str) -> Result<TokenPair, AccountError> {
        let exchanged = self.refresh.exchange(token).await?;
        let Some(user) = self.users.user_by_id(exchanged.user).await? else {
            self.refresh.revoke_user(exchanged.user).await?;
            return Err(AccountError::AccountGone);
        };
        let tokens = self.tokens_for(&user, exchanged.next.clone()).await?;
        // Every login of the account may have ended while this one was signed.
        if !self.refresh.live(&exchanged.next).await? {
            return Err(RefreshError::Revoked.into());
        }
        Ok(tokens)
    }

    /// The `client_credentials` grant: an access token for a service, no refresh token.
    pub fn client_grant(&self, id: &str, secret: &str) -> Result<TokenPair, AccountError> {
        let roles = self
            .clients
            .authenticate(id, secret)
            .ok_or(AccountError::InvalidClient)?;
        let access = self
            .access
            .issue(&Principal::Client(id.to_owned()), roles, &BTreeSet::new());
        Ok(TokenPair {
            access,
            refresh: None,
            user_id: None,
        })
    }

    /// Ends the login the refresh token belongs to.
    pub async fn logout(&self, refresh_token: &str) -> Result<(), AccountError> {
        Ok(self.refresh.revoke(refresh_token).await?)
    }

    /// Deletes the account: every login ends (durably, on every node), then every row
    /// about the user is erased in the store; subscriptions and orders stay
    /// for accounting under a fresh pseudonym that nothing links back to the user. The
    /// caller ends the user's session first, so nothing of it is written after.
    pub async fn delete(&self, user: UserId) -> Result<bool, AccountError> {
        if self.users.user_by_id(user).await?.is_none() {
            return Ok(false);
        }
        // Refresh tokens first: a refresh that wins its race with this still checks its
        // family after signing, and an access token signed before this point is refused.
        self.refresh.revoke_user(user).await?;
        self.revoked.revoke(user).await?;
        self.account_data.erase_user(user, UserId::random()).await?;
        Ok(true)
    }

    /// Queues the welcome email of a user who just gave us their address. The account
    /// exists already, so a failure here is logged rather than failing the sign-up.
    pub(super) async fn queue_welcome(&self, user: &UserRecord) {
        let Some(email) = &user.email else {
            return;
        };
        let item = crate::email::email_item(
            crate::email::Template::Welcome,
            email,
            serde_json::json!({ "display_name": user.display_name.as_str() }),
            self.clock.now(),
        );
        if let Err(err) = self.outbox.enqueue(&item).await {
            tracing::warn!(user = %user.id, error = %err, "cannot queue the welcome email");
        }
    }

    /// Issues an access token and the refresh token of a new login.
    pub(super) async fn sign_in(&self, user: &UserRecord) -> Result<TokenPair, AccountError> {
        let refresh = self.refresh.issue(user.id).await?;
        self.tokens_for(user, refresh).await
    }

    /// An access token for `user` with their scopes now, answered with `refresh`.
    async fn tokens_for(
        &self,
        user: &UserRecord,
        refresh: String,
    ) -> Result<TokenPair, AccountError> {
        let scopes = self.scopes(user.id).await?;
        let access = self.access.issue_user(
            user.id,
            &user.roles,
            &scopes,
            user.email_verified,
            user.timezone,
        );
        Ok(TokenPair {
            access,
            refresh: Some(refresh),
            user_id: Some(user.id),
        })
    }

    /// `profile` plus `content:<name>` for each entitlement active now.
    async fn scopes(&self, user: UserId) -> Result<BTreeSet<String>, StoreError> {
        let now = now_millis();
        let mut scopes: BTreeSet<String> = [BASE_SCOPE.to_owned()].into();
        for entitlement in self.entitlements.entitlements(user).await? {
            if entitlement.is_active_at(now) {
                scopes.insert(format!("content:{}", entitlement.name));
            }
        }
        Ok(scopes)
    }
}
