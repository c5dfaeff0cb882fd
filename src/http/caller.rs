//! The caller of a request at the HTTP edge: actix extractors for [`AuthUser`] (a bearer
//! token is required) and [`MaybeAuthUser`] (public routes), the bearer token of a
//! request, and how authentication errors answer.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use super::{ApiError, ErrorCode};
use crate::auth::caller::{AuthError, CallerError};
use crate::auth::tokens::TokenError;
use crate::auth::{Auth, AuthUser, MaybeAuthUser};

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        let code = match err {
            TokenError::Expired => ErrorCode::TokenExpired,
            _ => ErrorCode::InvalidToken,
        };
        ApiError::new(code).with_message(err.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Token(err) => err.into(),
            AuthError::Revoked => {
                ApiError::new(ErrorCode::InvalidToken).with_message(err.to_string())
            }
        }
    }
}

impl From<CallerError> for ApiError {
    fn from(err: CallerError) -> Self {
        let code = match err {
            CallerError::EmailNotVerified(_) => ErrorCode::EmailNotVerified,
            CallerError::NotAUser | CallerError::MissingRole(_) => ErrorCode::Forbidden,
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
            Some(token) => auth.authenticate(token).map_err(ApiError::from),
            None => Err(ApiError::new(ErrorCode::Unauthorized)
                .with_message("send an access token as `Authorization: Bearer <token>`")),
        })
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

    #[test]
    fn a_refused_role_or_a_client_token_answers_403() {
        let err = ApiError::from(CallerError::NotAUser);
        assert_eq!(err.code(), ErrorCode::Forbidden);
        let expired = ApiError::from(AuthError::Token(TokenError::Expired));
        assert_eq!(expired.code(), ErrorCode::TokenExpired);
        assert_eq!(
            ApiError::from(AuthError::Revoked).code(),
            ErrorCode::InvalidToken
        );
    }
}
