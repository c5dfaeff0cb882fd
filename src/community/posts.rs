//! Group posts, their comments and likes. Only members post, comment, like and read;
//! posts and comments are budgeted per user. A post goes to every member's feed, a comment
//! or a like to the post's author. What a block hides stays hidden: posts by authors
//! blocked either way and comments by users the reader blocked are left out of listings.

use super::events::{CommunityCommented, CommunityPost, CommunityPostLiked, PostLiked};
use std::collections::HashSet;

use fitpulse_actors::domain::{ItemRef, UserId};
use fitpulse_actors::ports::community::{GroupRecord, PostRecord};
use uuid::Uuid;

use super::limits::Action;
use super::{Community, CommunityError};
use crate::push::texts::SocialEvent;

/// How many of a group's newest posts a listing shows.
const POSTS_SHOWN: usize = 50;

/// A post as a member sees it in a listing.
#[derive(Debug, Clone)]
pub struct ListedPost {
    pub post: PostRecord,
    pub likes: u64,
    /// Oldest first, without removed ones or those of users the reader blocked.
    pub comments: Vec<PostRecord>,
}

/// The outcome of a like.
#[derive(Debug, Clone, Copy)]
pub struct Like {
    pub changed: bool,
    pub likes: u64,
}

/// Group posts are liked like catalog items, under kind `post` and the post's id.
fn like_ref(post: Uuid) -> ItemRef {
    // `post` is a content kind, and a hyphenated UUID is 36 characters of hex digits and
    // `-`: always a valid item id.
    ItemRef::parse("post", &post.to_string()).expect("a post's UUID is a valid item id")
}

impl Community {
    /// Posts `text` (and an optional image) to a group as `author`, a member, and sends it
    /// to the other members' feeds. Texts are cleaned at the edge.
    pub async fn post(
        &self,
        author: UserId,
        group: Uuid,
        text: String,
        image_ref: Option<String>,
    ) -> Result<PostRecord, CommunityError> {
        let group = self.load_group(group).await?;
        let members = self.members_for(&group, author).await?;
        self.spend(author, Action::Post)?;
        let post = PostRecord {
            id: Uuid::new_v4(),
            group: group.id,
            parent: None,
            author,
            text,
            image_ref,
            created_at: self.clock.now(),
            removed: false,
        };
        self.stores.community.put_post(&post).await?;
        let data = CommunityPost::Post {
            group_id: group.id,
            post_id: post.id,
            author_id: author.to_string(),
            text: post.text.clone(),
        };
        self.fan_out(author, members, &data).await?;
        Ok(post)
    }

    /// The group's newest posts as `viewer`, a member, may see them, with like counts and
    /// comments.
    pub async fn posts(
        &self,
        viewer: UserId,
        group: Uuid,
    ) -> Result<Vec<ListedPost>, CommunityError> {
        let group = self.load_group(group).await?;
        self.members_for(&group, viewer).await?;
        let community = &self.stores.community;
        let hidden: HashSet<UserId> = community.blocked(viewer).await?.into_iter().collect();
        let posts = community.group_posts(group.id, POSTS_SHOWN).await?;
        // Block lists read once per distinct author, not once per post.
        let mut authors: Vec<UserId> = posts.iter().map(|p| p.author).collect();
        authors.sort();
        authors.dedup();
        let hidden_authors = self.blocked_between(viewer, &authors).await?;
        let mut listed = Vec::new();
        for post in posts {
            if post.removed || hidden_authors.contains(&post.author) {
                continue;
            }
            let likes = self.stores.likes.like_count(&like_ref(post.id)).await?;
            let comments = community
                .comments(post.id)
                .await?
                .into_iter()
                .filter(|c| !c.removed && !hidden.contains(&c.author))
                .collect();
            listed.push(ListedPost {
                post,
                likes,
                comments,
            });
        }
        Ok(listed)
    }

    /// Comments `text` on a post of the group as `author`, a member; the post's author
    /// hears of it.
    pub async fn comment(
        &self,
        author: UserId,
        group: Uuid,
        post: Uuid,
        text: String,
    ) -> Result<PostRecord, CommunityError> {
        let group = self.load_group(group).await?;
        self.members_for(&group, author).await?;
        let post = self.load_post(&group, post).await?;
        self.spend(author, Action::Comment)?;
        let comment = PostRecord {
            id: Uuid::new_v4(),
            group: group.id,
            parent: Some(post.id),
            author,
            text,
            image_ref: None,
            created_at: self.clock.now(),
            removed: false,
        };
        self.stores.community.put_post(&comment).await?;
        let data = CommunityCommented::Comment {
            post_id: post.id,
            comment_id: comment.id,
            by_user_id: author.to_string(),
            text: comment.text.clone(),
        };
        self.fan_out(author, vec![post.author], &data).await?;
        if post.author != author {
            self.push_social(post.author, author, SocialEvent::Comment)
                .await;
        }
        Ok(comment)
    }

    /// Likes a post of the group as `user`, a member; the post's author hears of a new
    /// like.
    pub async fn like_post(
        &self,
        user: UserId,
        group: Uuid,
        post: Uuid,
    ) -> Result<Like, CommunityError> {
        let group = self.load_group(group).await?;
        self.members_for(&group, user).await?;
        let post = self.load_post(&group, post).await?;
        let item = like_ref(post.id);
        let changed = self.stores.likes.like(user, &item).await?;
        if changed {
            let data = CommunityPostLiked::Post(PostLiked::Like {
                post_id: post.id,
                by_user_id: user.to_string(),
            });
            self.fan_out(user, vec![post.author], &data).await?;
            if post.author != user {
                self.push_social(post.author, user, SocialEvent::Like).await;
            }
        }
        let likes = self.stores.likes.like_count(&item).await?;
        Ok(Like { changed, likes })
    }

    /// A post (not a comment) of `group` that is still up.
    async fn load_post(&self, group: &GroupRecord, id: Uuid) -> Result<PostRecord, CommunityError> {
        self.stores
            .community
            .post(id)
            .await?
            .filter(|p| p.group == group.id && !p.removed && p.parent.is_none())
            .ok_or(CommunityError::NoSuchPost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_post_id_makes_a_like_ref() {
        let id = Uuid::new_v4();
        assert_eq!(like_ref(id).id(), id.to_string().as_str());
    }
}
