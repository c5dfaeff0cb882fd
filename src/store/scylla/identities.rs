//! Sign-in identities in the scylla store. A subject is claimed with `INSERT ... IF NOT
//! EXISTS` on its own partition, so two sign-ins racing to link it cannot both win; the
//! per-user index is written after the claim and removed before it.

use async_trait::async_trait;
use fitpulse_actors::domain::{Email, UserId};
use fitpulse_actors::ports::accounts::{Identity, IdentityStore, SocialProvider};
use fitpulse_actors::ports::store::StoreError;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use uuid::Uuid;

use super::{ConnectError, Lwt, ScyllaStore, prepare, prepare_serial, run_lwt};

pub(super) struct Statements {
    claim: PreparedStatement,
    owner_serial: PreparedStatement,
    index: PreparedStatement,
    identity: PreparedStatement,
    of_user: PreparedStatement,
    unindex: PreparedStatement,
    release: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(session: &Session) -> Result<Self, ConnectError> {
        Ok(Statements {
            claim: prepare(
                session,
                "INSERT INTO identities (provider, subject, user_id, email, linked_at) \
                 VALUES (?, ?, ?, ?, ?) IF NOT EXISTS",
            )
            .await?,
            owner_serial: prepare_serial(
                session,
                "SELECT user_id FROM identities WHERE provider = ? AND subject = ?",
            )
            .await?,
            index: prepare(
                session,
                "INSERT INTO identities_by_user (user_id, provider, subject) VALUES (?, ?, ?)",
            )
            .await?,
            identity: prepare(
                session,
                "SELECT user_id, email, linked_at FROM identities \
                 WHERE provider = ? AND subject = ?",
            )
            .await?,
            of_user: prepare(
                session,
                "SELECT provider, subject FROM identities_by_user WHERE user_id = ?",
            )
            .await?,
            unindex: prepare(
                session,
                "DELETE FROM identities_by_user WHERE user_id = ? AND provider = ?",
            )
            .await?,
            release: prepare(
                session,
                "DELETE FROM identities WHERE provider = ? AND subject = ? IF user_id = ?",
            )
            .await?,
        })
    }
}

type IdentityRow = (Option<Uuid>, Option<String>, Option<CqlTimestamp>);

impl ScyllaStore {
    async fn fetch_identity(
        &self,
        provider: SocialProvider,
        subject: &str,
    ) -> Result<Option<Identity>, StoreError> {
        let st = &self.identity_statements;
        let Some((Some(user), email, linked_at)) = self
            .maybe_row::<IdentityRow>(&st.identity, (provider.as_str(), subject))
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(Identity {
            provider,
            subject: subject.to_owned(),
            user: UserId::from_uuid(user),
            email: email.and_then(|e| Email::parse(&e).ok()),
            linked_at: linked_at.map_or(0, |t| t.0),
        }))
    }
}

#[async_trait]
impl IdentityStore for ScyllaStore {
    async fn link_identity(&self, identity: &Identity) -> Result<(), StoreError> {
        self.ops
            .time("link_identity", async {
                let st = &self.identity_statements;
                let (provider, user) = (identity.provider.as_str(), identity.user.as_uuid());
                let values = (
                    provider,
                    &identity.subject,
                    user,
                    identity.email.as_ref().map(Email::as_str),
                    CqlTimestamp(identity.linked_at),
                );
                let won = match run_lwt(&self.session, &st.claim, values).await? {
                    Lwt::Applied => true,
                    Lwt::NotApplied => false,
                    // In doubt: ours if the serial read names us (a retry of our own insert).
                    Lwt::Unknown => {
                        self.maybe_row::<(Option<Uuid>,)>(
                            &st.owner_serial,
                            (provider, &identity.subject),
                        )
                        .await?
                        .and_then(|(u,)| u)
                            == Some(user)
                    }
                };
                if !won {
                    return Err(StoreError::Conflict { what: "identity" });
                }
                self.exec(&st.index, (user, provider, &identity.subject))
                    .await
            })
            .await
    }

    async fn identity(
        &self,
        provider: SocialProvider,
        subject: &str,
    ) -> Result<Option<Identity>, StoreError> {
        self.ops
            .time("identity", self.fetch_identity(provider, subject))
            .await
    }

    async fn identities_of(&self, user: UserId) -> Result<Vec<Identity>, StoreError> {
        self.ops
            .time("identities_of", async {
                let rows: Vec<(String, Option<String>)> = self
                    .rows(&self.identity_statements.of_user, (user.as_uuid(),))
                    .await?;
                let mut found = Vec::new();
                for (provider, subject) in rows {
                    let (Some(provider), Some(subject)) =
                        (SocialProvider::parse(&provider), subject)
                    else {
                        continue;
                    };
                    // Only links that are still the user's: an index row may outlive a claim.
                    if let Some(identity) = self.fetch_identity(provider, &subject).await?
                        && identity.user == user
                    {
                        found.push(identity);
                    }
                }
                Ok(found)
            })
            .await
    }

    async fn unlink_identity(
        &self,
        user: UserId,
        provider: SocialProvider,
    ) -> Result<bool, StoreError> {
        self.ops
            .time("unlink_identity", async {
                let st = &self.identity_statements;
                let Some(linked) = self
                    .identities_of(user)
                    .await?
                    .into_iter()
                    .find(|i| i.provider == provider)
                else {
                    return Ok(false);
                };
                let uuid = user.as_uuid();
                self.exec(&st.unindex, (uuid, provider.as_str())).await?;
                run_lwt(
                    &self.session,
                    &st.release,
                    (provider.as_str(), &linked.subject, uuid),
                )
                .await?;
                Ok(true)
            })
            .await
    }
}
