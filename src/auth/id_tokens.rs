//! Verifying Apple and Google ID tokens: a signature by a key the provider publishes
//! (RS256 or ES256, by `kid`), an accepted issuer, an audience among our client ids, an
//! unexpired `exp`, and the app's nonce when it sent one. Apple puts the SHA-256 (hex) of
//! the app's nonce in the token, Google the nonce itself; either matches.

use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use serde::Deserialize;

use super::jwks::{Jwks, JwksError};
use crate::config::SocialSettings;
use fitpulse_actors::ports::accounts::SocialProvider;
use fitpulse_actors::ports::clock::SharedClock;

/// Clock skew tolerated on `exp` and `iat`, in seconds.
const LEEWAY_SECONDS: u64 = 60;
/// Longest ID token accepted; real ones are 1-2 KiB.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    #[error("sign-in with {} is not configured on this server", .0.as_str())]
    NotConfigured(SocialProvider),
    #[error("the ID token is not a well-formed JWT signed with RS256 or ES256")]
    Malformed,
    #[error(transparent)]
    Keys(#[from] JwksError),
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token is for another app (aud)")]
    WrongAudience,
    #[error("the ID token is from another issuer")]
    WrongIssuer,
    #[error("the ID token's signature does not verify")]
    BadSignature,
    #[error("the ID token's nonce does not match")]
    WrongNonce,
    #[error("the ID token lacks a required claim")]
    MissingClaims,
}

/// Apple sends some booleans as strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
}

impl Flag {
    fn is_true(&self) -> bool {
        match self {
            Flag::Bool(b) => *b,
            Flag::Text(t) => t == "true",
        }
    }
}

#[derive(Deserialize)]
struct RawClaims {
    sub: String,
    email: Option<String>,
    email_verified: Option<Flag>,
    name: Option<String>,
    nonce: Option<String>,
}

/// What a verified ID token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdClaims {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

pub struct ProviderKeys {
    provider: SocialProvider,
    jwks: Jwks,
    client_ids: Vec<String>,
    issuers: Vec<String>,
}

impl ProviderKeys {
    pub fn new(provider: SocialProvider, settings: &SocialSettings, clock: SharedClock) -> Self {
        ProviderKeys {
            provider,
            jwks: Jwks::new(settings.jwks_url.clone(), clock),
            client_ids: settings.client_ids.clone(),
            issuers: settings.issuers.clone(),
        }
    }

    pub async fn verify(&self, token: &str, nonce: Option<&str>) -> Result<IdClaims, IdTokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(IdTokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| IdTokenError::Malformed)?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(IdTokenError::Malformed);
        }
        let kid = header.kid.ok_or(IdTokenError::Malformed)?;
        let key = self.jwks.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&self.issuers);
        validation.set_audience(&self.client_ids);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = LEEWAY_SECONDS;
        let claims = jsonwebtoken::decode::<RawClaims>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => IdTokenError::Expired,
                ErrorKind::InvalidAudience => IdTokenError::WrongAudience,
                ErrorKind::InvalidIssuer => IdTokenError::WrongIssuer,
                ErrorKind::InvalidSignature => IdTokenError::BadSignature,
                ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => {
                    IdTokenError::MissingClaims
                }
                _ => IdTokenError::Malformed,
            })?
            .claims;
        if let Some(expected) = nonce
            && !nonce_matches(claims.nonce.as_deref(), expected)
        {
            return Err(IdTokenError::WrongNonce);
        }
        if claims.sub.is_empty() || claims.sub.len() > 255 {
            return Err(IdTokenError::MissingClaims);
        }
        tracing::debug!(provider = self.provider.as_str(), "ID token verified");
        Ok(IdClaims {
            subject: claims.sub,
            email: claims.email,
            email_verified: claims.email_verified.is_some_and(|f| f.is_true()),
            name: claims.name,
        })
    }
}

fn nonce_matches(in_token: Option<&str>, sent: &str) -> bool {
    let Some(in_token) = in_token else {
        return false;
    };
    let hashed = crate::digest::sha256_hex(sent.as_bytes());
    in_token == sent || in_token.eq_ignore_ascii_case(&hashed)
}

/// The configured providers.
pub struct SocialProviders {
    apple: Option<ProviderKeys>,
    google: Option<ProviderKeys>,
}

impl SocialProviders {
    pub fn new(apple: &SocialSettings, google: &SocialSettings, clock: &SharedClock) -> Self {
        let keys = |provider, settings: &SocialSettings| {
            settings
                .enabled()
                .then(|| ProviderKeys::new(provider, settings, clock.clone()))
        };
        SocialProviders {
            apple: keys(SocialProvider::Apple, apple),
            google: keys(SocialProvider::Google, google),
        }
    }

    pub fn get(&self, provider: SocialProvider) -> Result<&ProviderKeys, IdTokenError> {
        match provider {
            SocialProvider::Apple => self.apple.as_ref(),
            SocialProvider::Google => self.google.as_ref(),
        }
        .ok_or(IdTokenError::NotConfigured(provider))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_matches_as_sent_or_as_its_sha256() {
        assert!(nonce_matches(Some("n-123"), "n-123"));
        let hashed = "c7d2c9a2c4b3a2bb2b0fba1c6e7bbdf6a7e2e4d1bfba3c0a2bd5e8df5d0ff8e4";
        assert!(!nonce_matches(Some(hashed), "n-123"), "not its hash");
        let real = crate::digest::sha256_hex(b"n-123");
        assert!(nonce_matches(Some(&real), "n-123"));
        assert!(!nonce_matches(None, "n-123"));
        assert!(!nonce_matches(Some("other"), "n-123"));
    }
}
