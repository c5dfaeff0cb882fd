//! Commerce: products, the subscription state machine, the app stores' and the web payment
//! provider's webhooks (verified, deduplicated, queued), and their processing into
//! subscriptions and entitlements. HTTP routes are in `crate::http::{webhooks, commerce}`.
//! [`transitions`] names what each stored change means for the business counters and
//! [`census`] keeps the gauge of subscriptions by product and state.

pub mod appstore;
pub mod census;
pub mod googleplay;
pub mod jws;
pub mod notification;
pub mod payments;
pub mod process;
pub mod products;
pub mod state;
pub mod transitions;

use appstore::AppStore;
use googleplay::GooglePlay;
use jws::ChainVerifier;
use payments::Payments;

use crate::config::CommerceSettings;

/// The webhook verifiers this node is configured for; a provider without settings answers
/// its webhook with `not_configured`.
pub struct Webhooks {
    pub appstore: Option<AppStore>,
    pub googleplay: Option<GooglePlay>,
    pub payments: Option<Payments>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommerceError {
    #[error("cannot read the App Store root certificate {path}")]
    RootFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the App Store root certificate {path} is not a PEM certificate")]
    RootCertificate { path: String },
}

impl Webhooks {
    pub fn from_settings(settings: &CommerceSettings) -> Result<Webhooks, CommerceError> {
        let appstore = match &settings.appstore_root_cert_file {
            Some(path) => {
                let shown = path.display().to_string();
                let pem =
                    std::fs::read_to_string(path).map_err(|source| CommerceError::RootFile {
                        path: shown.clone(),
                        source,
                    })?;
                let verifier = ChainVerifier::from_pem(&pem)
                    .map_err(|_| CommerceError::RootCertificate { path: shown })?;
                Some(AppStore::new(
                    verifier,
                    settings.appstore_bundle_id.clone(),
                    settings.appstore_environment.as_str(),
                ))
            }
            None => None,
        };
        let googleplay = settings.googleplay_push_token.as_ref().map(|token| {
            GooglePlay::new(
                token.expose().to_owned(),
                settings.googleplay_package_name.clone(),
            )
        });
        let payments = settings.payments_secret.as_ref().map(|secret| {
            Payments::new(
                secret.expose().to_owned(),
                settings.payments_tolerance_seconds,
            )
        });
        Ok(Webhooks {
            appstore,
            googleplay,
            payments,
        })
    }
}
