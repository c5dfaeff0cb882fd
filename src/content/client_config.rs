//! Client configuration: feature flags, supported versions and settings per platform,
//! edited by admins as one document and answered per `platform` and `app_version`.
//!
//! A feature is on for a client when it is enabled, the client's platform is among its
//! platforms (all when none are listed), and the app is at least its `min_version`.
//! A client below its platform's `min_version` must update (`force_update`).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The setting name the document is stored under.
pub const SETTING: &str = "client_config";

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Ios,
    Android,
    Web,
}

impl Platform {
    pub fn parse(raw: &str) -> Option<Platform> {
        match raw {
            "ios" => Some(Platform::Ios),
            "android" => Some(Platform::Android),
            "web" => Some(Platform::Web),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "ios",
            Platform::Android => "android",
            Platform::Web => "web",
        }
    }
}

/// `MAJOR[.MINOR[.PATCH]]`, compared numerically (`1.10.0` > `1.9.3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
#[schemars(with = "String", description = "`MAJOR[.MINOR[.PATCH]]`, like 1.9.3")]
pub struct Version([u32; 3]);

impl Version {
    pub fn parse(raw: &str) -> Option<Version> {
        let mut parts = [0u32; 3];
        let mut count = 0;
        for (i, part) in raw.split('.').enumerate() {
            if i >= 3
                || part.is_empty()
                || part.len() > 9
                || !part.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            parts[i] = part.parse().ok()?;
            count += 1;
        }
        (count > 0).then_some(Version(parts))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0[0], self.0[1], self.0[2])
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Version::parse(&raw)
            .ok_or_else(|| serde::de::Error::custom(format!("`{raw}` is not a version like 1.9.3")))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlatformConfig {
    pub min_version: Version,
    pub latest_version: Version,
    #[serde(default)]
    pub store_url: Option<String>,
    /// Overrides of the shared settings for this platform.
    #[serde(default)]
    pub settings: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Feature {
    pub enabled: bool,
    #[serde(default)]
    pub platforms: Vec<Platform>,
    #[serde(default)]
    pub min_version: Option<Version>,
}

/// The whole document, as admins edit it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub platforms: BTreeMap<Platform, PlatformConfig>,
    #[serde(default)]
    pub features: BTreeMap<String, Feature>,
    #[serde(default)]
    pub settings: Map<String, Value>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("platform `{0}` has min_version above latest_version")]
    MinAboveLatest(&'static str),
    #[error("feature names are 1-64 characters of a-z, 0-9 and _")]
    FeatureName,
    #[error("no configuration for platform `{0}`")]
    UnknownPlatform(String),
}

impl Default for ClientConfig {
    fn default() -> Self {
        let platform = |store_url: &str| PlatformConfig {
            min_version: Version([1, 0, 0]),
            latest_version: Version([1, 0, 0]),
            store_url: Some(store_url.to_owned()),
            settings: Map::new(),
        };
        let on = Feature {
            enabled: true,
            platforms: Vec::new(),
            min_version: None,
        };
        ClientConfig {
            platforms: BTreeMap::from([
                (
                    Platform::Ios,
                    platform("https://apps.apple.com/app/fitpulse"),
                ),
                (
                    Platform::Android,
                    platform("https://play.google.com/store/apps/details?id=app.fitpulse"),
                ),
                (Platform::Web, platform("https://fitpulse.app")),
            ]),
            features: BTreeMap::from([
                ("live_classes".to_owned(), on.clone()),
                ("shopping_list".to_owned(), on.clone()),
                ("community".to_owned(), on),
            ]),
            settings: Map::from_iter([
                ("catalog_page_size".to_owned(), json!(20)),
                ("socket_ping_seconds".to_owned(), json!(30)),
            ]),
        }
    }
}

/// The configuration one app build sees (`GET /v1/config`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct AppConfig {
    pub platform: &'static str,
    pub app_version: Version,
    pub min_version: Version,
    pub latest_version: Version,
    /// The build is below `min_version`: the app must update to go on.
    pub force_update: bool,
    pub update_available: bool,
    pub store_url: Option<String>,
    /// Each feature, on or off for this build.
    pub features: BTreeMap<String, bool>,
    /// The shared settings with this platform's overrides.
    pub settings: Map<String, Value>,
}

impl ClientConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (platform, config) in &self.platforms {
            if config.min_version > config.latest_version {
                return Err(ConfigError::MinAboveLatest(platform.as_str()));
            }
        }
        let name_ok = |n: &str| {
            (1..=64).contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !self.features.keys().all(|n| name_ok(n)) {
            return Err(ConfigError::FeatureName);
        }
        Ok(())
    }

    /// What one client sees.
    pub fn for_client(
        &self,
        platform: Platform,
        version: Version,
    ) -> Result<AppConfig, ConfigError> {
        let config = self
            .platforms
            .get(&platform)
            .ok_or_else(|| ConfigError::UnknownPlatform(platform.as_str().into()))?;
        let features = self
            .features
            .iter()
            .map(|(name, f)| {
                let on = f.enabled
                    && (f.platforms.is_empty() || f.platforms.contains(&platform))
                    && f.min_version.is_none_or(|min| version >= min);
                (name.clone(), on)
            })
            .collect();
        let mut settings = self.settings.clone();
        settings.extend(config.settings.clone());
        Ok(AppConfig {
            platform: platform.as_str(),
            app_version: version,
            min_version: config.min_version,
            latest_version: config.latest_version,
            force_update: version.cmp(&config.min_version) == Ordering::Less,
            update_available: version < config.latest_version,
            store_url: config.store_url.clone(),
            features,
            settings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        let v = |s| Version::parse(s).expect("valid");
        assert!(v("1.10.0") > v("1.9.3"));
        assert_eq!(v("2"), v("2.0.0"));
        for bad in ["", "1..2", "v1.2", "1.2.3.4", "1.-2"] {
            assert_eq!(Version::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_client_gets_its_platform_features_and_update_flags() {
        let mut config = ClientConfig::default();
        let ios = config.platforms.get_mut(&Platform::Ios).expect("ios");
        ios.min_version = Version::parse("1.8").expect("valid");
        ios.latest_version = Version::parse("2.0").expect("valid");
        ios.settings.insert("catalog_page_size".into(), json!(30));
        config.features.insert(
            "drops".into(),
            Feature {
                enabled: true,
                platforms: vec![Platform::Ios],
                min_version: Version::parse("1.9.5"),
            },
        );
        let old = config
            .for_client(Platform::Ios, Version::parse("1.7.9").expect("v"))
            .expect("ios");
        assert!(old.force_update);
        assert!(!old.features["drops"]);
        assert_eq!(old.settings["catalog_page_size"], 30);
        let new = config
            .for_client(Platform::Ios, Version::parse("1.10").expect("v"))
            .expect("ios");
        assert!(!new.force_update);
        assert!(new.update_available);
        assert!(new.features["drops"]);
        let android = config
            .for_client(Platform::Android, Version::parse("1.10").expect("v"))
            .expect("android");
        assert!(!android.features["drops"]);
        assert_eq!(android.settings["catalog_page_size"], 20);
    }
}
