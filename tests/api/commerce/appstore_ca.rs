//! A test certificate authority shaped like Apple's: a P-384 root, a P-384 intermediate
//! carrying Apple's intermediate marker extension, and a P-256 leaf carrying Apple's
//! signing marker that signs App Store JWSs (ES256) with the chain in `x5c`. Siblings under
//! the same root lack one of Apple's marks, to show that a chain from the right root is
//! not enough.

use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Signer;
use serde_json::{Value, json};
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::asn1::Null;
use x509_cert::der::oid::{AssociatedOid, ObjectIdentifier};
use x509_cert::der::{Encode, Length, Writer};
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;

/// How a chain differs from Apple's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    None,
    /// The intermediate lacks `1.2.840.113635.100.6.2.1`.
    IntermediateUnmarked,
    /// The leaf lacks `1.2.840.113635.100.6.11.1` and is a TLS client certificate.
    ClientAuthLeaf,
    /// The leaf is marked but its key usage does not allow signing.
    LeafMayNotSign,
}

/// Apple's marker extensions: an ASN.1 NULL under Apple's OID.
struct Marker<const LEAF: bool>;

impl<const LEAF: bool> AssociatedOid for Marker<LEAF> {
    const OID: ObjectIdentifier = if LEAF {
        ObjectIdentifier::new_unwrap("1.2.840.113635.100.6.11.1")
    } else {
        ObjectIdentifier::new_unwrap("1.2.840.113635.100.6.2.1")
    };
}

impl<const LEAF: bool> Encode for Marker<LEAF> {
    fn encoded_len(&self) -> x509_cert::der::Result<Length> {
        Null.encoded_len()
    }

    fn encode(&self, writer: &mut impl Writer) -> x509_cert::der::Result<()> {
        Null.encode(writer)
    }
}

impl<const LEAF: bool> AsExtension for Marker<LEAF> {
    fn critical(&self, _: &Name, _: &[Extension]) -> bool {
        false
    }
}

pub struct TestCa {
    root: Certificate,
    root_key: p384::ecdsa::SigningKey,
    root_name: Name,
    intermediate: Certificate,
    leaf: Certificate,
    leaf_key: p256::ecdsa::SigningKey,
}

fn validity() -> Validity {
    Validity::from_now(Duration::from_secs(24 * 60 * 60)).expect("validity")
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let root_key = p384::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        let root_name = Name::from_str(&format!("CN={name} Root CA,O=Test")).expect("name");
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
        Self::issue(name, root, root_key, root_name, Flaw::None)
    }

    /// Another intermediate and leaf under this CA's root, with `flaw`.
    pub fn sibling(&self, flaw: Flaw) -> TestCa {
        Self::issue(
            &format!("{flaw:?}"),
            self.root.clone(),
            self.root_key.clone(),
            self.root_name.clone(),
            flaw,
        )
    }

    fn issue(
        name: &str,
        root: Certificate,
        root_key: p384::ecdsa::SigningKey,
        root_name: Name,
        flaw: Flaw,
    ) -> TestCa {
        let mut rng = rand::rngs::OsRng;
        let intermediate_key = p384::ecdsa::SigningKey::random(&mut rng);
        let leaf_key = p256::ecdsa::SigningKey::random(&mut rng);
        let intermediate_name =
            Name::from_str(&format!("CN={name} Intermediate,O=Test")).expect("name");

        let mut intermediate = CertificateBuilder::new(
            Profile::SubCA {
                issuer: root_name.clone(),
                path_len_constraint: Some(0),
            },
            SerialNumber::from(2u32),
            validity(),
            intermediate_name.clone(),
            SubjectPublicKeyInfoOwned::from_key(*intermediate_key.verifying_key()).expect("spki"),
            &root_key,
        )
        .expect("intermediate builder");
        if flaw != Flaw::IntermediateUnmarked {
            intermediate
                .add_extension(&Marker::<false>)
                .expect("marker");
        }
        let intermediate = intermediate
            .build::<p384::ecdsa::DerSignature>()
            .expect("intermediate");

        let leaf_profile = match flaw {
            Flaw::LeafMayNotSign => Profile::Manual {
                issuer: Some(intermediate_name),
            },
            _ => Profile::Leaf {
                issuer: intermediate_name,
                enable_key_agreement: false,
                enable_key_encipherment: false,
                include_subject_key_identifier: true,
            },
        };
        let mut leaf = CertificateBuilder::new(
            leaf_profile,
            SerialNumber::from(3u32),
            validity(),
            Name::from_str(&format!("CN={name} App Store Signing,O=Test")).expect("name"),
            SubjectPublicKeyInfoOwned::from_key(*leaf_key.verifying_key()).expect("spki"),
            &intermediate_key,
        )
        .expect("leaf builder");
        match flaw {
            Flaw::ClientAuthLeaf => leaf
                .add_extension(&ExtendedKeyUsage(vec![
                    x509_cert::der::oid::db::rfc5280::ID_KP_CLIENT_AUTH,
                ]))
                .expect("eku"),
            Flaw::LeafMayNotSign => {
                leaf.add_extension(&KeyUsage(KeyUsages::KeyEncipherment.into()))
                    .expect("key usage");
                leaf.add_extension(&Marker::<true>).expect("marker");
            }
            _ => leaf.add_extension(&Marker::<true>).expect("marker"),
        }
        let leaf = leaf.build::<p384::ecdsa::DerSignature>().expect("leaf");
        TestCa {
            root,
            root_key,
            root_name,
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
