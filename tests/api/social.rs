//! Sign in with Apple and Google against a local JWKS server with real signatures: RS256
//! keys from `fixtures/` (test-only keys) and an ES256 key made here. Covered: new, returning
//! and linked accounts, every refusal the providers' documents name (audience, issuer,
//! expiry, nonce, signature, unknown key), key rotation with fetches at most once a minute,
//! identities listed and unlinked, and a race of two first sign-ins.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fitpulse::config::Settings;
use fitpulse_actors::domain::{Email, UserId, now_millis};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    Response, TestApp, assert_error, scylla_app, spawn_app_on_manual_clock, spawn_app_with,
    unique_email,
};

const GOOGLE_CLIENT: &str = "123-web.apps.googleusercontent.com";
const APPLE_CLIENT: &str = "com.fitpulse.app";
const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const APPLE_ISSUER: &str = "https://appleid.apple.com";

fn rsa_jwk(kid: &str) -> Value {
    let all: Value =
        serde_json::from_str(include_str!("fixtures/social_rsa_jwks.json")).expect("fixture JSON");
    all[kid].clone()
}

fn rsa_key(kid: &str) -> EncodingKey {
    let pem = match kid {
        "rsa-1" => include_str!("fixtures/social_rsa_1.pem"),
        _ => include_str!("fixtures/social_rsa_2.pem"),
    };
    EncodingKey::from_rsa_pem(pem.as_bytes()).expect("fixture key")
}

/// An ES256 key and its JWK.
fn ec_key(kid: &str) -> (EncodingKey, Value) {
    use p256::ecdsa::SigningKey;
    use p256::pkcs8::EncodePrivateKey;
    let signing = SigningKey::random(&mut rand::rngs::OsRng);
    let der = signing.to_pkcs8_der().expect("pkcs8");
    let point = signing.verifying_key().to_encoded_point(false);
    let jwk = json!({
        "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(point.x().expect("x")),
        "y": URL_SAFE_NO_PAD.encode(point.y().expect("y")),
    });
    (EncodingKey::from_ec_der(der.as_bytes()), jwk)
}

