//! The `data` of frames the server sends, as types. Producers build these, never loose
//! JSON, and each type names its event kind ([`EventData`]), so a frame's kind and shape
//! cannot disagree. Their JSON Schemas make the socket's AsyncAPI document: [`catalogue`]
//! lists the frames this crate produces; the server adds those of its own services.

pub mod live;
pub mod session;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Serialize;

use super::{EventKind, Frame, notice_frame};
use crate::domain::UnixMillis;

/// How frames of a kind are sequenced (docs/protocol.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sequencing {
    /// An event of the user's feed: `seq`, replayed on resume.
    Feed,
    /// A class event: `class_seq` and `class_id` for a participant's socket; an event of
    /// the feed (`seq`) for a member who reminded themselves and is not in the class.
    Class,
    /// A notice: no sequence, never replayed.
    Notice,
    /// An event of the feed of those it concerns, and a notice to everyone else online.
    FeedAndNotice,
}

/// The data of frames of one kind.
pub trait EventData: Serialize + JsonSchema + Sized {
    const KIND: EventKind;
    const SEQUENCING: Sequencing;
    /// What the frame tells the app, for the AsyncAPI document.
    const SUMMARY: &'static str;

    /// The data as JSON text, as the feed stores it.
    fn to_json(&self) -> String {
        // A struct of strings, numbers and nested structs always serializes.
        serde_json::to_string(self).expect("event data serializes")
    }

    /// The data as a JSON value (class events keep it for catch-up and handover).
    fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("event data serializes")
    }

    /// The notice frame of this data.
    fn notice(&self, at: UnixMillis) -> Frame {
        notice_frame(&Self::KIND, at, self)
    }
}

/// Implements [`EventData`] for types: `event_data! { Type: KIND, Sequencing, "summary"; }`
/// with `KIND` a constant of [`crate::events::kinds`].
#[macro_export]
macro_rules! event_data {
    ($($ty:ty: $kind:ident, $seq:ident, $summary:literal;)*) => {
        $(impl $crate::events::data::EventData for $ty {
            const KIND: $crate::events::EventKind = $crate::events::kinds::$kind;
            const SEQUENCING: $crate::events::data::Sequencing = $crate::events::data::Sequencing::$seq;
            const SUMMARY: &'static str = $summary;
        })*
    };
}

/// One kind of server frame, for documents.
pub struct FrameDoc {
    pub kind: EventKind,
    pub sequencing: Sequencing,
    pub summary: &'static str,
    /// The schema of `data`: a `$ref` into the generator's definitions.
    pub schema: fn(&mut SchemaGenerator) -> Schema,
}

/// The document entry of `T`'s frames.
pub fn doc<T: EventData>() -> FrameDoc {
    FrameDoc {
        kind: T::KIND,
        sequencing: T::SEQUENCING,
        summary: T::SUMMARY,
        schema: |generator| generator.subschema_for::<T>(),
    }
}

/// The frames this crate's actors produce, with the type of their data.
pub fn catalogue() -> Vec<FrameDoc> {
    vec![
        doc::<session::SessionReady>(),
        doc::<session::ResumeIncomplete>(),
        doc::<session::TokenExpiring>(),
        doc::<session::EntitlementsChanged>(),
        doc::<live::LiveSnapshot>(),
        doc::<live::LiveStarted>(),
        doc::<live::LiveCue>(),
        doc::<live::LiveEnded>(),
        doc::<live::LiveCancelled>(),
        doc::<live::LivePresence>(),
        doc::<live::LiveLeaderboard>(),
        doc::<live::LiveRank>(),
        doc::<live::LiveCountdown>(),
        doc::<live::LiveHighFive>(),
        doc::<live::LiveRoster>(),
        doc::<live::LiveFriendJoined>(),
        doc::<live::LiveInterval>(),
        doc::<live::LivePersonalRecord>(),
        doc::<live::LiveFlagged>(),
        doc::<live::LiveReplayBoard>(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::kinds;
    use std::collections::HashSet;

    #[test]
    fn every_kind_is_listed_once() {
        let kinds: Vec<_> = catalogue().iter().map(|d| d.kind.clone()).collect();
        let unique: HashSet<_> = kinds.iter().collect();
        assert_eq!(unique.len(), kinds.len(), "{kinds:?}");
        for class_event in kinds::CLASS_EVENTS {
            let doc = catalogue().into_iter().find(|d| d.kind == class_event);
            assert_eq!(doc.map(|d| d.sequencing), Some(Sequencing::Class));
        }
    }
}
