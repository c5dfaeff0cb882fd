//! Outgoing email, sent from the outbox.
//!
//! - [`templates`]: the emails fitpulse sends, by name, with `{field}` placeholders.
//! - [`handler`]: the outbox handler of `email.send` items, and [`email_item`] to make one.
//! - [`smtp`] sends through an SMTP server (lettre) when `email.smtp.host` is set;
//!   [`log`] writes emails to the log otherwise, so a laptop needs no mail server.

pub mod handler;
pub mod log;
pub mod smtp;
pub mod templates;

use std::sync::Arc;

use async_trait::async_trait;
use fitpulse_actors::domain::Email;

pub use handler::{EMAIL_KIND, EMAIL_PREFIX, EmailHandler, email_item};
pub use templates::Template;

use crate::config::EmailSettings;

/// One email ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: Email,
    pub subject: String,
    /// Plain text.
    pub body: String,
}

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: the server is down, slow, or asked us to come back.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Will not work however often we try: the server rejected the message or recipient.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// Sends emails.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError>;
}

/// Why the mailer could not be set up from the settings.
#[derive(Debug, thiserror::Error)]
pub enum EmailSetupError {
    #[error("`email.from` is not an address")]
    From(#[source] lettre::address::AddressError),
}

/// The SMTP sender when `email.smtp.host` is set, the log sender otherwise.
pub fn mailer(settings: &EmailSettings) -> Result<Arc<dyn Mailer>, EmailSetupError> {
    Ok(match settings.smtp_host() {
        Some(host) => {
            tracing::info!(
                host,
                port = settings.smtp.port,
                "emails go through SMTP (unencrypted)"
            );
            Arc::new(smtp::SmtpMailer::new(settings, host)?)
        }
        None => {
            tracing::info!("no SMTP host configured: emails are written to the log");
            Arc::new(log::LogMailer)
        }
    })
}
