//! Keeping every node's catalog read model current in a cluster: a node that stores an
//! edited item or counts a like announces it on `fitpulse.content`, and the others apply
//! it to their read model (the item is already in the shared store). A node that missed
//! announcements (the bus was down) catches up at its next start.

use std::sync::Arc;

use fitpulse_actors::domain::ItemRef;
use fitpulse_actors::ports::bus::{Bus, BusError};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::Content;
use super::items::Item;

const SUBJECT: &str = "fitpulse.content";

#[derive(Debug, Serialize, Deserialize)]
enum Change {
    Item(Box<Item>),
    Like { item: String, liked: bool },
}

#[derive(Debug, Serialize, Deserialize)]
struct Announcement {
    origin: String,
    change: Change,
}

/// The bus and this node's id, once the node joined a cluster.
pub struct CatalogSync {
    bus: Arc<dyn Bus>,
    node: String,
}

impl CatalogSync {
    fn announce(&self, change: Change) {
        let announcement = Announcement {
            origin: self.node.clone(),
            change,
        };
        let bytes = serde_json::to_vec(&announcement).expect("an announcement serializes");
        if let Err(err) = self.bus.publish(SUBJECT, bytes.into()) {
            tracing::warn!(error = %err, "cannot announce a catalog change to the other nodes");
        }
    }
}

impl Content {
    /// Applies other nodes' catalog changes from now on, and announces this node's.
    pub async fn join_cluster(
        self: &Arc<Self>,
        bus: Arc<dyn Bus>,
        node: &str,
    ) -> Result<(), BusError> {
        let mut announcements = bus.subscribe(SUBJECT).await?;
        let _ = self.sync.set(CatalogSync {
            bus,
            node: node.to_owned(),
        });
        let (content, me) = (self.clone(), node.to_owned());
        tokio::spawn(async move {
            while let Some(message) = announcements.next().await {
                match serde_json::from_slice::<Announcement>(&message.payload) {
                    Ok(announcement) if announcement.origin != me => {
                        content.apply(announcement.change)
                    }
                    Ok(_) => {}
                    Err(err) => tracing::warn!(error = %err, "malformed catalog announcement"),
                }
            }
        });
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

    /// Tells the other nodes an item was stored.
    pub fn announce_item(&self, item: &Item) {
        if let Some(sync) = self.sync.get() {
            sync.announce(Change::Item(Box::new(item.clone())));
        }
    }

    /// Counts a like here and on the other nodes.
    pub fn count_like(&self, item: &ItemRef, liked: bool) {
        self.catalog.count_like(item, liked);
        if let Some(sync) = self.sync.get() {
            sync.announce(Change::Like {
                item: item.to_string(),
                liked,
            });
        }
    }
}
