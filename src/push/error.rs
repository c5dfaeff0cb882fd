//! Why a push provider could not be set up at start: a credential or certificate file that
//! cannot be read or parsed, named by its setting so the operator knows what to fix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum PushSetupError {
    /// A file named by a setting (`push.ca_file`, `push.apns.key_file`,
    /// `push.fcm.service_account_file`) is missing, unreadable or not what it should be.
    #[error("{setting} ({}): {reason}", path.display())]
    File {
        setting: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// The provider's connection thread could not be started.
    #[error("the {provider} push connection thread cannot start: {reason}")]
    Worker {
        provider: &'static str,
        reason: String,
    },
}

impl PushSetupError {
    pub(crate) fn file(
        setting: &'static str,
        path: impl Into<PathBuf>,
        reason: impl std::fmt::Display,
    ) -> PushSetupError {
        PushSetupError::File {
            setting,
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}
