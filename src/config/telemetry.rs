//! Traces: where spans are exported (OTLP over HTTP with protobuf bodies), which share of
//! new traces is kept, and extra headers for the collector. Off while no endpoint is set.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `telemetry.*`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub otlp: OtlpSettings,
}

/// How spans travel to the collector. Only OTLP/HTTP with protobuf bodies is built in: a
/// gRPC exporter would add a second HTTP/2 stack for what one POST a batch does as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OtlpProtocol {
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// `telemetry.otlp.*`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpSettings {
    /// The collector's base URL, such as `http://otel-collector:4318`; spans go to
    /// `{endpoint}/v1/traces`. Unset: no spans are recorded or exported.
    pub endpoint: Option<String>,
    pub protocol: OtlpProtocol,
    /// Share of new traces kept, 0 to 1. A request that arrives with a `traceparent` follows
    /// its caller's decision instead, so a trace is whole or absent.
    pub sample_ratio: f64,
    /// Headers sent with every export (a collector's API key, a tenant).
    pub headers: BTreeMap<String, String>,
    /// Bound on one export request.
    pub timeout_ms: u64,
}

impl Default for OtlpSettings {
    fn default() -> Self {
        OtlpSettings {
            endpoint: None,
            protocol: OtlpProtocol::HttpProtobuf,
            sample_ratio: 0.1,
            headers: BTreeMap::new(),
            timeout_ms: 10_000,
        }
    }
}

impl TelemetrySettings {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let otlp = &self.otlp;
        if let Some(endpoint) = &otlp.endpoint {
            let rest = endpoint
                .strip_prefix("http://")
                .or_else(|| endpoint.strip_prefix("https://"));
            if !rest.is_some_and(|host| !host.is_empty() && !host.contains(char::is_whitespace)) {
                return Err(ConfigError::invalid(
                    "telemetry.otlp.endpoint",
                    format!("`{endpoint}` is not a URL such as http://otel-collector:4318"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&otlp.sample_ratio) {
            return Err(ConfigError::invalid(
                "telemetry.otlp.sample_ratio",
                "between 0 and 1",
            ));
        }
        if !(100..=60_000).contains(&otlp.timeout_ms) {
            return Err(ConfigError::invalid(
                "telemetry.otlp.timeout_ms",
                "between 100 and 60000",
            ));
        }
        for (name, value) in &otlp.headers {
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(ConfigError::invalid(
                    "telemetry.otlp.headers",
                    format!("`{name}` is not a header name"),
                ));
            }
            if value.chars().any(|c| c.is_control()) {
                return Err(ConfigError::invalid(
                    "telemetry.otlp.headers",
                    format!("the value of `{name}` has control characters"),
                ));
            }
        }
        Ok(())
    }
}

/// The URL spans are posted to: the signal path appended to the base, as the OpenTelemetry
/// specification has it for `OTEL_EXPORTER_OTLP_ENDPOINT`.
pub fn traces_url(endpoint: &str) -> String {
    format!("{}/v1/traces", endpoint.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut OtlpSettings)) -> Result<(), ConfigError> {
        let mut settings = TelemetrySettings::default();
        f(&mut settings.otlp);
        settings.validate()
    }

    #[test]
    fn off_by_default_and_valid() {
        assert!(TelemetrySettings::default().otlp.endpoint.is_none());
        with(|_| {}).expect("defaults are valid");
    }

    #[test]
    fn refuses_what_cannot_be_an_export() {
        let key = |r: Result<(), ConfigError>| match r {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(
            key(with(|o| o.endpoint = Some("otel:4318".into()))),
            "telemetry.otlp.endpoint"
        );
        assert_eq!(
            key(with(|o| o.sample_ratio = 1.5)),
            "telemetry.otlp.sample_ratio"
        );
        assert_eq!(
            key(with(|o| {
                o.headers.insert("bad name".into(), "x".into());
            })),
            "telemetry.otlp.headers"
        );
        with(|o| {
            o.endpoint = Some("https://collector.example.com:4318/".into());
            o.headers.insert("x-api-key".into(), "k".into());
        })
        .expect("a plain endpoint with a header is valid");
    }

    #[test]
    fn the_traces_path_is_appended_once() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318/"),
            "http://127.0.0.1:4318/v1/traces"
        );
    }
}
