//! Reports and moderation: members report posts, comments or users (within the comment
//! budget); moderators read the newest reports and take posts or comments down. A
//! take-down leaves every listing at once, reaches the group's members' feeds as
//! `community.removed` (after the post's own event, so a resuming app drops it too) and is
//! told to every connected app now.

use super::events::CommunityRemoved;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::events::data::EventData;
use fitpulse_actors::ports::community::{PostRecord, ReportRecord};
use uuid::Uuid;

use super::limits::Action;
use super::{Community, CommunityError};

/// How many reports the moderators' queue shows.
const REPORTS_SHOWN: usize = 200;

/// What a report is about: a post, a comment or a user, by id.
#[derive(Debug, Clone)]
pub struct ReportTarget {
    kind: &'static str,
    id: String,
}

impl ReportTarget {
    /// `kind` is `post`, `comment` or `user`; `id` a UUID (kept as sent).
    pub fn parse(kind: &str, id: String) -> Result<ReportTarget, CommunityError> {
        let kind = match kind {
            "post" => "post",
            "comment" => "comment",
            "user" => "user",
            _ => {
                return Err(CommunityError::invalid(
                    "target_kind",
                    "post, comment or user",
                ));
            }
        };
        if Uuid::parse_str(&id).is_err() {
            return Err(CommunityError::invalid("target_id", "a UUID"));
        }
        Ok(ReportTarget { kind, id })
    }
}

impl Community {
    /// Files a report by `reporter`; answers its id. `reason` is cleaned at the edge.
    pub async fn report(
        &self,
        reporter: UserId,
        target: ReportTarget,
        reason: String,
    ) -> Result<Uuid, CommunityError> {
        self.spend(reporter, Action::Comment)?;
        let report = ReportRecord {
            id: Uuid::new_v4(),
            reporter,
            target_kind: target.kind.to_owned(),
            target_id: target.id,
            reason,
            created_at: self.clock.now(),
        };
        self.stores.community.put_report(&report).await?;
        Ok(report.id)
    }

    /// The newest reports, for moderators.
    pub async fn reports(&self) -> Result<Vec<ReportRecord>, CommunityError> {
        Ok(self.stores.community.reports(REPORTS_SHOWN).await?)
    }

    /// Takes a post or comment down on behalf of `moderator`: it is kept, marked removed,
    /// and the group's members (only them: a take-down is no activity of the author's) get
    /// `community.removed` in their feeds; every connected app is told at once.
    pub async fn remove_post(
        &self,
        moderator: UserId,
        id: Uuid,
    ) -> Result<PostRecord, CommunityError> {
        let community = &self.stores.community;
        let mut post = community
            .post(id)
            .await?
            .ok_or(CommunityError::NoSuchPost)?;
        post.removed = true;
        community.put_post(&post).await?;
        let data = CommunityRemoved::Removed {
            post_id: post.id,
            group_id: post.group,
        };
        let members = community.group_members(post.group).await?;
        self.deliver(members, &CommunityRemoved::KIND, &data.to_json());
        self.hub
            .notify_all(data.notice(self.clock.now()), &CommunityRemoved::KIND);
        tracing::info!(post_id = %post.id, moderator = %moderator, "post removed");
        Ok(post)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_about_a_post_a_comment_or_a_user_by_uuid() {
        let id = Uuid::new_v4().to_string();
        assert!(ReportTarget::parse("comment", id.clone()).is_ok());
        assert!(matches!(
            ReportTarget::parse("planet", id),
            Err(CommunityError::InvalidField {
                field: "target_kind",
                ..
            })
        ));
        assert!(matches!(
            ReportTarget::parse("user", "x".into()),
            Err(CommunityError::InvalidField {
                field: "target_id",
                ..
            })
        ));
    }
}
