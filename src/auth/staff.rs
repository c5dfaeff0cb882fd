//! Staff accounts while the server runs (the admin API): create one, with a password or a
//! link to set one; change roles; end every login of an account. A change of roles ends the
//! account's current access tokens, so a demoted admin loses the role at once rather than
//! when their token expires; their app refreshes and gets the new roles.

use std::collections::BTreeSet;

use fitpulse_actors::domain::{DisplayName, Email, Password, Role, UserId};
use fitpulse_actors::ports::store::UserRecord;

use super::accounts::{AccountError, Accounts, NewAccount, create_account};

/// A new staff account.
pub struct NewStaff {
    pub email: Email,
    /// Without one, the account gets an email with a link to set it.
    pub password: Option<Password>,
    pub roles: BTreeSet<Role>,
    pub display_name: DisplayName,
}

impl Accounts {
    pub async fn create_staff(&self, new: NewStaff) -> Result<UserRecord, AccountError> {
        let without_password = new.password.is_none();
        let email = new.email.clone();
        let user = create_account(
            self.users.as_ref(),
            &self.passwords,
            NewAccount {
                email: new.email,
                password: new.password,
                display_name: new.display_name,
                locale: None,
                units: None,
                roles: new.roles,
            },
        )
        .await?;
        if without_password {
            // Setting the password through the link also proves the address.
            self.request_password_reset(email.as_str()).await?;
        }
        self.queue_verification(&user).await;
        tracing::info!(user_id = %user.id, "staff account created");
        Ok(user)
    }

    /// Replaces the roles (members keep `member`) and ends the current access tokens.
    pub async fn set_roles(
        &self,
        user: UserId,
        roles: BTreeSet<Role>,
    ) -> Result<UserRecord, AccountError> {
        let mut roles = roles;
        roles.insert(Role::Member);
        if !self.users.set_roles(user, &roles).await? {
            return Err(AccountError::AccountGone);
        }
        self.revoked.revoke(user).await?;
        self.users
            .user_by_id(user)
            .await?
            .ok_or(AccountError::AccountGone)
    }

    /// Ends every login of the account: access tokens refused, refresh tokens revoked.
    pub async fn revoke_all(&self, user: UserId) -> Result<(), AccountError> {
        if self.users.user_by_id(user).await?.is_none() {
            return Err(AccountError::AccountGone);
        }
        // Refresh tokens first: a refresh that wins its race with this still checks its
        // family after signing, and an access token signed before this point is refused.
        self.refresh.revoke_user(user).await?;
        self.revoked.revoke(user).await?;
        Ok(())
    }
}
