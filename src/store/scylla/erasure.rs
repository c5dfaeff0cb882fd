//! Erasing an account from the scylla store. The user's own partitions are deleted whole
//! (workouts and personal records among them); timelines and replays are found through the
//! user's indexes of them;
//! the mirrors of follows and blocks are found from the user's side; likes and group
//! memberships go through their ports so counts stay right. Tables without a per-user
//! index (refresh tokens, account tokens, push tokens, posts, orders, quotas, reminders,
//! results, the outbox, idempotency keys, purchase links, classes, reports, the audit log)
//! are scanned whole: erasure is rare, and a scan pages through the table without holding
//! it. What accounting and moderation need stays under the pseudonym: subscriptions and
//! their purchase links, orders, groups the user made, classes they coached, reports they
//! filed and the audit log.

use async_trait::async_trait;
use fitpulse_actors::domain::UserId;
use fitpulse_actors::ports::accounts::AccountDataStore;
use fitpulse_actors::ports::community::CommunityStore;
use fitpulse_actors::ports::store::{LikeStore, StoreError, UserStore};
use futures_util::StreamExt;
use scylla::DeserializeRow;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::ScyllaStore;

fn failed(err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::backend(err)
}

#[derive(DeserializeRow)]
struct SubscriptionRow {
    id: String,
    product_id: Option<String>,
    state: Option<String>,
    expires_at: Option<CqlTimestamp>,
    auto_renew: Option<bool>,
    changed_at: Option<CqlTimestamp>,
    trial: Option<bool>,
}

