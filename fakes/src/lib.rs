//! Fake push providers for tests and load runs: stand-ins for APNs and FCM on loopback that
//! check what the real services check, so a client that passes them speaks the real
//! protocol, and that can be told to fail the way the real ones fail.
//!
//! - [`ca`]: a throwaway certificate authority and a server certificate for `127.0.0.1` and
//!   `localhost`; its PEM is what the server under test trusts (`push.ca_file`).
//! - [`keys`]: the credentials the server is configured with: an APNs `.p8` key with its
//!   team and key ids, an RSA key for an FCM service account.
//! - [`server`]: HTTP/2 over TLS on a port of its own, one thread per fake, stopped on drop;
//!   it hands each request to a fake's handler and writes the answer back.
//! - [`script`]: what tests make the fakes do to one device token (unregister it, fail its
//!   next requests), and the bounded records of what they accepted.
//! - [`apns`]: [`FakeApns`], Apple's provider API: the provider token, the headers, the
//!   device token and the payload are checked as Apple does.
//! - [`fcm`]: [`FakeFcm`], Google's OAuth token endpoint for service accounts and the FCM
//!   HTTP v1 `messages:send`.
//!
//! Time: the fakes read it from a [`Now`] (the wall clock unless a test sets another), so a
//! test that drives the server's clock can drive the fakes' too.

pub mod apns;
pub mod ca;
pub mod fcm;
pub mod keys;
pub mod script;
pub mod server;

use std::sync::Arc;

pub use apns::{ApnsPush, FakeApns};
pub use ca::TestCa;
pub use fcm::{FakeFcm, FcmMessage};
pub use keys::{ApnsKey, RsaKey, apns_device_token};
pub use script::{Fault, Refusal};

/// Where a fake reads the time: milliseconds since the Unix epoch.
pub type Now = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A fake's clock: the wall clock until a test sets another.
pub(crate) struct Clock(std::sync::Mutex<Now>);

impl Clock {
    pub(crate) fn system() -> Clock {
        Clock(std::sync::Mutex::new(system_now()))
    }

    pub(crate) fn set(&self, now: impl Fn() -> i64 + Send + Sync + 'static) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(now);
    }

    /// Milliseconds since the Unix epoch.
    pub(crate) fn now(&self) -> i64 {
        let now = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        now()
    }
}

/// The wall clock.
pub fn system_now() -> Now {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    })
}
