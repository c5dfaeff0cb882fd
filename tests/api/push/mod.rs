//! Push notifications: the APNs and FCM clients against fakes that check what Apple and
//! Google check.

mod providers;
