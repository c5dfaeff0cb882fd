//! Live-class reads the routes share: how many members a class has, the same number
//! whichever node answers and whatever the class's phase (from the class where it runs,
//! from its results once it ended), and its roster pages.

use std::collections::HashMap;

use fitpulse_actors::domain::{
    ClassId, ClassPhase, ClassState, LiveClassRecord, UnixMillis, UserId,
};
use fitpulse_actors::live::{Live, LiveError, RosterAnswer};
use fitpulse_actors::ports::store::StoreError;
use serde::Deserialize;

use crate::store::Stores;

/// The part of stored results that counts members.
#[derive(Deserialize)]
struct ResultsCount {
    participants: usize,
}

/// Members of an ended class: everyone who took part, as its results say.
async fn took_part(stores: &Stores, class: ClassId) -> Result<usize, StoreError> {
    let results = stores.live.results(class).await?;
    Ok(results
        .and_then(|text| serde_json::from_str::<ResultsCount>(&text).ok())
        .map_or(0, |r| r.participants))
}

/// Members of each class: present now while it is open, everyone who took part once it
/// ended, none before it opens or after a cancel.
pub async fn participant_counts(
    stores: &Stores,
    live: &Live,
    classes: &[LiveClassRecord],
    now: UnixMillis,
    waiting_room_ms: i64,
) -> Result<HashMap<ClassId, usize>, StoreError> {
    let counts = classes.iter().map(|class| async move {
        let n = match class.phase(now, waiting_room_ms) {
            ClassPhase::WaitingRoom | ClassPhase::Live => live.participants(class.id).await,
            ClassPhase::Ended => took_part(stores, class.id).await?,
            ClassPhase::Scheduled | ClassPhase::Cancelled => 0,
        };
        Ok((class.id, n))
    });
    futures_util::future::try_join_all(counts)
        .await
        .map(|pairs| pairs.into_iter().collect())
}

/// A page of a class's roster as `viewer` sees it. A class that is not open has nobody
/// in it now; an ended one still says how many took part.
pub async fn roster(
    stores: &Stores,
    live: &Live,
    class: &LiveClassRecord,
    viewer: UserId,
    cursor: Option<String>,
    limit: usize,
) -> Result<RosterAnswer, RosterError> {
    let empty = |participants| RosterAnswer {
        participants,
        following_here: 0,
        entries: Vec::new(),
        next_cursor: None,
    };
    match class.state {
        ClassState::Ended => return Ok(empty(took_part(stores, class.id).await?)),
        ClassState::Cancelled => return Ok(empty(0)),
        ClassState::Scheduled | ClassState::Live => {}
    }
    match live.roster(class.id, viewer, cursor, limit).await {
        Ok(answer) => Ok(answer),
        // Not running anywhere: nobody has joined yet.
        Err(LiveError::NotFound) => Ok(empty(0)),
        Err(err) => Err(RosterError::Live(err)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Live(LiveError),
}