/// A JWKS endpoint on loopback whose document the test changes, counting fetches.
struct JwksServer {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(keys: Vec<Value>) -> JwksServer {
        let keys = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (keys.clone(), fetches.clone());
        let server = HttpServer::new(move || {
            let (served, counted) = (served.clone(), counted.clone());
            App::new().route(
                "/keys",
                web::get().to(move || {
                    let (served, counted) = (served.clone(), counted.clone());
                    async move {
                        counted.fetch_add(1, Ordering::SeqCst);
                        let keys = served.lock().expect("keys").clone();
                        HttpResponse::Ok().json(json!({ "keys": keys }))
                    }
                }),
            )
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .expect("bind");
        let port = server.addrs()[0].port();
        actix_web::rt::spawn(server.run());
        JwksServer {
            url: format!("http://127.0.0.1:{port}/keys"),
            keys,
            fetches,
        }
    }

    fn publish(&self, keys: Vec<Value>) {
        *self.keys.lock().expect("keys") = keys;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// Points the app's Google and Apple settings at `jwks`.
fn providers(jwks: &JwksServer) -> impl FnOnce(&mut Settings) + use<> {
    let url = jwks.url.clone();
    move |s: &mut Settings| {
        s.auth.google.jwks_url = url.clone();
        s.auth.google.client_ids = vec![GOOGLE_CLIENT.into()];
        s.auth.apple.jwks_url = url;
        s.auth.apple.client_ids = vec![APPLE_CLIENT.into()];
    }
}

/// ID-token claims valid for Google, adjusted by the caller.
fn google_claims(sub: &str, email: &str) -> Value {
    let now = now_millis() / 1000;
    json!({
        "iss": GOOGLE_ISSUER, "aud": GOOGLE_CLIENT, "sub": sub,
        "iat": now, "exp": now + 3600,
        "email": email, "email_verified": true, "name": "Grace Hopper",
    })
}

fn sign(claims: &Value, alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, key).expect("signs")
}

fn google_token(claims: &Value) -> String {
    sign(claims, Algorithm::RS256, "rsa-1", &rsa_key("rsa-1"))
}

async fn sign_in(app: &TestApp, provider: &str, body: Value) -> Response {
    app.call(
        "POST",
        &format!("/v1/auth/social/{provider}"),
        Some(body),
        None,
    )
    .await
}

fn user_id(answer: &Response) -> String {
    answer.json()["user"]["id"]
        .as_str()
        .expect("user id")
        .to_owned()
}

fn access(answer: &Response) -> String {
    answer.json()["access_token"]
        .as_str()
        .expect("access")
        .to_owned()
}

/// A new Google member, the same member again, and an email account linked by its
/// verified email.
async fn google_accounts_are_created_found_and_linked(app: &TestApp) {
    let sub = uuid::Uuid::new_v4().simple().to_string();
    let email = unique_email();
    let first = sign_in(
        app,
        "google",
        json!({ "id_token": google_token(&google_claims(&sub, &email)) }),
    )
    .await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(first.json()["user"]["email"], email.as_str());
    assert_eq!(first.json()["user"]["email_verified"], true);
    assert_eq!(first.json()["user"]["display_name"], "Grace Hopper");
    let again = sign_in(
        app,
        "google",
        json!({ "id_token": google_token(&google_claims(&sub, &email)) }),
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(user_id(&again), user_id(&first));
    let listed = app
        .call("GET", "/v1/me/identities", None, Some(&access(&again)))
        .await;
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.json()["items"][0]["provider"], "google");
    assert_eq!(listed.json()["items"][0]["email"], email.as_str());
    // The only way this account signs in cannot be unlinked.
    let last = app
        .call(
            "DELETE",
            "/v1/me/identities/google",
            None,
            Some(&access(&again)),
        )
        .await;
    assert_eq!(last.status, 409, "{}", last.text);

    // An email account with a verified address gets the link and keeps its password.
    let owner = unique_email();
    let registered = app.register(&owner).await;
    let owner_id: UserId = registered["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    let other_sub = uuid::Uuid::new_v4().simple().to_string();
    let unverified = sign_in(
        app,
        "google",
        json!({ "id_token": google_token(&google_claims(&other_sub, &owner)) }),
    )
    .await;
    assert_eq!(
        unverified.status, 409,
        "an unverified account is not linked by email: {}",
        unverified.text
    );
    assert_error(&unverified.text, "email_taken");
    app.stores
        .users
        .verify_email(owner_id, &Email::parse(&owner).expect("email"))
        .await
        .expect("verified");
    let linked = sign_in(
        app,
        "google",
        json!({ "id_token": google_token(&google_claims(&other_sub, &owner)) }),
    )
    .await;
    assert_eq!(linked.status, 200, "{}", linked.text);
    assert_eq!(user_id(&linked), owner_id.to_string());
    assert_eq!(
        app.login(&owner).await.status,
        200,
        "the password still works"
    );
    let unlinked = app
        .call(
            "DELETE",
            "/v1/me/identities/google",
            None,
            Some(&access(&linked)),
        )
        .await;
    assert_eq!(unlinked.status, 204, "{}", unlinked.text);
    let listed = app
        .call("GET", "/v1/me/identities", None, Some(&access(&linked)))
        .await;
    assert_eq!(listed.json()["items"], json!([]), "{}", listed.text);
}

#[actix_web::test]
async fn google_accounts_are_created_found_and_linked_on_the_embedded_store() {
    let jwks = JwksServer::start(vec![rsa_jwk("rsa-1")]).await;
    let app = spawn_app_with(providers(&jwks)).await;
    google_accounts_are_created_found_and_linked(&app).await;
}

#[actix_web::test]
async fn google_accounts_are_created_found_and_linked_on_scylla() {
    let jwks = JwksServer::start(vec![rsa_jwk("rsa-1")]).await;
    let Some(app) = scylla_app(providers(&jwks)).await else {
        return;
    };
    google_accounts_are_created_found_and_linked(&app).await;
}

#[actix_web::test]
async fn apple_signs_in_with_es256_a_hashed_nonce_and_a_private_relay_email() {
    let (key, jwk) = ec_key("ec-1");
    let jwks = JwksServer::start(vec![jwk]).await;
    let app = spawn_app_with(providers(&jwks)).await;
    let nonce = "raw-nonce-from-the-app";
    let hashed: String = Sha256::digest(nonce.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let relay = format!("{}@privaterelay.appleid.com", uuid::Uuid::new_v4().simple());
    let now = now_millis() / 1000;
    let claims = json!({
        "iss": APPLE_ISSUER, "aud": APPLE_CLIENT, "sub": "001234.abcdef.0987",
        "iat": now, "exp": now + 600, "nonce": hashed,
        "email": relay, "email_verified": "true", "is_private_email": "true",
    });
    let token = sign(&claims, Algorithm::ES256, "ec-1", &key);
    let wrong_nonce = sign_in(
        &app,
        "apple",
        json!({ "id_token": token, "nonce": "another-nonce" }),
    )
    .await;
    assert_eq!(wrong_nonce.status, 401, "{}", wrong_nonce.text);
    assert_error(&wrong_nonce.text, "invalid_token");
    let created = sign_in(
        &app,
        "apple",
        json!({ "id_token": token, "nonce": nonce, "display_name": "Ada" }),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json()["user"]["email"], relay.as_str());
    assert_eq!(created.json()["user"]["email_verified"], true);
    assert_eq!(created.json()["user"]["display_name"], "Ada");
    let me = app
        .call("GET", "/v1/me", None, Some(&access(&created)))
        .await;
    assert_eq!(me.status, 200, "{}", me.text);
}

#[actix_web::test]
async fn id_tokens_that_a_provider_would_refuse_are_refused() {
    let jwks = JwksServer::start(vec![rsa_jwk("rsa-1")]).await;
    let app = spawn_app_with(providers(&jwks)).await;
    let good = google_claims("subject-1", &unique_email());
    let tweak = |f: &dyn Fn(&mut Value)| {
        let mut claims = good.clone();
        f(&mut claims);
        google_token(&claims)
    };
    let cases = [
        (
            "wrong audience",
            tweak(&|c| c["aud"] = json!("someone-else")),
        ),
        (
            "wrong issuer",
            tweak(&|c| c["iss"] = json!("https://evil.example")),
        ),
        (
            "expired",
            tweak(&|c| c["exp"] = json!(now_millis() / 1000 - 3600)),
        ),
        ("no subject", tweak(&|c| c["sub"] = json!(""))),
        (
            "another key's signature",
            sign(&good, Algorithm::RS256, "rsa-1", &rsa_key("rsa-2")),
        ),
        (
            "an unpublished key",
            sign(&good, Algorithm::RS256, "rsa-2", &rsa_key("rsa-2")),
        ),
        ("not a JWT", "garbage".to_owned()),
        ("oversize", "a".repeat(20_000)),
    ];
    for (what, token) in cases {
        let refused = sign_in(&app, "google", json!({ "id_token": token })).await;
        assert_eq!(refused.status, 401, "{what}: {}", refused.text);
        assert_error(&refused.text, "invalid_token");
    }
    // Google tokens with a nonce must carry it.
    let no_nonce = sign_in(
        &app,
        "google",
        json!({ "id_token": google_token(&good), "nonce": "n" }),
    )
    .await;
    assert_eq!(no_nonce.status, 401, "{}", no_nonce.text);
    let unknown = sign_in(&app, "facebook", json!({ "id_token": "x" })).await;
    assert_eq!(unknown.status, 400, "{}", unknown.text);
    assert_error(&unknown.text, "invalid_path");
    let malformed = app
        .call(
            "POST",
            "/v1/auth/social/google",
            Some(json!({ "token": "x" })),
            None,
        )
        .await;
    assert_eq!(malformed.status, 400, "{}", malformed.text);
    // Positive control: the untouched token signs in.
    let ok = sign_in(&app, "google", json!({ "id_token": google_token(&good) })).await;
    assert_eq!(ok.status, 201, "{}", ok.text);

    let off = spawn_app_with(|_| {}).await;
    let refused = sign_in(&off, "google", json!({ "id_token": google_token(&good) })).await;
    assert_eq!(refused.status, 503, "{}", refused.text);
    assert_error(&refused.text, "not_configured");
}

#[actix_web::test]
async fn a_rotated_key_is_picked_up_and_unknown_keys_fetch_at_most_once_a_minute() {
    let jwks = JwksServer::start(vec![rsa_jwk("rsa-1")]).await;
    let app = spawn_app_on_manual_clock(providers(&jwks)).await;
    let claims = google_claims("rotating-subject", &unique_email());
    let first = sign_in(&app, "google", json!({ "id_token": google_token(&claims) })).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_eq!(jwks.fetches(), 1);
    let rotated = sign(&claims, Algorithm::RS256, "rsa-2", &rsa_key("rsa-2"));
    // The provider rotates; within a minute of the last fetch the new kid is not fetched.
    jwks.publish(vec![rsa_jwk("rsa-1"), rsa_jwk("rsa-2")]);
    for _ in 0..3 {
        let early = sign_in(&app, "google", json!({ "id_token": rotated })).await;
        assert_eq!(early.status, 401, "{}", early.text);
    }
    assert_eq!(
        jwks.fetches(),
        1,
        "made-up kids cannot make us hammer the provider"
    );
    app.advance(Duration::from_secs(61));
    let picked_up = sign_in(&app, "google", json!({ "id_token": rotated })).await;
    assert_eq!(picked_up.status, 200, "{}", picked_up.text);
    assert_eq!(user_id(&picked_up), user_id(&first));
    assert_eq!(jwks.fetches(), 2);
    // Known keys need no fetch.
    let cached = sign_in(&app, "google", json!({ "id_token": google_token(&claims) })).await;
    assert_eq!(cached.status, 200, "{}", cached.text);
    assert_eq!(jwks.fetches(), 2);
}

#[actix_web::test]
async fn two_first_sign_ins_of_one_subject_end_in_one_account() {
    let jwks = JwksServer::start(vec![rsa_jwk("rsa-1")]).await;
    let app = spawn_app_with(providers(&jwks)).await;
    let token = google_token(&google_claims("racing-subject", &unique_email()));
    let (a, b) = futures_util::join!(
        sign_in(&app, "google", json!({ "id_token": token })),
        sign_in(&app, "google", json!({ "id_token": token })),
    );
    assert!(a.status < 300 && b.status < 300, "{} / {}", a.text, b.text);
    assert_eq!(user_id(&a), user_id(&b));
}
