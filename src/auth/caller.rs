//! The authenticated caller of a request or socket: who the access token speaks for,
//! with their roles and scopes, and the checks routes make of them. Verifying a token
//! ([`Auth::authenticate`]) refuses revoked users. The HTTP extractors are at the edge
//! (`crate::http::caller`); this module knows nothing of HTTP.

use std::collections::BTreeSet;

use fitpulse_actors::domain::{Role, TimeZone, UserId};

use super::Auth;
use super::tokens::{Principal, TokenError};
pub use crate::config::VerifiedAction;

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub principal: Principal,
    pub roles: BTreeSet<Role>,
    pub scopes: BTreeSet<String>,
    /// When the token expires, in Unix seconds.
    pub expires_at: i64,
    /// The token says the account's email was verified.
    pub email_verified: bool,
    /// The member's time zone, from the token; their days are UTC days without one.
    pub timezone: Option<TimeZone>,
}

/// Why a token does not authenticate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the access token was revoked")]
    Revoked,
}

/// Why an authenticated caller may not do something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallerError {
    #[error("this route needs a user's token, not a service client's")]
    NotAUser,
    #[error("this needs the {} role", .0.as_str())]
    MissingRole(Role),
    #[error("verify your email first (then refresh the access token) to {}", .0.describe())]
    EmailNotVerified(VerifiedAction),
}

impl AuthUser {
    /// The user behind the token; service clients have none and are refused.
    pub fn user_id(&self) -> Result<UserId, CallerError> {
        match &self.principal {
            Principal::User(id) => Ok(*id),
            Principal::Client(_) => Err(CallerError::NotAUser),
        }
    }

    /// Admins pass every role check.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }

    /// May use premium content: a `content:premium` scope (granted from the premium
    /// entitlement when the token is issued), or staff.
    pub fn premium(&self) -> bool {
        self.scopes.contains("content:premium") || self.has_role(Role::Coach)
    }

    pub fn require_role(&self, role: Role) -> Result<(), CallerError> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(CallerError::MissingRole(role))
        }
    }
}

impl Auth {
    /// Verifies `token` and checks that its user was not revoked since it was issued.
    pub fn authenticate(&self, token: &str) -> Result<AuthUser, AuthError> {
        let verified = self.access.verify(token)?;
        if let Principal::User(id) = &verified.principal
            && self.revoked.is_revoked(*id, verified.issued_at_ms)
        {
            return Err(AuthError::Revoked);
        }
        Ok(AuthUser {
            principal: verified.principal,
            roles: verified.roles,
            scopes: verified.scopes,
            expires_at: verified.expires_at,
            email_verified: verified.email_verified,
            timezone: verified.timezone,
        })
    }

    /// Refuses `action` to a user whose token does not say their email is verified, when
    /// `auth.require_verified_email_for` names the action.
    pub fn require_verified(
        &self,
        caller: &AuthUser,
        action: VerifiedAction,
    ) -> Result<(), CallerError> {
        if self.verified_for.contains(&action)
            && matches!(caller.principal, Principal::User(_))
            && !caller.email_verified
        {
            return Err(CallerError::EmailNotVerified(action));
        }
        Ok(())
    }
}

/// The caller of a public route: `None` without an `Authorization` header, the user with a
/// valid token (a bad token is an error, not a silent downgrade to anonymous).
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl MaybeAuthUser {
    pub fn premium(&self) -> bool {
        self.0.as_ref().is_some_and(AuthUser::premium)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(roles: &[Role], principal: Principal) -> AuthUser {
        AuthUser {
            principal,
            roles: roles.iter().copied().collect(),
            scopes: BTreeSet::new(),
            expires_at: 0,
            email_verified: false,
            timezone: None,
        }
    }

    #[test]
    fn a_member_is_not_a_coach_but_an_admin_passes_every_role_check() {
        let member = caller(&[Role::Member], Principal::User(UserId::random()));
        assert!(member.require_role(Role::Member).is_ok());
        assert_eq!(
            member.require_role(Role::Coach).unwrap_err(),
            CallerError::MissingRole(Role::Coach)
        );
        let admin = caller(
            &[Role::Member, Role::Admin],
            Principal::User(UserId::random()),
        );
        assert!(admin.require_role(Role::Coach).is_ok());
    }

    #[test]
    fn a_service_client_has_no_user_id() {
        let client = caller(&[Role::Admin], Principal::Client("cms".into()));
        assert_eq!(client.user_id().unwrap_err(), CallerError::NotAUser);
    }
}
