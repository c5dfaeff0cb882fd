//! The emails fitpulse sends, by name. Each is a plain-text subject and body with `{field}`
//! placeholders filled from the outbox item's `fields`; a field a template names but the
//! item lacks fails the item for good (the payload is wrong, trying again will not help).
//! A field holding an RFC 3339 timestamp is shown as a date (`1 March 2026`).
//!
//! | template | fields |
//! |---|---|
//! | `welcome` | `display_name` |
//! | `subscription_started` | `display_name`, `product` |
//! | `expiring_soon` | `display_name`, `product`, `expires_on` |
//! | `payment_failed` | `display_name`, `product` |
//! | `password_reset` | `display_name`, `link`, `minutes` |
//! | `verify_email` | `display_name`, `link` |

use serde_json::{Map, Value};

/// An email by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Welcome,
    SubscriptionStarted,
    ExpiringSoon,
    PaymentFailed,
    PasswordReset,
    VerifyEmail,
}

impl AsRef<str> for Template {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// A template filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("unknown template `{0}`")]
    UnknownTemplate(String),
    #[error("template `{template}` needs the field `{field}`")]
    MissingField {
        template: &'static str,
        field: String,
    },
    #[error("the field `{0}` must be a string or a number")]
    NotText(String),
}

const SIGNATURE: &str = "\n\nSee you on the mat,\nThe fitpulse team\n";

impl Template {
    pub const ALL: [Template; 6] = [
        Template::Welcome,
        Template::SubscriptionStarted,
        Template::ExpiringSoon,
        Template::PaymentFailed,
        Template::PasswordReset,
        Template::VerifyEmail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Template::Welcome => "welcome",
            Template::SubscriptionStarted => "subscription_started",
            Template::ExpiringSoon => "expiring_soon",
            Template::PaymentFailed => "payment_failed",
            Template::PasswordReset => "password_reset",
            Template::VerifyEmail => "verify_email",
        }
    }

    pub fn parse(name: &str) -> Result<Template, RenderError> {
        Template::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| RenderError::UnknownTemplate(name.to_owned()))
    }

    /// Subject and body, before the fields are filled in.
    fn text(self) -> (&'static str, &'static str) {
        match self {
            Template::Welcome => (
                "Welcome to fitpulse, {display_name}",
                "Hi {display_name},\n\n\
                 Welcome to fitpulse! Your plan, your recipes and the live classes are waiting \
                 in the app. Pick a plan for this week and we will keep your shopping list \
                 in step with it.",
            ),
            Template::SubscriptionStarted => (
                "Your {product} subscription is active",
                "Hi {display_name},\n\n\
                 Thank you for subscribing to {product}. Premium recipes, workouts and live \
                 classes are unlocked on every device you sign in on.",
            ),
            Template::ExpiringSoon => (
                "Your {product} subscription ends on {expires_on}",
                "Hi {display_name},\n\n\
                 Your {product} subscription ends on {expires_on} and will not renew. Renew it \
                 in the store you subscribed with to keep your premium content.",
            ),
            Template::PaymentFailed => (
                "We could not renew your {product} subscription",
                "Hi {display_name},\n\n\
                 The payment for your {product} subscription did not go through. Please update \
                 your payment method in the store you subscribed with; your premium access \
                 continues for a few days while the store tries again.",
            ),
            Template::PasswordReset => (
                "Reset your fitpulse password",
                "Hi {display_name},\n\n\
                 Someone (hopefully you) asked to reset the password of your fitpulse account. \
                 Choose a new password here within {minutes} minutes:\n\n{link}\n\n\
                 The link works once. If you did not ask for this, ignore this email: your \
                 password stays as it is.",
            ),
            Template::VerifyEmail => (
                "Confirm your email for fitpulse",
                "Hi {display_name},\n\n\
                 Please confirm that this is your email address:\n\n{link}\n\n\
                 If you did not sign up for fitpulse, ignore this email.",
            ),
        }
    }

    /// Fills the placeholders from `fields` (extra fields are ignored).
    pub fn render(self, fields: &Map<String, Value>) -> Result<Rendered, RenderError> {
        let (subject, body) = self.text();
        Ok(Rendered {
            // A subject is one line, whatever a field holds.
            subject: fill(self, subject, fields)?
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
            body: fill(self, body, fields)? + SIGNATURE,
        })
    }
}

