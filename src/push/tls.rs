//! The TLS client configuration of the push providers: the Mozilla roots built in, plus the
//! PEM certificates of `push.ca_file` (a test CA, a corporate proxy), on the ring crypto
//! provider the rest of the tree already uses.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

use super::error::PushSetupError;

const CA_FILE: &str = "push.ca_file";

/// Which application protocols a connection may speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// HTTP/2 only (APNs refuses anything else).
    Http2,
    /// HTTP/2, or HTTP/1.1 when the server offers nothing better (FCM, OAuth token
    /// endpoints).
    Http2OrHttp11,
}

impl Alpn {
    fn protocols(self) -> Vec<Vec<u8>> {
        match self {
            Alpn::Http2 => vec![b"h2".to_vec()],
            Alpn::Http2OrHttp11 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        }
    }
}

/// The web roots plus the certificates of `ca_file`, when set.
pub fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, PushSetupError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let Some(path) = ca_file else {
        return Ok(roots);
    };
    let pem = std::fs::read(path)
        .map_err(|e| PushSetupError::file(CA_FILE, path, format!("cannot be read: {e}")))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PushSetupError::file(CA_FILE, path, format!("is not PEM: {e}")))?;
    if certificates.is_empty() {
        return Err(PushSetupError::file(
            CA_FILE,
            path,
            "holds no PEM certificate",
        ));
    }
    for (n, certificate) in certificates.into_iter().enumerate() {
        roots.add(certificate).map_err(|e| {
            PushSetupError::file(
                CA_FILE,
                path,
                format!("certificate {} is not a usable CA: {e}", n + 1),
            )
        })?;
    }
    Ok(roots)
}

/// A client configuration trusting the web roots and `ca_file`, offering `alpn`.
pub fn client_config(
    ca_file: Option<&Path>,
    alpn: Alpn,
) -> Result<Arc<ClientConfig>, PushSetupError> {
    let roots = root_store(ca_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        // The ring provider supports every safe default version.
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.protocols();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_ca_file_only_the_web_roots_are_trusted() {
        let roots = root_store(None).expect("the web roots");
        assert_eq!(roots.len(), webpki_roots::TLS_SERVER_ROOTS.len());
    }

    #[test]
    fn a_missing_ca_file_is_an_error_naming_the_setting_and_the_file() {
        let error = client_config(Some(Path::new("/nonexistent/ca.pem")), Alpn::Http2)
            .expect_err("no such file");
        let message = error.to_string();
        assert!(
            message.starts_with("push.ca_file (/nonexistent/ca.pem)"),
            "{message}"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate\n").expect("written");
        let error = root_store(Some(&path)).expect_err("no certificate");
        assert!(
            error.to_string().contains("holds no PEM certificate"),
            "{error}"
        );
    }

    #[test]
    fn a_certificate_that_is_not_der_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ca.pem");
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .expect("written");
        let error = root_store(Some(&path)).expect_err("not a certificate");
        assert!(error.to_string().contains("certificate 1"), "{error}");
    }

    #[test]
    fn the_apns_configuration_offers_http2_alone() {
        let config = client_config(None, Alpn::Http2).expect("config");
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);
        let config = client_config(None, Alpn::Http2OrHttp11).expect("config");
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }
}
