//! The log sender: without an SMTP server, emails are written to the log (recipient masked,
//! subject at info, body at debug) and count as sent.

use async_trait::async_trait;

use super::{Mailer, OutgoingEmail, SendError};

pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        tracing::info!(to = %mask(email.to.as_str()), subject = %email.subject, "email (log sender)");
        tracing::debug!(body = %email.body, "email body (log sender)");
        Ok(())
    }
}

/// `ada@example.com` -> `a***@example.com`: enough to tell emails apart, not to harvest them.
fn mask(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_recipient_keeps_only_its_first_letter_and_domain() {
        assert_eq!(mask("ada.lovelace@example.com"), "a***@example.com");
        assert_eq!(mask("not-an-address"), "***");
    }
}
