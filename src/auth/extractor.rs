//! The authenticated caller of a request: an actix extractor that reads the bearer token,
//! verifies it and refuses revoked users, plus role checks for handlers.

use std::collections::BTreeSet;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use fitpulse_actors::domain::{Role, UserId};

use super::Auth;
use super::tokens::{Principal, TokenError};
use crate::http::{ApiError, ErrorCode};

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub principal: Principal,
    pub roles: BTreeSet<Role>,
    pub scopes: BTreeSet<String>,
    /// When the token expires, in Unix seconds.
    pub expires_at: i64,
}

impl AuthUser {
    /// The user behind the token; service clients have none and are refused.
    pub fn user_id(&self) -> Result<UserId, ApiError> {
        match &self.principal {
            Principal::User(id) => Ok(*id),
            Principal::Client(_) => Err(ApiError::new(ErrorCode::Forbidden)
                .with_message("this route needs a user's token, not a service client's")),
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

    pub fn require_role(&self, role: Role) -> Result<(), ApiError> {
        if self.has_role(role) {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::Forbidden)
                .with_message(format!("this needs the {} role", role.as_str())))
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        let code = match err {
            TokenError::Expired => ErrorCode::TokenExpired,
            _ => ErrorCode::InvalidToken,
        };
        ApiError::new(code).with_message(err.to_string())
    }
}

/// The bearer token of a request, if it has one.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

impl Auth {
    /// Verifies `token` and checks that its user was not revoked since it was issued.
    pub fn authenticate(&self, token: &str) -> Result<AuthUser, ApiError> {
        let verified = self.access.verify(token)?;
        if let Principal::User(id) = &verified.principal
            && self.revoked.is_revoked(*id, verified.issued_at)
        {
            return Err(
                ApiError::new(ErrorCode::InvalidToken).with_message("the access token was revoked")
            );
        }
        Ok(AuthUser {
            principal: verified.principal,
            roles: verified.roles,
            scopes: verified.scopes,
            expires_at: verified.expires_at,
        })
    }
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(auth) = req.app_data::<web::Data<Auth>>() else {
            return ready(Err(ApiError::internal(std::io::Error::other(
                "authentication is not configured",
            ))));
        };
        ready(match bearer_token(req) {
            Some(token) => auth.authenticate(token),
            None => Err(ApiError::new(ErrorCode::Unauthorized)
                .with_message("send an access token as `Authorization: Bearer <token>`")),
        })
    }
}

/// The caller of a public route: `None` without an `Authorization` header, the user with a
/// valid token, and an error (not a silent downgrade to anonymous) with a bad one.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl MaybeAuthUser {
    pub fn premium(&self) -> bool {
        self.0.as_ref().is_some_and(AuthUser::premium)
    }
}

impl FromRequest for MaybeAuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if req.headers().get(header::AUTHORIZATION).is_none() {
            return ready(Ok(MaybeAuthUser(None)));
        }
        let user = AuthUser::from_request(req, payload).into_inner();
        ready(user.map(|u| MaybeAuthUser(Some(u))))
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
        }
    }

    #[test]
    fn a_member_is_not_a_coach_but_an_admin_passes_every_role_check() {
        let member = caller(&[Role::Member], Principal::User(UserId::random()));
        assert!(member.require_role(Role::Member).is_ok());
        assert_eq!(
            member.require_role(Role::Coach).unwrap_err().code(),
            ErrorCode::Forbidden
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
        assert_eq!(client.user_id().unwrap_err().code(), ErrorCode::Forbidden);
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_other_schemes_are_ignored() {
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::AUTHORIZATION, "bearer abc.def.ghi"))
            .to_http_request();
        assert_eq!(bearer_token(&req), Some("abc.def.ghi"));
        let req = actix_web::test::TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Basic dXNlcjpwYXNz"))
            .to_http_request();
        assert_eq!(bearer_token(&req), None);
    }
}
