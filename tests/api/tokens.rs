//! Access tokens at the edge: every forged, expired or foreign token is refused with 401 and
//! a clear code, and the published JWKS verifies real tokens with an independent library.

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fitpulse::auth::keys::SigningKeys;
use fitpulse::auth::tokens::{AccessTokens, Principal};
use fitpulse_actors::domain::{Role, UserId};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::helpers::{TestApp, assert_error, spawn_app, unique_email};

/// A token minted with the app's own key and settings, adjusted by `tweak`.
fn mint(
    app: &TestApp,
    user: UserId,
    ttl_seconds: i64,
    tweak: impl FnOnce(&mut fitpulse::config::AuthSettings),
) -> String {
    let keys = SigningKeys::load(&[], app._data_dir.path()).expect("the app's generated key");
    let mut settings = app.settings.auth.clone();
    tweak(&mut settings);
    AccessTokens::new(Arc::new(keys), &settings)
        .issue_for(
            &Principal::User(user),
            &[Role::Member].into(),
            &BTreeSet::new(),
            ttl_seconds,
        )
        .token
}

async fn me_with(app: &TestApp, token: &str) -> (u16, String) {
    let response = app.call("GET", "/v1/me", None, Some(token)).await;
    assert!(
        response.status != 401
            || response
                .header("www-authenticate")
                .is_some_and(|v| v.starts_with("Bearer")),
        "401 without a Bearer challenge"
    );
    (response.status, response.text)
}

async fn registered(app: &TestApp) -> (UserId, String) {
    let answer = app.register(&unique_email()).await;
    let id = answer["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    (
        id,
        answer["access_token"].as_str().expect("token").to_owned(),
    )
}

#[actix_web::test]
async fn a_token_minted_with_the_servers_key_is_accepted() {
    let app = spawn_app().await;
    let (user, _) = registered(&app).await;
    let (status, body) = me_with(&app, &mint(&app, user, 60, |_| {})).await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn a_missing_or_non_bearer_token_answers_401_unauthorized() {
    let app = spawn_app().await;
    let response = app.call("GET", "/v1/me", None, None).await;
    assert_eq!(response.status, 401);
    assert_error(&response.text, "unauthorized");
    let basic = app
        .client
        .get(app.url("/v1/me"))
        .insert_header(("authorization", "Basic dXNlcjpwYXNz"))
        .send()
        .await
        .expect("sent");
    assert_eq!(basic.status().as_u16(), 401);
}

#[actix_web::test]
async fn an_expired_token_answers_token_expired() {
    let app = spawn_app().await;
    let (user, _) = registered(&app).await;
    let (status, body) = me_with(&app, &mint(&app, user, -120, |_| {})).await;
    assert_eq!(status, 401);
    assert_error(&body, "token_expired");
}

#[actix_web::test]
async fn a_tampered_token_answers_invalid_token() {
    let app = spawn_app().await;
    let (_, token) = registered(&app).await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64")).expect("json");
    claims["roles"] = serde_json::json!(["admin"]);
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    let (status, body) = me_with(&app, &parts.join(".")).await;
    assert_eq!(status, 401);
    assert_error(&body, "invalid_token");
    assert!(body.contains("signature"), "{body}");
}

#[actix_web::test]
async fn a_token_for_another_audience_or_issuer_answers_invalid_token() {
    let app = spawn_app().await;
    let (user, _) = registered(&app).await;
    let foreign_aud = mint(&app, user, 60, |s| s.audience = "another-api".into());
    let (status, body) = me_with(&app, &foreign_aud).await;
    assert_eq!(status, 401);
    assert!(body.contains("audience"), "{body}");
    let foreign_iss = mint(&app, user, 60, |s| s.issuer = "someone-else".into());
    let (status, body) = me_with(&app, &foreign_iss).await;
    assert_eq!(status, 401);
    assert!(body.contains("issuer"), "{body}");
}

#[actix_web::test]
async fn a_token_signed_with_an_unknown_key_answers_invalid_token() {
    let app = spawn_app().await;
    let (user, _) = registered(&app).await;
    let stranger =
        SigningKeys::from_signing_keys(&[ed25519_dalek::SigningKey::from_bytes(&[42; 32])]);
    let token = AccessTokens::new(Arc::new(stranger), &app.settings.auth)
        .issue(
            &Principal::User(user),
            &[Role::Admin].into(),
            &BTreeSet::new(),
        )
        .token;
    let (status, body) = me_with(&app, &token).await;
    assert_eq!(status, 401);
    assert_error(&body, "invalid_token");
    assert!(body.contains("unknown key"), "{body}");
}

#[actix_web::test]
async fn an_unsigned_alg_none_token_answers_invalid_token() {
    let app = spawn_app().await;
    let (_, token) = registered(&app).await;
    let payload = token.split('.').nth(1).expect("payload");
    for header in [r#"{"alg":"none","typ":"JWT"}"#, r#"{"alg":"None"}"#] {
        let forged = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(header));
        let (status, body) = me_with(&app, &forged).await;
        assert_eq!(status, 401, "{header}");
        assert_error(&body, "invalid_token");
    }
}

