//! Password hashing with argon2id (OWASP default parameters), run on the blocking pool so
//! a burst of logins cannot stall the HTTP workers. Checking a user that does not exist
//! still verifies against a dummy hash, so response time does not reveal which emails exist.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use fitpulse_actors::domain::Password;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes `password` into a PHC string (`$argon2id$v=19$...`).
pub async fn hash(password: Password) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || hash_now(&password))
        .await
        .map_err(|e| HashError(e.to_string()))?
}

fn hash_now(password: &Password) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// True if `password` matches `stored`; with no stored hash, spends the same effort and
/// answers false.
pub async fn verify(password: Password, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let has_hash = stored.is_some();
        let hash = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let Ok(parsed) = PasswordHash::new(&hash) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok();
        has_hash && matches
    })
    .await
    .unwrap_or(false)
}

/// The hash of a random secret nobody knows, computed once per process.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let secret = SaltString::generate(&mut OsRng);
        // A 22-character random salt string is a valid password.
        let password = Password::parse(secret.as_str()).expect("valid dummy password");
        hash_now(&password).expect("dummy hash")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse(s).expect("valid password")
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_no_other() {
        let stored = hash(pw("correct horse battery")).await.expect("hashed");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify(pw("correct horse battery"), Some(stored.clone())).await);
        assert!(!verify(pw("Correct horse battery"), Some(stored)).await);
    }

    #[tokio::test]
    async fn two_hashes_of_one_password_differ_by_salt() {
        let a = hash(pw("same password")).await.expect("hashed");
        let b = hash(pw("same password")).await.expect("hashed");
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn a_missing_or_corrupt_hash_never_verifies() {
        assert!(!verify(pw("not-a-real-password"), None).await);
        assert!(!verify(pw("whatever123"), Some("garbage".into())).await);
    }
}
