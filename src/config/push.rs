//! Push notifications: the APNs and FCM credentials, extra trusted roots, and the limits
//! of devices and batching. A provider is on when all of its credentials are set; half a
//! configuration stops the start naming the missing key.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Apple's production and development push environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApnsEnvironment {
    Production,
    Sandbox,
}

impl ApnsEnvironment {
    /// The provider API's host for this environment.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            ApnsEnvironment::Production => "https://api.push.apple.com",
            ApnsEnvironment::Sandbox => "https://api.sandbox.push.apple.com",
        }
    }
}

/// `push.*`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSettings {
    pub apns: ApnsSettings,
    pub fcm: FcmSettings,
    /// PEM certificates trusted besides the built-in web roots (tests, corporate proxies).
    pub ca_file: Option<PathBuf>,
    /// Devices kept per user; registering one more removes the least recently registered.
    pub max_devices_per_user: usize,
    /// Social pushes (comments, follows, likes) to one user are batched into at most one
    /// per this many seconds.
    pub social_batch_seconds: u64,
    /// Bound on one request to a provider (connect, TLS, answer).
    pub timeout_ms: u64,
    /// Pushes in flight at once while fanning a notification out to many devices.
    pub concurrency: usize,
    /// Devices read per page (and per outbox item) while fanning out to every device.
    pub fanout_page: usize,
}

/// `push.apns.*`: token-based authentication with a `.p8` signing key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsSettings {
    /// The 10-character team id from the developer account.
    pub team_id: Option<String>,
    /// The id of the signing key (`kid`).
    pub key_id: Option<String>,
    /// The `.p8` file (PKCS#8 PEM, P-256).
    pub key_file: Option<PathBuf>,
    /// The app's bundle id (`apns-topic`).
    pub topic: Option<String>,
    pub environment: ApnsEnvironment,
    /// Overrides the environment's host (`https://host:port`).
    pub endpoint: Option<String>,
}

/// `push.fcm.*`: FCM HTTP v1 with a service account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmSettings {
    pub project_id: Option<String>,
    /// The service account's JSON key (`client_email`, `private_key`, `token_uri`).
    pub service_account_file: Option<PathBuf>,
    /// Overrides `https://fcm.googleapis.com`.
    pub endpoint: Option<String>,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            apns: ApnsSettings {
                team_id: None,
                key_id: None,
                key_file: None,
                topic: None,
                environment: ApnsEnvironment::Production,
                endpoint: None,
            },
            fcm: FcmSettings {
                project_id: None,
                service_account_file: None,
                endpoint: None,
            },
            ca_file: None,
            max_devices_per_user: 20,
            social_batch_seconds: 600,
            timeout_ms: 10_000,
            concurrency: 64,
            fanout_page: 1_000,
        }
    }
}

/// The default FCM host.
pub const FCM_ENDPOINT: &str = "https://fcm.googleapis.com";

impl ApnsSettings {
    /// Whether APNs is configured (every credential set).
    pub fn enabled(&self) -> bool {
        self.team_id.is_some()
            && self.key_id.is_some()
            && self.key_file.is_some()
            && self.topic.is_some()
    }

    /// The host pushes go to.
    pub fn endpoint(&self) -> &str {
        self.endpoint
            .as_deref()
            .unwrap_or(self.environment.default_endpoint())
    }
}

impl FcmSettings {
    pub fn enabled(&self) -> bool {
        self.project_id.is_some() && self.service_account_file.is_some()
    }

    pub fn endpoint(&self) -> &str {
        self.endpoint.as_deref().unwrap_or(FCM_ENDPOINT)
    }
}

