//! The community events a member's feed gets, as types (their schemas are in the socket's
//! AsyncAPI document). Each `data` names what happened in its `type`.

use fitpulse_actors::event_data;
use schemars::JsonSchema;
use serde::Serialize;
use uuid::Uuid;

/// Someone the member follows (or shares a group with) did something.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CommunityActivity {
    Checkin {
        user_id: String,
        mood: String,
        /// The member's own day (`YYYY-MM-DD`).
        date: String,
    },
    WorkoutFinished {
        user_id: String,
        /// The catalog item, when the app named one.
        item_id: Option<String>,
    },
    LiveClassJoined {
        user_id: String,
        item_id: Option<String>,
    },
}

/// A post in one of the member's groups.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CommunityPost {
    Post {
        group_id: Uuid,
        post_id: Uuid,
        author_id: String,
        text: String,
    },
}

/// A comment on the member's post.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CommunityCommented {
    Comment {
        post_id: Uuid,
        comment_id: Uuid,
        by_user_id: String,
        text: String,
    },
}

/// A new follower.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CommunityFollowed {
    Followed { by_user_id: String },
}

/// A moderator removed a post (an event for the group's members, a notice for the rest).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CommunityRemoved {
    Removed { post_id: Uuid, group_id: Uuid },
}

/// Someone liked the member's group post, or a catalog item the member wrote.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum CommunityPostLiked {
    Post(PostLiked),
    Item(ItemLiked),
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PostLiked {
    Like { post_id: Uuid, by_user_id: String },
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ItemLiked {
    pub by_user_id: String,
    /// The catalog kind (`recipe`, `workout`, ...).
    pub kind: &'static str,
    pub id: String,
    pub title: String,
}

event_data! {
    CommunityActivity: COMMUNITY_ACTIVITY, Feed, "Someone the member follows checked in or worked out";
    CommunityPost: COMMUNITY_POST, Feed, "A post in one of the member's groups";
    CommunityCommented: COMMUNITY_COMMENTED, Feed, "A comment on the member's post";
    CommunityFollowed: COMMUNITY_FOLLOWED, Feed, "A new follower";
    CommunityRemoved: COMMUNITY_REMOVED, FeedAndNotice, "A moderator removed a post";
    CommunityPostLiked: COMMUNITY_POST_LIKED, Feed, "Someone liked the member's post or item";
}
