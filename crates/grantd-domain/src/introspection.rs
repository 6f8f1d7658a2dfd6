//! Who may introspect a token (RFC 7662 §4): the client it was issued to, or a client whose
//! provisioned grant holds the `introspect` scope.

use crate::client::Client;
use crate::ids::ClientId;
use crate::scope::INTROSPECT;

/// Whether `caller` may learn about a token issued to `token_client_id`. Anyone else gets the
/// answer an invalid token gets (`active: false`), so the rule itself leaks nothing.
pub fn may_introspect(caller: &Client, token_client_id: &ClientId) -> bool {
    caller.id == *token_client_id || caller.scopes.contains(INTROSPECT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{AuthMethod, GrantTypes, OwnerId};
    use crate::scope::{ScopeCatalog, StoredScopes};
    use crate::time::Timestamp;

    fn client(id: &str, scopes: &[&str]) -> Client {
        Client {
            dpop: Default::default(),
            keys: Default::default(),
            id: ClientId::parse(id).unwrap(),
            name: id.into(),
            owner_id: OwnerId::parse("owner"),
            scopes: StoredScopes::parse(&ScopeCatalog::builtin(), scopes),
            grant_types: GrantTypes::default(),
            auth_method: AuthMethod::ClientSecretBasic,
            active: true,
            secrets: vec![],
            created_at: Timestamp::from_secs(0),
            updated_at: Timestamp::from_secs(0),
            limits: Default::default(),
        }
    }

    #[test]
    fn own_tokens_always_others_only_with_introspect() {
        let table: &[(&[&str], &str, bool)] = &[
            (&[], "rs", true),
            (&["service"], "rs", true),
            (&[], "svc-a", false),
            (&["service", "mcp", "admin"], "svc-a", false),
            (&["introspect"], "svc-a", true),
            (&["mcp", "introspect"], "svc-a", true),
            (&["Introspect"], "svc-a", false),
        ];
        for (scopes, token_client, want) in table {
            assert_eq!(
                may_introspect(
                    &client("rs", scopes),
                    &ClientId::parse(token_client).unwrap()
                ),
                *want,
                "{scopes:?} → {token_client}"
            );
        }
    }
}
