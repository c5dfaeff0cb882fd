//! The catalog's in-memory read model: every item, its rendered JSON (preview and full,
//! rendered once per edit), its like count, and a version that changes with anything a
//! read could show, used for `ETag`s. Reads never touch the store; editors write through
//! to the store first and then swap the item in.
//!
//! Each node loads the whole catalog at start and applies its own edits and likes; edits
//! and likes made on other nodes reach it on restart (or through the cluster bus once
//! nodes share one).

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use fitpulse_actors::domain::{ContentKind, ItemRef};
use fitpulse_actors::ports::store::{ContentRecord, ContentStore, LikeStore, StoreError};
use futures_util::StreamExt;

use super::items::Item;
use super::search;
use super::views::{ItemPreview, ItemView, PremiumPart};

/// One item with everything a read needs, ready to serve.
pub struct Entry {
    pub item: Item,
    pub item_ref: ItemRef,
    /// Lower-case title words, for search.
    pub words: Vec<String>,
    /// Rendered objects without their opening `{` and without `likes`, which is spliced in
    /// per answer so a like does not re-render anything.
    preview_tail: String,
    full_tail: String,
    /// The stored count plus every change the store reported since. Signed: an unlike's
    /// -1 may be applied before its like's +1 (their store writes ran in that order, the
    /// counting did not), and clamping at zero then would lose the -1 for good.
    likes: AtomicI64,
}

impl Entry {
    fn new(item: Item, likes: u64) -> Entry {
        let item_ref = ItemRef::parse(item.body.kind().as_str(), &item.id)
            .expect("catalog ids are validated before they are stored");
        // Rendered once; the live like count goes in front (`Liked`) on every answer.
        let full = ItemView {
            preview: ItemPreview::of(&item),
            premium_part: PremiumPart::of(&item.body),
        };
        Entry {
            words: search::words(&item.meta.title),
            preview_tail: tail(&full.preview),
            full_tail: tail(&full),
            likes: AtomicI64::new(i64::try_from(likes).unwrap_or(i64::MAX)),
            item_ref,
            item,
        }
    }

    pub fn kind(&self) -> ContentKind {
        self.item.body.kind()
    }

    pub fn likes(&self) -> u64 {
        // Below zero only for the instant described above.
        self.likes.load(Ordering::Relaxed).max(0) as u64
    }

