//! App Store JWS verification: a compact JWS whose `x5c` header carries the signing
//! certificate chain (leaf, intermediate, and usually the root). The chain must lead to
//! the configured root certificate (Apple Root CA - G3 in production, a test CA in tests):
//! the leaf is signed by the intermediate, the intermediate by the configured root (the
//! root sent in the header is never trusted by itself), every certificate is within its
//! validity period, the intermediate is a CA, and the leaf's P-256 key signs the JWS
//! (ES256).
//!
//! Any CA's chain would pass those checks, so, as Apple's own App Store Server Library
//! does, the chain must also be Apple's App Store chain: the intermediate carries Apple's
//! marker extension `1.2.840.113635.100.6.2.1` and may sign certificates (key usage
//! `keyCertSign` when it states a key usage), and the leaf carries
//! `1.2.840.113635.100.6.11.1`, is no CA, and may sign (`digitalSignature`).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256, Sha384};
use x509_cert::Certificate;
use x509_cert::der::{Decode, Encode, oid::ObjectIdentifier};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};

const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const CURVE_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const CURVE_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
/// Apple's marker of the "Apple Worldwide Developer Relations" intermediate.
pub const APPLE_INTERMEDIATE_MARKER: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113635.100.6.2.1");
/// Apple's marker of an App Store receipt and notification signing certificate.
pub const APPLE_LEAF_MARKER: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113635.100.6.11.1");

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwsError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("unsupported JWS algorithm `{0}` (ES256 expected)")]
    Algorithm(String),
    #[error("the x5c chain is missing or incomplete")]
    NoChain,
    #[error("a certificate in the chain cannot be read")]
    BadCertificate,
    #[error("the certificate chain does not lead to the trusted root")]
    Untrusted,
    #[error("a certificate in the chain is outside its validity period")]
    Expired,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("the chain is not Apple's App Store chain: {0}")]
    NotAppStore(&'static str),
}

/// Verifies JWSs against one trusted root certificate.
pub struct ChainVerifier {
    root: Certificate,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    x5c: Vec<String>,
}

impl ChainVerifier {
    /// From the root certificate's DER bytes.
    pub fn new(root_der: &[u8]) -> Result<ChainVerifier, JwsError> {
        let root = Certificate::from_der(root_der).map_err(|_| JwsError::BadCertificate)?;
        Ok(ChainVerifier { root })
    }

    /// From a PEM file's text (`-----BEGIN CERTIFICATE-----`).
    pub fn from_pem(pem: &str) -> Result<ChainVerifier, JwsError> {
        let body: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::trim)
            .collect();
        let der = STANDARD
            .decode(body)
            .map_err(|_| JwsError::BadCertificate)?;
        ChainVerifier::new(&der)
    }

    /// Verifies `jws` at `now` (Unix seconds) and answers its payload.
    pub fn verify(&self, jws: &str, now: u64) -> Result<Value, JwsError> {
        let mut parts = jws.split('.');
        let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::Malformed);
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| JwsError::Malformed)
        };
        let header: Header =
            serde_json::from_slice(&decode(header_b64)?).map_err(|_| JwsError::Malformed)?;
        if header.alg != "ES256" {
            return Err(JwsError::Algorithm(header.alg));
        }
        if header.x5c.len() < 2 {
            return Err(JwsError::NoChain);
        }
        let certs = header
            .x5c
            .iter()
            .map(|c| {
                let der = STANDARD.decode(c).map_err(|_| JwsError::BadCertificate)?;
                Certificate::from_der(&der).map_err(|_| JwsError::BadCertificate)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (leaf, intermediate) = (&certs[0], &certs[1]);
        for cert in [leaf, intermediate, &self.root] {
            within_validity(cert, now)?;
        }
        if !is_ca(intermediate) {
            return Err(JwsError::Untrusted);
        }
        verify_issued_by(intermediate, &self.root).map_err(|_| JwsError::Untrusted)?;
        verify_issued_by(leaf, intermediate).map_err(|_| JwsError::Untrusted)?;
        check_app_store_roles(leaf, intermediate)?;

        let key = leaf_key(leaf)?;
        let signature = p256::ecdsa::Signature::from_slice(&decode(sig_b64)?)
            .map_err(|_| JwsError::BadSignature)?;
        let signed = format!("{header_b64}.{payload_b64}");
        let digest = Sha256::digest(signed.as_bytes());
        key.verify_prehash(&digest, &signature)
            .map_err(|_| JwsError::BadSignature)?;
        serde_json::from_slice(&decode(payload_b64)?).map_err(|_| JwsError::Malformed)
    }
}

