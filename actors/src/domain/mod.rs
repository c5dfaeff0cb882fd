//! Domain types shared by the actors, the store ports and the HTTP edge.

mod content;
mod credentials;
mod email;
mod ids;
mod live;
mod profile;
mod role;
pub mod text;
pub mod time;
pub mod zone;

pub use content::{ContentKind, ItemRef, ItemRefError};
pub use credentials::{CredentialError, DeviceId, Password};
pub use email::{Email, EmailError};
pub use ids::UserId;
pub use live::{ClassId, ClassPhase, ClassState, LiveClassRecord};
pub use profile::{DisplayName, Locale, ProfileError, Units};
pub use role::Role;
pub use zone::{TimeZone, TimeZoneError, local_date, local_time, next_wall_time};

/// Milliseconds since the Unix epoch, the one timestamp representation of the core.
pub type UnixMillis = i64;

/// The current wall-clock time in [`UnixMillis`].
pub fn now_millis() -> UnixMillis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
