//! Posts and comments: the row by id (`posts`) and its copy in the group's listing
//! (`group_posts`, for posts) or the post's thread (`post_comments`, for comments) go in one
//! logged batch, so a listing never shows what the post row does not say.

use fitpulse_actors::domain::{UnixMillis, UserId};
use fitpulse_actors::ports::community::PostRecord;
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlTimestamp, CqlValue};
use uuid::Uuid;

use super::{cql_limit, run_batch};
use crate::store::scylla::outbox::logged_batch;
use crate::store::scylla::{ConnectError, ScyllaStore, prepare};

pub(super) struct Statements {
    put: PreparedStatement,
    get: PreparedStatement,
    list_post: PreparedStatement,
    unlist_post: PreparedStatement,
    group_posts: PreparedStatement,
    list_comment: PreparedStatement,
    unlist_comment: PreparedStatement,
    comments: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            put: prepare(
                session,
                "INSERT INTO posts (id, group_id, parent_id, author_id, body, image_ref, \
                 created_at, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .await?,
            get: prepare(
                session,
                "SELECT group_id, parent_id, author_id, body, image_ref, created_at, removed \
                 FROM posts WHERE id = ?",
            )
            .await?,
            list_post: prepare(
                session,
                "INSERT INTO group_posts (group_id, created_at, id, author_id, body, image_ref, \
                 removed) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .await?,
            unlist_post: prepare(
                session,
                "DELETE FROM group_posts WHERE group_id = ? AND created_at = ? AND id = ?",
            )
            .await?,
            group_posts: prepare(
                session,
                "SELECT created_at, id, author_id, body, image_ref, removed FROM group_posts \
                 WHERE group_id = ? LIMIT ?",
            )
            .await?,
            list_comment: prepare(
                session,
                "INSERT INTO post_comments (post_id, created_at, id, group_id, author_id, body, \
                 image_ref, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .await?,
            unlist_comment: prepare(
                session,
                "DELETE FROM post_comments WHERE post_id = ? AND created_at = ? AND id = ?",
            )
            .await?,
            comments: prepare(
                session,
                "SELECT created_at, id, group_id, author_id, body, image_ref, removed \
                 FROM post_comments WHERE post_id = ?",
            )
            .await?,
        })
    }
}

type PostRow = (
    Uuid,
    Option<Uuid>,
    Uuid,
    String,
    Option<String>,
    CqlTimestamp,
    Option<bool>,
);
type ListedPostRow = (
    CqlTimestamp,
    Uuid,
    Uuid,
    String,
    Option<String>,
    Option<bool>,
);
type CommentRow = (
    CqlTimestamp,
    Uuid,
    Uuid,
    Uuid,
    String,
    Option<String>,
    Option<bool>,
);

fn statements(store: &ScyllaStore) -> &Statements {
    &store.community_statements.posts
}

/// Where a post is listed: its group's list (posts) or its parent's thread (comments).
fn listing_of(post: &PostRecord) -> (Option<Uuid>, Uuid, UnixMillis) {
    (post.parent, post.group, post.created_at)
}

fn post_values(p: &PostRecord) -> Vec<Option<CqlValue>> {
    vec![
        Some(CqlValue::Uuid(p.id)),
        Some(CqlValue::Uuid(p.group)),
        p.parent.map(CqlValue::Uuid),
        Some(CqlValue::Uuid(p.author.as_uuid())),
        Some(CqlValue::Text(p.text.clone())),
        p.image_ref.clone().map(CqlValue::Text),
        Some(CqlValue::Timestamp(CqlTimestamp(p.created_at))),
        Some(CqlValue::Boolean(p.removed)),
    ]
}

pub(super) async fn put(store: &ScyllaStore, post: &PostRecord) -> Result<(), StoreError> {
    let st = statements(store);
    let mut batch = logged_batch();
    let mut values: Vec<Vec<Option<CqlValue>>> = Vec::new();
    // A replacement that moves the post (another time or parent) must not leave its old
    // listing row behind.
    let previous = get(store, post.id).await?;
    if let Some(previous) = previous.filter(|p| listing_of(p) != listing_of(post)) {
        let (statement, owner) = match previous.parent {
            None => (&st.unlist_post, previous.group),
            Some(parent) => (&st.unlist_comment, parent),
        };
        batch.append_statement(statement.clone());
        values.push(vec![
            Some(CqlValue::Uuid(owner)),
            Some(CqlValue::Timestamp(CqlTimestamp(previous.created_at))),
            Some(CqlValue::Uuid(previous.id)),
        ]);
    }
    batch.append_statement(st.put.clone());
    values.push(post_values(post));
    let mut listed = vec![
        Some(CqlValue::Timestamp(CqlTimestamp(post.created_at))),
        Some(CqlValue::Uuid(post.id)),
    ];
    match post.parent {
        None => {
            batch.append_statement(st.list_post.clone());
            listed.insert(0, Some(CqlValue::Uuid(post.group)));
        }
        Some(parent) => {
            batch.append_statement(st.list_comment.clone());
            listed.insert(0, Some(CqlValue::Uuid(parent)));
            listed.push(Some(CqlValue::Uuid(post.group)));
        }
    }
    listed.extend([
        Some(CqlValue::Uuid(post.author.as_uuid())),
        Some(CqlValue::Text(post.text.clone())),
        post.image_ref.clone().map(CqlValue::Text),
        Some(CqlValue::Boolean(post.removed)),
    ]);
    values.push(listed);
    run_batch(store, &batch, values).await
}

pub(super) async fn get(store: &ScyllaStore, id: Uuid) -> Result<Option<PostRecord>, StoreError> {
    let row = store
        .maybe_row::<PostRow>(&statements(store).get, (id,))
        .await?;
    Ok(row.map(
        |(group, parent, author, text, image_ref, created_at, removed)| PostRecord {
            id,
            group,
            parent,
            author: UserId::from_uuid(author),
            text,
            image_ref,
            created_at: created_at.0,
            removed: removed.unwrap_or(false),
        },
    ))
}

pub(super) async fn of_group(
    store: &ScyllaStore,
    group: Uuid,
    limit: usize,
) -> Result<Vec<PostRecord>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows = store
        .rows::<ListedPostRow>(&statements(store).group_posts, (group, cql_limit(limit)))
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(created_at, id, author, text, image_ref, removed)| PostRecord {
                id,
                group,
                parent: None,
                author: UserId::from_uuid(author),
                text,
                image_ref,
                created_at: created_at.0,
                removed: removed.unwrap_or(false),
            },
        )
        .collect())
}

pub(super) async fn comments(
    store: &ScyllaStore,
    post: Uuid,
) -> Result<Vec<PostRecord>, StoreError> {
    let rows = store
        .rows::<CommentRow>(&statements(store).comments, (post,))
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(created_at, id, group, author, text, image_ref, removed)| PostRecord {
                id,
                group,
                parent: Some(post),
                author: UserId::from_uuid(author),
                text,
                image_ref,
                created_at: created_at.0,
                removed: removed.unwrap_or(false),
            },
        )
        .collect())
}
