//! Keeping every node's catalog read model current in a cluster: a node that stores an
//! edited item or counts a like announces it on `fitpulse.content` (JSON), and the others
//! apply it to their read model (the item is already in the shared store). A node that
//! missed announcements (the bus was down) catches up at its next start.

use std::sync::Arc;

use fitpulse_actors::domain::ItemRef;
use fitpulse_actors::ports::bus::{Bus, BusError};
use serde::{Deserialize, Serialize};

use super::Content;
use super::items::Item;
use crate::bus::announce::Announcer;

const SUBJECT: &str = "fitpulse.content";

#[derive(Debug, Serialize, Deserialize)]
enum Change {
    Item(Box<Item>),
    Like { item: String, liked: bool },
}

impl Content {
    /// Applies other nodes' catalog changes from now on, and announces this node's.
    pub async fn join_cluster(
        self: &Arc<Self>,
        bus: Arc<dyn Bus>,
        node: &str,
    ) -> Result<(), BusError> {
        let content = self.clone();
        let announcer =
            Announcer::listen(bus, node, SUBJECT, move |body| {
                match serde_json::from_str::<Change>(body) {
                    Ok(change) => content.apply(change),
                    Err(err) => tracing::warn!(error = %err, "malformed catalog announcement"),
                }
            })
            .await?;
        let _ = self.sync.set(announcer);
        Ok(())
    }

    fn apply(&self, change: Change) {
        match change {
            Change::Item(item) => self.catalog.serve_stored(vec![*item]),
            Change::Like { item, liked } => match item.split_once('/') {
                Some((kind, id)) => match ItemRef::parse(kind, id) {
                    Ok(item) => self.catalog.count_like(&item, liked),
                    Err(_) => tracing::warn!(item, "a like announced for a malformed item"),
                },
                None => tracing::warn!(item, "a like announced for a malformed item"),
            },
        }
    }

    fn announce(&self, change: Change) {
        if let Some(announcer) = self.sync.get() {
            announcer.announce(&serde_json::to_string(&change).expect("a change serializes"));
        }
    }

    /// Tells the other nodes an item was stored.
    pub fn announce_item(&self, item: &Item) {
        if self.sync.get().is_some() {
            self.announce(Change::Item(Box::new(item.clone())));
        }
    }

    /// Counts a like here and on the other nodes.
    pub fn count_like(&self, item: &ItemRef, liked: bool) {
        self.catalog.count_like(item, liked);
        self.announce(Change::Like {
            item: item.to_string(),
            liked,
        });
    }
}
