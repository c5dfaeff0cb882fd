//! The SMTP sender (lettre, plain SMTP on the configured host and port, optional AUTH).
//! One connection per email: emails are few (sign-ups, subscription changes), and a fresh
//! connection never trips over one the server closed while idle.
//!
//! There is no TLS yet (STARTTLS or SMTPS would pull a TLS stack into the build): point it
//! at a relay on a trusted network, such as a sidecar or the node's MTA.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncTransport, Tokio1Executor};

use super::{EmailSetupError, Mailer, OutgoingEmail, SendError};
use crate::config::EmailSettings;

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(settings: &EmailSettings, host: &str) -> Result<SmtpMailer, EmailSetupError> {
        let from = settings.from.parse().map_err(EmailSetupError::From)?;
        let smtp = &settings.smtp;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(smtp.port)
            .timeout(Some(Duration::from_millis(smtp.timeout_ms)));
        if let (Some(username), Some(password)) = (&smtp.username, &smtp.password) {
            builder = builder.credentials(Credentials::new(
                username.clone(),
                password.expose().to_owned(),
            ));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            from,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let to: Mailbox = email
            .to
            .as_str()
            .parse()
            .map_err(|e| SendError::Permanent(format!("recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.as_str())
            .header(ContentType::TEXT_PLAIN)
            .body(email.body.clone())
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(classify)
    }
}

/// A 5xx answer will be the same next time; everything else (refused connection, timeout,
/// 4xx) may pass later.
fn classify(err: lettre::transport::smtp::Error) -> SendError {
    let text = chain(&err);
    if err.is_permanent() {
        SendError::Permanent(text)
    } else {
        SendError::Transient(text)
    }
}

/// The error and its causes on one line ("Connection refused" is a cause, not the error).
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}
