//! A provider's signing keys (JWKS), for verifying its ID tokens. Fetched on first use,
//! cached, and fetched again when a token names a key the cache lacks (the provider rotated
//! its keys), at most once per [`REFETCH_AFTER`], so tokens with made-up `kid`s cannot make
//! us hammer the provider. One fetch runs at a time; the answer is bounded in size and time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use fitpulse_actors::domain::UnixMillis;
use fitpulse_actors::ports::clock::SharedClock;

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;
use serde::Deserialize;

/// The shortest time between two fetches.
pub const REFETCH_AFTER: Duration = Duration::from_secs(60);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Real JWKS documents are a few KiB.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the provider's keys cannot be fetched: {0}")]
    Unavailable(String),
    #[error("the ID token was signed with a key the provider does not publish")]
    UnknownKey,
}

#[derive(Default)]
struct Cached {
    keys: HashMap<String, DecodingKey>,
    /// When the last fetch was attempted (successful or not).
    attempted_at: Option<UnixMillis>,
}

pub struct Jwks {
    url: String,
    clock: SharedClock,
    cached: Mutex<Cached>,
    /// Single flight: concurrent misses wait for one fetch.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

/// The usable keys of a JWKS document by `kid`; keys of other kinds are skipped.
fn parse(body: &[u8]) -> Result<HashMap<String, DecodingKey>, JwksError> {
    let document: Document = serde_json::from_slice(body)
        .map_err(|e| JwksError::Unavailable(format!("not a JWKS document: {e}")))?;
    Ok(document
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            Some((kid, DecodingKey::from_jwk(&jwk).ok()?))
        })
        .collect())
}

impl Jwks {
    pub fn new(url: String, clock: SharedClock) -> Self {
        Jwks {
            url,
            clock,
            cached: Mutex::new(Cached::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, kid: &str) -> Option<DecodingKey> {
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        cached.keys.get(kid).cloned()
    }

    /// The key `kid`, from the cache or a fetch when the cache lacks it and the last
    /// fetch is long enough ago.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, JwksError> {
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let _fetching = self.fetching.lock().await;
        // Another caller may have fetched while this one waited.
        if let Some(key) = self.cached(kid) {
            return Ok(key);
        }
        let now = self.clock.now();
        {
            let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
            let recently = cached
                .attempted_at
                .is_some_and(|at| now - at < REFETCH_AFTER.as_millis() as i64);
            if recently {
                return Err(JwksError::UnknownKey);
            }
            cached.attempted_at = Some(now);
        }
        let keys = self.fetch().await?;
        tracing::info!(url = %self.url, keys = keys.len(), "provider keys fetched");
        let found = keys.get(kid).cloned();
        self.cached.lock().unwrap_or_else(|p| p.into_inner()).keys = keys;
        found.ok_or(JwksError::UnknownKey)
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, JwksError> {
        let unavailable = |e: &dyn std::fmt::Display| JwksError::Unavailable(e.to_string());
        let client = awc::Client::builder().timeout(FETCH_TIMEOUT).finish();
        let mut response = client
            .get(&self.url)
            .insert_header(("accept", "application/json"))
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        if !response.status().is_success() {
            return Err(JwksError::Unavailable(format!(
                "{} answered {}",
                self.url,
                response.status()
            )));
        }
        let body = response
            .body()
            .limit(MAX_DOCUMENT_BYTES)
            .await
            .map_err(|e| unavailable(&e))?;
        parse(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_without_a_kid_or_of_unknown_kinds_are_skipped() {
        let document = serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig", "n": "sXch", "e": "AQAB"},
            {"kty": "RSA", "alg": "RS256", "n": "sXch", "e": "AQAB"},
            {"kty": "weird", "kid": "w1"},
        ]});
        let keys = parse(document.to_string().as_bytes()).expect("parses");
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["r1"]);
        assert!(parse(b"{\"no\": 1}").is_err());
    }
}