    /// The list view: everything but the premium part.
    pub fn preview_json(&self) -> String {
        format!(r#"{{"likes":{},{}"#, self.likes(), self.preview_tail)
    }

    /// The whole item, premium part included.
    pub fn full_json(&self) -> String {
        format!(r#"{{"likes":{},{}"#, self.likes(), self.full_tail)
    }
}

/// A JSON object without its opening brace, to follow `{"likes":N,`.
fn tail(view: &impl serde::Serialize) -> String {
    // Views of strings, numbers and lists always serialize, as an object.
    let text = serde_json::to_string(view).expect("a catalog view serializes");
    text[1..].to_owned()
}

/// The read model. Cheap to share (`Arc<Catalog>`).
pub struct Catalog {
    items: RwLock<HashMap<ItemRef, Arc<Entry>>>,
    version: AtomicU64,
    /// Changes with items (not their like counts): what renderings of items depend on.
    edits: AtomicU64,
    store: Arc<dyn ContentStore>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("a stored catalog item cannot be read: {item}")]
    Corrupt {
        item: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Catalog {
    /// Loads every stored item and its like count.
    pub async fn load(
        store: Arc<dyn ContentStore>,
        likes: Arc<dyn LikeStore>,
    ) -> Result<Catalog, CatalogError> {
        let records = store.all_content().await?;
        let mut items = Vec::with_capacity(records.len());
        for record in records {
            let item: Item =
                serde_json::from_str(&record.doc).map_err(|source| CatalogError::Corrupt {
                    item: record.item.to_string(),
                    source,
                })?;
            items.push((record.item, item));
        }
        // Counts are read a few at a time: one query each, and a catalog is small.
        let counts: Vec<Result<u64, StoreError>> = futures_util::stream::iter(&items)
            .map(|(item_ref, _)| likes.like_count(item_ref))
            .buffered(16)
            .collect()
            .await;
        let mut map = HashMap::with_capacity(items.len());
        for ((item_ref, item), count) in items.into_iter().zip(counts) {
            map.insert(item_ref, Arc::new(Entry::new(item, count?)));
        }
        Ok(Catalog {
            items: RwLock::new(map),
            version: AtomicU64::new(1),
            edits: AtomicU64::new(1),
            store,
        })
    }

    /// Changes whenever anything a catalog read shows changes.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// A version that changes when items change, but not with like counts: plan weeks and
    /// other renderings of titles, images and figures are good until it moves.
    pub fn edits(&self) -> u64 {
        self.edits.load(Ordering::Acquire)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ItemRef, Arc<Entry>>> {
        // A panic while holding the lock cannot leave the map half-changed (inserts are
        // single operations), so a poisoned lock is still good to read.
        self.items.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A published item.
    pub fn get(&self, item: &ItemRef) -> Option<Arc<Entry>> {
        self.get_any(item).filter(|e| e.item.published)
    }

    /// An item, published or not (editors see both).
    pub fn get_any(&self, item: &ItemRef) -> Option<Arc<Entry>> {
        self.read().get(item).cloned()
    }

    /// Every published item of `kind`, in no order.
    pub fn published(&self, kind: ContentKind) -> Vec<Arc<Entry>> {
        self.read()
            .values()
            .filter(|e| e.kind() == kind && e.item.published)
            .cloned()
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// Stores the item, then serves it. Answers whether it was newly published (created,
    /// or published again after being unpublished), which is what apps are told about.
    pub async fn put(&self, item: Item) -> Result<bool, CatalogError> {
        Ok(self.put_all(vec![item]).await?[0])
    }

    /// Stores the items in one write, then serves them; see [`Catalog::put`].
    pub async fn put_all(&self, items: Vec<Item>) -> Result<Vec<bool>, CatalogError> {
        let entries: Vec<Entry> = items.into_iter().map(|item| Entry::new(item, 0)).collect();
        let records: Vec<ContentRecord> = entries
            .iter()
            .map(|entry| ContentRecord {
                item: entry.item_ref.clone(),
                doc: serde_json::to_string(&entry.item).expect("an item serializes"),
                updated_at: entry.item.updated_at,
            })
            .collect();
        self.store.put_content(&records).await?;
        Ok(self.serve(entries))
    }

    /// Serves items another node stored (announced on the cluster bus).
    pub fn serve_stored(&self, items: Vec<Item>) {
        self.serve(items.into_iter().map(|item| Entry::new(item, 0)).collect());
    }

    /// Puts entries in the read model, keeping like counts; answers which are newly
    /// published.
    fn serve(&self, entries: Vec<Entry>) -> Vec<bool> {
        let mut items = self.items.write().unwrap_or_else(|p| p.into_inner());
        let mut newly_published = Vec::with_capacity(entries.len());
        for entry in entries {
            let previous = items.get(&entry.item_ref);
            newly_published
                .push(entry.item.published && previous.is_none_or(|p| !p.item.published));
            if let Some(previous) = previous {
                entry
                    .likes
                    .store(previous.likes.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            items.insert(entry.item_ref.clone(), Arc::new(entry));
        }
        drop(items);
        self.edits.fetch_add(1, Ordering::AcqRel);
        self.version.fetch_add(1, Ordering::AcqRel);
        newly_published
    }

    /// Applies a like (+1) or unlike (-1) that the like store confirmed changed something.
    pub fn count_like(&self, item: &ItemRef, liked: bool) {
        if let Some(entry) = self.get_any(item) {
            entry
                .likes
                .fetch_add(if liked { 1 } else { -1 }, Ordering::Relaxed);
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }
}
