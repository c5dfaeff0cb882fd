//! The credentials a server under test is configured with: an APNs token-signing key (the
//! `.p8` file, its key id and the team id) and an RSA key for an FCM service account.

use std::io;
use std::path::{Path, PathBuf};

use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use rand::Rng;
use rsa::pkcs8::EncodePublicKey;
use rsa::traits::PublicKeyParts;

/// `n` random upper-case letters and digits, the shape of Apple's team and key ids.
fn apple_id(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// A device token as APNs issues them: 32 random bytes in hex.
pub fn apns_device_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An APNs token-signing key: a P-256 key with its 10-character key id, under a team.
#[derive(Clone)]
pub struct ApnsKey {
    /// `push.apns.team_id`.
    pub team_id: String,
    /// `push.apns.key_id`.
    pub key_id: String,
    signing: SigningKey,
}

impl std::fmt::Debug for ApnsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsKey")
            .field("team_id", &self.team_id)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl ApnsKey {
    /// A new key with random team and key ids.
    pub fn generate() -> ApnsKey {
        ApnsKey {
            team_id: apple_id(10),
            key_id: apple_id(10),
            signing: SigningKey::random(&mut rand::rngs::OsRng),
        }
    }

    /// Another key under the same team and key ids (a key Apple does not know).
    pub fn impostor(&self) -> ApnsKey {
        ApnsKey {
            signing: SigningKey::random(&mut rand::rngs::OsRng),
            ..self.clone()
        }
    }

    /// The `.p8` contents: the private key in PKCS#8 PEM.
    pub fn pem(&self) -> String {
        self.signing
            .to_pkcs8_pem(LineEnding::LF)
            .expect("a P-256 key encodes")
            .to_string()
    }

    /// Writes `dir/AuthKey_<key id>.p8`, for `push.apns.key_file`.
    pub fn write_p8(&self, dir: &Path) -> io::Result<PathBuf> {
        let path = dir.join(format!("AuthKey_{}.p8", self.key_id));
        std::fs::write(&path, self.pem())?;
        Ok(path)
    }

    /// The public key as an uncompressed SEC1 point.
    pub fn public_key_sec1(&self) -> Vec<u8> {
        self.signing
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }
}

/// An RSA key of a service account.
#[derive(Clone)]
pub struct RsaKey {
    private: rsa::RsaPrivateKey,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaKey").finish_non_exhaustive()
    }
}

impl RsaKey {
    /// A new 2048-bit key.
    pub fn generate() -> RsaKey {
        RsaKey {
            private: rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)
                .expect("a 2048-bit RSA key generates"),
        }
    }

    /// The private key in PKCS#8 PEM, as Google writes it into service account files.
    pub fn private_pem(&self) -> String {
        self.private
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an RSA key encodes")
            .to_string()
    }

    /// The public key in SubjectPublicKeyInfo PEM.
    pub fn public_pem(&self) -> String {
        self.private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("an RSA key encodes")
    }

    /// The modulus and public exponent, big-endian.
    pub fn public_components(&self) -> (Vec<u8>, Vec<u8>) {
        (
            self.private.n().to_bytes_be(),
            self.private.e().to_bytes_be(),
        )
    }
}
