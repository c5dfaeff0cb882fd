//! A test certificate authority shaped like Apple's: a P-384 root, a P-384 intermediate
//! and a P-256 leaf that signs App Store JWSs (ES256) with the chain in `x5c`.

use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Signer;
use serde_json::{Value, json};
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::Encode;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

pub struct TestCa {
    root: Certificate,
    intermediate: Certificate,
    leaf: Certificate,
    leaf_key: p256::ecdsa::SigningKey,
}

fn validity() -> Validity {
    Validity::from_now(Duration::from_secs(24 * 60 * 60)).expect("validity")
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut rng = rand::rngs::OsRng;
        let root_key = p384::ecdsa::SigningKey::random(&mut rng);
        let intermediate_key = p384::ecdsa::SigningKey::random(&mut rng);
        let leaf_key = p256::ecdsa::SigningKey::random(&mut rng);
        let root_name = Name::from_str(&format!("CN={name} Root CA,O=Test")).expect("name");
        let intermediate_name =
            Name::from_str(&format!("CN={name} Intermediate,O=Test")).expect("name");

        let root = CertificateBuilder::new(
            Profile::Root,
            SerialNumber::from(1u32),
            validity(),
            root_name.clone(),
            SubjectPublicKeyInfoOwned::from_key(*root_key.verifying_key()).expect("spki"),
            &root_key,
        )
        .expect("root builder")
        .build::<p384::ecdsa::DerSignature>()
        .expect("root");
        let intermediate = CertificateBuilder::new(
            Profile::SubCA {
                issuer: root_name,
                path_len_constraint: Some(0),
            },
            SerialNumber::from(2u32),
            validity(),
            intermediate_name.clone(),
            SubjectPublicKeyInfoOwned::from_key(*intermediate_key.verifying_key()).expect("spki"),
            &root_key,
        )
        .expect("intermediate builder")
        .build::<p384::ecdsa::DerSignature>()
        .expect("intermediate");
        let leaf = CertificateBuilder::new(
            Profile::Leaf {
                issuer: intermediate_name,
                enable_key_agreement: false,
                enable_key_encipherment: false,
            },
            SerialNumber::from(3u32),
            validity(),
            Name::from_str(&format!("CN={name} App Store Signing,O=Test")).expect("name"),
            SubjectPublicKeyInfoOwned::from_key(*leaf_key.verifying_key()).expect("spki"),
            &intermediate_key,
        )
        .expect("leaf builder")
        .build::<p384::ecdsa::DerSignature>()
        .expect("leaf");
        TestCa {
            root,
            intermediate,
            leaf,
            leaf_key,
        }
    }

    /// The root certificate as PEM, for `commerce.appstore_root_cert_file`.
    pub fn root_pem(&self) -> String {
        let der = self.root.to_der().expect("der");
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            lines.join("\n")
        )
    }

    /// A compact JWS of `payload` signed by the leaf, with the whole chain in `x5c`.
    pub fn sign(&self, payload: &Value) -> String {
        let chain: Vec<String> = [&self.leaf, &self.intermediate, &self.root]
            .iter()
            .map(|c| STANDARD.encode(c.to_der().expect("der")))
            .collect();
        let header = URL_SAFE_NO_PAD.encode(json!({ "alg": "ES256", "x5c": chain }).to_string());
        let body = URL_SAFE_NO_PAD.encode(payload.to_string());
        let signing_input = format!("{header}.{body}");
        let signature: p256::ecdsa::Signature = self.leaf_key.sign(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        )
    }
}
