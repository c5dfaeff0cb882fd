//! The outbox handler of `email.send` items: the payload
//! `{"template": "welcome", "to": "ada@example.com", "fields": {"display_name": "Ada"}}` is
//! rendered with its template and handed to the mailer. A payload that cannot be rendered
//! fails for good; a mail server that is down fails for a retry.

use std::sync::Arc;

use async_trait::async_trait;
use fitpulse_actors::domain::{Email, UnixMillis};
use fitpulse_actors::ports::commerce::OutboxItem;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::templates::Template;
use super::{Mailer, OutgoingEmail, SendError};
use crate::outbox::{HandleError, Handler};

/// The kind of an email item.
pub const EMAIL_KIND: &str = "email.send";
/// The prefix the email handler is registered under.
pub const EMAIL_PREFIX: &str = "email.";

/// An outbox item that sends `template` (a [`Template`] or its name) to `to`, due `now`. `fields` is a JSON object with the template's fields (see
/// [`super::templates`]). Nothing is checked here: an unknown template or a missing field
/// fails the item when it is delivered. The id is random; set `item.id` to a derived one
/// when the same email must not be queued twice, and `item.next_at` to send it later.
pub fn email_item(
    template: impl AsRef<str>,
    to: &Email,
    fields: Value,
    now: UnixMillis,
) -> OutboxItem {
    let payload = json!({
        "template": template.as_ref(),
        "to": to.as_str(),
        "fields": fields,
    });
    OutboxItem::new(Uuid::new_v4(), EMAIL_KIND, payload.to_string(), now)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    template: String,
    to: String,
    #[serde(default)]
    fields: Map<String, Value>,
}

pub struct EmailHandler {
    mailer: Arc<dyn Mailer>,
}

impl EmailHandler {
    pub fn new(mailer: Arc<dyn Mailer>) -> EmailHandler {
        EmailHandler { mailer }
    }

    /// The email an item describes.
    fn compose(item: &OutboxItem) -> Result<(Template, OutgoingEmail), HandleError> {
        let permanent = |e: &dyn std::fmt::Display| HandleError::Permanent(e.to_string());
        let payload: Payload = serde_json::from_str(&item.payload)
            .map_err(|e| HandleError::Permanent(format!("malformed email payload: {e}")))?;
        let template = Template::parse(&payload.template).map_err(|e| permanent(&e))?;
        let to = Email::parse(&payload.to)
            .map_err(|e| HandleError::Permanent(format!("recipient: {e}")))?;
        let rendered = template
            .render(&payload.fields)
            .map_err(|e| permanent(&e))?;
        Ok((
            template,
            OutgoingEmail {
                to,
                subject: rendered.subject,
                body: rendered.body,
            },
        ))
    }
}

#[async_trait]
impl Handler for EmailHandler {
    async fn handle(&self, item: &OutboxItem) -> Result<(), HandleError> {
        let (template, email) = Self::compose(item)?;
        tracing::debug!(template = template.as_str(), "sending an email");
        self.mailer.send(&email).await.map_err(|err| match err {
            SendError::Transient(reason) => HandleError::Retry(reason),
            SendError::Permanent(reason) => HandleError::Permanent(reason),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Remembers what it was asked to send and answers `result`.
    struct Recording {
        sent: Mutex<Vec<OutgoingEmail>>,
        transient: bool,
    }

    #[async_trait]
    impl Mailer for Recording {
        async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
            self.sent.lock().expect("not poisoned").push(email.clone());
            if self.transient {
                return Err(SendError::Transient("connection refused".into()));
            }
            Ok(())
        }
    }

    fn handler(transient: bool) -> (EmailHandler, Arc<Recording>) {
        let mailer = Arc::new(Recording {
            sent: Mutex::new(Vec::new()),
            transient,
        });
        (EmailHandler::new(mailer.clone()), mailer)
    }

    fn item(payload: &str) -> OutboxItem {
        OutboxItem::new(Uuid::new_v4(), EMAIL_KIND, payload.into(), 0)
    }

    fn ada() -> Email {
        Email::parse("ada@example.com").expect("valid")
    }

    #[tokio::test]
    async fn an_email_item_renders_and_goes_to_the_mailer() {
        let (handler, mailer) = handler(false);
        let item = email_item(
            Template::Welcome,
            &ada(),
            json!({"display_name": "Ada"}),
            1_000,
        );
        assert_eq!(item.kind, EMAIL_KIND);
        assert_eq!(item.next_at, 1_000);
        handler.handle(&item).await.expect("sent");
        let sent = mailer.sent.lock().expect("not poisoned");
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, ada());
        assert_eq!(sent[0].subject, "Welcome to fitpulse, Ada");
    }

    #[tokio::test]
    async fn a_mail_server_that_is_down_asks_for_a_retry() {
        let (handler, _) = handler(true);
        let item = email_item("welcome", &ada(), json!({"display_name": "Ada"}), 0);
        assert!(matches!(
            handler.handle(&item).await,
            Err(HandleError::Retry(_))
        ));
    }

    #[tokio::test]
    async fn payloads_that_can_never_be_sent_fail_for_good_without_sending() {
        let (handler, mailer) = handler(false);
        for payload in [
            "not json",
            r#"{"template":"welcome","to":"ada@example.com","fields":{"display_name":"A"},"x":1}"#,
            r#"{"template":"newsletter","to":"ada@example.com","fields":{}}"#,
            r#"{"template":"welcome","to":"not-an-address","fields":{"display_name":"A"}}"#,
            r#"{"template":"welcome","to":"ada@example.com","fields":{}}"#,
        ] {
            let result = handler.handle(&item(payload)).await;
            assert!(
                matches!(result, Err(HandleError::Permanent(_))),
                "{payload}: {result:?}"
            );
        }
        assert!(mailer.sent.lock().expect("not poisoned").is_empty());
    }
}