/// Replaces every `{name}` of `text` with the field `name`.
fn fill(
    template: Template,
    text: &'static str,
    fields: &Map<String, Value>,
) -> Result<String, RenderError> {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        // Template texts are ours and always close what they open.
        let close = open + rest[open..].find('}').expect("a closed placeholder");
        let name = &rest[open + 1..close];
        let value = fields.get(name).ok_or_else(|| RenderError::MissingField {
            template: template.as_str(),
            field: name.to_owned(),
        })?;
        match value {
            Value::String(text) => match chrono::DateTime::parse_from_rfc3339(text) {
                Ok(at) => out.push_str(&at.format("%-d %B %Y").to_string()),
                Err(_) => out.push_str(text),
            },
            Value::Number(number) => out.push_str(&number.to_string()),
            _ => return Err(RenderError::NotText(name.to_owned())),
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(value: Value) -> Map<String, Value> {
        value.as_object().expect("an object").clone()
    }

    #[test]
    fn every_template_renders_with_its_documented_fields() {
        let all = fields(json!({
            "display_name": "Ada", "product": "Premium monthly",
            "expires_on": "2026-03-01T09:30:00.000Z",
            "link": "https://app.example/verify-email?token=x", "minutes": 30
        }));
        for template in Template::ALL {
            let rendered = template.render(&all).expect("renders");
            assert!(!rendered.subject.contains('{'), "{rendered:?}");
            assert!(!rendered.body.contains('{'), "{rendered:?}");
            assert!(rendered.body.starts_with("Hi Ada,"), "{rendered:?}");
        }
    }

    #[test]
    fn names_round_trip_and_an_unknown_name_is_an_error() {
        for template in Template::ALL {
            assert_eq!(Template::parse(template.as_str()), Ok(template));
        }
        assert_eq!(
            Template::parse("newsletter"),
            Err(RenderError::UnknownTemplate("newsletter".into()))
        );
    }

    #[test]
    fn the_welcome_subject_names_the_user() {
        let rendered = Template::Welcome
            .render(&fields(json!({"display_name": "Ada"})))
            .expect("renders");
        assert_eq!(rendered.subject, "Welcome to fitpulse, Ada");
    }

    #[test]
    fn a_missing_field_names_the_template_and_the_field() {
        let err = Template::ExpiringSoon
            .render(&fields(
                json!({"display_name": "Ada", "product": "Premium"}),
            ))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "template `expiring_soon` needs the field `expires_on`"
        );
    }

    #[test]
    fn a_timestamp_field_reads_as_a_date() {
        let rendered = Template::ExpiringSoon
            .render(&fields(json!({
                "display_name": "Ada", "product": "Premium", "expires_on": "2026-03-01T09:30:00.000Z"
            })))
            .expect("renders");
        assert_eq!(
            rendered.subject,
            "Your Premium subscription ends on 1 March 2026"
        );
    }

    #[test]
    fn numbers_fill_in_and_objects_do_not() {
        let rendered = Template::PaymentFailed
            .render(&fields(json!({"display_name": "Ada", "product": 42})))
            .expect("renders");
        assert!(rendered.subject.contains("42"));
        let err = Template::Welcome
            .render(&fields(json!({"display_name": {"first": "Ada"}})))
            .unwrap_err();
        assert_eq!(err, RenderError::NotText("display_name".into()));
    }

    #[test]
    fn a_line_break_in_a_field_cannot_add_a_header_through_the_subject() {
        let rendered = Template::Welcome
            .render(&fields(
                json!({"display_name": "Ada\r\nBcc: x@example.com"}),
            ))
            .expect("renders");
        assert!(!rendered.subject.contains('\n') && !rendered.subject.contains('\r'));
    }
}
