//! A throwaway certificate authority: a P-256 root and, under it, a server certificate for
//! `127.0.0.1`, `::1` and `localhost`. The fakes serve the server certificate; the server
//! under test trusts the root through `push.ca_file`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::EncodePrivateKey;
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::Encode;
use x509_cert::der::asn1::Ia5String;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};

/// How long the certificates are valid, from an hour ago (clock skew).
const VALID_FOR: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// A root and one server certificate it signed, in DER, with the server's key.
pub struct TestCa {
    root: Vec<u8>,
    server: Vec<u8>,
    server_key: Vec<u8>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

fn validity() -> Validity {
    let now = SystemTime::now();
    let time = |at: SystemTime| Time::try_from(at).expect("a time after 1970 and before 9999");
    Validity {
        not_before: time(now - Duration::from_secs(60 * 60)),
        not_after: time(now + VALID_FOR),
    }
}

fn random_serial() -> SerialNumber {
    // Positive, non-zero, 16 bytes.
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::new(&bytes).expect("16 bytes is a valid serial number")
}

impl TestCa {
    /// A fresh root and server certificate (new keys every time).
    pub fn new() -> TestCa {
        let mut rng = rand::rngs::OsRng;
        let root_key = SigningKey::random(&mut rng);
        let root_name = Name::from_str("CN=fitpulse fakes test root,O=fitpulse tests")
            .expect("a valid distinguished name");
        let root = CertificateBuilder::new(
            Profile::Root,
            random_serial(),
            validity(),
            root_name.clone(),
            SubjectPublicKeyInfoOwned::from_key(*root_key.verifying_key())
                .expect("a P-256 public key encodes"),
            &root_key,
        )
        .expect("a root certificate")
        .build::<DerSignature>()
        .expect("the root signs itself");

        let server_key = SigningKey::random(&mut rng);
        let mut server = CertificateBuilder::new(
            Profile::Leaf {
                issuer: root_name,
                enable_key_agreement: false,
                enable_key_encipherment: false,
                include_subject_key_identifier: true,
            },
            random_serial(),
            validity(),
            Name::from_str("CN=localhost,O=fitpulse tests").expect("a valid distinguished name"),
            SubjectPublicKeyInfoOwned::from_key(*server_key.verifying_key())
                .expect("a P-256 public key encodes"),
            &root_key,
        )
        .expect("a server certificate");
        server
            .add_extension(&SubjectAltName(vec![
                GeneralName::DnsName(Ia5String::new("localhost").expect("ASCII")),
                GeneralName::from(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                GeneralName::from(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ]))
            .expect("the names extension");
        server
            .add_extension(&ExtendedKeyUsage(vec![
                x509_cert::der::oid::db::rfc5280::ID_KP_SERVER_AUTH,
            ]))
            .expect("the key usage extension");
        let server = server
            .build::<DerSignature>()
            .expect("the root signs the server certificate");
        TestCa {
            root: root.to_der().expect("a certificate encodes"),
            server: server.to_der().expect("a certificate encodes"),
            server_key: server_key
                .to_pkcs8_der()
                .expect("a P-256 key encodes")
                .as_bytes()
                .to_vec(),
        }
    }

    /// The root certificate as PEM.
    pub fn root_pem(&self) -> String {
        pem("CERTIFICATE", &self.root)
    }

    /// Writes the root certificate to `dir/push-ca.pem`, for `push.ca_file`.
    pub fn write_root_pem(&self, dir: &Path) -> io::Result<PathBuf> {
        let path = dir.join("push-ca.pem");
        std::fs::write(&path, self.root_pem())?;
        Ok(path)
    }

    /// A TLS server configuration serving the server certificate (and the root, as real
    /// servers send their chain), offering `alpn`.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = vec![
            CertificateDer::from(self.server.clone()),
            CertificateDer::from(self.root.clone()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("the server key matches its certificate");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        TestCa::new()
    }
}

/// `der` as a PEM block labelled `label`.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
