//! Layered configuration: built-in defaults, then an optional TOML file (`--config` or
//! `FITPULSE_CONFIG`), then `FITPULSE__SECTION__KEY` environment variables, later layers
//! winning. Loading either yields valid [`Settings`] or a [`ConfigError`] naming the key.

mod push;
mod secret;
mod settings;
mod telemetry;

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};

pub use push::{ApnsEnvironment, ApnsSettings, FcmSettings, PushSettings};
pub use secret::Secret;
pub use settings::{
    AppStoreEnvironment, AuthSettings, BusKind, BusSettings, ClientSettings, CommerceSettings,
    CommunitySettings, ContentSettings, CorsSettings, EmailSettings, HttpSettings, LiveSettings,
    LogFormat, LogSettings, MessageSettings, MetricsSettings, NatsSettings, OpsSettings,
    OutboxSettings, ScyllaSettings, Settings, ShutdownSettings, SmtpSettings, SocialSettings,
    StoreKind, StoreSettings, VerifiedAction, WsSettings,
};
pub use telemetry::{OtlpProtocol, OtlpSettings, TelemetrySettings, traces_url};

/// Prefix of every environment key; sections are separated by a double underscore.
pub const ENV_PREFIX: &str = "FITPULSE__";

/// Why the configuration could not be loaded. Every variant names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: `{key}` ({env}): {message}")]
    Invalid {
        key: String,
        env: String,
        message: String,
    },
    #[error("invalid configuration file {path}: {message}")]
    File { path: String, message: String },
}

impl ConfigError {
    /// An invalid value at the dotted `key` (for example `http.bind`).
    pub fn invalid(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.to_owned(),
            env: env_key(key),
            message: message.into(),
        }
    }
}

/// The environment variable that sets the dotted `key`: `http.bind` -> `FITPULSE__HTTP__BIND`.
pub fn env_key(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase())
}

impl Settings {
    /// Loads the layers from the process environment and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        Self::from_figment(Self::figment(file))
    }

    fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment.merge(Env::prefixed(ENV_PREFIX).split("__"))
    }

    fn from_figment(figment: Figment) -> Result<Settings, ConfigError> {
        let settings: Settings = figment.extract().map_err(from_figment_error)?;
        settings.validate()?;
        Ok(settings)
    }
}

fn from_figment_error(error: figment::Error) -> ConfigError {
    // A missing or unreadable file has no key path; report it against the file.
    if error.path.is_empty()
        && let figment::error::Kind::Message(message) = &error.kind
    {
        return ConfigError::File {
            path: error
                .metadata
                .as_ref()
                .and_then(|m| m.source.as_ref())
                .map(|s| s.to_string())
                .unwrap_or_else(|| "(config)".into()),
            message: message.clone(),
        };
    }
    // figment's path already ends in the offending field, unknown fields included.
    let key = error.path.join(".");
    ConfigError::invalid(&key, error.kind.to_string())
}

