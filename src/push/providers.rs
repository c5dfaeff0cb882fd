//! The providers this node pushes through, from `push.*`: APNs for iOS devices and FCM
//! for Android ones, each only when configured. A credential that cannot be read stops
//! the start (see [`PushSetupError`]).

use std::sync::Arc;

use fitpulse_actors::ports::clock::SharedClock;

use super::sender::Providers;
use super::{ApnsProvider, FcmProvider, PushSetupError};
use crate::config::PushSettings;
use crate::metrics::Metrics;

pub fn from_settings(
    settings: &PushSettings,
    clock: &SharedClock,
    metrics: &Metrics,
) -> Result<Providers, PushSetupError> {
    let apns = ApnsProvider::from_settings(settings, clock.clone(), metrics.push.clone())?;
    let fcm = FcmProvider::from_settings(settings, clock.clone(), metrics.push.clone())?;
    let providers = Providers {
        apns: apns.map(|p| Arc::new(p) as Arc<dyn super::PushProvider>),
        fcm: fcm.map(|p| Arc::new(p) as Arc<dyn super::PushProvider>),
    };
    tracing::info!(
        apns = providers.apns.is_some(),
        fcm = providers.fcm.is_some(),
        "push providers"
    );
    Ok(providers)
}
