//! A bus for unit tests that keeps what is published, per subject, in order, and answers
//! nothing else.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use crate::ports::bus::{Bus, BusError, BusSubscription};

/// What was published, and the largest message it takes.
pub struct RecordingBus(pub Mutex<Vec<(String, Bytes)>>, pub usize);

impl Default for RecordingBus {
    fn default() -> Self {
        RecordingBus(Mutex::new(Vec::new()), usize::MAX)
    }
}

impl RecordingBus {
    /// Everything published so far, as (subject, payload).
    pub fn published(&self) -> Vec<(String, Bytes)> {
        self.0.lock().expect("lock").clone()
    }
}

#[async_trait::async_trait]
impl Bus for RecordingBus {
    fn publish(&self, subject: &str, payload: Bytes) -> Result<(), BusError> {
        let mut published = self.0.lock().expect("lock");
        published.push((subject.to_owned(), payload));
        Ok(())
    }
    async fn request(&self, _: &str, _: Bytes, _: Duration) -> Result<Bytes, BusError> {
        Err(BusError::NoResponders)
    }
    async fn subscribe(&self, _: &str) -> Result<BusSubscription, BusError> {
        Err(BusError::Failed("not in this test".into()))
    }
    fn connected(&self) -> bool {
        true
    }
    fn max_payload(&self) -> usize {
        self.1
    }
    async fn reconnected(&self) {}
}
