//! A catalog workout's blocks as a live class's intervals (the `WorkoutBlocks` port): a
//! class scheduled with a `workout_id` runs its clock through them.

use std::sync::Arc;

use fitpulse_actors::domain::ItemRef;
use fitpulse_actors::events::data::live::IntervalPreview;
use fitpulse_actors::live::WorkoutBlocks;

use super::Content;
use super::items::Body;

/// Reads blocks from the catalog as it is when a class starts.
pub struct CatalogBlocks(pub Arc<Content>);

impl WorkoutBlocks for CatalogBlocks {
    fn blocks(&self, workout_id: &str) -> Option<Vec<IntervalPreview>> {
        let item = ItemRef::parse("workout", workout_id).ok()?;
        let entry = self.0.catalog.get_any(&item)?;
        let Body::Workout(workout) = &entry.item.body else {
            return None;
        };
        Some(
            workout
                .blocks
                .iter()
                .filter(|b| b.seconds > 0)
                .map(|b| IntervalPreview {
                    label: b.name.clone(),
                    seconds: b.seconds,
                })
                .collect(),
        )
    }
}
