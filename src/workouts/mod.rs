//! Members' finished workouts and personal records: the history a page at a time, newest
//! first, and the bests per catalog workout. The HTTP edge parses the paging inputs
//! ([`paging`]), calls [`Workouts`] and renders; the streak of check-ins counts workout
//! days through [`days`].
//!
//! - [`paging`]: the opaque history cursor and the page size bounds.
//! - [`days`]: the local days a member finished a workout on.

pub mod days;
pub mod paging;

use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::store::StoreError;
use fitpulse_actors::ports::workouts::{PersonalRecord, WorkoutRecord};

use crate::store::Stores;
pub use paging::{BadCursor, BadLimit, HistoryCursor, HistoryLimit};

/// Why a workouts call failed; the HTTP edge maps it into the API catalogue.
#[derive(Debug, thiserror::Error)]
pub enum WorkoutsError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of a member's history, and where the next one starts (none on the last).
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub items: Vec<WorkoutRecord>,
    pub next: Option<HistoryCursor>,
}

/// The workouts service.
pub struct Workouts {
    stores: Stores,
}

impl Workouts {
    pub fn new(stores: Stores) -> Workouts {
        Workouts { stores }
    }

    /// `user`'s workouts after `cursor`, newest first, `limit` of them.
    #[tracing::instrument(skip(self, cursor), fields(limit = limit.get()))]
    pub async fn history(
        &self,
        user: UserId,
        cursor: Option<HistoryCursor>,
        limit: HistoryLimit,
    ) -> Result<HistoryPage, WorkoutsError> {
        let limit = limit.get();
        // One more than the page tells whether another page follows, so the last page
        // says so instead of leaving the client an empty page to fetch.
        let mut items = self
            .stores
            .workouts
            .workouts(user, cursor.map(|c| c.position()), limit + 1)
            .await?;
        let more = items.len() > limit;
        items.truncate(limit);
        let next = more
            .then(|| items.last().map(HistoryCursor::after))
            .flatten();
        Ok(HistoryPage { items, next })
    }

    /// `user`'s bests on every workout they reported on, by workout id.
    #[tracing::instrument(skip(self))]
    pub async fn records(&self, user: UserId) -> Result<Vec<PersonalRecord>, WorkoutsError> {
        let mut records = self.stores.workouts.personal_records(user).await?;
        records.sort_by(|a, b| a.workout_id.cmp(&b.workout_id));
        Ok(records)
    }
}
