//! Access tokens: short-lived EdDSA-signed JWTs carrying `sub`, `roles` and `scope`.
//! Verification accepts only EdDSA, only our issuer and audience, and only keys we know
//! by `kid`, so `alg=none`, HMAC-with-the-public-key and foreign keys are all refused.

use std::collections::BTreeSet;
use std::sync::Arc;

use fitpulse_actors::domain::{Role, TimeZone, UserId, now_millis};
use jsonwebtoken::{Algorithm, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

use super::keys::SigningKeys;
use super::verified_cache::VerifiedCache;
use crate::config::AuthSettings;

/// Clock skew tolerated on `exp` and `iat`, in seconds.
const LEEWAY_SECONDS: u64 = 30;
/// `sub` prefix of tokens issued to service clients rather than users.
const CLIENT_SUBJECT_PREFIX: &str = "client:";

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User(UserId),
    Client(String),
}

impl Principal {
    fn subject(&self) -> String {
        match self {
            Principal::User(id) => id.to_string(),
            Principal::Client(id) => format!("{CLIENT_SUBJECT_PREFIX}{id}"),
        }
    }

    fn from_subject(sub: &str) -> Option<Principal> {
        match sub.strip_prefix(CLIENT_SUBJECT_PREFIX) {
            Some(client) if !client.is_empty() => Some(Principal::Client(client.to_owned())),
            Some(_) => None,
            None => sub.parse().ok().map(Principal::User),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub roles: BTreeSet<Role>,
    /// Space-separated, as in OAuth 2.
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// On user tokens: when it was issued, in Unix milliseconds, so a revocation and a
    /// sign-in within one second are told apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat_ms: Option<i64>,
    /// On user tokens: whether the account's email was verified when the token was issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// On user tokens: the member's time zone (IANA), when they gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
}

/// A verified access token.
#[derive(Debug, Clone)]
pub struct Verified {
    pub principal: Principal,
    pub roles: BTreeSet<Role>,
    pub scopes: BTreeSet<String>,
    /// Unix milliseconds: `iat_ms`, or the start of the `iat` second for tokens without it
    /// (so a revocation in that second refuses them).
    pub issued_at_ms: i64,
    pub expires_at: i64,
    pub email_verified: bool,
    pub timezone: Option<TimeZone>,
}

/// A freshly signed access token.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub expires_in: u64,
    pub scope: String,
}

/// Why a token was refused; each maps to a 401 with its own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not a well-formed JWT")]
    Malformed,
    #[error("the access token must be signed with EdDSA")]
    WrongAlgorithm,
    #[error("the access token was signed with an unknown key")]
    UnknownKey,
    #[error("the access token's signature does not verify")]
    BadSignature,
    #[error("the access token is for another audience")]
    WrongAudience,
    #[error("the access token is from another issuer")]
    WrongIssuer,
    #[error("the access token lacks a required claim or has an invalid subject")]
    InvalidClaims,
}

pub struct AccessTokens {
    keys: Arc<SigningKeys>,
    issuer: String,
    audience: String,
    ttl_seconds: u64,
    validation: Validation,
    /// Admission tokens of drop waiting rooms: the same keys and issuer, their own
    /// audience, so they open a drop's order route and nothing else.
    admission_validation: Validation,
    /// Access tokens verified a moment ago (`auth.token_cache_entries`).
    verified: VerifiedCache,
}

/// What one token says, before it is signed.
struct Draft<'a> {
    principal: &'a Principal,
    roles: &'a BTreeSet<Role>,
    scopes: &'a BTreeSet<String>,
    ttl_seconds: i64,
    audience: String,
    /// The claims of a member's token (`iat_ms`, `email_verified`, `tz`); none on the
    /// tokens of clients, admissions and tools.
    member: Option<MemberClaims>,
}

/// What a member's token says of the account when it is signed.
struct MemberClaims {
    email_verified: bool,
    timezone: Option<TimeZone>,
}

/// The audience of admission tokens, derived from the API's so the two never match.
fn admission_audience(audience: &str) -> String {
    format!("{audience}#drop-admission")
}