#[cfg(test)]
// figment's `Jail` closures return its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    /// Loads with exactly `pairs` set in a jailed environment (figment serializes jails).
    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut out = None;
        Jail::expect_with(|jail| {
            jail.clear_env();
            for (key, value) in pairs {
                jail.set_env(key, value);
            }
            out = Some(Settings::load(None));
            Ok(())
        });
        out.expect("the jail ran")
    }

    #[test]
    fn defaults_bind_loopback_8080_with_the_embedded_store_under_data() {
        let settings = load(&[]).expect("defaults are valid");
        assert_eq!(settings.http.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.store.kind, StoreKind::Embedded);
        assert_eq!(settings.data_dir, std::path::PathBuf::from("./data"));
        assert_eq!(settings.bus.kind, BusKind::Local);
        assert_eq!(settings.log.format, LogFormat::Pretty);
    }

    #[test]
    fn environment_keys_override_defaults() {
        let settings = load(&[
            ("FITPULSE__HTTP__BIND", "127.0.0.1:0"),
            ("FITPULSE__DATA_DIR", "/tmp/fp"),
            ("FITPULSE__LOG__FORMAT", "json"),
            ("FITPULSE__STORE__KIND", "scylla"),
            (
                "FITPULSE__STORE__SCYLLA__NODES",
                "10.0.0.1:9042, 10.0.0.2:9042",
            ),
            ("FITPULSE__STORE__SCYLLA__KEYSPACE", "fp_test"),
            ("FITPULSE__SHUTDOWN__GRACE_SECONDS", "5"),
            ("FITPULSE__CONTENT__PREMIUM_OFFERS", "gold,platinum"),
        ])
        .expect("valid overrides");
        assert_eq!(settings.content.premium_offers, ["gold", "platinum"]);
        assert_eq!(settings.http.bind.port(), 0);
        assert_eq!(settings.data_dir, std::path::PathBuf::from("/tmp/fp"));
        assert_eq!(settings.log.format, LogFormat::Json);
        assert_eq!(settings.store.kind, StoreKind::Scylla);
        assert_eq!(
            settings.store.scylla.nodes,
            vec!["10.0.0.1:9042".to_owned(), "10.0.0.2:9042".to_owned()]
        );
        assert_eq!(settings.store.scylla.keyspace, "fp_test");
        assert_eq!(settings.shutdown.grace_seconds, 5);
    }

    #[test]
    fn account_settings_take_comma_separated_lists_from_the_environment() {
        let settings = load(&[
            ("FITPULSE__AUTH__REQUIRE_VERIFIED_EMAIL_FOR", "post, order"),
            (
                "FITPULSE__AUTH__GOOGLE__CLIENT_IDS",
                "web.apps.googleusercontent.com,ios.apps.googleusercontent.com",
            ),
        ])
        .expect("valid overrides");
        assert_eq!(
            settings.auth.require_verified_email_for,
            [VerifiedAction::Post, VerifiedAction::Order]
        );
        assert_eq!(settings.auth.google.client_ids.len(), 2);
        assert!(settings.auth.google.enabled() && !settings.auth.apple.enabled());
        let text = load(&[("FITPULSE__AUTH__REQUIRE_VERIFIED_EMAIL_FOR", "post,fly")])
            .unwrap_err()
            .to_string();
        assert!(text.contains("fly"), "{text}");
    }

    #[test]
    fn cors_origins_are_plain_origins() {
        let settings = load(&[(
            "FITPULSE__HTTP__CORS__ALLOWED_ORIGINS",
            "https://app.example.com, http://127.0.0.1:5173",
        )])
        .expect("valid origins");
        assert_eq!(settings.http.cors.allowed_origins.len(), 2);
        for bad in [
            "https://app.example.com/",
            "*",
            "app.example.com",
            "https://*.example.com",
        ] {
            let text = load(&[("FITPULSE__HTTP__CORS__ALLOWED_ORIGINS", bad)])
                .unwrap_err()
                .to_string();
            assert!(text.contains("http.cors.allowed_origins"), "{bad}: {text}");
        }
    }

    #[test]
    fn an_unparseable_bind_address_names_the_key_and_its_variable() {
        let text = load(&[("FITPULSE__HTTP__BIND", "not-an-address")])
            .unwrap_err()
            .to_string();
        assert!(text.contains("`http.bind`"), "{text}");
        assert!(text.contains("FITPULSE__HTTP__BIND"), "{text}");
    }

    #[test]
    fn a_number_where_a_number_belongs_is_checked_for_type() {
        let text = load(&[("FITPULSE__SHUTDOWN__GRACE_SECONDS", "soon")])
            .unwrap_err()
            .to_string();
        assert!(text.contains("`shutdown.grace_seconds`"), "{text}");
    }

    #[test]
    fn an_unknown_store_kind_lists_the_accepted_values() {
        let text = load(&[("FITPULSE__STORE__KIND", "postgres")])
            .unwrap_err()
            .to_string();
        assert!(text.contains("`store.kind`"), "{text}");
        assert!(
            text.contains("embedded") && text.contains("scylla"),
            "{text}"
        );
    }

    #[test]
    fn a_misspelled_key_is_rejected_instead_of_ignored() {
        let text = load(&[("FITPULSE__HTTP__BIN", "127.0.0.1:1")])
            .unwrap_err()
            .to_string();
        assert!(text.contains("`http.bin`"), "{text}");
    }

    #[test]
    fn an_invalid_log_level_directive_is_rejected() {
        let text = load(&[("FITPULSE__LOG__LEVEL", "info,=[")])
            .unwrap_err()
            .to_string();
        assert!(text.contains("`log.level`"), "{text}");
    }

    #[test]
    fn a_keyspace_that_is_not_a_cql_identifier_is_rejected() {
        let text = load(&[("FITPULSE__STORE__SCYLLA__KEYSPACE", "drop table;")])
            .unwrap_err()
            .to_string();
        assert!(text.contains("`store.scylla.keyspace`"), "{text}");
    }

    #[test]
    fn background_feed_appends_in_flight_are_read_and_out_of_range_is_rejected() {
        let settings = load(&[(
            "FITPULSE__STORE__SCYLLA__BACKGROUND_APPENDS_IN_FLIGHT",
            "16",
        )])
        .expect("valid");
        assert_eq!(settings.store.scylla.background_appends_in_flight, 16);
        for bad in ["0", "100001"] {
            let text = load(&[("FITPULSE__STORE__SCYLLA__BACKGROUND_APPENDS_IN_FLIGHT", bad)])
                .unwrap_err()
                .to_string();
            assert!(
                text.contains("`store.scylla.background_appends_in_flight`"),
                "{text}"
            );
        }
    }

    #[test]
    fn the_file_layer_sits_between_defaults_and_environment() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "fitpulse.toml",
                "data_dir = \"/srv/fitpulse\"\n[http]\nbind = \"127.0.0.1:9000\"\n",
            )?;
            jail.set_env("FITPULSE__HTTP__BIND", "127.0.0.1:9001");
            let settings = Settings::load(Some(Path::new("fitpulse.toml"))).expect("valid layers");
            assert_eq!(settings.data_dir, std::path::PathBuf::from("/srv/fitpulse"));
            assert_eq!(settings.http.bind.port(), 9001);
            Ok(())
        });
    }

    #[test]
    fn the_outbox_and_email_defaults_log_emails_and_retry_eight_times() {
        let settings = load(&[]).expect("defaults are valid");
        assert_eq!(settings.outbox.poll_interval_ms, 500);
        assert_eq!(settings.outbox.batch, 50);
        assert_eq!(settings.outbox.lease_ms, 60_000);
        assert_eq!(settings.outbox.max_attempts, 8);
        assert_eq!(settings.outbox.backoff_base_ms, 1_000);
        assert_eq!(settings.outbox.backoff_max_ms, 300_000);
        assert_eq!(settings.email.smtp_host(), None);
    }

    #[test]
    fn smtp_settings_come_from_the_environment_and_the_password_never_prints() {
        let settings = load(&[
            ("FITPULSE__EMAIL__FROM", "Coach <coach@example.com>"),
            ("FITPULSE__EMAIL__SMTP__HOST", "mail.internal"),
            ("FITPULSE__EMAIL__SMTP__PORT", "2525"),
            ("FITPULSE__EMAIL__SMTP__USERNAME", "fitpulse"),
            ("FITPULSE__EMAIL__SMTP__PASSWORD", "hunter2-smtp"),
        ])
        .expect("valid email settings");
        assert_eq!(settings.email.smtp_host(), Some("mail.internal"));
        assert_eq!(settings.email.smtp.port, 2525);
        assert!(!format!("{settings:?}").contains("hunter2-smtp"));
        // An empty host is the same as none: emails go to the log.
        let settings = load(&[("FITPULSE__EMAIL__SMTP__HOST", "")]).expect("valid");
        assert_eq!(settings.email.smtp_host(), None);
    }

    #[test]
    fn the_census_and_the_dependency_probe_run_each_minute_and_every_five_seconds_within_bounds() {
        let settings = load(&[]).expect("defaults are valid");
        assert_eq!(settings.metrics.business_refresh_seconds, 60);
        assert_eq!(settings.ops.dependency_probe_seconds, 5);
        let settings = load(&[
            ("FITPULSE__METRICS__BUSINESS_REFRESH_SECONDS", "300"),
            ("FITPULSE__OPS__DEPENDENCY_PROBE_SECONDS", "1"),
        ])
        .expect("valid");
        assert_eq!(
            (
                settings.metrics.business_refresh_seconds,
                settings.ops.dependency_probe_seconds
            ),
            (300, 1)
        );
        for (pair, key) in [
            (
                ("FITPULSE__METRICS__BUSINESS_REFRESH_SECONDS", "0"),
                "`metrics.business_refresh_seconds`",
            ),
            (
                ("FITPULSE__OPS__DEPENDENCY_PROBE_SECONDS", "0"),
                "`ops.dependency_probe_seconds`",
            ),
            (
                ("FITPULSE__OPS__DEPENDENCY_PROBE_SECONDS", "301"),
                "`ops.dependency_probe_seconds`",
            ),
        ] {
            let text = load(&[pair]).unwrap_err().to_string();
            assert!(text.contains(key), "{key}: {text}");
        }
    }

    #[test]
    fn bad_outbox_and_email_values_name_their_key() {
        for (pairs, key) in [
            (
                vec![("FITPULSE__OUTBOX__BACKOFF_MAX_MS", "10")],
                "`outbox.backoff_max_ms`",
            ),
            (vec![("FITPULSE__OUTBOX__BATCH", "0")], "`outbox.batch`"),
            (
                vec![("FITPULSE__OUTBOX__MAX_ATTEMPTS", "0")],
                "`outbox.max_attempts`",
            ),
            (
                vec![("FITPULSE__OUTBOX__LEASE_MS", "10")],
                "`outbox.lease_ms`",
            ),
            (
                vec![("FITPULSE__EMAIL__FROM", "not an address")],
                "`email.from`",
            ),
            (
                vec![("FITPULSE__EMAIL__SMTP__USERNAME", "fitpulse")],
                "`email.smtp.username`",
            ),
            (vec![("FITPULSE__OUTBOX__RETRIES", "3")], "`outbox.retries`"),
        ] {
            let text = load(&pairs).unwrap_err().to_string();
            assert!(text.contains(key), "{key}: {text}");
        }
    }

    #[test]
    fn an_empty_or_short_webhook_secret_stops_the_start_naming_its_key() {
        for (env, key) in [
            (
                "FITPULSE__COMMERCE__PAYMENTS_SECRET",
                "`commerce.payments_secret`",
            ),
            (
                "FITPULSE__COMMERCE__GOOGLEPLAY_PUSH_TOKEN",
                "`commerce.googleplay_push_token`",
            ),
        ] {
            for weak in ["", "   ", "short-secret"] {
                let text = load(&[(env, weak)]).unwrap_err().to_string();
                assert!(text.contains(key), "{env}={weak:?}: {text}");
            }
            assert!(load(&[(env, "a-long-enough-secret")]).is_ok());
        }
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("weak.toml", "[commerce]\npayments_secret = \"\"\n")?;
            let err = Settings::load(Some(Path::new("weak.toml"))).unwrap_err();
            assert!(
                err.to_string().contains("`commerce.payments_secret`"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn message_counts_flush_every_second_unless_told_and_within_bounds() {
        assert_eq!(load(&[]).expect("defaults").messages.stats_flush_ms, 1000);
        let set = load(&[("FITPULSE__MESSAGES__STATS_FLUSH_MS", "250")]).expect("valid");
        assert_eq!(set.messages.stats_flush_ms, 250);
        for bad in ["0", "9", "60001"] {
            let text = load(&[("FITPULSE__MESSAGES__STATS_FLUSH_MS", bad)])
                .unwrap_err()
                .to_string();
            assert!(text.contains("`messages.stats_flush_ms`"), "{bad}: {text}");
        }
    }

    #[test]
    fn a_missing_config_file_is_an_error_not_silently_defaults() {
        let err = Settings::load(Some(Path::new("/nonexistent/fp.toml")));
        assert!(matches!(err, Err(ConfigError::File { .. })), "{err:?}");
    }
}
