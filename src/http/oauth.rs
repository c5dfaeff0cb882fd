//! `POST /oauth/token` (RFC 6749): the password, refresh_token and client_credentials
//! grants, from a form or a JSON body. Errors use the RFC's own shape,
//! `{"error":"invalid_grant","error_description":"..."}`, as OAuth client libraries expect;
//! only rate limiting answers the catalogue's 429.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use schemars::JsonSchema;
use serde::Serialize;

use super::auth::limit;
use super::views::{TokenView, no_store, token_response};
use super::{ApiError, Contracts};
use crate::auth::Accounts;
use crate::auth::accounts::AccountError;
use crate::auth::passwords::HashError;
use crate::auth::rate_limit::LoginLimiter;
use crate::auth::refresh::RefreshError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/oauth/token").post(token));
}

/// The body is a form (`application/x-www-form-urlencoded`) or JSON, so it is described in
/// the summary rather than as a JSON request body; errors use RFC 6749's shape.
pub fn contracts(c: &mut Contracts) {
    c.post("/oauth/token")
        .ok::<TokenView>()
        .json::<OAuthErrorBody>(400)
        .json::<OAuthErrorBody>(401)
        .json::<OAuthErrorBody>(500)
        .json::<OAuthErrorBody>(503)
        .errors(&[429]);
}

/// An RFC 6749 §5.2 error answer.
#[derive(Serialize, JsonSchema)]
struct OAuthErrorBody<'a> {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`,
    /// `server_error` or `temporarily_unavailable`.
    error: &'static str,
    error_description: &'a str,
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    code: &'static str,
    description: String,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
        }
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self.code {
            "invalid_client" => StatusCode::UNAUTHORIZED,
            "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
            "temporarily_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = no_store(HttpResponse::build(self.status_code()));
        if self.code == "invalid_client" {
            builder.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="fitpulse""#));
        }
        builder
            .content_type(ContentType::json())
            .json(OAuthErrorBody {
                error: self.code,
                error_description: &self.description,
            })
    }
}

impl From<AccountError> for OAuthError {
    fn from(err: AccountError) -> Self {
        // A store that failed while a refresh token was checked says nothing about the
        // token: the client must keep it and try again, not sign the user out.
        let err = match err {
            AccountError::Refresh(RefreshError::Store(e)) => AccountError::Store(e),
            other => other,
        };
        match err {
            AccountError::InvalidClient => OAuthError::new("invalid_client", err.to_string()),
            AccountError::Store(e) => {
                tracing::error!(error = %e, cause = ?std::error::Error::source(&e), "token grant failed");
                match e {
                    fitpulse_actors::ports::store::StoreError::Unavailable(_) => {
                        OAuthError::new("temporarily_unavailable", "try again shortly")
                    }
                    _ => OAuthError::new("server_error", "an unexpected error occurred"),
                }
            }
            AccountError::Hash(e) => {
                tracing::error!(error = %e, "token grant failed");
                OAuthError::new("server_error", "an unexpected error occurred")
            }
            other => OAuthError::new("invalid_grant", other.to_string()),
        }
    }
}

/// A failed grant in the RFC's shape, except a full hashing pool: that is the catalogue's
/// 429 with `Retry-After`, like the other rate limits of this route.
fn grant_error(err: AccountError) -> actix_web::Error {
    match err {
        AccountError::Hash(HashError::Busy {
            retry_after_seconds,
        }) => ApiError::rate_limited(retry_after_seconds).into(),
        other => OAuthError::from(other).into(),
    }
}

/// The request parameters; unknown ones are ignored, as RFC 6749 §3.2 requires.
#[derive(Debug, Default, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn parse_body(req: &HttpRequest, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let parsed = if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())
    } else if content_type.starts_with("application/json") {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    } else {
        return Err(OAuthError::new(
            "invalid_request",
            "send application/x-www-form-urlencoded or application/json",
        ));
    };
    parsed.map_err(|e| OAuthError::new("invalid_request", format!("unreadable body: {e}")))
}

/// Client credentials from HTTP Basic (preferred by RFC 6749 §2.3.1) or the body.
fn client_credentials(req: &HttpRequest, body: &TokenRequest) -> Option<(String, String)> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| STANDARD.decode(b64.trim()).ok())
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            Some((id.to_owned(), secret.to_owned()))
        });
    basic.or_else(|| Some((body.client_id.clone()?, body.client_secret.clone()?)))
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, OAuthError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::new("invalid_request", format!("`{name}` is required")))
}

async fn token(
    req: HttpRequest,
    body: web::Bytes,
    accounts: web::Data<Accounts>,
    limiter: web::Data<LoginLimiter>,
) -> Result<HttpResponse, actix_web::Error> {
    let request = parse_body(&req, &body)?;
    let grant = required(&request.grant_type, "grant_type")?;
    let pair = match grant {
        "password" => {
            let username = required(&request.username, "username")?;
            let password = required(&request.password, "password")?;
            limit(&req, &limiter, Some(username))?;
            accounts
                .password_grant(username, password)
                .await
                .map_err(grant_error)?
        }
        "refresh_token" => {
            let refresh = required(&request.refresh_token, "refresh_token")?;
            limit(&req, &limiter, None)?;
            accounts.refresh_grant(refresh).await.map_err(grant_error)?
        }
        "client_credentials" => {
            limit(&req, &limiter, None)?;
            let (id, secret) = client_credentials(&req, &request).ok_or_else(|| {
                OAuthError::new("invalid_client", "client authentication is required")
            })?;
            accounts
                .client_grant(&id, &secret)
                .map_err(OAuthError::from)?
        }
        other => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!(
                    "`{other}` is not supported; use password, refresh_token or client_credentials"
                ),
            )
            .into());
        }
    };
    Ok(token_response(HttpResponse::Ok(), &pair, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fitpulse_actors::ports::store::StoreError;

    #[test]
    fn a_store_failure_during_a_refresh_is_temporary_not_a_bad_grant() {
        let down = AccountError::Refresh(RefreshError::Store(StoreError::unavailable(
            std::io::Error::other("timed out"),
        )));
        assert_eq!(OAuthError::from(down).code, "temporarily_unavailable");
        let reused = AccountError::Refresh(RefreshError::Reused);
        assert_eq!(OAuthError::from(reused).code, "invalid_grant");
    }
}