impl AccessTokens {
    pub fn new(keys: Arc<SigningKeys>, settings: &AuthSettings) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = LEEWAY_SECONDS;
        let mut admission_validation = validation.clone();
        admission_validation.set_audience(&[admission_audience(&settings.audience)]);
        AccessTokens {
            keys,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl_seconds: settings.access_ttl_seconds,
            validation,
            admission_validation,
            verified: VerifiedCache::new(settings.token_cache_entries),
        }
    }

    /// The signer a node (or a tool acting for it) uses: the configured key files, or the
    /// key generated in `data_dir`.
    pub fn from_settings(
        settings: &AuthSettings,
        data_dir: &std::path::Path,
    ) -> Result<Self, super::keys::KeyError> {
        let keys = SigningKeys::load(&settings.signing_key_files, data_dir)?;
        Ok(AccessTokens::new(Arc::new(keys), settings))
    }

    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    pub fn keys(&self) -> &SigningKeys {
        &self.keys
    }

    /// Signs a token for `principal` valid for the configured lifetime.
    pub fn issue(
        &self,
        principal: &Principal,
        roles: &BTreeSet<Role>,
        scopes: &BTreeSet<String>,
    ) -> Issued {
        self.issue_for(principal, roles, scopes, self.ttl_seconds as i64)
    }

    /// Signs a token valid for `ttl_seconds` (negative yields an expired token, for tools
    /// and tests that need one).
    pub fn issue_for(
        &self,
        principal: &Principal,
        roles: &BTreeSet<Role>,
        scopes: &BTreeSet<String>,
        ttl_seconds: i64,
    ) -> Issued {
        self.sign(Draft {
            principal,
            roles,
            scopes,
            ttl_seconds,
            audience: self.audience.clone(),
            member: None,
        })
    }

    /// Signs a user's token with the `email_verified`, `tz` and `iat_ms` claims.
    pub fn issue_user(
        &self,
        user: UserId,
        roles: &BTreeSet<Role>,
        scopes: &BTreeSet<String>,
        email_verified: bool,
        timezone: Option<TimeZone>,
    ) -> Issued {
        self.sign(Draft {
            principal: &Principal::User(user),
            roles,
            scopes,
            ttl_seconds: self.ttl_seconds as i64,
            audience: self.audience.clone(),
            member: Some(MemberClaims {
                email_verified,
                timezone,
            }),
        })
    }

    /// Signs an admission token: `user` may order from the drop whose scope it carries
    /// for `ttl_seconds`. No other route accepts it (its audience is not the API's).
    pub fn issue_admission(&self, user: UserId, scope: String, ttl_seconds: i64) -> Issued {
        self.sign(Draft {
            principal: &Principal::User(user),
            roles: &[Role::Member].into(),
            scopes: &[scope].into(),
            ttl_seconds,
            audience: admission_audience(&self.audience),
            member: None,
        })
    }

    fn sign(&self, draft: Draft<'_>) -> Issued {
        let Draft {
            principal,
            roles,
            scopes,
            ttl_seconds,
            audience,
            member,
        } = draft;
        let now_ms = now_millis();
        let now = now_ms / 1000;
        let scope = scopes
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: audience,
            sub: principal.subject(),
            roles: roles.clone(),
            scope: scope.clone(),
            iat: now,
            exp: now + ttl_seconds,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iat_ms: member.as_ref().map(|_| now_ms),
            email_verified: member.as_ref().map(|m| m.email_verified),
            tz: member
                .as_ref()
                .and_then(|m| m.timezone)
                .map(|z| z.as_str().to_owned()),
        };
        let key = self.keys.active();
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        // Signing serializable claims with a valid Ed25519 key cannot fail.
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding).expect("token signs");
        Issued {
            token,
            expires_in: ttl_seconds.max(0) as u64,
            scope,
        }
    }

    /// Verifies an access token, or answers what it verified as a moment ago (the cache
    /// serves a token only while this verification would still accept it).
    pub fn verify(&self, token: &str) -> Result<Verified, TokenError> {
        let now_ms = now_millis();
        if let Some(verified) = self.verified.get(token, now_ms) {
            return Ok(verified);
        }
        let verified = self.verify_with(token, &self.validation)?;
        // The verifier accepts `exp` until `LEEWAY_SECONDS` after it.
        let refused_after_ms = verified
            .expires_at
            .saturating_add(LEEWAY_SECONDS as i64)
            .saturating_mul(1000);
        self.verified
            .remember(token, &verified, now_ms, refused_after_ms);
        Ok(verified)
    }

    /// Verifies an admission token (see [`AccessTokens::issue_admission`]).
    pub fn verify_admission(&self, token: &str) -> Result<Verified, TokenError> {
        self.verify_with(token, &self.admission_validation)
    }

    fn verify_with(&self, token: &str, validation: &Validation) -> Result<Verified, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::WrongAlgorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.keys.by_kid(&kid).ok_or(TokenError::UnknownKey)?;
        let data = jsonwebtoken::decode::<Claims>(token, &key.decoding, validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => {
                    TokenError::InvalidClaims
                }
                _ => TokenError::Malformed,
            },
        )?;
        let claims = data.claims;
        let principal = Principal::from_subject(&claims.sub).ok_or(TokenError::InvalidClaims)?;
        Ok(Verified {
            principal,
            roles: claims.roles,
            scopes: claims.scope.split_whitespace().map(str::to_owned).collect(),
            issued_at_ms: claims.iat_ms.unwrap_or(claims.iat.saturating_mul(1000)),
            expires_at: claims.exp,
            email_verified: claims.email_verified.unwrap_or(false),
            timezone: claims.tz.as_deref().and_then(|z| TimeZone::parse(z).ok()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn tokens_with(keys: &[SigningKey]) -> AccessTokens {
        AccessTokens::new(
            Arc::new(SigningKeys::from_signing_keys(keys)),
            &crate::config::Settings::default().auth,
        )
    }

    fn member() -> BTreeSet<Role> {
        [Role::Member].into()
    }

    #[test]
    fn an_issued_token_verifies_with_its_principal_roles_and_scopes() {
        let tokens = tokens_with(&[SigningKey::from_bytes(&[7; 32])]);
        let user = UserId::random();
        let scopes: BTreeSet<String> = ["content:premium".into(), "profile".into()].into();
        let issued = tokens.issue(&Principal::User(user), &member(), &scopes);
        assert_eq!(issued.scope, "content:premium profile");
        let verified = tokens.verify(&issued.token).expect("verifies");
        assert_eq!(verified.principal, Principal::User(user));
        assert_eq!(verified.roles, member());
        assert_eq!(verified.scopes, scopes);
    }

    #[test]
    fn a_client_principal_round_trips_through_its_subject() {
        let tokens = tokens_with(&[SigningKey::from_bytes(&[7; 32])]);
        let issued = tokens.issue(
            &Principal::Client("cms".into()),
            &[Role::Admin].into(),
            &BTreeSet::new(),
        );
        assert_eq!(
            tokens.verify(&issued.token).expect("verifies").principal,
            Principal::Client("cms".into())
        );
    }

    #[test]
    fn a_token_expired_beyond_the_leeway_is_refused() {
        let tokens = tokens_with(&[SigningKey::from_bytes(&[7; 32])]);
        let issued = tokens.issue_for(
            &Principal::User(UserId::random()),
            &member(),
            &BTreeSet::new(),
            -120,
        );
        assert_eq!(
            tokens.verify(&issued.token).unwrap_err(),
            TokenError::Expired
        );
    }

    #[test]
    fn a_token_from_a_retired_key_is_refused_and_a_rotated_in_key_still_verifies() {
        let (old, new) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        );
        let before = tokens_with(std::slice::from_ref(&old));
        let token = before
            .issue(
                &Principal::User(UserId::random()),
                &member(),
                &BTreeSet::new(),
            )
            .token;
        let rotating = tokens_with(&[new.clone(), old]);
        assert!(
            rotating.verify(&token).is_ok(),
            "the old key still verifies during rotation"
        );
        let retired = tokens_with(&[new]);
        assert_eq!(retired.verify(&token).unwrap_err(), TokenError::UnknownKey);
    }

    #[test]
    fn an_admission_token_is_no_access_token_and_an_access_token_no_admission() {
        let tokens = tokens_with(&[SigningKey::from_bytes(&[7; 32])]);
        let user = UserId::random();
        let admission = tokens.issue_admission(user, "drop:x".into(), 120).token;
        assert_eq!(
            tokens.verify(&admission).unwrap_err(),
            TokenError::WrongAudience
        );
        let verified = tokens.verify_admission(&admission).expect("admits");
        assert_eq!(verified.principal, Principal::User(user));
        assert!(verified.scopes.contains("drop:x"));
        let access = tokens
            .issue(&Principal::User(user), &member(), &["drop:x".into()].into())
            .token;
        assert_eq!(
            tokens.verify_admission(&access).unwrap_err(),
            TokenError::WrongAudience
        );
    }

    #[test]
    fn a_verified_token_is_served_again_but_a_tampered_copy_is_still_checked() {
        let tokens = tokens_with(&[SigningKey::from_bytes(&[7; 32])]);
        let user = UserId::random();
        let token = tokens
            .issue(&Principal::User(user), &member(), &BTreeSet::new())
            .token;
        for _ in 0..3 {
            let verified = tokens.verify(&token).expect("verifies");
            assert_eq!(verified.principal, Principal::User(user));
        }
        // Another signature over the same claims: the cache must not answer for it.
        let (signed, signature) = token.rsplit_once('.').expect("three parts");
        let mut forged = signature.as_bytes().to_vec();
        forged[4] = if forged[4] == b'A' { b'B' } else { b'A' };
        let forged = format!("{signed}.{}", String::from_utf8(forged).expect("ascii"));
        assert_eq!(
            tokens.verify(&forged).unwrap_err(),
            TokenError::BadSignature
        );
    }

    #[test]
    fn an_admission_verified_first_is_still_no_access_token() {
        let tokens = tokens_with(&[SigningKey::from_bytes(&[7; 32])]);
        let admission = tokens
            .issue_admission(UserId::random(), "drop:x".into(), 120)
            .token;
        assert!(tokens.verify_admission(&admission).is_ok());
        assert_eq!(
            tokens.verify(&admission).unwrap_err(),
            TokenError::WrongAudience
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let tokens = tokens_with(&[SigningKey::from_bytes(&[7; 32])]);
        for junk in ["", "abc", "a.b.c", "eyJhbGciOiJFZERTQSJ9.e30"] {
            assert!(tokens.verify(junk).is_err(), "{junk}");
        }
    }
}
