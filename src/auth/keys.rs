//! Token signing keys: Ed25519 (EdDSA) keys loaded from PKCS#8 PEM files, or generated
//! into the data directory on first start when none are configured. The first key signs;
//! every key verifies, so a new key can be introduced before the old one is retired.
//! Key ids are RFC 7638 thumbprints, so every node derives the same `kid` from a key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, spki::der::pem::LineEnding};
use jsonwebtoken::{DecodingKey, EncodingKey};
use schemars::JsonSchema;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Where a generated key is kept, relative to the data directory.
const GENERATED_KEY: &str = "keys/jwt-signing-key.pem";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read signing key {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a PKCS#8 PEM Ed25519 private key")]
    Parse { path: PathBuf },
    #[error("cannot write the generated signing key to {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One Ed25519 key with its id and the forms jsonwebtoken needs.
pub struct Key {
    pub kid: String,
    pub encoding: EncodingKey,
    pub decoding: DecodingKey,
    /// The public key, base64url, as the JWK `x` member.
    pub x: String,
}

impl Key {
    fn from_signing_key(signing: &SigningKey) -> Key {
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().to_bytes());
        // Encoding a 32-byte Ed25519 key as PKCS#8 DER cannot fail.
        let der = signing.to_pkcs8_der().expect("Ed25519 PKCS#8 encoding");
        Key {
            kid: thumbprint(&x),
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            // `x` is valid base64url that we just produced.
            decoding: DecodingKey::from_ed_components(&x).expect("valid public key"),
            x,
        }
    }
}

/// RFC 7638 JWK thumbprint of an Ed25519 public key (members in lexicographic order).
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

pub struct SigningKeys {
    keys: Vec<Key>,
    by_kid: HashMap<String, usize>,
}

impl SigningKeys {
    /// Loads the configured key files, or the generated key (creating it if absent).
    pub fn load(files: &[PathBuf], data_dir: &Path) -> Result<SigningKeys, KeyError> {
        let keys = if files.is_empty() {
            vec![load_or_generate(&data_dir.join(GENERATED_KEY))?]
        } else {
            files
                .iter()
                .map(|path| load_file(path))
                .collect::<Result<_, _>>()?
        };
        Ok(SigningKeys::from_keys(keys))
    }

    /// Keys made from raw Ed25519 signing keys (the first signs).
    pub fn from_signing_keys(keys: &[SigningKey]) -> SigningKeys {
        SigningKeys::from_keys(keys.iter().map(Key::from_signing_key).collect())
    }

    fn from_keys(keys: Vec<Key>) -> SigningKeys {
        let by_kid = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.kid.clone(), i))
            .collect();
        SigningKeys { keys, by_kid }
    }

    /// The key new tokens are signed with.
    pub fn active(&self) -> &Key {
        // `load` and `from_signing_keys` never build an empty set.
        &self.keys[0]
    }

    pub fn by_kid(&self, kid: &str) -> Option<&Key> {
        self.by_kid.get(kid).map(|&i| &self.keys[i])
    }

    /// The public keys as a JWK Set, for `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Jwks<'_> {
        let keys = self
            .keys
            .iter()
            .map(|k| Jwk {
                kty: "OKP",
                crv: "Ed25519",
                x: &k.x,
                kid: &k.kid,
                key_use: "sig",
                alg: "EdDSA",
            })
            .collect();
        Jwks { keys }
    }
}

/// A JSON Web Key Set (RFC 7517): the keys access tokens are signed with.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Jwks<'a> {
    pub keys: Vec<Jwk<'a>>,
}

/// An Ed25519 public key (RFC 8037).
#[derive(Debug, Serialize, JsonSchema)]
pub struct Jwk<'a> {
    /// `OKP`.
    pub kty: &'static str,
    /// `Ed25519`.
    pub crv: &'static str,
    /// The public key, base64url.
    pub x: &'a str,
    /// Tokens name it in their header's `kid`.
    pub kid: &'a str,
    /// `sig`.
    #[serde(rename = "use")]
    pub key_use: &'static str,
    /// `EdDSA`.
    pub alg: &'static str,
}

fn load_file(path: &Path) -> Result<Key, KeyError> {
    let pem = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?;
    let signing = SigningKey::from_pkcs8_pem(&pem).map_err(|_| KeyError::Parse {
        path: path.to_owned(),
    })?;
    Ok(Key::from_signing_key(&signing))
}

fn load_or_generate(path: &Path) -> Result<Key, KeyError> {
    if path.exists() {
        return load_file(path);
    }
    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    // Encoding a 32-byte Ed25519 key as PEM cannot fail.
    let pem = signing
        .to_pkcs8_pem(LineEnding::LF)
        .expect("Ed25519 PKCS#8 PEM encoding");
    write_private(path, pem.as_bytes()).map_err(|source| KeyError::Write {
        path: path.to_owned(),
        source,
    })?;
    tracing::info!(
        path = %path.display(),
        "generated a token signing key; give every node the same key with auth.signing_key_files"
    );
    Ok(Key::from_signing_key(&signing))
}

/// Writes a file only its owner can read, atomically (no half-written key after a crash).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("pem.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_kept_and_reloaded_with_the_same_kid() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = SigningKeys::load(&[], dir.path()).expect("generated");
        let second = SigningKeys::load(&[], dir.path()).expect("reloaded");
        assert_eq!(first.active().kid, second.active().kid);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(GENERATED_KEY))
                .expect("file")
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        // RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
        assert_eq!(
            thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn every_configured_key_is_published_and_the_first_signs() {
        let keys = SigningKeys::from_signing_keys(&[
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        ]);
        let jwks = keys.jwks();
        let kids: Vec<&str> = jwks.keys.iter().map(|k| k.kid).collect();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0], keys.active().kid);
        assert!(keys.by_kid(kids[1]).is_some());
    }

    #[test]
    fn a_file_that_is_not_a_key_is_refused_with_its_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bogus.pem");
        std::fs::write(&path, "not a key").expect("write");
        let err = SigningKeys::load(std::slice::from_ref(&path), dir.path())
            .err()
            .expect("refused");
        assert!(err.to_string().contains("bogus.pem"), "{err}");
    }
}