impl PushSettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let apns = &self.apns;
        let apns_keys = [
            ("push.apns.team_id", apns.team_id.is_some()),
            ("push.apns.key_id", apns.key_id.is_some()),
            ("push.apns.key_file", apns.key_file.is_some()),
            ("push.apns.topic", apns.topic.is_some()),
        ];
        if apns_keys.iter().any(|(_, set)| *set)
            && let Some((key, _)) = apns_keys.iter().find(|(_, set)| !*set)
        {
            return Err(ConfigError::invalid(
                key,
                "needed with the other push.apns credentials",
            ));
        }
        if let Some(team) = &apns.team_id
            && (team.len() != 10 || !team.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(ConfigError::invalid(
                "push.apns.team_id",
                "is 10 letters or digits",
            ));
        }
        if let Some(key) = &apns.key_id
            && (key.len() != 10 || !key.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(ConfigError::invalid(
                "push.apns.key_id",
                "is 10 letters or digits",
            ));
        }
        if let Some(topic) = &apns.topic
            && (topic.is_empty() || topic.len() > 255)
        {
            return Err(ConfigError::invalid("push.apns.topic", "is the bundle id"));
        }
        let fcm = &self.fcm;
        match (&fcm.project_id, &fcm.service_account_file) {
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "push.fcm.service_account_file",
                    "needed with push.fcm.project_id",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "push.fcm.project_id",
                    "needed with push.fcm.service_account_file",
                ));
            }
            _ => {}
        }
        if let Some(project) = &fcm.project_id
            && (project.is_empty()
                || project.len() > 100
                || !project
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':' || c == '.'))
        {
            return Err(ConfigError::invalid(
                "push.fcm.project_id",
                "is a Firebase project id",
            ));
        }
        for (key, endpoint) in [
            ("push.apns.endpoint", &apns.endpoint),
            ("push.fcm.endpoint", &fcm.endpoint),
        ] {
            if let Some(endpoint) = endpoint
                && !(endpoint.starts_with("https://") && endpoint.len() > "https://".len())
            {
                return Err(ConfigError::invalid(key, "is an https:// URL"));
            }
        }
        if !(1..=1_000).contains(&self.max_devices_per_user) {
            return Err(ConfigError::invalid(
                "push.max_devices_per_user",
                "must be 1 to 1000",
            ));
        }
        if self.timeout_ms < 100 {
            return Err(ConfigError::invalid(
                "push.timeout_ms",
                "must be at least 100",
            ));
        }
        if !(1..=4_096).contains(&self.concurrency) {
            return Err(ConfigError::invalid(
                "push.concurrency",
                "must be 1 to 4096",
            ));
        }
        if !(1..=10_000).contains(&self.fanout_page) {
            return Err(ConfigError::invalid(
                "push.fanout_page",
                "must be 1 to 10000",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn apns(settings: &mut Settings) {
        let apns = &mut settings.push.apns;
        apns.team_id = Some("ABCDE12345".into());
        apns.key_id = Some("KEYID12345".into());
        apns.key_file = Some("/keys/AuthKey.p8".into());
        apns.topic = Some("app.fitpulse".into());
    }

    fn refusal(settings: &Settings) -> String {
        settings.validate().expect_err("refused").to_string()
    }

    #[test]
    fn push_is_off_by_default_and_on_with_every_credential() {
        let mut settings = Settings::default();
        settings.validate().expect("valid");
        assert!(!settings.push.apns.enabled() && !settings.push.fcm.enabled());
        apns(&mut settings);
        settings.validate().expect("valid");
        assert!(settings.push.apns.enabled());
        assert_eq!(settings.push.apns.endpoint(), "https://api.push.apple.com");
        settings.push.apns.environment = ApnsEnvironment::Sandbox;
        assert_eq!(
            settings.push.apns.endpoint(),
            "https://api.sandbox.push.apple.com"
        );
    }

    #[test]
    fn half_a_provider_names_what_is_missing() {
        let mut settings = Settings::default();
        apns(&mut settings);
        settings.push.apns.topic = None;
        assert!(refusal(&settings).contains("push.apns.topic"));
        let mut settings = Settings::default();
        settings.push.fcm.project_id = Some("fitpulse-prod".into());
        assert!(refusal(&settings).contains("push.fcm.service_account_file"));
        let mut settings = Settings::default();
        apns(&mut settings);
        settings.push.apns.team_id = Some("short".into());
        assert!(refusal(&settings).contains("push.apns.team_id"));
        let mut settings = Settings::default();
        settings.push.fcm.endpoint = Some("http://fcm.example".into());
        assert!(refusal(&settings).contains("push.fcm.endpoint"));
    }

    #[test]
    fn a_provider_timeout_must_fit_inside_the_outbox_lease() {
        let mut settings = Settings::default();
        settings.outbox.lease_ms = 5_000;
        // Without a provider nothing is pushed, and nothing to check.
        settings.validate().expect("valid");
        apns(&mut settings);
        assert!(refusal(&settings).contains("push.timeout_ms"));
        settings.push.timeout_ms = 2_000;
        settings.validate().expect("valid");
    }
}