impl ScyllaStore {
    /// Runs one statement with `values` (unprepared: erasure is rare).
    pub(super) async fn run(
        &self,
        cql: &str,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<(), StoreError> {
        self.session
            .query_unpaged(cql, values)
            .await
            .map(|_| ())
            .map_err(failed)
    }

    /// Every row of `cql` (a whole-table or one-partition select), paged.
    pub(super) async fn scan<R>(
        &self,
        cql: &str,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<Vec<R>, StoreError>
    where
        R: for<'frame, 'metadata> scylla::deserialize::row::DeserializeRow<'frame, 'metadata>,
    {
        let mut rows = self
            .session
            .query_iter(cql, values)
            .await
            .map_err(failed)?
            .rows_stream::<R>()
            .map_err(failed)?;
        let mut found = Vec::new();
        while let Some(row) = rows.next().await {
            found.push(row.map_err(failed)?);
        }
        Ok(found)
    }

    async fn erase_sign_ins(&self, u: Uuid) -> Result<(), StoreError> {
        let families: Vec<(Uuid,)> = self
            .scan(
                "SELECT family_id FROM refresh_families_by_user WHERE user_id = ?",
                (u,),
            )
            .await?;
        for (family,) in families {
            self.run(
                "DELETE FROM refresh_families WHERE family_id = ?",
                (family,),
            )
            .await?;
        }
        self.run(
            "DELETE FROM refresh_families_by_user WHERE user_id = ?",
            (u,),
        )
        .await?;
        let tokens: Vec<(Uuid, Option<Uuid>)> = self
            .scan("SELECT id, user_id FROM refresh_tokens", ())
            .await?;
        for (id, _) in tokens.into_iter().filter(|(_, user)| *user == Some(u)) {
            self.run("DELETE FROM refresh_tokens WHERE id = ?", (id,))
                .await?;
            self.run("DELETE FROM refresh_rotations WHERE token_id = ?", (id,))
                .await?;
        }
        let linked: Vec<(String, Option<String>)> = self
            .scan(
                "SELECT provider, subject FROM identities_by_user WHERE user_id = ?",
                (u,),
            )
            .await?;
        for (provider, subject) in linked {
            if let Some(subject) = subject {
                self.run(
                    "DELETE FROM identities WHERE provider = ? AND subject = ?",
                    (provider, subject),
                )
                .await?;
            }
        }
        self.run("DELETE FROM identities_by_user WHERE user_id = ?", (u,))
            .await?;
        let tokens: Vec<(String, Option<Uuid>)> = self
            .scan("SELECT hash, user_id FROM account_tokens", ())
            .await?;
        for (hash, _) in tokens.into_iter().filter(|(_, user)| *user == Some(u)) {
            self.run("DELETE FROM account_tokens WHERE hash = ?", (hash,))
                .await?;
        }
        Ok(())
    }

    /// The user's push devices, settings and counts, and every token row naming the user
    /// (a whole-table scan: a row a crashed registration left behind goes too).
    async fn erase_push(&self, u: Uuid) -> Result<(), StoreError> {
        let tokens: Vec<(String, Option<Uuid>)> = self
            .scan("SELECT push_token, user_id FROM push_tokens", ())
            .await?;
        for (token, _) in tokens.into_iter().filter(|(_, user)| *user == Some(u)) {
            self.run("DELETE FROM push_tokens WHERE push_token = ?", (token,))
                .await?;
        }
        for table in ["push_devices", "notification_settings", "push_counts"] {
            self.run(&format!("DELETE FROM {table} WHERE user_id = ?"), (u,))
                .await?;
        }
        Ok(())
    }

    async fn erase_social(&self, user: UserId, u: Uuid) -> Result<(), StoreError> {
        // (own table, its key column, mirror table, mirror partition column, mirror key column)
        let mirrors = [
            (
                "following_by_user",
                "followee_id",
                "followers_by_user",
                "user_id",
                "follower_id",
            ),
            (
                "followers_by_user",
                "follower_id",
                "following_by_user",
                "user_id",
                "followee_id",
            ),
            (
                "blocks_by_user",
                "blocked_id",
                "blocked_by",
                "blocked_id",
                "user_id",
            ),
        ];
        for (own, column, mirror, partition, key) in mirrors {
            let others: Vec<(Uuid,)> = self
                .scan(
                    &format!("SELECT {column} FROM {own} WHERE user_id = ?"),
                    (u,),
                )
                .await?;
            for (other,) in others {
                self.run(
                    &format!("DELETE FROM {mirror} WHERE {partition} = ? AND {key} = ?"),
                    (other, u),
                )
                .await?;
            }
            self.run(&format!("DELETE FROM {own} WHERE user_id = ?"), (u,))
                .await?;
        }
        let blockers: Vec<(Uuid,)> = self
            .scan("SELECT user_id FROM blocked_by WHERE blocked_id = ?", (u,))
            .await?;
        for (blocker,) in blockers {
            self.run(
                "DELETE FROM blocks_by_user WHERE user_id = ? AND blocked_id = ?",
                (blocker, u),
            )
            .await?;
        }
        self.run("DELETE FROM blocked_by WHERE blocked_id = ?", (u,))
            .await?;
        let groups: Vec<(Uuid,)> = self
            .scan(
                "SELECT group_id FROM groups_by_user WHERE user_id = ?",
                (u,),
            )
            .await?;
        for (group,) in groups {
            CommunityStore::leave_group(self, group, user).await?;
        }
        self.run("DELETE FROM groups_by_user WHERE user_id = ?", (u,))
            .await?;
        self.erase_posts(u).await
    }

    /// The user's posts and comments, with the comments under the user's posts.
    async fn erase_posts(&self, u: Uuid) -> Result<(), StoreError> {
        type PostRow = (
            Uuid,
            Option<Uuid>,
            Option<Uuid>,
            Option<Uuid>,
            Option<CqlTimestamp>,
        );
        let posts: Vec<PostRow> = self
            .scan(
                "SELECT id, group_id, parent_id, author_id, created_at FROM posts",
                (),
            )
            .await?;
        for (id, group, parent, _, created_at) in posts
            .into_iter()
            .filter(|(_, _, _, author, _)| *author == Some(u))
        {
            let Some(created_at) = created_at else {
                continue;
            };
            match parent {
                Some(parent) => {
                    self.run(
                        "DELETE FROM post_comments WHERE post_id = ? AND created_at = ? AND id = ?",
                        (parent, created_at, id),
                    )
                    .await?
                }
                None => {
                    let replies: Vec<(Uuid,)> = self
                        .scan("SELECT id FROM post_comments WHERE post_id = ?", (id,))
                        .await?;
                    for (reply,) in replies {
                        self.run("DELETE FROM posts WHERE id = ?", (reply,)).await?;
                    }
                    self.run("DELETE FROM post_comments WHERE post_id = ?", (id,))
                        .await?;
                    if let Some(group) = group {
                        self.run(
                            "DELETE FROM group_posts WHERE group_id = ? AND created_at = ? AND id = ?",
                            (group, created_at, id),
                        )
                        .await?;
                    }
                }
            }
            self.run("DELETE FROM posts WHERE id = ?", (id,)).await?;
        }
        Ok(())
    }

    async fn erase_marks(&self, user: UserId, u: Uuid) -> Result<(), StoreError> {
        for mark in LikeStore::likes_of(self, user).await? {
            LikeStore::unlike(self, user, &mark.item).await?;
        }
        // Likes whose items no longer parse go with the partition.
        for table in [
            "account_exports",
            "likes_by_user",
            "entitlements",
            "feed_events",
            "feed_state",
            "plans",
            "saves_by_user",
            "message_states",
            "checkins_by_user",
        ] {
            self.run(&format!("DELETE FROM {table} WHERE user_id = ?"), (u,))
                .await?;
        }
        let reminders: Vec<(Uuid, Uuid)> = self
            .scan("SELECT class_id, user_id FROM live_reminders", ())
            .await?;
        for (class, _) in reminders.into_iter().filter(|(_, user)| *user == u) {
            self.run(
                "DELETE FROM live_reminders WHERE class_id = ? AND user_id = ?",
                (class, u),
            )
            .await?;
        }
        let quotas: Vec<(Uuid, Uuid)> = self
            .scan("SELECT drop_id, user_id FROM drop_quotas", ())
            .await?;
        for (drop, _) in quotas.into_iter().filter(|(_, user)| *user == u) {
            self.run(
                "DELETE FROM drop_quotas WHERE drop_id = ? AND user_id = ?",
                (drop, u),
            )
            .await?;
        }
        let id = u.to_string();
        let results: Vec<(Uuid, Option<String>)> = self
            .scan("SELECT class_id, results FROM live_results", ())
            .await?;
        for (class, doc) in results {
            let Some(doc) = doc.filter(|d| d.contains(&id)) else {
                continue;
            };
            let kept = crate::store::scrubbed(&doc, &id);
            self.run(
                "UPDATE live_results SET results = ? WHERE class_id = ?",
                (kept, class),
            )
            .await?;
        }
        let keys: Vec<(String, String, Option<String>)> = self
            .scan("SELECT scope, key, response_body FROM idempotency_keys", ())
            .await?;
        for (scope, key, body) in keys {
            let mentions =
                scope.contains(&id) || key.contains(&id) || body.is_some_and(|b| b.contains(&id));
            if mentions {
                self.run(
                    "DELETE FROM idempotency_keys WHERE scope = ? AND key = ?",
                    (scope, key),
                )
                .await?;
            }
        }
        let email = UserStore::user_by_id(self, user)
            .await?
            .and_then(|u| u.email)
            .map(|e| e.as_str().to_owned());
        let items: Vec<(Uuid, Option<String>, Option<String>)> = self
            .scan("SELECT id, payload, state FROM outbox_items", ())
            .await?;
        for (item, payload, state) in items {
            // Delivered items go; pending and dead ones stay for the worker and the
            // operators, whose indexes point at them.
            let names = payload.is_some_and(|p| {
                p.contains(&id) || email.as_ref().is_some_and(|e| p.contains(e.as_str()))
            });
            if names && state.as_deref() == Some("done") {
                self.run("DELETE FROM outbox_items WHERE id = ?", (item,))
                    .await?;
            }
        }
        Ok(())
    }

    async fn pseudonymize(&self, u: Uuid, p: Uuid) -> Result<(), StoreError> {
        let subscriptions: Vec<SubscriptionRow> = self
            .scan(
                "SELECT id, product_id, state, expires_at, auto_renew, changed_at, trial \
                 FROM subscriptions WHERE user_id = ?",
                (u,),
            )
            .await?;
        for s in subscriptions {
            self.run(
                "INSERT INTO subscriptions (user_id, id, product_id, state, expires_at, \
                 auto_renew, changed_at, trial) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    p,
                    s.id,
                    s.product_id,
                    s.state,
                    s.expires_at,
                    s.auto_renew,
                    s.changed_at,
                    s.trial,
                ),
            )
            .await?;
        }
        self.run("DELETE FROM subscriptions WHERE user_id = ?", (u,))
            .await?;
        // (table, key columns, user column)
        let moved = [
            ("purchase_links", "external_id", "user_id"),
            ("orders", "id", "user_id"),
            ("community_groups", "id", "owner_id"),
            ("live_classes", "id", "coach_id"),
        ];
        for (table, key, column) in moved {
            let rows: Vec<(scylla::value::CqlValue, Option<Uuid>)> = self
                .scan(&format!("SELECT {key}, {column} FROM {table}"), ())
                .await?;
            for (id, _) in rows.into_iter().filter(|(_, user)| *user == Some(u)) {
                self.run(
                    &format!("UPDATE {table} SET {column} = ? WHERE {key} = ?"),
                    (p, id),
                )
                .await?;
            }
        }
        type ReportKey = (i32, CqlTimestamp, Uuid, Option<Uuid>);
        let reports: Vec<ReportKey> = self
            .scan(
                "SELECT day, created_at, id, reporter_id FROM reports_by_day",
                (),
            )
            .await?;
        for (day, at, id, _) in reports.into_iter().filter(|r| r.3 == Some(u)) {
            self.run(
                "UPDATE reports_by_day SET reporter_id = ? WHERE day = ? AND created_at = ? AND id = ?",
                (p, day, at, id),
            )
            .await?;
        }
        let (id, alias) = (u.to_string(), p.to_string());
        // Other members' notifications about the user keep their place in those feeds,
        // with the pseudonym for the user (a whole-table scan).
        let events: Vec<(Uuid, i64, Option<String>)> = self
            .scan("SELECT user_id, seq, data FROM feed_events", ())
            .await?;
        for (owner, seq, data) in events {
            if let Some(data) = data.filter(|d| d.contains(&id)) {
                self.run(
                    "UPDATE feed_events SET data = ? WHERE user_id = ? AND seq = ?",
                    (data.replace(&id, &alias), owner, seq),
                )
                .await?;
            }
        }
        let audit: Vec<(String, Uuid, Option<String>, Option<String>)> = self
            .scan("SELECT month, id, actor, path FROM audit_log", ())
            .await?;
        for (month, entry, actor, path) in audit {
            let (actor, path) = (actor.unwrap_or_default(), path.unwrap_or_default());
            if actor.contains(&id) || path.contains(&id) {
                self.run(
                    "UPDATE audit_log SET actor = ?, path = ? WHERE month = ? AND id = ?",
                    (
                        actor.replace(&id, &alias),
                        path.replace(&id, &alias),
                        month,
                        entry,
                    ),
                )
                .await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl AccountDataStore for ScyllaStore {
    async fn authored(
        &self,
        user: UserId,
    ) -> Result<Vec<fitpulse_actors::ports::community::PostRecord>, StoreError> {
        self.ops
            .time("authored", async {
                let u = user.as_uuid();
                let ids: Vec<(Uuid, Option<Uuid>)> =
                    self.scan("SELECT id, author_id FROM posts", ()).await?;
                let mut posts = Vec::new();
                for (id, _) in ids.into_iter().filter(|(_, a)| *a == Some(u)) {
                    posts.extend(CommunityStore::post(self, id).await?);
                }
                Ok(posts)
            })
            .await
    }

    async fn orders_of(
        &self,
        user: UserId,
    ) -> Result<Vec<fitpulse_actors::ports::drops::OrderRecord>, StoreError> {
        self.ops
            .time("orders_of", async {
                let u = user.as_uuid();
                let ids: Vec<(Uuid, Option<Uuid>)> =
                    self.scan("SELECT id, user_id FROM orders", ()).await?;
                let mut orders = Vec::new();
                for (id, _) in ids.into_iter().filter(|(_, owner)| *owner == Some(u)) {
                    orders.extend(fitpulse_actors::ports::drops::DropStore::order(self, id).await?);
                }
                Ok(orders)
            })
            .await
    }

    async fn put_export(
        &self,
        user: UserId,
        export: &fitpulse_actors::ports::accounts::ExportRecord,
    ) -> Result<(), StoreError> {
        self.ops
            .time(
                "put_export",
                self.run(
                    "INSERT INTO account_exports (user_id, requested_at, ready_at, document) \
                     VALUES (?, ?, ?, ?)",
                    (
                        user.as_uuid(),
                        CqlTimestamp(export.requested_at),
                        export.ready_at.map(CqlTimestamp),
                        &export.document,
                    ),
                ),
            )
            .await
    }

    async fn finish_export(
        &self,
        user: UserId,
        export: &fitpulse_actors::ports::accounts::ExportRecord,
    ) -> Result<bool, StoreError> {
        self.ops
            .time("finish_export", async {
                let statement = self
                    .session
                    .prepare(
                        "UPDATE account_exports SET ready_at = ?, document = ? \
                         WHERE user_id = ? IF requested_at = ?",
                    )
                    .await
                    .map_err(failed)?;
                let values = (
                    export.ready_at.map(CqlTimestamp),
                    &export.document,
                    user.as_uuid(),
                    CqlTimestamp(export.requested_at),
                );
                match super::run_lwt(&self.session, &statement, values).await? {
                    super::Lwt::Applied => Ok(true),
                    super::Lwt::NotApplied => Ok(false),
                    super::Lwt::Unknown => Err(StoreError::unavailable(std::io::Error::other(
                        "finishing an export timed out",
                    ))),
                }
            })
            .await
    }

    async fn export_of(
        &self,
        user: UserId,
    ) -> Result<Option<fitpulse_actors::ports::accounts::ExportRecord>, StoreError> {
        self.ops
            .time("export_of", async {
                let rows: Vec<(Option<CqlTimestamp>, Option<CqlTimestamp>, Option<String>)> = self
                    .scan(
                        "SELECT requested_at, ready_at, document FROM account_exports \
                         WHERE user_id = ?",
                        (user.as_uuid(),),
                    )
                    .await?;
                Ok(rows
                    .into_iter()
                    .next()
                    .map(|(requested_at, ready_at, document)| {
                        fitpulse_actors::ports::accounts::ExportRecord {
                            requested_at: requested_at.map_or(0, |t| t.0),
                            ready_at: ready_at.map(|t| t.0),
                            document,
                        }
                    }))
            })
            .await
    }

    async fn erase_user(&self, user: UserId, pseudonym: UserId) -> Result<(), StoreError> {
        self.ops
            .time("erase_user", async {
                let (u, p) = (user.as_uuid(), pseudonym.as_uuid());
                self.erase_marks(user, u).await?;
                self.erase_social(user, u).await?;
                self.erase_sign_ins(u).await?;
                self.erase_push(u).await?;
                self.erase_workouts(u).await?;
                self.erase_replays(u).await?;
                self.pseudonymize(u, p).await?;
                // The account last: a repeat after a failure finds what is left by the id.
                UserStore::delete_user(self, user).await?;
                Ok(())
            })
            .await
    }

    async fn rows_mentioning(&self, needle: &str) -> Result<Vec<String>, StoreError> {
        let keyspace = self
            .session
            .get_keyspace()
            .ok_or_else(|| failed(std::io::Error::other("no keyspace in use")))?;
        let tables: Vec<(String,)> = self
            .scan(
                "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
                (keyspace.as_str(),),
            )
            .await?;
        let mut found = Vec::new();
        for (table,) in tables {
            let rows: Vec<scylla::value::Row> =
                self.scan(&format!("SELECT * FROM {table}"), ()).await?;
            for row in rows {
                let shown = format!("{:?}", row.columns);
                if shown.contains(needle) {
                    found.push(format!("{table}: {shown:.200}"));
                }
            }
        }
        Ok(found)
    }
}
