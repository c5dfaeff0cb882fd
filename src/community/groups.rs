//! Groups: created within the node's size bound (the creator is the first member), joined
//! while places are left, left at any time. Only members see who else is in a group and
//! read or write its posts.

use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::community::{GroupRecord, JoinOutcome};
use uuid::Uuid;

use super::limits::Action;
use super::{Community, CommunityError};

/// The smallest group worth having: its creator and one more.
const MIN_GROUP_SIZE: u32 = 2;

/// A group and how many members it has.
#[derive(Debug, Clone)]
pub struct GroupSummary {
    pub group: GroupRecord,
    pub members: usize,
}

impl Community {
    /// Creates a group owned (and first joined) by `owner`, for `max_members` (2 up to the
    /// node's largest group; the largest when absent). Creating counts against the post
    /// budget. `name` is cleaned at the edge.
    pub async fn create_group(
        &self,
        owner: UserId,
        name: String,
        max_members: Option<u32>,
    ) -> Result<GroupSummary, CommunityError> {
        let max = max_members.unwrap_or(self.max_group_size);
        if !(MIN_GROUP_SIZE..=self.max_group_size).contains(&max) {
            return Err(CommunityError::invalid(
                "max_members",
                format!("{MIN_GROUP_SIZE} to {}", self.max_group_size),
            ));
        }
        self.spend(owner, Action::Post)?;
        let group = GroupRecord {
            id: Uuid::new_v4(),
            name,
            owner,
            max_members: max,
            created_at: self.clock.now(),
        };
        let community = &self.stores.community;
        community.create_group(&group).await?;
        community.join_group(group.id, owner, max).await?;
        Ok(GroupSummary { group, members: 1 })
    }

    /// A group and its member count; anyone signed in may look.
    pub async fn group(&self, id: Uuid) -> Result<GroupSummary, CommunityError> {
        let group = self.load_group(id).await?;
        let members = self.stores.community.group_members(group.id).await?.len();
        Ok(GroupSummary { group, members })
    }

    /// Joins `user` to the group unless it is full; answers whether anything changed.
    pub async fn join(&self, user: UserId, group: Uuid) -> Result<bool, CommunityError> {
        let group = self.load_group(group).await?;
        match self
            .stores
            .community
            .join_group(group.id, user, group.max_members)
            .await?
        {
            JoinOutcome::Full => Err(CommunityError::GroupFull(group.max_members)),
            outcome => Ok(outcome == JoinOutcome::Joined),
        }
    }

    /// Takes `user` out of the group; answers whether they were a member.
    pub async fn leave(&self, user: UserId, group: Uuid) -> Result<bool, CommunityError> {
        let group = self.load_group(group).await?;
        Ok(self.stores.community.leave_group(group.id, user).await?)
    }

    /// The group's members, for a member to see.
    pub async fn members(
        &self,
        viewer: UserId,
        group: Uuid,
    ) -> Result<Vec<UserId>, CommunityError> {
        let group = self.load_group(group).await?;
        self.members_for(&group, viewer).await
    }

    pub(super) async fn load_group(&self, id: Uuid) -> Result<GroupRecord, CommunityError> {
        self.stores
            .community
            .group(id)
            .await?
            .ok_or(CommunityError::NoSuchGroup)
    }

    /// The group's members if `user` is one of them; [`CommunityError::NotMember`] if not.
    pub(super) async fn members_for(
        &self,
        group: &GroupRecord,
        user: UserId,
    ) -> Result<Vec<UserId>, CommunityError> {
        let members = self.stores.community.group_members(group.id).await?;
        if !members.contains(&user) {
            return Err(CommunityError::NotMember);
        }
        Ok(members)
    }
}
