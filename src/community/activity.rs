//! How community events reach people: pushed into the feeds of an audience (followers,
//! group members, a post's author), or, for authors with too many followers, pulled on
//! read from the author's own feed. Also the activities members share themselves
//! (`workout_finished`, `live_class_joined`).

use super::events::CommunityActivity;
use fitpulse_actors::events::data::EventData;
use fitpulse_actors::events::kinds;
use std::collections::HashSet;

use fitpulse_actors::domain::{ItemRef, UserId};
use fitpulse_actors::events::EventKind;
use fitpulse_actors::ports::store::{FeedEvent, StoreError};

use super::limits::Action;
use super::{Community, CommunityError};

/// How far back in an author's feed a pull looks, and how many activities it answers.
const PULL_WINDOW: u64 = 200;
const PULL_ITEMS: usize = 50;

/// An activity a member shares: its type and, optionally, the workout it is about.
#[derive(Debug, Clone)]
pub struct NewActivity {
    kind: &'static str,
    item_id: Option<String>,
}

impl NewActivity {
    /// `kind` is `workout_finished` or `live_class_joined`; `item_id` a catalog id.
    pub fn parse(kind: &str, item_id: Option<String>) -> Result<NewActivity, CommunityError> {
        let kind = match kind {
            "workout_finished" => "workout_finished",
            "live_class_joined" => "live_class_joined",
            _ => {
                return Err(CommunityError::invalid(
                    "type",
                    "workout_finished or live_class_joined",
                ));
            }
        };
        if let Some(item) = &item_id
            && ItemRef::parse("workout", item).is_err()
        {
            return Err(CommunityError::invalid(
                "item_id",
                "1-64 characters of a-z, A-Z, 0-9, - and _",
            ));
        }
        Ok(NewActivity { kind, item_id })
    }
}

impl Community {
    /// Shares `activity` of `user` with their followers and groups (within the post
    /// budget). Answers how many users it was pushed to.
    pub async fn share_activity(
        &self,
        user: UserId,
        activity: NewActivity,
    ) -> Result<usize, CommunityError> {
        self.spend(user, Action::Post)?;
        let user_id = user.to_string();
        let item_id = activity.item_id;
        let data = match activity.kind {
            "live_class_joined" => CommunityActivity::LiveClassJoined { user_id, item_id },
            _ => CommunityActivity::WorkoutFinished { user_id, item_id },
        };
        Ok(self.activity(user, &data).await?)
    }

    /// The latest activities of `author` as `viewer` may see them: pulled from the author's
    /// own feed, newest first. A block either way makes the author look like nobody.
    pub async fn pull_activity(
        &self,
        viewer: UserId,
        author: UserId,
    ) -> Result<Vec<FeedEvent>, CommunityError> {
        if self.blocked_either_way(viewer, author).await? {
            return Err(CommunityError::NoSuchUser);
        }
        let feed = &self.stores.feed;
        let head = feed.feed_head(author).await?;
        let events = feed
            .events_after(
                author,
                head.last_seq.saturating_sub(PULL_WINDOW),
                PULL_WINDOW as usize,
            )
            .await?;
        Ok(events
            .into_iter()
            .rev()
            .filter(|e| e.kind == kinds::COMMUNITY_ACTIVITY.as_str())
            .take(PULL_ITEMS)
            .collect())
    }

    /// An activity of `author` for their followers: pushed when they have fewer than
    /// `push_limit`, pulled on read otherwise.
    pub async fn activity(
        &self,
        author: UserId,
        data: &CommunityActivity,
    ) -> Result<usize, StoreError> {
        let followers = self
            .stores
            .community
            .followers(author, self.push_limit)
            .await?;
        let mut audience: HashSet<UserId> = if followers.len() >= self.push_limit {
            HashSet::new()
        } else {
            followers.into_iter().collect()
        };
        // The author's groups hear of it too, within the same bound.
        for group in self.stores.community.groups_of(author).await? {
            for member in self.stores.community.group_members(group).await? {
                if audience.len() >= self.push_limit {
                    break;
                }
                audience.insert(member);
            }
        }
        self.fan_out(author, audience.into_iter().collect(), data)
            .await
    }

    /// Publishes `kind` to the author's own feed and to `audience` (minus the author and
    /// anyone blocked either way). Answers how many users it was pushed to.
    pub async fn fan_out<D: EventData>(
        &self,
        author: UserId,
        audience: Vec<UserId>,
        data: &D,
    ) -> Result<usize, StoreError> {
        let (kind, text) = (D::KIND, data.to_json());
        if let Err(err) = self.hub.publish(author, kind.clone(), text.clone()).await {
            tracing::warn!(user_id = %author, error = %err, "cannot record an author's own activity");
        }
        let audience: Vec<UserId> = audience.into_iter().filter(|u| *u != author).collect();
        let hidden = self.blocked_between(author, &audience).await?;
        Ok(self.deliver(
            audience.into_iter().filter(|u| !hidden.contains(u)),
            &kind,
            &text,
        ))
    }

    /// Puts one event into the feed of each of `audience`, as it is: no author's own copy,
    /// no block filtering (callers decide who hears). Answers how many it was pushed to.
    pub(super) fn deliver(
        &self,
        audience: impl IntoIterator<Item = UserId>,
        kind: &EventKind,
        text: &str,
    ) -> usize {
        let mut pushed = 0;
        for user in audience {
            let (hub, kind, text) = (self.hub.clone(), kind.clone(), text.to_owned());
            // Each recipient's session persists its copy; one slow session holds up nobody.
            tokio::spawn(async move {
                if let Err(err) = hub.publish(user, kind.clone(), text).await {
                    tracing::warn!(user_id = %user, kind = kind.as_str(), error = %err, "cannot deliver a community event");
                }
            });
            pushed += 1;
        }
        pushed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_activity_types_are_shared() {
        assert!(NewActivity::parse("workout_finished", None).is_ok());
        assert!(NewActivity::parse("live_class_joined", Some("yoga-1".into())).is_ok());
        assert!(matches!(
            NewActivity::parse("slept", None),
            Err(CommunityError::InvalidField { field: "type", .. })
        ));
    }

    #[test]
    fn an_activity_about_a_malformed_item_id_is_refused() {
        assert!(matches!(
            NewActivity::parse("workout_finished", Some("no spaces".into())),
            Err(CommunityError::InvalidField {
                field: "item_id",
                ..
            })
        ));
    }
}