fn within_validity(cert: &Certificate, now: u64) -> Result<(), JwsError> {
    let validity = &cert.tbs_certificate.validity;
    let not_before = validity.not_before.to_unix_duration().as_secs();
    let not_after = validity.not_after.to_unix_duration().as_secs();
    if now < not_before || now > not_after {
        return Err(JwsError::Expired);
    }
    Ok(())
}

fn is_ca(cert: &Certificate) -> bool {
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .filter(|e| e.extn_id == BASIC_CONSTRAINTS)
        .filter_map(|e| BasicConstraints::from_der(e.extn_value.as_bytes()).ok())
        .any(|bc| bc.ca)
}

/// The checks Apple's library adds to plain chain validation.
fn check_app_store_roles(leaf: &Certificate, intermediate: &Certificate) -> Result<(), JwsError> {
    if !has_extension(intermediate, APPLE_INTERMEDIATE_MARKER) {
        return Err(JwsError::NotAppStore(
            "the intermediate lacks Apple's marker 1.2.840.113635.100.6.2.1",
        ));
    }
    if key_usage(intermediate).is_some_and(|ku| !ku.key_cert_sign()) {
        return Err(JwsError::NotAppStore(
            "the intermediate may not sign certificates",
        ));
    }
    if !has_extension(leaf, APPLE_LEAF_MARKER) {
        return Err(JwsError::NotAppStore(
            "the leaf lacks Apple's marker 1.2.840.113635.100.6.11.1",
        ));
    }
    if is_ca(leaf) {
        return Err(JwsError::NotAppStore("the leaf is a CA"));
    }
    if key_usage(leaf).is_some_and(|ku| !ku.digital_signature()) {
        return Err(JwsError::NotAppStore("the leaf may not sign"));
    }
    Ok(())
}

fn has_extension(cert: &Certificate, oid: ObjectIdentifier) -> bool {
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .any(|e| e.extn_id == oid)
}

/// The certificate's key usage, if it states one.
fn key_usage(cert: &Certificate) -> Option<KeyUsage> {
    cert.tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id == KEY_USAGE)
        .map(|e| {
            // A key usage that cannot be read allows nothing.
            KeyUsage::from_der(e.extn_value.as_bytes()).unwrap_or(KeyUsage(Default::default()))
        })
}

fn leaf_key(cert: &Certificate) -> Result<p256::ecdsa::VerifyingKey, JwsError> {
    let spki = &cert.tbs_certificate.subject_public_key_info;
    if curve(spki) != Some(CURVE_P256) {
        return Err(JwsError::BadCertificate);
    }
    let bytes = spki.subject_public_key.raw_bytes();
    p256::ecdsa::VerifyingKey::from_sec1_bytes(bytes).map_err(|_| JwsError::BadCertificate)
}

fn curve(spki: &x509_cert::spki::SubjectPublicKeyInfoOwned) -> Option<ObjectIdentifier> {
    spki.algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
}

/// Checks that `issuer`'s key signed `cert` (ECDSA with SHA-256 or SHA-384, P-256 or P-384).
fn verify_issued_by(cert: &Certificate, issuer: &Certificate) -> Result<(), JwsError> {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return Err(JwsError::Untrusted);
    }
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|_| JwsError::BadCertificate)?;
    let digest: Vec<u8> = match cert.signature_algorithm.oid {
        oid if oid == ECDSA_SHA256 => Sha256::digest(&tbs).to_vec(),
        oid if oid == ECDSA_SHA384 => Sha384::digest(&tbs).to_vec(),
        _ => return Err(JwsError::Untrusted),
    };
    let signature = cert.signature.raw_bytes();
    let spki = &issuer.tbs_certificate.subject_public_key_info;
    let key = spki.subject_public_key.raw_bytes();
    let verified = match curve(spki) {
        Some(c) if c == CURVE_P256 => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(key)
                .map_err(|_| JwsError::BadCertificate)?;
            let sig = p256::ecdsa::Signature::from_der(signature)
                .map_err(|_| JwsError::BadCertificate)?;
            key.verify_prehash(&digest, &sig).is_ok()
        }
        Some(c) if c == CURVE_P384 => {
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(key)
                .map_err(|_| JwsError::BadCertificate)?;
            let sig = p384::ecdsa::Signature::from_der(signature)
                .map_err(|_| JwsError::BadCertificate)?;
            key.verify_prehash(&digest, &sig).is_ok()
        }
        _ => false,
    };
    if verified {
        Ok(())
    } else {
        Err(JwsError::Untrusted)
    }
}