#[actix_web::test]
async fn an_hs256_token_keyed_with_the_public_key_answers_invalid_token() {
    let app = spawn_app().await;
    let (user, _) = registered(&app).await;
    let jwks = app
        .call("GET", "/.well-known/jwks.json", None, None)
        .await
        .json();
    let jwk = &jwks["keys"][0];
    let public = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().expect("x"))
        .expect("b64");
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(jwk["kid"].as_str().expect("kid").to_owned());
    let now = fitpulse_actors::domain::now_millis() / 1000;
    let claims = serde_json::json!({
        "iss": "fitpulse", "aud": "fitpulse-api", "sub": user.to_string(), "roles": ["admin"],
        "scope": "profile", "iat": now, "exp": now + 600, "jti": "forged",
    });
    let forged =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&public)).expect("signs");
    let (status, body) = me_with(&app, &forged).await;
    assert_eq!(status, 401);
    assert_error(&body, "invalid_token");
    assert!(body.contains("EdDSA"), "{body}");
}

#[actix_web::test]
async fn the_jwks_verifies_an_issued_token_with_an_independent_jwt_library() {
    use jwt_compact::{AlgorithmExt, TimeOptions, UntrustedToken, alg::Ed25519};

    let app = spawn_app().await;
    let (user, token) = registered(&app).await;
    let jwks = app.call("GET", "/.well-known/jwks.json", None, None).await;
    assert_eq!(jwks.status, 200);
    let jwks = jwks.json();

    let untrusted = UntrustedToken::new(&token).expect("parses as a JWT");
    assert_eq!(untrusted.algorithm(), "EdDSA");
    let kid = untrusted.header().key_id.clone().expect("kid");
    let jwk = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the token's key is published");
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(jwk["x"].as_str().expect("x"))
        .expect("b64")
        .try_into()
        .expect("32 bytes");
    let key = ed25519_dalek::VerifyingKey::from_bytes(&x).expect("a public key");

    let verified = Ed25519
        .validator::<serde_json::Value>(&key)
        .validate(&untrusted)
        .expect("the signature verifies");
    let claims = verified.claims();
    claims
        .validate_expiration(&TimeOptions::default())
        .expect("not expired");
    assert_eq!(claims.custom["sub"], user.to_string());
    assert_eq!(claims.custom["aud"], "fitpulse-api");

    // And a token it did not sign fails the same check.
    let mut forged = token.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    let untrusted = UntrustedToken::new(&forged).expect("still a JWT");
    assert!(
        Ed25519
            .validator::<serde_json::Value>(&key)
            .validate(&untrusted)
            .is_err()
    );
}
