//! Service clients (CMS, admin tools) configured for the `client_credentials` grant.
//! Secrets are compared in constant time.

use std::collections::{BTreeSet, HashMap};

use fitpulse_actors::domain::Role;
use subtle::ConstantTimeEq;

use crate::config::ClientSettings;

struct Client {
    secret: String,
    roles: BTreeSet<Role>,
}

pub struct Clients {
    by_id: HashMap<String, Client>,
}

impl Clients {
    pub fn new(settings: &[ClientSettings]) -> Self {
        let by_id = settings
            .iter()
            .map(|c| {
                let roles = c.roles.iter().filter_map(|r| Role::parse(r)).collect();
                let client = Client {
                    secret: c.secret.expose().to_owned(),
                    roles,
                };
                (c.id.clone(), client)
            })
            .collect();
        Clients { by_id }
    }

    /// The client's roles if `secret` is its secret.
    pub fn authenticate(&self, id: &str, secret: &str) -> Option<&BTreeSet<Role>> {
        let client = self.by_id.get(id)?;
        let matches: bool = client.secret.as_bytes().ct_eq(secret.as_bytes()).into();
        matches.then_some(&client.roles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn only_the_right_secret_authenticates_a_known_client() {
        let clients = Clients::new(&[ClientSettings {
            id: "cms".into(),
            secret: Secret::new("0123456789abcdef"),
            roles: vec!["admin".into()],
        }]);
        assert_eq!(
            clients.authenticate("cms", "0123456789abcdef"),
            Some(&[Role::Admin].into())
        );
        assert_eq!(clients.authenticate("cms", "0123456789abcdeF"), None);
        assert_eq!(clients.authenticate("other", "0123456789abcdef"), None);
    }
}
